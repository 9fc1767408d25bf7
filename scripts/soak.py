#!/usr/bin/env python3
"""Soak the local daemon under mixed load and injected faults; print figures, write JSON.

    python scripts/soak.py [--minutes 10] [--clients 16] [--grace 3] [--out FILE]

A real ``edge-moma serve`` (the packaged default config, SmolLM2 for local
generation, a temporary data dir, ``[server] grace_s = --grace``) with two more
models on loopback: ``cloud``, a small OpenAI-compatible server whose
behaviour the soak switches while it runs, and ``cloud-down``, a port nothing
listens on. For ``--minutes``:

* Load, from ``--clients`` threads with keep-alive connections: routes (short
  and long prompts, some in sessions), agent answers, local chats whole and
  streamed (``max_tokens`` 8), chats pinned to the two remotes (deadline 4 s,
  falling back to the local model), feedback, ``/v1/models``, ``/healthz``,
  ``/metrics`` and invalid requests (bad JSON, unknown fields, wrong types,
  unknown models). Beside them: idle connections held open, slowloris headers
  and bodies shorter than their Content-Length, and clients that leave
  mid-body.
* Faults: the remote refuses (``cloud-down``), then in turn answers 500, sends
  malformed JSON and hangs; the decision log is locked by another process
  (``BEGIN EXCLUSIVE``) for 3 s, twice; its writes fail for 3 s (a file-size
  limit set on the daemon with ``prlimit``, standing in for a full disk: a
  small file system would need privileges CI does not have); at the end two
  long generations are started and the daemon gets SIGTERM.

Figures: requests by kind and status, p50/p99 by kind, decisions acknowledged
(ids the clients received) against rows in the log and ``dropped_total`` (the
daemon's last word at close), resident and anonymous memory at start, after
warm-up (2 minutes, or half a shorter run), at its largest and at the end, with
the trend after warm-up, open file descriptors at start and end, and the
shutdown time against ``grace_s`` + 1 s. Targets: 0 silent losses (every
acknowledged decision is a row, or counted in ``dropped_total``), exit within
``grace_s`` + 1 s, RSS within 2 MB of its warm-up level at the end, fds back to
their start (plus the connections the soak holds open).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import random
import re
import resource
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the loopback fault server, shared with the tests

from bench_daemon import percentile  # noqa: E402  (scripts/ is on sys.path)
from http_servers import FaultServer, free_port  # noqa: E402

from edge_moma.config import default_config_path  # noqa: E402
from edge_moma.log.store import disk_bytes  # noqa: E402

REPORTS = ROOT / "reports"
SHORT = [
    "what is 15% of 80",
    "convert 5 miles to km",
    "what time is it in tokyo",
    "remind me to call mum at 6pm",
    "Write a haiku about rain on a tin roof.",
    "Explain how a hash map handles collisions.",
    "What is the capital of Australia?",
    "my email is jane.doe@example.com, summarise my notes",
]
REMOTE_MODES = ["500", "malformed", "hang"]  # each followed by a spell of "ok"


def long_prompts(n: int = 200) -> list[str]:
    """RouterBench prompts (long: the router's models see their longest inputs)."""
    path = ROOT / "scripts" / "data" / "routerbench" / "train.jsonl"
    lines = [line for line in path.read_bytes().split(b"\n") if line.strip()]
    return [json.loads(line)["prompt"] for line in lines[:n]]


LOG_MAX_MB = 64  # small enough that retention prunes during the run


def config_text(data: Path, grace: float, cloud_url: str, down_url: str) -> str:
    text = default_config_path().read_text(encoding="utf-8")
    text = text.replace('# data_dir = ""', f'data_dir = "{data}"')
    text = re.sub(r"(?m)^log_max_mb = \d+", f"log_max_mb = {LOG_MAX_MB}", text)
    start, end = text.index("[server]"), text.index("[budgets]")
    server = (
        f"[server]\ngrace_s = {grace}\nmax_queue = 8\nmax_connections = 256\n"
        "idle_timeout_s = 5\nheader_timeout_s = 2\nbody_timeout_s = 2\n\n"
    )
    remotes = ""
    for name, url in (("cloud", cloud_url), ("cloud-down", down_url)):
        remotes += (
            f'\n[[models]]\nname = "{name}"\nkind = "remote"\nbase_url = "{url}"\n'
            'model = "gpt-4o-mini"\nprofile = "gpt-4-1106-preview"\nprice_in = 0.00015\n'
            "price_out = 0.0006\nconnect_timeout_s = 1\nmax_retries = 1\nretry_backoff_s = 0.2\n"
        )
    return text[:start] + server + text[end:] + remotes


class Record:
    """What the clients saw, shared by every thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.status: collections.Counter[tuple[str, str]] = collections.Counter()
        self.latency: dict[str, list[float]] = collections.defaultdict(list)
        self.acknowledged: dict[str, float] = {}  # decision id -> when the client got it
        self.last_id = "0" * 32  # what feedback is given for
        self.stream_ends: collections.Counter[str] = collections.Counter()

    def add(
        self, kind: str, status: int | str, seconds: float, decision: str | None = None
    ) -> None:
        with self.lock:
            self.status[(kind, str(status))] += 1
            if isinstance(status, int) and status < 400:
                self.latency[kind].append(seconds)
            if decision:
                self.acknowledged[decision] = time.time()
                self.last_id = decision


def chat(text: str, model: str = "auto", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": text}]}
    return {**body, **extra}


class Client(threading.Thread):
    """One client: a keep-alive connection and a seeded mix of requests until told to stop."""

    # The local model answers a few requests a second on a shared 2-core box: the ones it
    # serves (local, stream, and the remotes' fallbacks) are kept below that.
    KINDS = {
        "route": 60,
        "agent": 10,
        "local": 1,
        "stream": 1,
        "cloud": 3,
        "cloud_down": 0.5,
        "feedback": 6,
        "invalid": 8,
        "read": 8,
    }
    THINK_S = 0.02  # mean pause between two requests: a busy app, not a benchmark

    def __init__(
        self,
        n: int,
        sock: str,
        record: Record,
        stop: threading.Event,
        long: list[str],
        kinds: dict[str, float] | None = None,
    ):
        super().__init__(name=f"soak-client-{n}", daemon=True)
        self.rng = random.Random(n)
        self.sock, self.record, self.stop, self.long = sock, record, stop, long
        self.kinds, self.weights = zip(*(kinds or self.KINDS).items(), strict=True)

    def run(self) -> None:
        transport = httpx.HTTPTransport(uds=self.sock)
        with httpx.Client(transport=transport, base_url="http://soak", timeout=60) as http:
            while not self.stop.is_set():
                kind = self.rng.choices(self.kinds, self.weights)[0]
                t0 = time.perf_counter()
                try:
                    status, decision = getattr(self, kind)(http)
                except httpx.HTTPError as exc:
                    status, decision = type(exc).__name__, None
                self.record.add(kind, status, time.perf_counter() - t0, decision)
                self.stop.wait(self.rng.expovariate(1 / self.THINK_S))

    def route(self, http: httpx.Client) -> tuple[int, str | None]:
        text = self.rng.choice(self.long) if self.rng.random() < 0.3 else self.rng.choice(SHORT)
        body = chat(text)
        if self.rng.random() < 0.2:
            body["edge_moma"] = {"session_id": f"s{self.rng.randrange(10_000)}"}
        r = http.post("/v1/route", json=body)
        return r.status_code, r.json()["id"] if r.status_code == 200 else None

    def _chat(self, http: httpx.Client, body: dict[str, Any]) -> tuple[int, str | None]:
        r = http.post("/v1/chat/completions", json=body)
        return r.status_code, r.headers.get("x-edge-moma-decision-id")

    def agent(self, http: httpx.Client) -> tuple[int, str | None]:
        a, b = self.rng.randrange(100), self.rng.randrange(100)
        return self._chat(http, chat(f"what is {a}*{b}"))

    def local(self, http: httpx.Client) -> tuple[int, str | None]:
        return self._chat(http, chat("Say hi.", "smollm2-135m", max_tokens=8))

    def cloud(self, http: httpx.Client) -> tuple[int, str | None]:
        body = chat("Name a colour.", "cloud", max_tokens=8, edge_moma={"deadline_s": 4})
        return self._chat(http, body)

    def cloud_down(self, http: httpx.Client) -> tuple[int, str | None]:
        body = chat("Name a fruit.", "cloud-down", max_tokens=8, edge_moma={"deadline_s": 4})
        return self._chat(http, body)

    def stream(self, http: httpx.Client) -> tuple[int, str | None]:
        body = chat("Say hello.", "smollm2-135m", max_tokens=8, stream=True)
        with http.stream("POST", "/v1/chat/completions", json=body) as r:
            decision = r.headers.get("x-edge-moma-decision-id")
            events = [line for line in r.iter_lines() if line.startswith("data: ")]
        if r.status_code == 200:
            end = "done" if events and events[-1] == "data: [DONE]" else "cut"
            if len(events) > 1 and '"error"' in events[-2]:
                end = "error"
            with self.record.lock:
                self.record.stream_ends[end] += 1
        return r.status_code, decision

    def feedback(self, http: httpx.Client) -> tuple[int, str | None]:
        known = self.record.last_id
        r = http.post("/v1/feedback", json={"decision_id": known, "score": self.rng.random()})
        return r.status_code, None

    def invalid(self, http: httpx.Client) -> tuple[int, str | None]:
        bad = self.rng.choice(
            [
                b'{"messages": [',
                b'{"messages": [{"role": "user", "content": "hi"}], "tools": []}',
                b'{"messages": "hi"}',
                b'{"messages": [{"role": "user", "content": "hi"}], "model": "gpt-9"}',
                b"",
                b'{"messages": [{"role": "user", "content": "hi"}], "max_tokens": "5"}',
            ]
        )
        path = self.rng.choice(["/v1/route", "/v1/chat/completions", "/v1/feedback"])
        r = http.post(path, content=bad, headers={"content-type": "application/json"})
        return r.status_code, None

    def read(self, http: httpx.Client) -> tuple[int, str | None]:
        r = http.get(self.rng.choice(["/v1/models", "/healthz", "/metrics"]))
        return r.status_code, None


def raw(sock: str) -> socket.socket:
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(sock)
    return s


def misbehave(sock: str, record: Record, stop: threading.Event, idle_n: int) -> None:
    """Idle connections held open, slowloris, short bodies, clients leaving mid-body."""
    idle: list[socket.socket] = []
    rng = random.Random(99)
    while not stop.is_set():
        for s in list(idle):  # the daemon closes idle ones after idle_timeout_s
            s.setblocking(False)
            try:
                if s.recv(1) == b"":
                    idle.remove(s)
                    s.close()
                    record.add("idle", "closed", 0.0)
            except BlockingIOError:
                pass
            except OSError:
                idle.remove(s)
                s.close()
        with contextlib.suppress(OSError):
            while len(idle) < idle_n:
                idle.append(raw(sock))
        kind = rng.choice(["slowloris", "short_body", "leaves"])
        t0 = time.perf_counter()
        try:
            with raw(sock) as s:
                if kind == "slowloris":
                    s.sendall(b"POST /v1/route HTTP/1.1\r\nhost: soak\r\n")
                    with contextlib.suppress(OSError):
                        for _ in range(40):
                            s.sendall(b"x")
                            time.sleep(0.1)
                elif kind == "short_body":
                    s.sendall(
                        b"POST /v1/route HTTP/1.1\r\nhost: soak\r\ncontent-length: 90\r\n\r\n{"
                    )
                else:
                    s.sendall(
                        b"POST /v1/route HTTP/1.1\r\nhost: soak\r\ncontent-length: 90\r\n\r\n{"
                    )
                    time.sleep(0.1)
                    record.add(kind, "left", time.perf_counter() - t0)
                    continue
                head = s.recv(64)
                status = int(head[9:12]) if head.startswith(b"HTTP/1.1 ") else "closed"
                record.add(kind, status, time.perf_counter() - t0)
        except OSError as exc:
            record.add(kind, type(exc).__name__, time.perf_counter() - t0)
        stop.wait(0.5)
    for s in idle:
        s.close()


def metric(text: str, name: str) -> float:
    found = re.search("^" + re.escape(name) + r" (\S+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


def fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def memory_mb(pid: int) -> dict[str, float]:
    """The daemon's resident memory, and its anonymous part (heap: what would leak)."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return {k: int(fields[k].split()[0]) / 1024 for k in ("VmRSS", "RssAnon") if k in fields}


def slope(samples: list[dict[str, float]], key: str) -> float:
    """Least-squares slope of ``key`` over time (per second); 0 for fewer than 2 samples."""
    if len(samples) < 2:
        return 0.0
    ts, ys = [s["t"] for s in samples], [s[key] for s in samples]
    mt, my = sum(ts) / len(ts), sum(ys) / len(ys)
    var = sum((t - mt) ** 2 for t in ts)
    return sum((t - mt) * (y - my) for t, y in zip(ts, ys, strict=True)) / var if var else 0.0


def hold_lock(db: Path, seconds: float, faults: list[dict[str, Any]]) -> None:
    """Another process's exclusive lock on the decision log (a reader in WAL mode is not
    enough), for ``seconds``."""
    conn = sqlite3.connect(db, isolation_level=None, timeout=10)
    try:
        conn.execute("BEGIN EXCLUSIVE")
        faults.append({"fault": "db_locked", "at": time.time(), "seconds": seconds})
        time.sleep(seconds)
        conn.execute("ROLLBACK")
    finally:
        conn.close()


def fail_writes(pid: int, seconds: float, faults: list[dict[str, Any]]) -> None:
    """Writes to the log fail (EFBIG) while the daemon's file-size limit is 64 KiB."""
    if not hasattr(resource, "prlimit"):
        faults.append({"fault": "writes_fail", "skipped": "no prlimit on this platform"})
        return
    soft, hard = resource.prlimit(pid, resource.RLIMIT_FSIZE)
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (64 * 1024, hard))
    faults.append({"fault": "writes_fail", "at": time.time(), "seconds": seconds})
    try:
        time.sleep(seconds)
    finally:
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (soft, hard))


