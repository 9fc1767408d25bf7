"""Clients of the local daemon (``edge-moma serve``) over its Unix socket, sync and async.

Both speak the daemon's OpenAI-compatible API through httpx's Unix-socket
transport; bodies are built and answers checked by the same helpers, so the
two classes differ only in ``await``. An error answer becomes a
``DaemonError`` carrying the HTTP status and the OpenAI error type and code;
a daemon that is not running is a ``DaemonError`` with ``status == 0``.

Example::

    from edge_moma.serve.client import Client

    with Client() as daemon:                      # the default socket
        decision = daemon.route("what's 15% of 80")
        answer = daemon.chat("Name a colour.", max_tokens=8)
        print(answer["edge_moma"]["target"], answer["choices"][0]["message"]["content"])
        for piece in daemon.stream("Tell me a joke.", max_tokens=32):
            print(piece, end="")
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any

import httpx

from ..errors import DaemonError
from ..targets.backends.sse import LineSplitter, SseError, sse_lines

Messages = str | Sequence[Mapping[str, Any]]
_BASE = "http://edge-moma"  # the host is ignored on a Unix socket


def _socket(path: str | os.PathLike[str] | None) -> str:
    if path is not None:
        return str(path)
    from .daemon import default_socket_path

    return str(default_socket_path())


def _messages(messages: Messages) -> list[dict[str, Any]]:
    if isinstance(messages, str):
        return [{"role": "user", "content": messages}]
    return [dict(m) for m in messages]


def _chat_body(
    messages: Messages,
    model: str,
    context: Mapping[str, Any] | None,
    stream: bool = False,
    **options: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "messages": _messages(messages), **options}
    if stream:
        body["stream"] = True
    if context:
        body["edge_moma"] = dict(context)
    return body


def _feedback_body(
    decision_id: str, score: float | None, correct: bool | None, note: str | None
) -> dict[str, Any]:
    body: dict[str, Any] = {"decision_id": decision_id}
    for key, value in (("score", score), ("correct", correct), ("note", note)):
        if value is not None:
            body[key] = value
    return body


def _checked(response: httpx.Response) -> httpx.Response:
    if response.status_code < 400:
        return response
    try:
        error = response.json()["error"]
        message, type_, code = error["message"], error.get("type"), error.get("code")
    except (ValueError, KeyError, TypeError):
        message, type_, code = response.text[:200], None, None
    raise DaemonError(
        f"the daemon answered {response.status_code}: {message}",
        status=response.status_code,
        type=type_,
        code=code,
    )


def _piece(line: str) -> str | None:
    """The text of one SSE line ("" for none); None at ``[DONE]``."""
    if not line.startswith("data: "):
        return ""
    data = line[6:]
    if data == "[DONE]":
        return None
    chunk = json.loads(data)
    if "error" in chunk:
        raise DaemonError(f"the stream failed: {chunk['error']['message']}", status=200)
    choices = chunk.get("choices") or [{}]
    return str(choices[0].get("delta", {}).get("content") or "")


def _unreachable(path: str, exc: Exception) -> DaemonError:
    return DaemonError(
        f"no answer from an edge-moma daemon on {path} ({exc}); is it running "
        "(start it: edge-moma serve) and may this user connect ([server] allowed_uids)?"
    )


class Client:
    """A synchronous client of the daemon; a context manager that closes its connections."""

    def __init__(self, socket: str | os.PathLike[str] | None = None, *, timeout: float = 120.0):
        self.socket = _socket(socket)
        self._http = httpx.Client(
            transport=httpx.HTTPTransport(uds=self.socket), base_url=_BASE, timeout=timeout
        )

    def _call(self, method: str, path: str, body: Any = None) -> httpx.Response:
        try:
            response = self._http.request(method, path, json=body)
        except (httpx.TransportError, FileNotFoundError) as exc:
            raise _unreachable(self.socket, exc) from None
        return _checked(response)

    def route(
        self, messages: Messages, *, model: str = "auto", context: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """The decision only, as ``edge-moma route --json`` prints it."""
        result: dict[str, Any] = self._call(
            "POST", "/v1/route", _chat_body(messages, model, context)
        ).json()
        return result

    def chat(
        self,
        messages: Messages,
        *,
        model: str = "auto",
        context: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> dict[str, Any]:
        """A chat completion (OpenAI's JSON plus ``edge_moma``: decision id, target, attempts)."""
        body = _chat_body(messages, model, context, **options)
        result: dict[str, Any] = self._call("POST", "/v1/chat/completions", body).json()
        return result

    def stream(
        self,
        messages: Messages,
        *,
        model: str = "auto",
        context: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> Iterator[str]:
        """The answer's text, piece by piece as it is generated."""
        body = _chat_body(messages, model, context, stream=True, **options)
        try:
            with self._http.stream("POST", "/v1/chat/completions", json=body) as response:
                if response.status_code >= 400:
                    response.read()
                    _checked(response)
                # Lines end at CR/LF only: httpx's iter_lines also splits at U+2028 and
                # others that the daemon's JSON holds raw.
                for line in sse_lines(response.iter_bytes()):
                    piece = _piece(line)
                    if piece is None:
                        return
                    if piece:
                        yield piece
        except (httpx.TransportError, FileNotFoundError) as exc:
            raise _unreachable(self.socket, exc) from None
        except SseError as exc:
            raise DaemonError(f"the stream failed: {exc}", status=200) from None

    def models(self) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = self._call("GET", "/v1/models").json()["data"]
        return data

    def feedback(
        self,
        decision_id: str,
        *,
        score: float | None = None,
        correct: bool | None = None,
        note: str | None = None,
    ) -> dict[str, Any]:
        """Score a decision (an id or a unique prefix); the answer carries its full id.

        An unknown or ambiguous id is a ``DaemonError`` with ``status == 404``.
        """
        body = _feedback_body(decision_id, score, correct, note)
        result: dict[str, Any] = self._call("POST", "/v1/feedback", body).json()
        return result

    def health(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/healthz").json()
        return result

    def metrics(self) -> str:
        return self._call("GET", "/metrics").text

    def reload(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", "/admin/reload").json()
        return result

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncClient:
    """The asyncio twin of ``Client`` (same methods, awaited)."""

    def __init__(self, socket: str | os.PathLike[str] | None = None, *, timeout: float = 120.0):
        self.socket = _socket(socket)
        self._http = httpx.AsyncClient(
            transport=httpx.AsyncHTTPTransport(uds=self.socket), base_url=_BASE, timeout=timeout
        )

    async def _call(self, method: str, path: str, body: Any = None) -> httpx.Response:
        try:
            response = await self._http.request(method, path, json=body)
        except (httpx.TransportError, FileNotFoundError) as exc:
            raise _unreachable(self.socket, exc) from None
        return _checked(response)

    async def route(
        self, messages: Messages, *, model: str = "auto", context: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        response = await self._call("POST", "/v1/route", _chat_body(messages, model, context))
        result: dict[str, Any] = response.json()
        return result

    async def chat(
        self,
        messages: Messages,
        *,
        model: str = "auto",
        context: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> dict[str, Any]:
        body = _chat_body(messages, model, context, **options)
        result: dict[str, Any] = (await self._call("POST", "/v1/chat/completions", body)).json()
        return result

    async def stream(
        self,
        messages: Messages,
        *,
        model: str = "auto",
        context: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> AsyncIterator[str]:
        body = _chat_body(messages, model, context, stream=True, **options)
        try:
            async with self._http.stream("POST", "/v1/chat/completions", json=body) as response:
                if response.status_code >= 400:
                    await response.aread()
                    _checked(response)
                splitter = LineSplitter()  # as in stream(), fed chunk by chunk
                async for chunk in response.aiter_bytes():
                    for line in splitter.feed(chunk):
                        piece = _piece(line)
                        if piece is None:
                            return
                        if piece:
                            yield piece
        except (httpx.TransportError, FileNotFoundError) as exc:
            raise _unreachable(self.socket, exc) from None
        except SseError as exc:
            raise DaemonError(f"the stream failed: {exc}", status=200) from None

    async def models(self) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = (await self._call("GET", "/v1/models")).json()["data"]
        return data

    async def feedback(
        self,
        decision_id: str,
        *,
        score: float | None = None,
        correct: bool | None = None,
        note: str | None = None,
    ) -> dict[str, Any]:
        body = _feedback_body(decision_id, score, correct, note)
        result: dict[str, Any] = (await self._call("POST", "/v1/feedback", body)).json()
        return result

    async def health(self) -> dict[str, Any]:
        result: dict[str, Any] = (await self._call("GET", "/healthz")).json()
        return result

    async def metrics(self) -> str:
        return (await self._call("GET", "/metrics")).text

    async def reload(self) -> dict[str, Any]:
        result: dict[str, Any] = (await self._call("POST", "/admin/reload")).json()
        return result

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


__all__ = ["AsyncClient", "Client"]
