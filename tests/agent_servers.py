"""A real HTTP agent on 127.0.0.1 (stdlib http.server in a thread) for tests.

It implements the documented protocol: a turn without ``slots["city"]`` asks
for the city (``need_input``), the next turn answers with it. ``/slow`` sleeps
past a client's timeout and ``/broken`` answers malformed JSON.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Handler(BaseHTTPRequestHandler):
    server: AgentServer  # type: ignore[assignment]

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.turns.append(body)
        if self.path == "/slow":
            time.sleep(1.0)
        if self.path == "/broken":
            self._send(200, b"{not json")
            return
        text = body["messages"][-1]["content"]
        slots = body["slots"]
        if body["intent"] == "cancel":
            reply = {"reply": "Booking cancelled.", "state": "done", "slots": {}}
        elif "city" not in slots:
            reply = {"reply": "Which city?", "state": "need_input", "slots": {"city": None}}
        else:
            reply = {
                "reply": f"Booked a table in {text}.",
                "state": "done",
                "slots": {"city": text},
                "data": {"city": text},
            }
        self._send(200, json.dumps(reply).encode())

    def _send(self, status: int, payload: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class AgentServer(ThreadingHTTPServer):
    """Start with ``start()``, stop with ``stop()``; ``turns`` records every request body."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.turns: list[dict[str, Any]] = []
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start(self) -> AgentServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(5)
