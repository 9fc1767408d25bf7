"""The daemon's connections: how many may be open, how long each may idle or dribble.

uvicorn closes a keep-alive connection that idles between two requests
(``timeout_keep_alive``, set to ``[server] idle_timeout_s``) and nothing else:
a connection that never sends a request, a request whose headers or body
trickle in a byte at a time (slowloris), a body shorter than its
Content-Length, and any number of them stayed open for good; 20,400 idle
connections used up the daemon's file descriptors and ``/healthz`` was reset.
uvicorn's ``limit_concurrency`` does not help: it answers 503 only once a
request's headers are in and never closes an idle connection. ``guarded``
adds to uvicorn's httptools protocol:

- a deadline per connection, by phase: ``idle_timeout_s`` until a request
  begins, ``header_timeout_s`` for its line and headers, ``body_timeout_s`` for
  its body, none while the app answers. ``sweep`` closes connections past their
  deadline twice a second (checking a time stamp per request costs less than a
  timer per request): a late request is answered 408 first, an idle
  connection is just closed.
- a request line and headers still incomplete past ``MAX_HEADER_BYTES`` are
  answered 431 (a complete block is bounded by one read, 256 KiB at most).
- at most ``max_connections`` open: one more closes the connection idle the
  longest; if none is idle, the new one is answered 503 and closed. Either way
  the daemon's file descriptors stay bounded and ``/healthz`` keeps answering.

Every connection closed here is counted by reason (``closed``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from time import monotonic
from typing import Any

from ..config import ServerSettings
from . import heap

MAX_HEADER_BYTES = 64 * 1024
SWEEP_S = 0.5
TRIM_EVERY_S = 60.0
TIMED_OUT = "edge_moma.timed_out"  # set in a request's scope when its body timed out

IDLE, HEADERS, BODY, BUSY = "idle", "headers", "body", "busy"


def _answer(status: int, reason: str, code: str, message: str) -> bytes:
    """A whole HTTP response with an OpenAI-style error body; the connection then closes."""
    body = json.dumps(
        {
            "error": {
                "message": message,
                "type": "invalid_request_error",
                "param": None,
                "code": code,
            }
        }
    ).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body


def _answers(limits: ServerSettings) -> dict[str, bytes]:
    return {
        "header_timeout": _answer(
            408,
            "Request Timeout",
            "request_timeout",
            f"the request line and headers did not arrive within {limits.header_timeout_s:g} s "
            "([server] header_timeout_s)",
        ),
        "body_timeout": _answer(
            408,
            "Request Timeout",
            "request_timeout",
            f"the request body did not arrive within {limits.body_timeout_s:g} s "
            "([server] body_timeout_s)",
        ),
        "refused": _answer(
            503,
            "Service Unavailable",
            "too_many_connections",
            f"{limits.max_connections} connections are open and busy ([server] max_connections); "
            "retry shortly",
        ),
        "too_large": _answer(
            431,
            "Request Header Fields Too Large",
            "request_too_large",
            f"the request line and headers are over {MAX_HEADER_BYTES} bytes",
        ),
        "shutdown": _answer(
            503, "Service Unavailable", "shutting_down", "the daemon is shutting down; retry"
        ),
    }


def guarded(base: type[Any], limits: ServerSettings, closed: Callable[[str], None]) -> type[Any]:
    """uvicorn's HTTP protocol class ``base`` with ``[server]``'s deadlines and cap (above).

    The deadlines follow httptools' parser callbacks; with uvicorn's h11 protocol
    (httptools missing) only the connection cap and the keep-alive timeout apply.
    """
    phased = hasattr(base, "on_message_begin")
    answers = _answers(limits)

    class Guarded(base):
        # Three overrides a request (the parser's other callbacks are left alone: each
        # Python call on the daemon's hottest path shows in its throughput).
        phase = IDLE
        deadline: float | None = None
        since = 0.0  # when the connection was opened or its last request was read
        _header_bytes = 0

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self.since = monotonic()
            if phased:
                self.deadline = self.since + limits.idle_timeout_s
            if len(self.connections) > limits.max_connections:
                self._make_room()

        def _make_room(self) -> None:
            idle = [c for c in self.connections if c is not self and c.idle()]
            if idle:
                min(idle, key=lambda c: c.since).expire("connection_cap")
            else:
                self.expire("refused")  # everything is busy: refuse this one

        def idle(self) -> bool:
            """No request coming in or being answered (an idle keep-alive connection)."""
            if self.transport.is_closing():
                return False
            if self.phase == BUSY:  # answered since? then uvicorn's keep-alive timer runs
                return self.cycle is not None and self.cycle.response_complete
            return self.phase == IDLE

        def data_received(self, data: bytes) -> None:
            if phased and (self.phase == IDLE or self.phase == BUSY):
                # the first bytes of a request: its line and headers are due
                self.phase, self._header_bytes = HEADERS, 0
                self.deadline = monotonic() + limits.header_timeout_s
            if self.phase == HEADERS:
                self._header_bytes += len(data)
            super().data_received(data)
            if self.phase == HEADERS and self._header_bytes > MAX_HEADER_BYTES:
                self.expire("too_large")

        def on_headers_complete(self) -> None:
            super().on_headers_complete()
            self.phase = BODY
            self.deadline = monotonic() + limits.body_timeout_s

        def on_message_complete(self) -> None:
            super().on_message_complete()
            self.phase, self.deadline, self.since = BUSY, None, monotonic()

        def expire(self, reason: str) -> None:
            """Close the connection for ``reason``: an idle one silently, one with a request
            coming in (or a new one ``refused``) with an answer first."""
            if self.transport.is_closing():
                return
            if reason == "body_timeout" and self.scope is not None:
                self.scope[TIMED_OUT] = True  # the app then counts its request as a 408
            if reason in answers and (self.phase in (HEADERS, BODY) or reason == "refused"):
                self.transport.write(answers[reason])
            self.deadline = None
            self.transport.close()
            closed(reason)

    return Guarded


def _expired(conn: Any) -> str:
    return {IDLE: "idle_timeout", HEADERS: "header_timeout", BODY: "body_timeout"}.get(
        conn.phase, "idle_timeout"
    )


async def sweep(connections: set[Any]) -> None:
    """Close the connections whose deadline passed, every ``SWEEP_S``, until cancelled;
    once a minute also hand freed heap pages back (``heap.trim``)."""
    trimmed = monotonic()
    while True:
        await asyncio.sleep(SWEEP_S)
        now = monotonic()
        if now - trimmed >= TRIM_EVERY_S:
            trimmed = now
            heap.trim()
        for conn in list(connections):
            deadline = getattr(conn, "deadline", None)
            if deadline is not None and now >= deadline:
                conn.expire(_expired(conn))


def close_unfinished(connections: set[Any]) -> int:
    """At shutdown: close connections whose request has not fully arrived (503)."""
    unfinished = [c for c in list(connections) if getattr(c, "phase", None) in (HEADERS, BODY)]
    for conn in unfinished:
        conn.expire("shutdown")
    return len(unfinished)
