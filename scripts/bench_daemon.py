#!/usr/bin/env python3
"""Benchmark the local daemon over its Unix socket; print figures and write JSON.

    python scripts/bench_daemon.py [--seconds 10] [--clients 16] [--out FILE]

Starts a real ``edge-moma serve`` (the packaged default config, a temporary data
dir with the decision log on) and measures, targets from the issue in brackets:

* ``single``: ``POST /v1/route`` round trips from one client on one keep-alive
  connection, p50 / p99 [p50 <= 1 ms, p99 <= 5 ms]. The client writes prebuilt
  HTTP/1.1 requests on a raw socket so that the figure is the daemon's and the
  socket's, not a Python HTTP client's; ``single_httpx`` repeats it with
  ``edge_moma.serve.client.Client`` for what an application sees.
* ``concurrent``: requests/s with ``--clients`` connections, each with a request
  in flight at all times (one client thread multiplexing raw sockets, so the
  load generator takes little of the 2 cores), and the error count
  [>= 2,000/s, 0 errors]; also the daemon's CPU time per request and the
  mean number of requests it decided together (``batching.py``).
* ``rss_mb``: the daemon's resident memory with no LLM loaded, after the runs
  [<= 120 MB].

The box may be shared: the load average is recorded, and latency is the median
of ``--repeats`` runs.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import selectors
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from edge_moma.config import default_config_path
from edge_moma.serve.client import Client

QUERIES = [
    "what is 15% of 80",
    "Write a haiku about rain on a tin roof.",
    "convert 3 miles to km",
    "Explain how a hash map handles collisions.",
    "remind me to call mum at 6pm",
    "What is the capital of Australia?",
]


REPORTS = Path(__file__).resolve().parent.parent / "reports"


def request_bytes(text: str) -> bytes:
    body = json.dumps({"model": "auto", "messages": [{"role": "user", "content": text}]}).encode()
    head = (
        "POST /v1/route HTTP/1.1\r\nhost: edge-moma\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def _content_length(head: bytes) -> int:
    match = re.search(rb"content-length: *(\d+)", head, re.IGNORECASE)
    return int(match.group(1)) if match else 0


def read_response(sock: socket.socket, buf: bytearray) -> int:
    """Read one HTTP response (Content-Length framed); return its status."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the daemon closed the connection")
        buf += chunk
    end = buf.index(b"\r\n\r\n") + 4
    need = end + _content_length(bytes(buf[:end]))
    while len(buf) < need:
        buf += sock.recv(65536)
    status = int(buf[9:12])
    del buf[:need]
    return status


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def bench_single(path: str, n: int) -> dict[str, float]:
    requests = [request_bytes(q) for q in QUERIES]
    times: list[float] = []
    errors = 0
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(path)
        buf = bytearray()
        for i in range(n + 200):
            t0 = time.perf_counter()
            sock.sendall(requests[i % len(requests)])
            status = read_response(sock, buf)
            if i >= 200:  # warm-up excluded
                times.append(time.perf_counter() - t0)
                errors += status != 200
    return {
        "n": n,
        "p50_ms": percentile(times, 50) * 1e3,
        "p90_ms": percentile(times, 90) * 1e3,
        "p99_ms": percentile(times, 99) * 1e3,
        "errors": errors,
    }


def bench_single_httpx(path: str, n: int) -> dict[str, float]:
    times = []
    with Client(path) as client:
        for i in range(n + 100):
            t0 = time.perf_counter()
            client.route(QUERIES[i % len(QUERIES)])
            if i >= 100:
                times.append(time.perf_counter() - t0)
    return {
        "n": n,
        "p50_ms": percentile(times, 50) * 1e3,
        "p99_ms": percentile(times, 99) * 1e3,
    }


def bench_concurrent(path: str, clients: int, seconds: float) -> dict[str, Any]:
    """``clients`` keep-alive connections, each with one request in flight at all times.

    One thread multiplexes them with ``selectors`` over raw sockets: on a 2-core
    machine the load generator shares the CPU with the daemon, and asyncio
    streams would spend more of it than the daemon's HTTP layer does.
    """
    requests = [request_bytes(q) for q in QUERIES]
    sel = selectors.DefaultSelector()
    socks, bufs, nexts = [], {}, {}
    for k in range(clients):
        sock = socket.socket(socket.AF_UNIX)
        sock.connect(path)
        sock.setblocking(False)
        socks.append(sock)
        bufs[sock], nexts[sock] = bytearray(), k
        sel.register(sock, selectors.EVENT_READ)
    ok = errors = 0
    start = time.perf_counter()
    until = start + seconds
    for sock in socks:
        sock.sendall(requests[nexts[sock] % len(requests)])
    in_flight = clients
    while in_flight:
        for key, _ in sel.select(timeout=5.0):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("the daemon closed a connection")
            buf = bufs[sock]
            buf += chunk
            while b"\r\n\r\n" in buf:
                end = buf.index(b"\r\n\r\n") + 4
                need = end + _content_length(bytes(buf[:end]))
                if len(buf) < need:
                    break
                if buf[9:12] == b"200":
                    ok += 1
                else:
                    errors += 1
                del buf[:need]
                if time.perf_counter() < until:
                    nexts[sock] += 1
                    sock.sendall(requests[nexts[sock] % len(requests)])
                else:
                    in_flight -= 1
    elapsed = time.perf_counter() - start
    for sock in socks:
        sel.unregister(sock)
        sock.close()
    return {
        "clients": clients,
        "seconds": round(elapsed, 2),
        "requests": ok + errors,
        "requests_per_s": (ok + errors) / elapsed,
        "errors": errors,
    }


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def batching(path: str) -> tuple[int, int]:
    """The daemon's (route batches, requests in them) so far, from ``/metrics``."""
    with Client(path) as client:
        text = client.metrics()
    found = dict(
        re.findall(r"^edge_moma_route_(batches|batched_requests)_total (\d+)$", text, re.M)
    )
    return int(found["batches"]), int(found["batched_requests"])