def long_generations(sock: str, record: Record) -> list[threading.Thread]:
    """Two long local generations (whole and streamed) in flight when SIGTERM comes."""
    # Greedy: SmolLM2's story then runs to max_tokens every time (sampled at 1.0 it
    # sometimes ended in 30 tokens, before SIGTERM came). 1,200 tokens take 10 s or more,
    # well past SIGTERM and the grace period after it: 400 took about 3.5 s on a faster
    # machine, and the one generated first sometimes finished within the grace.
    body = chat("Tell me a very long story.", "smollm2-135m", max_tokens=1200, temperature=0.0)

    def whole() -> None:
        t0 = time.perf_counter()
        try:
            with httpx.Client(transport=httpx.HTTPTransport(uds=sock), timeout=60) as http:
                r = http.post("http://soak/v1/chat/completions", json=body)
            code = r.json().get("error", {}).get("code") if r.status_code != 200 else "ok"
            record.add(
                f"long_whole:{code}",
                r.status_code,
                time.perf_counter() - t0,
                r.headers.get("x-edge-moma-decision-id"),
            )
        except httpx.HTTPError as exc:
            record.add("long_whole", type(exc).__name__, time.perf_counter() - t0)

    def streamed() -> None:
        t0 = time.perf_counter()
        try:
            with (
                httpx.Client(transport=httpx.HTTPTransport(uds=sock), timeout=60) as http,
                http.stream(
                    "POST", "http://soak/v1/chat/completions", json={**body, "stream": True}
                ) as r,
            ):
                decision = r.headers.get("x-edge-moma-decision-id")
                events = [line for line in r.iter_lines() if line.startswith("data: ")]
            end = "error" if len(events) > 1 and '"error"' in events[-2] else "no_error"
            done = events[-1] == "data: [DONE]" if events else False
            record.add(
                f"long_stream:{end}:done={done}", r.status_code, time.perf_counter() - t0, decision
            )
        except httpx.HTTPError as exc:
            record.add("long_stream", type(exc).__name__, time.perf_counter() - t0)

    threads = [threading.Thread(target=f, daemon=True) for f in (streamed, whole)]
    for t in threads:
        t.start()
    return threads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--grace", type=float, default=3.0, help="[server] grace_s")
    parser.add_argument("--idle", type=int, default=20, help="idle connections held open")
    parser.add_argument("--out", default=str(REPORTS / "soak.json"))
    args = parser.parse_args()
    seconds = args.minutes * 60

    remote = FaultServer().start()
    remote.mode = "ok"
    down_url = f"http://127.0.0.1:{free_port()}/v1"
    result: dict[str, Any] = {
        "minutes": args.minutes,
        "clients": args.clients,
        "grace_s": args.grace,
        "loadavg_before": os.getloadavg(),
    }
    faults: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data, sock = work / "data", work / "run" / "d.sock"
        (work / "config.toml").write_text(
            config_text(data, args.grace, remote.url("soak"), down_url), encoding="utf-8"
        )
        env = {**os.environ, "XDG_RUNTIME_DIR": str(work / "xdg-runtime")}
        cmd = [
            sys.executable,
            "-m",
            "edge_moma",
            "serve",
            "--config",
            str(work / "config.toml"),
            "--socket",
            str(sock),
        ]
        # A pipe, not a file: the file-size limit of the write fault must not hit the log.
        daemon = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE)
        lines: list[bytes] = []
        assert daemon.stderr is not None
        reader = threading.Thread(target=lambda: lines.extend(daemon.stderr), daemon=True)
        reader.start()
        try:
            deadline = time.monotonic() + 120
            while True:
                if daemon.poll() is not None:
                    raise SystemExit(f"the daemon exited with {daemon.returncode}")
                with (
                    contextlib.suppress(OSError, httpx.HTTPError),
                    httpx.Client(transport=httpx.HTTPTransport(uds=str(sock)), timeout=5) as probe,
                ):
                    if probe.get("http://soak/healthz").status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise SystemExit("the daemon did not start within 120 s")
                time.sleep(0.2)
            pid = daemon.pid
            record, stop = Record(), threading.Event()
            samples: list[dict[str, float]] = []  # t, VmRSS and RssAnon (MB), fds
            scraped: list[dict[str, float]] = []
            start = time.monotonic()
            samples.append({"t": 0.0, **memory_mb(pid), "fds": fds(pid)})
            long = long_prompts()
            clients = [Client(n, str(sock), record, stop, long) for n in range(args.clients)]
            for c in clients:
                c.start()
            bad = threading.Thread(
                target=misbehave, args=(str(sock), record, stop, args.idle), daemon=True
            )
            bad.start()

            def at(fraction: float) -> float:
                return start + fraction * seconds

            plan: list[tuple[float, str]] = [
                (at(0.3), "lock"),
                (at(0.5), "writes"),
                (at(0.7), "lock"),
            ]
            for i, mode in enumerate(REMOTE_MODES):
                plan += [(at(0.1 + 0.25 * i), mode), (at(0.1 + 0.25 * i + 0.1), "ok")]
            plan.sort()
            helpers: list[threading.Thread] = []
            last_scrape = 0.0
            with httpx.Client(transport=httpx.HTTPTransport(uds=str(sock)), timeout=10) as mon:
                while (now := time.monotonic()) < start + seconds:
                    while plan and plan[0][0] <= now:
                        _, what = plan.pop(0)
                        if what == "lock":
                            t = threading.Thread(
                                target=hold_lock,
                                args=(data / "decisions.db", 3.0, faults),
                                daemon=True,
                            )
                        elif what == "writes":
                            t = threading.Thread(
                                target=fail_writes, args=(pid, 3.0, faults), daemon=True
                            )
                        else:
                            remote.mode = what
                            faults.append({"fault": f"remote_{what}", "at": time.time()})
                            continue
                        t.start()
                        helpers.append(t)
                    samples.append(
                        {
                            "t": now - start,
                            **memory_mb(pid),
                            "fds": fds(pid),
                            "log_mb": disk_bytes(data / "decisions.db") / 1024 / 1024,
                        }
                    )
                    if now - last_scrape >= 5:
                        last_scrape = now
                        with contextlib.suppress(httpx.HTTPError):
                            text = mon.get("http://soak/metrics").text
                            scraped.append(
                                {
                                    k: metric(text, f"edge_moma_{k}")
                                    for k in (
                                        "log_dropped_total",
                                        "log_queued",
                                        "connections_open",
                                        "generations_in_flight",
                                        "log_writer_restarts_total",
                                    )
                                }
                            )
                    time.sleep(1.0)
            for t in helpers:
                t.join(10)
            remote.mode = "ok"
            # The finale: the mixed load ends, the local model's queue empties, then two long
            # generations start (one generating, one queued) beside route-only clients, and
            # the daemon gets SIGTERM with all of them in flight.
            stop.set()
            for c in clients:
                c.join(60)
            stop = threading.Event()
            with httpx.Client(transport=httpx.HTTPTransport(uds=str(sock)), timeout=10) as mon:
                until = time.monotonic() + 60
                while time.monotonic() < until:
                    text = mon.get("http://soak/metrics").text
                    if metric(text, "edge_moma_generations_in_flight") == 0:
                        break
                    time.sleep(0.1)
                clients = [
                    Client(n, str(sock), record, stop, long, kinds={"route": 1})
                    for n in range(args.clients // 2)
                ]
                for c in clients:
                    c.start()
                long_threads = long_generations(str(sock), record)
                until = time.monotonic() + 60
                while time.monotonic() < until:
                    text = mon.get("http://soak/metrics").text
                    if metric(text, "edge_moma_generations_in_flight") >= 2:
                        break
                    time.sleep(0.05)
            time.sleep(0.5)
            end_fds = fds(pid)
            samples.append({"t": time.monotonic() - start, **memory_mb(pid), "fds": end_fds})
            t0 = time.monotonic()
            daemon.send_signal(signal.SIGTERM)
            stop.set()  # the clients finish the request they are in, then stop
            code = daemon.wait(120)
            shutdown_s = time.monotonic() - t0
            for c in clients:
                c.join(30)
            for t in long_threads:
                t.join(30)
            bad.join(30)
        finally:
            stop_all = daemon.poll() is None
            if stop_all:
                daemon.kill()
                daemon.wait(30)
            remote.stop()
            reader.join(30)
        log_text = b"".join(lines).decode(errors="replace")
        (Path(args.out).with_suffix(".daemon.log")).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).with_suffix(".daemon.log").write_text(log_text, encoding="utf-8")
        closed = re.findall(
            r"closed: (\d+) decisions written, (\d+) pruned by retention, (\d+) dropped, "
            r"(\d+) feedback",
            log_text,
        )
        written, pruned, dropped, dropped_other = (
            (int(x) for x in closed[-1]) if closed else (-1, -1, -1, -1)
        )
        with sqlite3.connect(data / "decisions.db") as conn:
            logged = {row[0] for row in conn.execute("SELECT id FROM decisions")}
            # Retention deletes in insertion order: the first row left marks its frontier.
            frontier = conn.execute(
                "SELECT created FROM decisions ORDER BY seq LIMIT 1"
            ).fetchone()[0]
            cancelled = conn.execute(
                "SELECT count(*) FROM attempts WHERE error LIKE 'cancelled%'"
            ).fetchone()[0]
        db_mb = disk_bytes(data / "decisions.db") / 1024 / 1024

    acknowledged = record.acknowledged
    # Every acknowledged decision newer than retention's frontier (a minute of slack: a
    # decision waits in the queue or in a held batch before its row is inserted) is a row.
    checked = {d for d, at in acknowledged.items() if not pruned or at > frontier + 60}
    missing = checked - logged
    warmup_s = max(0.2 * seconds, min(120.0, 0.5 * seconds))
    warm = next((s for s in samples if s["t"] >= warmup_s), samples[-1])
    after = [s for s in samples if s["t"] >= warmup_s]
    by_kind: dict[str, dict[str, int]] = collections.defaultdict(dict)
    for (kind, status), n in sorted(record.status.items()):
        by_kind[kind][status] = n
    result.update(
        {
            "exit_code": code,
            "requests": sum(record.status.values()),
            "requests_by_kind_and_status": by_kind,
            "latency_ms": {
                kind: {
                    "n": len(v),
                    "p50": round(percentile(v, 50) * 1e3, 2),
                    "p99": round(percentile(v, 99) * 1e3, 2),
                }
                for kind, v in sorted(record.latency.items())
                if v
            },
            "stream_ends": dict(record.stream_ends),
            "decisions": {
                "acknowledged": len(acknowledged),
                "acknowledged_after_the_prune_frontier": len(checked),
                "of_those_not_logged": len(missing),
                "acknowledged_before_it_not_logged": len(set(acknowledged) - checked - logged),
                "logged_rows": len(logged),
                "logged_not_acknowledged": len(logged - set(acknowledged)),
                "written_by_the_writer": written,
                "pruned_by_retention": pruned,
                "written_minus_pruned_equals_rows": written - pruned == len(logged),
                "dropped_total": dropped,
                "feedback_spend_dropped": dropped_other,
                "silent_losses": max(0, len(missing) - max(dropped, 0)),
                "cancelled_attempts": cancelled,
            },
            "log_mb": {
                "limit": LOG_MAX_MB,
                "max": round(max(s.get("log_mb", 0.0) for s in samples), 1),
                "end": round(db_mb, 1),
            },
            "max_log_queued": max((s["log_queued"] for s in scraped), default=0),
            "rss_mb": {
                key: {
                    "start": round(samples[0][key], 1),
                    "after_warmup": round(warm[key], 1),
                    "max": round(max(s[key] for s in samples), 1),
                    "end": round(samples[-1][key], 1),
                    "growth_after_warmup": round(samples[-1][key] - warm[key], 1),
                    "trend_after_warmup_mb_per_min": round(slope(after, key) * 60, 2),
                }
                for key in ("VmRSS", "RssAnon")
            },
            "warmup_s": round(warmup_s),
            "fds": {
                "start": samples[0]["fds"],
                "max": max(s["fds"] for s in samples),
                "end": end_fds,
            },
            "shutdown_s": round(shutdown_s, 2),
            "faults": faults,
            "daemon_tracebacks": log_text.count("Traceback"),
            "loadavg_after": os.getloadavg(),
        }
    )
    result["targets"] = {
        "silent_losses==0": result["decisions"]["silent_losses"] == 0
        and dropped >= 0
        and result["decisions"]["written_minus_pruned_equals_rows"],
        "log_within_log_max_mb": result["log_mb"]["max"] <= LOG_MAX_MB,
        "shutdown<=grace+1": shutdown_s <= args.grace + 1,
        "exit_code==0": code == 0,
        "rss_growth_after_warmup<=2mb": result["rss_mb"]["VmRSS"]["growth_after_warmup"] <= 2,
        "fds_back_to_start(+idle+clients)": end_fds
        <= samples[0]["fds"] + args.idle + args.clients + 8,
        "no_tracebacks": result["daemon_tracebacks"] == 0,
    }
    for key in (
        "requests_by_kind_and_status",
        "latency_ms",
        "decisions",
        "log_mb",
        "rss_mb",
        "fds",
        "shutdown_s",
        "stream_ends",
        "targets",
    ):
        print(key, json.dumps(result[key]), flush=True)
    step = max(1, len(samples) // 20)
    result["rss_series"] = [
        [round(s["t"]), round(s["VmRSS"], 1), round(s["RssAnon"], 1)] for s in samples[::step]
    ]
    print("rss_series [s, VmRSS, RssAnon]", json.dumps(result["rss_series"]))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
