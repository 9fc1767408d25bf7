"""Any OpenAI-compatible ``/chat/completions`` endpoint over HTTP (httpx).

Cloud providers, vLLM, Ollama and llama.cpp's server all speak it. ``base_url``
is the API root including its version (``https://api.openai.com/v1``,
``http://127.0.0.1:8080/v1``); the backend posts to ``{base_url}/chat/completions``.

What a flaky network gets from us:

- **API key** read from the environment variable named by ``api_key_env`` at
  request time, sent as a bearer token, and never logged nor put into an
  error or a decision (anything echoed back by the server is redacted too).
  A variable that is named but not set makes the target unavailable.
- **Timeouts**: ``connect_timeout_s`` bounds a dead endpoint and ``timeout_s``
  the silence between two reads; both are capped by what is left of the
  request's deadline, so an attempt never outlives it.
- **Retries** on 429 and 5xx answers, ``max_retries`` times, waiting the
  server's ``Retry-After`` or ``retry_backoff_s`` doubled each time, but never
  past the deadline. Connection failures are not retried: the executor falls
  back to the next target instead, which is what the user is waiting for.
- **Streaming** over server-sent events; usage in the stream is used when the
  server sends it, otherwise the pieces are counted.
- **Cost**: token usage times the model's ``price_in``/``price_out`` (USD per
  1k tokens) in ``Completion.cost_usd``; the runtime adds it to the ledger.
- **Malformed answers** (not JSON, JSON of the wrong shape anywhere, a body
  over 16 MB, an event stream that is not UTF-8) are a ``TargetError`` naming
  the problem (``openai_json``), so the executor falls back and logs it.
"""

from __future__ import annotations

import email.utils
import json
import logging
import os
import threading
import time
from collections.abc import Generator
from typing import Any

from ...config import RemoteModel
from ...errors import TargetError, TargetUnavailable
from . import openai_json
from .base import FINISH_CANCELLED, BackendOptions, ChatRequest, Completion
from .sse import SseError, sse_lines

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_ANSWER_BYTES = 16 << 20  # a whole answer larger than this is not a chat completion
_DETAIL_CHARS = 300


