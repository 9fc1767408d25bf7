#!/usr/bin/env python3
"""Fuzz the local daemon with generated and mutated requests; print counts and write JSON.

    python scripts/fuzz_daemon.py [--requests 3000] [--seed 0] [--concurrency 8] [--out FILE]

Starts a real ``edge-moma serve`` on a Unix socket (the packaged default config:
the SmolLM2 model, the built-in agents, the SQLite decision log in a temporary
data dir) and sends it ``--requests`` requests, ``--concurrency`` at a time so
that route requests are batched. Each starts from a valid request (route, chat
completion streamed or not, feedback for a decision seen earlier, the GET
endpoints) and most are then mutated: a value anywhere replaced by a hostile one
(wrong types, NaN, 10^30, 100 kB strings, lone surrogates, deep nesting), a key
dropped or added, the body's bytes truncated, flipped or nested 300,000 deep,
a wrong method or path. Chat bodies keep a small ``max_tokens``, so that an
accepted one costs a few tokens of the local model, not 256.

Counts by endpoint and status, 5xx answers (also an error event inside a 200
stream), dropped connections, the daemon's RSS before and after (the first chat
the local model answers loads it) and its log's tracebacks are printed and
written to ``reports/fuzz_daemon.json``. The run passes (exit 0) with no 5xx,
no dropped connection, no traceback, the daemon alive at the end and exiting 0
on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from bench_daemon import REPORTS, rss_mb, start_daemon

TEXTS = [
    "what is 15% of 80",
    "convert 5 miles to km",
    "what time is it in tokyo",
    "remind me to call mum at 6pm",
    "Say hi.",
    "email jane.doe@example.com my diagnosis",
    "Name the capital of France.",
]
TARGETS = ["auto", "smollm2-135m", "calculator", "units", "clock", "reminders"]
LONG = "x" * 100_000
# Values a mutation puts anywhere: wrong types, edge numbers, big and odd text.
HOSTILE: list[Any] = [
    None, True, False, 0, -1, 1.5, -1e308, 10**30, -(10**30), "", LONG,
    "\ud800", "\u2028\u0085", "\x00", [], {}, [1, "a", None], {"a": {"b": [{}]}},
    "false", "true", "NaN", "auto", "smollm2-135m", 2**63, 1e-320,
]  # fmt: skip
JSON_CONSTANTS = [b"NaN", b"Infinity", b"-Infinity", b"1" + b"0" * 5000, b"1e999"]


def valid_context(rng: random.Random, chat: bool) -> dict[str, Any]:
    options = {
        "online": lambda: rng.random() < 0.5,
        "sensitive": lambda: rng.random() < 0.5,
        "battery_percent": lambda: rng.uniform(0, 100),
        "charging": lambda: rng.random() < 0.5,
        "deadline_s": lambda: rng.uniform(0, 60),
        "expected_output_tokens": lambda: rng.randint(1, 512),
        "session_id": lambda: f"s{rng.randint(0, 20)}",
        "permissions": lambda: ["calendar"],
        "slots": lambda: {"city": "Lisbon"},
    }
    if chat:  # a short deadline behind a busy local model fails the request: a 503 by design
        del options["deadline_s"]
    keys = rng.sample(sorted(options), rng.randint(0, 4))
    return {k: options[k]() for k in keys}


def valid_body(rng: random.Random, chat: bool) -> dict[str, Any]:
    messages = [{"role": "user", "content": rng.choice(TEXTS)}]
    if rng.random() < 0.2:
        messages.insert(0, {"role": "system", "content": "Be brief."})
    body: dict[str, Any] = {"model": rng.choice(TARGETS), "messages": messages}
    context = valid_context(rng, chat)
    if body["model"] != "auto" and rng.random() < 0.2:
        context["target_only"] = True
    if context:
        body["edge_moma"] = context
    if chat:
        body["max_tokens"] = rng.randint(1, 8)
        body["temperature"] = rng.choice([0, 0.2, 1.0])
        if rng.random() < 0.5:
            body["stream"] = True
            if rng.random() < 0.5:
                body["stream_options"] = {"include_usage": True}
    return body


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON value, as key paths."""
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


