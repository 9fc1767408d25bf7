"""Real HTTP servers on 127.0.0.1 for the execution tests.

``FaultServer`` is a tiny OpenAI-compatible server (``http.server`` in a
thread) whose path picks a behaviour: ``/ok/v1``, ``/sse/v1``, ``/429/v1``...
so one server covers every fault a remote target shows in the field; setting
its ``mode`` makes every path behave so (the soak switches faults that way).
``LlamaServer`` runs llama-cpp-python's own server (``python -m
llama_cpp.server``) as a subprocess serving a real GGUF: the loopback "cloud".
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _chunk(content: str | None = None, finish: str | None = None, usage: dict | None = None):
    delta = {"content": content} if content is not None else {}
    event: dict = {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    if usage is not None:
        event = {"choices": [], "usage": usage}
    return f"data: {json.dumps(event)}\n\n".encode()


ANSWER = {
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "Paris."}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500},
}


# Answers of the wrong shape, one per path ``/bad-<name>/v1``: JSON values or raw bytes.
MALFORMED_ANSWERS: dict[str, object] = {
    "not-json": b"<html>502 Bad Gateway</html>",
    "array": [ANSWER],
    "deep": b"[" * 100_000,
    "no-choices": {"usage": ANSWER["usage"]},
    "choices-str": {"choices": "Paris."},
    "choices-items-str": {"choices": ["Paris."]},
    "message-str": {"choices": [{"message": "Paris."}]},
    "content-int": {"choices": [{"message": {"content": 5}}]},
    "finish-list": {"choices": [{"message": {"content": "Paris."}, "finish_reason": ["stop"]}]},
    "usage-list": {**ANSWER, "usage": [1]},
    "tokens-str": {**ANSWER, "usage": {"prompt_tokens": "abc", "completion_tokens": 2}},
    "tokens-negative": {**ANSWER, "usage": {"prompt_tokens": -3}},
    "tokens-huge": {**ANSWER, "usage": {"completion_tokens": 10**30}},
    "error-200": {"error": {"message": "quota exceeded"}},
}
# Event streams of the wrong shape (``/badsse-<name>/v1``): the ``data:`` payloads in order.
_OK_PIECE = b'{"choices": [{"index": 0, "delta": {"content": "Par"}}]}'
MALFORMED_STREAMS: dict[str, list[bytes]] = {
    "choices-items-str": [b'{"choices": ["x"]}'],
    "choices-object": [b'{"choices": {"0": {"delta": {"content": "x"}}}}'],
    "delta-str": [b'{"choices": [{"delta": "Paris."}]}'],
    "content-int": [b'{"choices": [{"delta": {"content": 5}}]}'],
    "not-json": [b"{Paris"],
    "event-array": [b"[1, 2]"],
    "usage-list": [b'{"choices": [], "usage": [1]}'],
    "not-utf8": [b'{"choices": [{"delta": {"content": "\xff\xfe"}}]}'],
    "late-content-int": [_OK_PIECE, b'{"choices": [{"delta": {"content": 5}}]}'],
}
# A stream whose text holds what str.splitlines() breaks at, written raw (UTF-8 JSON).
SPLITLINES_TEXT = "a\u2028b\u2029c\x85d\x1ce"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FaultServer

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        pass

    def _json(self, status: int, body: object, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _sse_head(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        body = json.loads(self.rfile.read(length) or b"{}")
        srv = self.server
        scenario = srv.mode or self.path.strip("/").split("/")[0]
        with srv.lock:
            srv.hits[scenario] += 1
            hit = srv.hits[scenario]
            srv.auth.append(self.headers.get("Authorization", ""))
            srv.bodies.append(body)
        if scenario == "ok":
            self._json(200, ANSWER)
        elif scenario == "sse":
            self._sse_head()
            for piece in ["Par", "is", "."]:
                self.wfile.write(_chunk(piece))
            self.wfile.write(_chunk(finish="stop"))
            self.wfile.write(_chunk(usage={"prompt_tokens": 1000, "completion_tokens": 3}))
            self.wfile.write(b"data: [DONE]\n\n")
        elif scenario == "drop":  # two pieces, then the connection dies mid-answer
            self._sse_head()
            self.wfile.write(_chunk("Hel") + _chunk("lo"))
            self.wfile.flush()
            time.sleep(0.1)
            self.connection.shutdown(socket.SHUT_RDWR)
        elif scenario == "drop0":  # headers, then the connection dies before any text
            self._sse_head()
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        elif scenario == "429":  # rate-limited twice, then answers
            if hit <= 2:
                self._json(429, {"error": {"message": "slow down"}}, {"Retry-After": "0.2"})
            else:
                self._json(200, ANSWER)
        elif scenario == "429long":
            self._json(429, {"error": {"message": "slow down"}}, {"Retry-After": "60"})
        elif scenario == "500":
            self._json(500, {"error": {"message": "the model crashed"}})
        elif scenario == "echo":  # an error body that echoes the request's credentials
            self._json(401, {"error": {"message": f"bad key {self.headers.get('Authorization')}"}})
        elif scenario.startswith("bad-"):
            bad = MALFORMED_ANSWERS[scenario[4:]]
            data = bad if isinstance(bad, bytes) else json.dumps(bad).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        elif scenario.startswith("badsse-"):
            self._sse_head()
            for payload in MALFORMED_STREAMS[scenario[7:]]:
                self.wfile.write(b"data: " + payload + b"\n\n")
            self.wfile.write(_chunk(finish="stop") + b"data: [DONE]\n\n")
        elif scenario == "sse-splitlines":
            self._sse_head()
            event = {"choices": [{"index": 0, "delta": {"content": SPLITLINES_TEXT}}]}
            self.wfile.write(
                b"data: " + json.dumps(event, ensure_ascii=False).encode() + b"\r\n\r\n"
            )
            self.wfile.write(_chunk(finish="stop") + b"data: [DONE]\n\n")
        elif scenario == "slow":  # answers long after any sane deadline
            srv.stopping.wait(10)
            if not srv.stopping.is_set():
                self._json(200, ANSWER)
        elif scenario == "hang":  # accepts and reads the request, never answers
            srv.stopping.wait()
            self.close_connection = True
        elif scenario == "malformed":  # 200 with a body that is not JSON
            data = b'{"choices": [{"message": '
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        else:
            self._json(404, {"error": {"message": f"no scenario {scenario!r}"}})


class FaultServer(ThreadingHTTPServer):
    """An OpenAI-compatible server with one behaviour per path prefix."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.hits: Counter[str] = Counter()
        self.auth: list[str] = []
        self.bodies: list[dict] = []
        self.stopping = threading.Event()
        self.mode = ""  # set: every path behaves as this scenario
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    def url(self, scenario: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/{scenario}/v1"

    def start(self) -> FaultServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.shutdown()
        self.server_close()
        self._thread.join(5)


class LlamaServer:
    """``python -m llama_cpp.server`` serving ``model`` on a free loopback port."""

    def __init__(self, model: Path, *, ctx: int = 1024, threads: int = 1):
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._cmd = [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(model),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--n_ctx",
            str(ctx),
            "--n_threads",
            str(threads),
            # queue a request behind a running one (the default interrupts the running one):
            # the tests that kill the server mid-request rely on one being in flight
            "--interrupt_requests",
            "false",
        ]
        self.proc: subprocess.Popen[bytes] | None = None
        # a file, not a pipe: a full pipe would stall the server
        self._log = tempfile.NamedTemporaryFile()  # noqa: SIM115 - closed in stop()

    def start(self, timeout_s: float = 60.0) -> LlamaServer:
        self.proc = subprocess.Popen(
            self._cmd,
            stdout=self._log,  # uvicorn's access log: ``completions()`` counts from it
            stderr=self._log,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                self._log.seek(0)
                err = self._log.read().decode(errors="replace")[-2000:]
                raise RuntimeError(f"llama_cpp.server exited with {self.proc.returncode}: {err}")
            try:
                with urllib.request.urlopen(f"{self.base_url}/models", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"llama_cpp.server did not answer within {timeout_s} s")

    def completions(self) -> int:
        """How many chat completions the server was asked for so far (its access log)."""
        time.sleep(0.2)  # a request just answered may still be on its way to the log
        with open(self._log.name, "rb") as log:  # an offset of its own: the server writes on
            return log.read().count(b'"POST /v1/chat/completions HTTP/1.1"')

    def kill(self) -> None:
        """Kill the server at once, as a crash or a pulled plug would."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()


class Blackhole:
    """A loopback port that never completes a TCP handshake (its accept queue is full),
    as a black-holed host behaves: only the connect timeout ends a connection attempt."""

    def __init__(self) -> None:
        self._server = socket.socket()
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(0)
        self._fillers = []
        for _ in range(8):  # fill the backlog; later SYNs are dropped by the kernel
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(self._server.getsockname())
            self._fillers.append(s)
        time.sleep(0.1)
        self.url = f"http://127.0.0.1:{self._server.getsockname()[1]}/v1"

    def close(self) -> None:
        for s in self._fillers:
            s.close()
        self._server.close()