class RemoteBackend:
    """Chat completions from one configured OpenAI-compatible endpoint."""

    def __init__(self, model: RemoteModel, options: BackendOptions | None = None):
        self.name = model.name
        self._model = model
        self._url = model.base_url.rstrip("/") + "/chat/completions"
        self._client: Any = None
        self._client_lock = threading.Lock()

    # --- HTTP plumbing ------------------------------------------------------------

    def _http(self) -> Any:
        with self._client_lock:
            if self._client is None:
                import httpx

                self._client = httpx.Client(follow_redirects=False)
            return self._client

    def _api_key(self) -> str | None:
        missing = self._model.missing_key()
        if missing:
            raise TargetUnavailable(missing, target=self.name)
        var = self._model.api_key_env
        return os.environ.get(var, "").strip() if var else None

    def _redact(self, text: str, key: str | None) -> str:
        return text.replace(key, "***") if key else text

    def _left(self, request: ChatRequest, start: float) -> float | None:
        if request.timeout_s is None:
            return None
        left = request.timeout_s - (time.monotonic() - start)
        if left <= 0:
            raise TargetError(
                f"no answer within the deadline ({request.timeout_s:.1f} s)", target=self.name
            )
        return left

    def _timeout(self, request: ChatRequest, start: float) -> Any:
        import httpx

        left = self._left(request, start)
        read, connect = self._model.timeout_s, self._model.connect_timeout_s
        if left is not None:
            read, connect = min(read, left), min(connect, left)
        return httpx.Timeout(read, connect=connect)

    def _body(self, request: ChatRequest, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self._model.model,
            "messages": list(request.messages),
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "stream": stream,
        }
        if request.stop:
            body["stop"] = list(request.stop)
        if stream:
            body["stream_options"] = {"include_usage": True}
        return body

    def _open(self, request: ChatRequest, stream: bool, start: float) -> Any:
        """Send the request, retrying 429/5xx; the open response (None: cancelled)."""
        import httpx

        key = self._api_key()
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        client = self._http()
        for attempt in range(self._model.max_retries + 1):
            req = client.build_request(
                "POST",
                self._url,
                json=self._body(request, stream),
                headers=headers,
                timeout=self._timeout(request, start),
            )
            try:
                response = client.send(req, stream=True)
            except httpx.TimeoutException as exc:
                raise TargetError(self._transport_error(exc, key), target=self.name) from None
            except httpx.HTTPError as exc:
                raise TargetError(self._transport_error(exc, key), target=self.name) from None
            if response.status_code < 400:
                return response
            detail = self._detail(response, key)
            status = response.status_code
            if status in RETRY_STATUSES and attempt < self._model.max_retries:
                wait = _retry_after(response) or self._model.retry_backoff_s * 2**attempt
                left = self._left(request, start)
                if left is not None and wait >= left:
                    raise TargetError(
                        f"HTTP {status} from {self._url} ({detail}); waiting {wait:.1f} s to "
                        f"retry would pass the deadline",
                        target=self.name,
                    )
                log.warning(
                    "%s answered HTTP %d; retry %d/%d in %.2f s",
                    self.name,
                    status,
                    attempt + 1,
                    self._model.max_retries,
                    wait,
                )
                if request.cancel is not None:
                    if request.cancel.wait(wait):
                        return None
                else:
                    time.sleep(wait)
                continue
            error = TargetUnavailable if status in (401, 403) else TargetError
            hint = f"; check ${self._model.api_key_env}" if status in (401, 403) else ""
            tries = f" after {attempt + 1} tries" if attempt else ""
            raise error(f"HTTP {status} from {self._url}{tries} ({detail}){hint}", target=self.name)
        raise AssertionError("unreachable")  # pragma: no cover

    def _transport_error(self, exc: Exception, key: str | None) -> str:
        import httpx

        messages: dict[type, str] = {
            httpx.ConnectTimeout: f"cannot connect to {self._url} within the connect timeout",
            httpx.ConnectError: f"cannot connect to {self._url}",
            httpx.ReadTimeout: f"no answer from {self._url} within the read timeout",
            httpx.RemoteProtocolError: f"the connection to {self._url} was dropped",
            httpx.ReadError: f"the connection to {self._url} was dropped",
        }
        what = messages.get(type(exc), f"HTTP request to {self._url} failed")
        return self._redact(f"{what} ({type(exc).__name__}: {exc})", key)

    def _detail(self, response: Any, key: str | None) -> str:
        try:
            response.read()
            text = response.text
        except Exception:  # the body is only a detail in an error message
            text = ""
        finally:
            response.close()
        try:
            err = json.loads(text).get("error")
            text = err.get("message", str(err)) if isinstance(err, dict) else str(err or text)
        except (ValueError, AttributeError):
            pass
        text = " ".join(text.split())[:_DETAIL_CHARS] or response.reason_phrase
        return self._redact(text, key)

    def _cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        m = self._model
        return (prompt_tokens * m.price_in + completion_tokens * m.price_out) / 1000.0

    # --- the protocol -------------------------------------------------------------

    def complete(self, request: ChatRequest) -> Completion:
        import httpx

        start = time.monotonic()
        response = self._open(request, stream=False, start=start)
        if response is None:
            return Completion("", self.name, finish_reason=FINISH_CANCELLED)
        key = self._api_key()
        try:
            body = self._read_body(response)
            text, finish, usage = openai_json.completion(json.loads(body))
        except httpx.HTTPError as exc:
            raise TargetError(self._transport_error(exc, key), target=self.name) from None
        except (ValueError, RecursionError) as exc:  # not JSON, or JSON of the wrong shape
            raise self._malformed(exc, key) from None
        finally:
            response.close()
        prompt, out = usage.prompt_tokens or 0, usage.completion_tokens or 0
        return Completion(
            text=text,
            target=self.name,
            prompt_tokens=prompt,
            completion_tokens=out,
            cost_usd=self._cost(prompt, out),
            latency_s=time.monotonic() - start,
            finish_reason=finish or "stop",
        )

    def _read_body(self, response: Any) -> bytes:
        """The answer's bytes, up to ``MAX_ANSWER_BYTES`` (a bigger one is malformed)."""
        parts, size = [], 0
        for part in response.iter_bytes():
            size += len(part)
            if size > MAX_ANSWER_BYTES:
                raise openai_json.Malformed(f"an answer larger than {MAX_ANSWER_BYTES >> 20} MB")
            parts.append(part)
        return b"".join(parts)

    def _malformed(self, exc: BaseException, key: str | None) -> TargetError:
        """The attempt's error for an answer that is not the JSON a chat completion is."""
        if isinstance(exc, (openai_json.Malformed, SseError)):
            what = str(exc)
        elif isinstance(exc, RecursionError):
            what = "JSON nested too deeply"
        else:
            what = f"something that is not JSON ({exc})"
        detail = self._redact(" ".join(what.split())[:_DETAIL_CHARS], key)
        return TargetError(f"{self._url} answered malformed JSON: {detail}", target=self.name)

    def stream(self, request: ChatRequest) -> Generator[str, None, Completion]:
        import httpx

        start = time.monotonic()
        response = self._open(request, stream=True, start=start)
        if response is None:
            return Completion("", self.name, finish_reason=FINISH_CANCELLED)
        key = self._api_key()
        pieces: list[str] = []
        usage = openai_json.Usage()
        ttft: float | None = None
        finish: str | None = None
        done = False
        try:
            for line in sse_lines(response.iter_bytes()):
                if request.cancelled:
                    finish = FINISH_CANCELLED
                    break
                if not line.startswith("data:"):
                    continue
                payload = line[5:].strip()
                if payload == "[DONE]":
                    done = True
                    break
                event = openai_json.chunk(json.loads(payload))
                if event.error is not None:
                    detail = self._redact(event.error[:_DETAIL_CHARS], key)
                    raise TargetError(f"the stream reported an error: {detail}", target=self.name)
                usage = event.usage or usage
                for piece in event.pieces:
                    if ttft is None:
                        ttft = time.monotonic() - start
                    pieces.append(piece)
                    yield piece
                finish = event.finish_reason or finish
                self._left(request, start)  # a slow drip must not outlive the deadline
        except httpx.HTTPError as exc:
            got = f" after {len(pieces)} pieces" if pieces else ""
            raise TargetError(self._transport_error(exc, key) + got, target=self.name) from None
        except (ValueError, RecursionError) as exc:  # not JSON, or JSON of the wrong shape
            raise self._malformed(exc, key) from None
        finally:
            response.close()
        if not done and finish is None:
            raise TargetError(
                f"the stream from {self._url} ended before the answer was finished",
                target=self.name,
            )
        prompt = usage.prompt_tokens or _estimate_tokens(request)
        out = usage.completion_tokens or len(pieces)
        counted = usage.prompt_tokens is None and usage.completion_tokens is None
        return Completion(
            text="".join(pieces),
            target=self.name,
            prompt_tokens=prompt,
            completion_tokens=out,
            cost_usd=self._cost(prompt, out),
            latency_s=time.monotonic() - start,
            ttft_s=ttft,
            finish_reason=finish or "stop",
            extra={"usage": "counted from the stream"} if counted else {},
        )

    def close(self) -> None:
        with self._client_lock:
            if self._client is not None:
                self._client.close()
                self._client = None


def _estimate_tokens(request: ChatRequest) -> int:
    """About 4 characters a token: for servers that send no usage in a stream."""
    return sum(len(m.get("content", "")) for m in request.messages) // 4 + 1


def _retry_after(response: Any) -> float | None:
    """Seconds the server asked us to wait (``Retry-After``: seconds or an HTTP date)."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)