def _set(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    value[path[0]] = _set(value[path[0]], path[1:], new)
    return value


def mutate(rng: random.Random, body: Any, chat: bool) -> Any:
    """One structural mutation of a JSON value (a deep copy)."""
    body = json.loads(json.dumps(body))
    paths = [p for p in _paths(body) if p != ("max_tokens",)]
    path = rng.choice(paths)
    kind = rng.random()
    if kind < 0.6:
        # A prompt longer than the local model's context fails on every target: a 503
        # by design, not an input the daemon could refuse before trying.
        prompt = chat and path[:1] == ("messages",)
        new: Any = rng.choice([v for v in HOSTILE if not prompt or v != LONG])
        if rng.random() < 0.1:
            for _ in range(rng.choice([70, 500])):
                new = [new]
        return _set(body, path, new)
    parent = path[:-1]
    holder = body
    for key in parent:
        holder = holder[key]
    if kind < 0.8 and path and path[-1] != "max_tokens":  # drop a key or an item
        del holder[path[-1]]
        return body
    if isinstance(holder, dict):  # an unknown key
        holder[rng.choice(["tools", "x", "", "Online", "battery"])] = rng.choice(HOSTILE)
        return body
    return [body]


def mutate_bytes(rng: random.Random, raw: bytes) -> bytes:
    kind = rng.randrange(7)
    if kind == 0 and raw:
        return raw[: rng.randrange(len(raw))]
    if kind == 1 and raw:
        i = rng.randrange(len(raw))
        return raw[:i] + bytes([rng.randrange(256)]) + raw[i + 1 :]
    if kind == 2:
        return raw.replace(b"}", b', "n": ' + rng.choice(JSON_CONSTANTS) + b"}", 1)
    if kind == 3:
        n = rng.choice([100, 5_000, 300_000])
        return rng.choice([b"[", b'{"a":']) * n
    if kind == 4:
        return b"\xff\xfe" + raw
    if kind == 5:
        return rng.choice([b"", b" ", b"null", b"[]", b"{}", b'"x"', b"1"])
    return raw + raw


def next_request(rng: random.Random, seen_ids: list[str]) -> tuple[str, str, bytes, dict[str, str]]:
    """(method, path, body, headers) of the next fuzz request."""
    headers = {"content-type": "application/json"}
    roll = rng.random()
    if roll < 0.05:
        return "GET", rng.choice(["/v1/models", "/healthz", "/metrics"]), b"", {}
    if roll < 0.07:
        method, path = rng.choice(
            [("GET", "/v1/route"), ("DELETE", "/v1/chat/completions"), ("POST", "/v1/nothing")]
        )
        return method, path, b"{}", headers
    if roll < 0.15:
        path = "/v1/feedback"
        body: Any = {"decision_id": "0" * 32, "score": rng.random()}
        if seen_ids:
            full = rng.choice(seen_ids)
            body["decision_id"] = full[: rng.choice([1, 4, 8, 32])]
        if rng.random() < 0.5:
            body["correct"] = rng.random() < 0.5
            body["note"] = "fuzz"
    chat = 0.15 <= roll < 0.45
    if roll >= 0.15:
        path = "/v1/chat/completions" if chat else "/v1/route"
        body = valid_body(rng, chat)
    if rng.random() < 0.7:
        body = mutate(rng, body, chat)
    raw = json.dumps(body).encode()
    if rng.random() < 0.15:
        raw = mutate_bytes(rng, raw)
    if rng.random() < 0.02:
        headers = {"content-type": "text/plain"}
    return "POST", path, raw, headers


def stream_failed(text: str) -> bool:
    """Whether an SSE answer carried an error event or ended without ``[DONE]``."""
    events = [line[6:] for line in text.split("\n") if line.startswith("data: ")]
    return not events or events[-1] != "[DONE]" or any('"error"' in e for e in events)


async def fuzz(sock: str, pid: int, n: int, seed: int, concurrency: int) -> dict[str, Any]:
    rng = random.Random(seed)
    seen_ids: list[str] = []
    rss: list[float] = []  # after each wave: growth after the model loaded would be a leak
    by_endpoint: dict[str, Counter[str]] = {}
    failures: list[str] = []
    gate = asyncio.Semaphore(concurrency)
    transport = httpx.AsyncHTTPTransport(uds=sock)
    limits = httpx.Limits(max_connections=concurrency)

    async def one(
        client: httpx.AsyncClient, request: tuple[str, str, bytes, dict[str, str]]
    ) -> None:
        method, path, raw, headers = request
        counts = by_endpoint.setdefault(path, Counter())
        async with gate:
            try:
                r = await client.request(method, path, content=raw, headers=headers)
            except httpx.TimeoutException:
                counts["timeout"] += 1
                failures.append(f"{method} {path}: timed out ({raw[:120]!r})")
                return
            except httpx.TransportError as exc:
                counts["dropped"] += 1
                failures.append(f"{method} {path}: {exc!r} ({raw[:120]!r})")
                return
        counts[str(r.status_code)] += 1
        if r.status_code >= 500:
            failures.append(f"{method} {path}: {r.status_code} {r.text[:300]} ({raw[:120]!r})")
        elif r.status_code == 200 and r.headers.get("content-type", "").startswith("text/event"):
            if stream_failed(r.text):
                counts["stream_error"] += 1
                failures.append(f"{method} {path}: stream {r.text[-300:]} ({raw[:120]!r})")
        elif r.status_code == 200 and path in ("/v1/route", "/v1/chat/completions"):
            answer = r.json()
            decision_id = answer.get("id") if path == "/v1/route" else None
            decision_id = decision_id or (answer.get("edge_moma") or {}).get("decision_id")
            if isinstance(decision_id, str):
                seen_ids.append(decision_id)

    async with httpx.AsyncClient(
        transport=transport, base_url="http://edge-moma", limits=limits, timeout=300
    ) as client:
        done = 0
        while done < n:  # in waves, so that feedback can name decisions seen before it
            wave = [next_request(rng, seen_ids) for _ in range(min(200, n - done))]
            await asyncio.gather(*(one(client, req) for req in wave))
            done += len(wave)
            rss.append(round(rss_mb(pid), 1))
            print(f"  {done}/{n} requests, daemon RSS {rss[-1]} MB", flush=True)
    return {
        "rss_mb_by_wave": rss,
        "by_endpoint": {p: dict(sorted(c.items())) for p, c in sorted(by_endpoint.items())},
        "failures": failures,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--out", default=str(REPORTS / "fuzz_daemon.json"))
    args = parser.parse_args()

    results: dict[str, Any] = {"requests": args.requests, "seed": args.seed}
    results["loadavg_before"] = os.getloadavg()
    start = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "daemon.log"
        with open(log, "wb") as err:
            proc, sock = start_daemon(Path(tmp), [], stderr=err)
        try:
            results["rss_mb_before"] = round(rss_mb(proc.pid), 1)
            found = asyncio.run(fuzz(sock, proc.pid, args.requests, args.seed, args.concurrency))
            results["alive_after"] = proc.poll() is None
            if results["alive_after"]:
                results["rss_mb_after"] = round(rss_mb(proc.pid), 1)
                with httpx.Client(transport=httpx.HTTPTransport(uds=sock)) as http:
                    models = http.get("http://edge-moma/v1/models").json()["data"]
                results["loaded"] = [m["id"] for m in models if m["edge_moma"].get("loaded")]
        finally:
            proc.send_signal(signal.SIGTERM)
            results["exit_code"] = proc.wait(120)
        text = log.read_text(errors="replace")
    results["elapsed_s"] = round(time.monotonic() - start, 1)
    results["loadavg_after"] = os.getloadavg()
    statuses: Counter[str] = Counter()
    for counts in found["by_endpoint"].values():
        statuses.update(counts)
    results["rss_mb_by_wave"] = found["rss_mb_by_wave"]
    results["by_status"] = dict(sorted(statuses.items()))
    results["by_endpoint"] = found["by_endpoint"]
    results["five_xx"] = sum(n for s, n in statuses.items() if s.isdigit() and int(s) >= 500)
    results["stream_errors"] = statuses["stream_error"]
    results["dropped"] = statuses["dropped"] + statuses["timeout"]
    results["tracebacks"] = text.count("Traceback")
    results["failures"] = found["failures"][:50]
    ok = (
        results["five_xx"] == results["stream_errors"] == results["dropped"] == 0
        and results["tracebacks"] == 0
        and results["alive_after"]
        and results["exit_code"] == 0
    )
    results["passed"] = ok
    for key in ("by_status", "five_xx", "stream_errors", "dropped", "tracebacks"):
        print(key, json.dumps(results[key]))
    print("rss_mb", results["rss_mb_before"], "->", results.get("rss_mb_after"), end=" ")
    print("loaded:", results.get("loaded"))
    print("exit_code", results["exit_code"], "elapsed_s", results["elapsed_s"])
    for failure in results["failures"][:10]:
        print("FAILURE", failure)
    if results["tracebacks"]:
        print(text[-3000:], file=sys.stderr)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print("passed" if ok else "FAILED", "->", args.out)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
