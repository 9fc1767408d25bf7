"""The daemon's HTTP face: an OpenAI-compatible ASGI app (Starlette) over one ``Runtime``.

Endpoints (bodies and answers are JSON; errors are OpenAI-style
``{"error": {"message", "type", "param", "code"}}`` with a 4xx/5xx status):

- ``POST /v1/chat/completions``: ``model: "auto"`` routes, a model or agent
  name pins the first choice; ``stream: true`` answers with Server-Sent
  Events in OpenAI's chunk format. The decision id and the target that
  answered are in the ``edge_moma`` field and the ``x-edge-moma-decision-id``
  / ``x-edge-moma-target`` headers. Routing context (battery, session...)
  goes in an ``edge_moma`` object of the body (``extra_body`` in the SDK).
- ``POST /v1/route``: the same body; the decision only, exactly the JSON of
  ``edge-moma route --json``.
- ``GET /v1/models``, ``POST /v1/feedback``, ``GET /healthz``, ``GET /metrics``,
  ``POST /admin/reload``.

The app is thin: it validates the body, calls the runtime and turns library
errors into statuses (``_status``). Routing runs on the event loop (it never
blocks on I/O and takes well under a millisecond); generation runs in worker
threads, each with a cancel event so a shutdown can stop it between tokens.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import math
import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import anyio
import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .._throttled_log import ThrottledLog
from ..config import Config, load_config
from ..context import RouteContext
from ..errors import (
    AllTargetsFailed,
    ApiError,
    ConfigError,
    DecisionNotFound,
    EdgeMomaError,
    LogError,
    RequestError,
    StreamInterrupted,
    TargetBusy,
    TargetError,
    TargetMasked,
)
from ..messages import GenerationOptions, check_fields, normalize_messages, type_error
from ..runtime import Runtime
from ..targets.executor import Response as Answer
from ..untrusted import MAX_JSON_DEPTH, too_deep
from .batching import RouteBatcher
from .connection_guard import TIMED_OUT
from .metrics import Metrics

logger = logging.getLogger(__name__)
throttled = ThrottledLog(logger)

# Fields of OpenAI's chat-completions body that edge-moma honours; anything else is a 400.
_CHAT_FIELDS = {
    "model",
    "messages",
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "stop",
    "stream",
    "stream_options",
    "n",
    "user",
    "edge_moma",
}
_MESSAGE_FIELDS = {"role", "content", "name"}
_FEEDBACK_FIELDS = {"decision_id", "score", "correct", "note"}
DEFAULT_MAX_TOKENS = 256


def _dumps(obj: Any) -> bytes:
    """JSON bytes of an answer (orjson, as ``Decision.to_json``; anything odd as a string).

    orjson refuses text that is not valid UTF-8 (a lone surrogate a request sent,
    which an agent's answer may echo); the standard library then writes it escaped.
    """
    try:
        return orjson.dumps(obj, default=str, option=orjson.OPT_SERIALIZE_NUMPY)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(obj, default=str).encode()


def _json(obj: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    body = obj if isinstance(obj, bytes) else _dumps(obj)
    return Response(body, status, headers, media_type="application/json")


def _error_json(error: ApiError) -> Response:
    return _json(error.body(), error.status, error.headers)


def _status(exc: EdgeMomaError) -> ApiError:
    """The HTTP status and error type a library error becomes (the daemon's only mapping)."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, TargetMasked):  # the request is fine; the device's rules forbid it
        return ApiError(409, str(exc), param="model", code="target_masked")
    if isinstance(exc, DecisionNotFound):
        return ApiError(404, str(exc), param="decision_id", code="decision_not_found")
    if isinstance(exc, RequestError):
        return ApiError(400, str(exc), param=_param(exc.param), code=exc.code)
    if isinstance(exc, AllTargetsFailed) and exc.retry_after_s is not None:
        retry = str(math.ceil(exc.retry_after_s))
        return ApiError(
            429,
            f"the local model queue is full; retry in {retry} s ({exc})",
            type="rate_limit_error",
            code="queue_full",
            headers={"Retry-After": retry},
        )
    if isinstance(exc, TargetBusy):
        retry = str(math.ceil(exc.retry_after_s))
        return ApiError(
            429,
            str(exc),
            type="rate_limit_error",
            code="queue_full",
            headers={"Retry-After": retry},
        )
    if isinstance(exc, TargetError):
        return ApiError(503, str(exc), type="server_error", code="all_targets_failed")
    if isinstance(exc, LogError):
        return ApiError(503, str(exc), type="server_error", code="log_unavailable")
    if isinstance(exc, ConfigError):
        return ApiError(400, str(exc), code="invalid_config")
    return ApiError(500, str(exc), type="server_error")


# --- request bodies -------------------------------------------------------------------


@dataclass(frozen=True)
class ChatBody:
    """A validated chat-completions (or route) body."""

    messages: tuple[dict[str, str], ...]
    model: str = "auto"
    options: GenerationOptions = GenerationOptions()
    stream: bool = False
    include_usage: bool = False
    context: RouteContext | None = None


def parse_chat(body: Any, known_targets: Callable[[str], bool]) -> ChatBody:
    """Validate a chat-completions / route body; ``ApiError`` / ``RequestError`` name the field."""
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object", code="invalid_body")
    check_fields(body, _CHAT_FIELDS)
    if "messages" not in body:
        raise ApiError(400, "missing required parameter: messages", param="messages")
    model = body.get("model", "auto")
    if not isinstance(model, str):
        raise type_error("model", "a string", model)
    if model != "auto" and not known_targets(model):
        raise _not_found(model, "model")
    n = body.get("n", 1)
    if type(n) is not int or n != 1:
        raise ApiError(400, f"only n = 1 is supported, got {n!r}", param="n")
    for key in ("stream",):
        if not isinstance(body.get(key, False), bool):
            raise type_error(key, "true or false", body[key])
    stream_options = body.get("stream_options") or {}
    if not isinstance(stream_options, dict):
        raise type_error("stream_options", "an object", stream_options)
    check_fields(stream_options, {"include_usage"}, "stream_options.")
    include_usage = stream_options.get("include_usage", False)
    if not isinstance(include_usage, bool):
        raise type_error("stream_options.include_usage", "true or false", include_usage)
    if "user" in body and not isinstance(body["user"], str):
        raise type_error("user", "a string", body["user"])
    tokens_key = "max_completion_tokens" if "max_completion_tokens" in body else "max_tokens"
    context = _context(body.get("edge_moma"), model, known_targets)
    messages = body["messages"]
    if not isinstance(messages, list):  # a JSON string is not a conversation here
        raise type_error("messages", "a non-empty array of messages", messages)
    return ChatBody(
        messages=normalize_messages(messages, fields=_MESSAGE_FIELDS),
        model=model,
        options=GenerationOptions(
            max_tokens=body.get(tokens_key, DEFAULT_MAX_TOKENS),
            temperature=body.get("temperature", 0.2),
            stop=body.get("stop") or (),
        ),
        stream=body.get("stream", False),
        include_usage=include_usage,
        context=context,
    )


def _param(param: str | None) -> str | None:
    """A library error's ``param`` as the body names it (the context is ``edge_moma``)."""
    if param is not None and param.startswith("context"):
        return "edge_moma" + param[len("context") :]
    return param


def _context(raw: Any, model: str, known_targets: Callable[[str], bool]) -> RouteContext | None:
    """The routing context of a body: its ``edge_moma`` object with the pin ``model`` names."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise type_error("edge_moma", "an object of routing context", raw)
    pinned = raw.get("target")
    if model != "auto":
        if pinned is not None and pinned != model:
            raise ApiError(
                400,
                f"edge_moma.target {pinned!r} and model {model!r} pin different targets; "
                "pin with one of them",
                param="edge_moma.target",
            )
        raw = {**raw, "target": model}
    elif isinstance(pinned, str) and pinned and not known_targets(pinned):
        raise _not_found(pinned, "edge_moma.target")
    if not raw:
        return None
    try:
        return RouteContext.from_dict(raw)
    except RequestError as exc:
        raise ApiError(400, f"edge_moma: {exc}", param=_param(exc.param)) from None


def _not_found(model: str, param: str) -> ApiError:
    return ApiError(
        404,
        f'the model {model!r} does not exist; GET /v1/models lists them, or use "auto"',
        param=param,
        code="model_not_found",
    )


# --- the service: one runtime, swappable on reload, and the requests in flight --------


CANCEL_WAIT_S = 0.3  # after cancelling, how long generations get to reach a token boundary
GENERATION_THREAD = "edge-moma-generation"  # the name of the thread each generation runs in


@dataclass(frozen=True)
class _Generation:
    runtime: Runtime
    abandon: Callable[[], None] | None  # answers the request without its generation


def serving_config(config: Config) -> Config:
    """The config as the daemon runs it: ``[server] max_queue`` bounds the local queue."""
    if config.runtime.max_queue or not config.server.max_queue:
        return config
    runtime = dataclasses.replace(config.runtime, max_queue=config.server.max_queue)
    return dataclasses.replace(config, runtime=runtime)


class Service:
    """The daemon's state: the runtime in use, metrics and the generations in flight.

    Shutdown (``daemon.py``) gives generations ``grace_s`` to finish, then
    ``cancel_all`` stops them between two tokens (their requests are answered
    with an error and logged as cancelled); one that still does not end (a
    target stuck in a call that cannot be interrupted) is ``abandon``-ed: its
    request is answered at once and ``close`` logs it as cancelled.
    """

    def __init__(self, runtime: Runtime, config_path: str | None = None):
        self.runtime = runtime
        self.config_path = config_path or str(runtime.config.path)
        self.metrics = Metrics()
        runtime.add_sink(self.metrics)
        self.started = time.time()
        self.stopping = False  # SIGTERM: cancelled generations are answered "shutting_down"
        self.abandoned = False  # the daemon answered requests without their generations
        self.connection_count: Callable[[], int] = lambda: 0  # set by the daemon
        self._inflight: dict[threading.Event, _Generation] = {}
        self._idle = threading.Condition()
        self._reload_lock = asyncio.Lock()
        self.routes = RouteBatcher(lambda: self.runtime)

    @contextlib.contextmanager
    def generation(
        self, abandon: Callable[[], None] | None = None
    ) -> Iterator[tuple[Runtime, threading.Event]]:
        """Register a generation (cancellable at shutdown) on the runtime in use now.

        ``abandon`` is called on the event loop if the daemon stops waiting for it.
        """
        cancel, rt = threading.Event(), self.runtime
        with self._idle:
            self._inflight[cancel] = _Generation(rt, abandon)
        try:
            yield rt, cancel
        finally:
            with self._idle:
                del self._inflight[cancel]
                self._idle.notify_all()

    def drain(self, runtime: Runtime | None, timeout: float) -> bool:
        """Wait until no generation runs on ``runtime`` (None: any); cancel them at ``timeout``
        and give them ``CANCEL_WAIT_S`` more to stop."""

        def busy() -> bool:
            return any(runtime is None or g.runtime is runtime for g in self._inflight.values())

        with self._idle:
            if self._idle.wait_for(lambda: not busy(), timeout):
                return True
        self.cancel_all(runtime)
        wait = 0.0 if self.abandoned else CANCEL_WAIT_S  # the daemon waited already
        with self._idle:
            return self._idle.wait_for(lambda: not busy(), wait)

    def cancel_all(self, runtime: Runtime | None = None) -> int:
        """Stop every generation (on ``runtime``, None: all) at its next token; how many."""
        with self._idle:
            chosen = [
                cancel
                for cancel, g in self._inflight.items()
                if runtime is None or g.runtime is runtime
            ]
        for cancel in chosen:
            cancel.set()
        return len(chosen)

    def abandon(self) -> int:
        """Answer every request still waiting for a generation now (call on the loop)."""
        self.abandoned = True
        with self._idle:
            callbacks = [g.abandon for g in self._inflight.values() if g.abandon is not None]
        for callback in callbacks:
            callback()
        return len(callbacks)

    async def reload(self) -> dict[str, Any]:
        """Re-read the config; a changed config gets a new runtime, else the router is reloaded."""
        async with self._reload_lock:
            old = self.runtime
            config = serving_config(await anyio.to_thread.run_sync(load_config, self.config_path))
            if config == old.config:
                changed = await anyio.to_thread.run_sync(old.reload_router)
                return {"config_changed": False, "router_changed": changed}
            new = await anyio.to_thread.run_sync(Runtime, config)
            new.add_sink(self.metrics)
            self.runtime = new
            grace = old.config.server.grace_s

            def retire() -> None:
                self.drain(old, grace)
                old.close()

            threading.Thread(target=retire, name="edge-moma-retire", daemon=True).start()
            return {
                "config_changed": True,
                "router_changed": new.router_version != old.router_version,
            }

    def close(self, grace_s: float) -> None:
        """Let generations finish (cancel them after ``grace_s``), then flush and close;
        ``Runtime.close`` logs one that still runs as cancelled."""
        self.drain(None, grace_s)
        self.runtime.close()

    def gauges(self) -> dict[str, Any]:
        rt = self.runtime
        log = rt.decision_log
        rows = rt.targets()
        loaded = {(("model", r["id"]),): 1 if r.get("loaded") else 0 for r in rows if "loaded" in r}
        queued = {(("model", r["id"]),): r["queued"] for r in rows if "queued" in r}
        health = log.health() if log is not None else {}
        return {
            "edge_moma_models_loaded": loaded,
            "edge_moma_local_queue_depth": queued,
            "edge_moma_log_dropped_total": log.dropped if log is not None else 0,
            "edge_moma_log_dropped_other_total": log.dropped_other if log is not None else 0,
            "edge_moma_log_written_total": log.written if log is not None else 0,
            "edge_moma_log_pruned_total": log.pruned if log is not None else 0,
            "edge_moma_log_queued": log.stats()["queued"] if log is not None else 0,
            "edge_moma_log_writer_restarts_total": log.restarts if log is not None else 0,
            "edge_moma_log_degraded": int(health.get("status") == "degraded"),
            "edge_moma_connections_open": self.connection_count(),
            "edge_moma_generations_in_flight": len(self._inflight),
            "edge_moma_route_batches_total": self.routes.batches,
            "edge_moma_route_batched_requests_total": self.routes.requests,
        }


# --- endpoints ---------------------------------------------------------------------


async def _body(request: Request) -> Any:
    """The JSON body, refused with 413 past ``[server] max_body_bytes`` before it is all read."""
    return await _read_json(request.scope, request.receive, request.app.state.max_body_bytes)


async def _read_json(scope: Scope, receive: Receive, limit: int) -> Any:
    """``_body`` on the raw ASGI messages (no ``Request`` needed: the route fast path)."""
    for name, value in scope["headers"]:
        if name == b"content-length" and value.isdigit() and int(value) > limit:
            raise _too_large(limit)
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return parse_json(b"".join(chunks))


def parse_json(raw: bytes) -> Any:
    """A request body's JSON, or a 400 that says what is wrong with it.

    Strict JSON: no ``NaN`` / ``Infinity``, nesting at most ``MAX_JSON_DEPTH`` deep
    (300,000 ``[`` would overflow the parser's stack), integers of at most 4,300
    digits (Python's own limit).
    """
    if not raw.strip():
        raise ApiError(400, "the request body is empty; send a JSON object", code="invalid_body")
    deep = f"the request body nests deeper than {MAX_JSON_DEPTH} levels of arrays and objects"
    try:
        value = _DECODER.decode(raw.decode(json.detect_encoding(raw), "surrogatepass"))
    except RecursionError:
        raise ApiError(400, deep, code="invalid_body") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, too many digits
        raise ApiError(
            400, f"the request body is not valid JSON: {exc}", code="invalid_json"
        ) from None
    # Fewer brackets than the limit cannot nest deeper: the walk is for odd bodies only.
    if raw.count(b"[") + raw.count(b"{") > MAX_JSON_DEPTH and too_deep(value):
        raise ApiError(400, deep, code="invalid_body")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


_DECODER = json.JSONDecoder(parse_constant=_no_constant)  # json.loads would build one a call


def _too_large(limit: int) -> ApiError:
    return ApiError(
        413,
        f"the request body is larger than {limit} bytes ([server] max_body_bytes)",
        code="request_too_large",
    )


def _service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


async def route(request: Request) -> Response:
    return _json(await _decide(_service(request), await _body(request)))


async def _decide(service: Service, body: Any) -> bytes:
    """``/v1/route``: the decision's JSON for a request body (batched: ``batching.py``)."""
    chat = parse_chat(body, service.runtime.router.knows)
    return (await service.routes.route(chat.messages, chat.context)).to_json()


async def chat_completions(request: Request) -> Response:
    service = _service(request)
    chat = parse_chat(await _body(request), service.runtime.router.knows)
    if chat.stream:
        return await _stream(service, chat)
    loop = asyncio.get_running_loop()
    done: asyncio.Future[Answer] = loop.create_future()

    def abandon() -> None:
        if not done.done():
            done.set_exception(_cancelled(service))

    with service.generation(abandon) as (rt, cancel):
        _in_thread(
            loop,
            done,
            lambda: rt.complete(
                chat.messages,
                options=chat.options,
                context=chat.context,
                cancel=cancel,
            ),
        )
        try:
            answer = await done
        finally:
            if not done.done():  # the request's task was cancelled: stop the generation too
                cancel.set()
    headers = _headers(answer.decision.id, answer.target)
    if answer.cancelled:  # logged so; the client learns it was not a whole answer
        error = _cancelled(service)
        error.headers.update(headers)
        raise error
    return _json(_completion(answer), headers=headers)


def _in_thread(loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any], call: Any) -> None:
    """Run ``call`` in a daemon thread of its own and settle ``future`` with its outcome.

    Not a worker pool's thread: a target stuck in a call that cannot be interrupted
    (a remote that never answers) must not keep the daemon from exiting.
    """

    def settle(value: Any, exc: BaseException | None) -> None:
        if future.done():
            return  # abandoned at shutdown
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(value)

    def run() -> None:
        try:
            value, exc = call(), None
        except BaseException as error:  # delivered to the awaiting request
            value, exc = None, error
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits
            loop.call_soon_threadsafe(settle, value, exc)

    threading.Thread(target=run, name=GENERATION_THREAD, daemon=True).start()


def _cancelled(service: Service) -> ApiError:
    """The answer to a request whose generation the daemon cancelled."""
    if service.stopping:
        why, code = "the daemon is shutting down ([server] grace_s passed)", "shutting_down"
    else:
        why, code = "the runtime it ran on was replaced by /admin/reload", "cancelled"
    return ApiError(503, f"the answer was cancelled: {why}; retry", type="server_error", code=code)


def _headers(decision_id: str, target: str) -> dict[str, str]:
    return {"x-edge-moma-decision-id": decision_id, "x-edge-moma-target": target}


def _completion(answer: Answer) -> dict[str, Any]:
    c = answer.completion
    prompt, tokens = (c.prompt_tokens, c.completion_tokens) if c else (0, 0)
    finish = c.finish_reason if c and c.finish_reason in ("stop", "length") else "stop"
    return {
        "id": f"chatcmpl-{answer.decision.id}",
        "object": "chat.completion",
        "created": int(answer.decision.created),
        "model": answer.target,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer.text},
                "finish_reason": finish,
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": tokens,
            "total_tokens": prompt + tokens,
        },
        "edge_moma": _extension(answer.decision.id, answer.target, answer.decision.stage, answer),
    }


def _extension(
    decision_id: str, target: str, stage: str, answer: Answer | None = None
) -> dict[str, Any]:
    ext: dict[str, Any] = {"decision_id": decision_id, "target": target, "stage": stage}
    if answer is not None:
        ext["attempts"] = [dataclasses.asdict(a) for a in answer.attempts]
    return ext


_END = object()
_ABANDONED = object()  # the daemon stopped waiting for this stream's generation


async def _stream(service: Service, chat: ChatBody) -> Response:
    """Answer with SSE; the first piece is awaited first so early failures get a real status."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue()
    lease = service.generation(abandon=lambda: queue.put_nowait(_ABANDONED))
    rt, cancel = lease.__enter__()
    try:
        answer = rt.stream(chat.messages, options=chat.options, context=chat.context, cancel=cancel)
    except BaseException:
        lease.__exit__(None, None, None)
        raise

    def put(item: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody reads
            loop.call_soon_threadsafe(queue.put_nowait, item)

    def produce() -> None:  # one thread owns the generator from start to close
        try:
            with answer:
                for piece in answer:
                    if queue_first.is_set():
                        put(piece)
                    else:  # the generator is paused here: who answers is settled
                        put((piece, decision.ranking[len(answer.attempts)]))
                        queue_first.set()
            put(_END)
        except BaseException as exc:  # delivered to the reader, not lost in the thread
            put(exc)
        finally:
            lease.__exit__(None, None, None)

    decision, queue_first = answer.decision, threading.Event()
    threading.Thread(target=produce, name=GENERATION_THREAD, daemon=True).start()
    first = await queue.get()
    if first is _ABANDONED:
        raise _cancelled(service)
    if isinstance(first, BaseException):
        raise first
    if isinstance(first, tuple):
        first, answering = first
    else:  # ended without any text
        answering = answer.response.target if answer.response else ""
    base = {
        "id": f"chatcmpl-{decision.id}",
        "object": "chat.completion.chunk",
        "created": int(decision.created),
        "model": answering,
    }
    ext = _extension(decision.id, answering, decision.stage)

    def chunk(delta: dict[str, str], finish: str | None, **extra: Any) -> bytes:
        body = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        body.update(extra)
        return b"data: " + _dumps(body) + b"\n\n"

    def failed(error: ApiError) -> bytes:  # the last events of a stream that failed
        return b"data: " + _dumps(error.body()) + b"\n\ndata: [DONE]\n\n"

    async def events() -> AsyncIterator[bytes]:
        try:
            yield chunk({"role": "assistant", "content": ""}, None, edge_moma=ext)
            item = first
            while item is not _END:
                if item is _ABANDONED:
                    yield failed(_cancelled(service))
                    return
                if isinstance(item, BaseException):
                    err = _status(item) if isinstance(item, EdgeMomaError) else None
                    message = err.message if err else "internal error; see the daemon's log"
                    if err is None:
                        logger.error("stream failed", exc_info=item)
                    if isinstance(item, StreamInterrupted):
                        message = str(item)
                    yield failed(
                        ApiError(500, message, type="server_error", code="stream_interrupted")
                    )
                    return
                if item:
                    yield chunk({"content": item}, None)
                item = await queue.get()
            done = answer.response
            if done is not None and done.cancelled and cancel.is_set():
                yield failed(_cancelled(service))  # cut short by the daemon, logged so
                return
            c = done.completion if done is not None else None
            finish = c.finish_reason if c and c.finish_reason in ("stop", "length") else "stop"
            yield chunk({}, finish)
            if chat.include_usage:
                p, t = (c.prompt_tokens, c.completion_tokens) if c else (0, 0)
                usage = {"prompt_tokens": p, "completion_tokens": t, "total_tokens": p + t}
                body = {**base, "choices": [], "usage": usage}
                yield b"data: " + _dumps(body) + b"\n\n"
            yield b"data: [DONE]\n\n"
        finally:
            stop()

    def stop() -> None:  # a reader that went away stops the generation at the next token
        if answer.response is None:
            answer.cancel()

    headers = {**_headers(decision.id, answering), "Cache-Control": "no-cache"}
    return _EventStream(events(), stop, media_type="text/event-stream", headers=headers)


class _EventStream(StreamingResponse):
    """A streamed response that calls ``on_end`` as soon as it ends, even when the client
    disconnected: the cancelled async generator itself is only finalized much later."""

    def __init__(self, content: AsyncIterator[bytes], on_end: Callable[[], None], **kw: Any):
        super().__init__(content, **kw)
        self._on_end = on_end

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._on_end()


async def models(request: Request) -> Response:
    rt = _service(request).runtime
    rows = await anyio.to_thread.run_sync(rt.targets)
    created = int(_service(request).started)
    data = [_model("auto", created, {"kind": "router", "available": True, "reason": None})]
    for row in rows:
        data.append(_model(row.pop("id"), created, row))
    return _json({"object": "list", "data": data})


def _model(name: str, created: int, ext: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": name,
        "object": "model",
        "created": created,
        "owned_by": "edge-moma",
        "edge_moma": ext,
    }


async def feedback(request: Request) -> Response:
    body = await _body(request)
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object", code="invalid_body")
    check_fields(body, _FEEDBACK_FIELDS)
    decision_id = body.get("decision_id")
    if not isinstance(decision_id, str) or not decision_id:
        raise type_error("decision_id", "a decision id (string)", decision_id)
    score, correct, note = body.get("score"), body.get("correct"), body.get("note")
    if score is not None:
        if isinstance(score, bool) or not isinstance(score, (int, float)):
            raise type_error("score", "a number from 0 to 1", score)
        score = float(score)  # its range is checked with the feedback (Feedback.check)
    if correct is not None and not isinstance(correct, bool):
        raise type_error("correct", "true or false", correct)
    if note is not None and not isinstance(note, str):
        raise type_error("note", "a string", note)
    rt = _service(request).runtime
    full_id = await anyio.to_thread.run_sync(  # flushes the log, then reads it: off the loop
        lambda: rt.feedback(decision_id, score=score, correct=correct, note=note, source="daemon")
    )
    return _json({"decision_id": full_id, "score": score, "correct": correct})


async def healthz(request: Request) -> Response:
    """Always 200 while serving; ``status`` is "degraded" while the decision log cannot
    write or lost records in the last minute (``log`` says why and how many)."""
    service = _service(request)
    log = service.runtime.decision_log
    health = log.health() if log is not None else {"status": "off", "reason": None}
    return _json(
        {
            "status": "degraded" if health["status"] == "degraded" else "ok",
            "pid": os.getpid(),
            "router_version": service.runtime.router_version,
            "uptime_s": round(time.time() - service.started, 3),
            "log": health,
        }
    )


async def metrics(request: Request) -> Response:
    service = _service(request)
    gauges = await anyio.to_thread.run_sync(service.gauges)
    text = service.metrics.render(gauges)
    return Response(text, media_type="text/plain; version=0.0.4; charset=utf-8")


async def reload(request: Request) -> Response:
    if await request.body():
        raise ApiError(400, "POST /admin/reload takes no body", code="invalid_body")
    service = _service(request)
    result = await service.reload()
    return _json({**result, "router_version": service.runtime.router_version})


# --- errors and metrics around every request -----------------------------------------


async def _library_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, EdgeMomaError)
    error = _status(exc)
    if error.status >= 500:  # a lasting fault fails every request alike: once a minute
        kind = f"{request.url.path}:{type(exc).__name__}"
        throttled.warning(kind, "%s %s: %s", request.method, request.url.path, exc)
    return _error_json(error)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code)
    message = f"{request.method} {request.url.path}: {exc.detail}"
    return _error_json(ApiError(exc.status_code, message, code=code, headers=exc.headers))


# What metrics count a request the client abandoned before sending it whole as
# (nginx's "client closed request"); one the daemon cut off for its slowness is a 408.
CLIENT_GONE, TOO_SLOW = 499, 408


async def _client_gone(request: Request, exc: Exception) -> Response:
    """The client went away mid-body (or was cut off by the body timeout): a client error,
    one line in the log, not a traceback and not a 500."""
    slow = bool(request.scope.get(TIMED_OUT))
    throttled.info(
        "body-timeout" if slow else "client-gone",
        "%s %s: %s",
        request.method,
        request.url.path,
        "the body did not arrive within [server] body_timeout_s"
        if slow
        else "the client disconnected before sending the whole request",
    )
    return Response(status_code=TOO_SLOW if slow else CLIENT_GONE)


async def _unexpected(request: Request, exc: Exception) -> Response:
    logger.exception("%s %s failed", request.method, request.url.path)
    return _error_json(ApiError(500, "internal error; see the daemon's log", type="server_error"))


_HANDLERS: dict[Any, Callable[[Request, Exception], Any]] = {
    ClientDisconnect: _client_gone,
    EdgeMomaError: _library_error,
    HTTPException: _http_error,
    Exception: _unexpected,
}


async def _error_response(request: Request, exc: Exception) -> Response:
    """The answer the app's exception handlers give ``exc`` (for paths outside Starlette)."""
    handler = next(_HANDLERS[c] for c in type(exc).__mro__ if c in _HANDLERS)
    response: Response = await handler(request, exc)
    return response


class _FastRoute:
    """``POST /v1/route`` straight to its handler, past Starlette's middleware and router.

    A decision takes a fraction of a millisecond, so the framework's layers
    were a sizeable share of the daemon's hottest call. It counts its own
    answers in the metrics; every other request goes to ``app`` (``_Measure``
    around Starlette), and every error of this one is answered by the same
    exception handlers.
    """

    def __init__(self, app: ASGIApp, starlette: Starlette, service: Service, max_body_bytes: int):
        self.app, self.starlette = app, starlette
        self.service, self.limit = service, max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/v1/route" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        start, status = time.perf_counter(), 500
        try:
            try:
                body = await _decide(self.service, await _read_json(scope, receive, self.limit))
            except Exception as exc:
                scope["app"] = self.starlette
                response = await _error_response(Request(scope, receive), exc)
                status = response.status_code
                await response(scope, receive, send)
                return
            length = b"%d" % len(body)
            headers = [(b"content-type", b"application/json"), (b"content-length", length)]
            status = 200
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": body})
        finally:
            self.service.metrics.request("/v1/route", status, time.perf_counter() - start)


class _Measure:
    """Pure ASGI wrapper: counts every answer by endpoint and status, times it to the last byte."""

    def __init__(self, app: ASGIApp, metrics: Metrics, paths: set[str]):
        self.app, self.metrics, self.paths = app, metrics, paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            path = scope["path"] if scope["path"] in self.paths else "other"
            self.metrics.request(path, status, time.perf_counter() - start)


ROUTES = [
    Route("/v1/chat/completions", chat_completions, methods=["POST"]),
    Route("/v1/route", route, methods=["POST"]),
    Route("/v1/models", models, methods=["GET"]),
    Route("/v1/feedback", feedback, methods=["POST"]),
    Route("/healthz", healthz, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
    Route("/admin/reload", reload, methods=["POST"]),
]


def create_app(service: Service, *, max_body_bytes: int) -> ASGIApp:
    """The ASGI app; its lifespan closes the runtime (flushing the log) at shutdown.

    The server grants the grace period (uvicorn's ``timeout_graceful_shutdown``)
    before the lifespan ends: generations still running then have used it up and
    are cancelled at once; their partial answers are logged like any other.
    """

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await anyio.to_thread.run_sync(service.close, 0.0)

    app = Starlette(
        routes=ROUTES,
        lifespan=lifespan,
        exception_handlers=_HANDLERS,
    )
    app.state.service = service
    app.state.max_body_bytes = max_body_bytes
    measured = _Measure(app, service.metrics, {r.path for r in ROUTES})
    return _FastRoute(measured, app, service, max_body_bytes)