def start_daemon(
    work: Path, extra_args: list[str], stderr: Any = None
) -> tuple[subprocess.Popen[bytes], str]:
    """A daemon on the packaged default config in ``work``; ``stderr`` as for ``Popen``."""
    data = work / "data"
    config = work / "config.toml"
    text = default_config_path().read_text(encoding="utf-8")
    config.write_text(text.replace('# data_dir = ""', f'data_dir = "{data}"'), encoding="utf-8")
    sock = work / "run" / "d.sock"
    env = {**os.environ, "XDG_RUNTIME_DIR": str(work / "xdg-runtime")}
    cmd = [sys.executable, "-m", "edge_moma", "serve", "--config", str(config)]
    cmd += ["--socket", str(sock), "--log-level", "warning", *extra_args]
    proc = subprocess.Popen(cmd, env=env, stderr=stderr)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the daemon exited with {proc.returncode}")
        try:
            with Client(sock) as client:
                client.health()
            return proc, str(sock)
        except Exception:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("the daemon did not start within 120 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000, help="single-client requests/run")
    parser.add_argument("--repeats", type=int, default=3, help="runs; medians are reported")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0, help="concurrent run length")
    parser.add_argument("--out", default=str(REPORTS / "bench_daemon.json"))
    args = parser.parse_args()

    results: dict[str, Any] = {"loadavg_before": os.getloadavg(), "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp:
        proc, path = start_daemon(Path(tmp), [])
        try:
            results["rss_mb_idle"] = round(rss_mb(proc.pid), 1)
            singles = [bench_single(path, args.requests) for _ in range(args.repeats)]
            results["single"] = {
                k: round(statistics.median(s[k] for s in singles), 3) for k in singles[0]
            }
            results["single"]["runs"] = singles
            print("single", json.dumps(results["single"]), flush=True)
            results["single_httpx"] = bench_single_httpx(path, args.requests // 3)
            print("single_httpx", json.dumps(results["single_httpx"]), flush=True)
            cpu0, batching0 = cpu_s(proc.pid), batching(path)
            runs = [bench_concurrent(path, args.clients, args.seconds) for _ in range(args.repeats)]
            daemon_cpu = cpu_s(proc.pid) - cpu0
            batches, batched = (b - a for a, b in zip(batching0, batching(path), strict=True))
            total = sum(r["requests"] for r in runs)
            results["concurrent"] = {
                "clients": args.clients,
                "requests_per_s": round(statistics.median(r["requests_per_s"] for r in runs), 1),
                "errors": sum(r["errors"] for r in runs),
                "daemon_cpu_ms_per_request": round(daemon_cpu / total * 1e3, 3),
                "mean_batch": round(batched / max(batches, 1), 2),
                "runs": runs,
            }
            print("concurrent", json.dumps(results["concurrent"]), flush=True)
            results["rss_mb"] = round(rss_mb(proc.pid), 1)
            with Client(path) as client:
                loaded = [m["id"] for m in client.models() if m["edge_moma"].get("loaded")]
            results["llm_loaded"] = loaded
            print("rss_mb", results["rss_mb"], loaded if loaded else "(no LLM loaded)")
        finally:
            proc.send_signal(signal.SIGTERM)
            results["exit_code"] = proc.wait(60)
    results["loadavg_after"] = os.getloadavg()
    results["targets"] = {
        "single_p50_ms<=1": results["single"]["p50_ms"] <= 1.0,
        "single_p99_ms<=5": results["single"]["p99_ms"] <= 5.0,
        "concurrent_rps>=2000": results["concurrent"]["requests_per_s"] >= 2000,
        "concurrent_errors==0": results["concurrent"]["errors"] == 0,
        "rss_mb<=120": results["rss_mb"] <= 120,
    }
    print("loadavg", results["loadavg_before"], "->", results["loadavg_after"])
    print("targets", json.dumps(results["targets"]))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
