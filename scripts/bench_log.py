#!/usr/bin/env python3
"""Benchmark the decision log, sync export and fleet ingest; print figures and write JSON.

    python scripts/bench_log.py [--decisions 200000] [--export-rows 1000000] [--out FILE]

Figures (targets from the issue in brackets):

* ``log_throughput``: decisions/s the writer sustains into SQLite (WAL, batches), measured
  from the first accepted record to the flush of the last one [>= 50,000/s].
* ``route_p99``: routing p99 with the log on and off, on a real Runtime, and the
  difference [<= 50 us]. Skipped (with the reason) when no Runtime can start.
* ``export``: a log of ``--export-rows`` decisions written as one sync batch [< 30 s].
* ``ingest``: the fleet collecting that batch, rows/s [>= 100,000/s].

Timings are medians of repeats where a repeat is cheap. On a shared, loaded box the
wall-clock rates understate the code; the ``*_per_cpu_s`` figures (process CPU time)
say what one core sustains.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from log_samples import make_record  # noqa: E402  (real Decision values, shared with tests)

from edge_moma.log.store import LogStore, decision_rows  # noqa: E402
from edge_moma.log.sync import export_batch  # noqa: E402
from edge_moma.log.writer import DecisionLog, LogSettings  # noqa: E402
from edge_moma.training.fleet import collect  # noqa: E402

REPORTS = Path(__file__).resolve().parent.parent / "reports"


def bench_throughput(work: Path, n: int) -> dict[str, float]:
    records = [make_record(i, attempts=i % 4 == 0) for i in range(n)]
    rates = []
    for rep in range(3):
        log = DecisionLog(
            LogSettings(
                work / f"tp{rep}.db", "bench", text_mode="redact", queue_size=n + 1, batch_size=2048
            )
        )
        c0, t0 = time.process_time(), time.perf_counter()
        for r in records:
            log(r)
        accept = time.perf_counter() - t0
        log.flush(timeout=600)
        total, cpu = time.perf_counter() - t0, time.process_time() - c0
        assert log.dropped == 0 and log.written == n
        log.close()
        rates.append((n / total, n / accept, n / cpu))
    return {
        "decisions": n,
        "written_per_s": round(statistics.median(r[0] for r in rates)),
        "written_per_cpu_s": round(statistics.median(r[2] for r in rates)),
        "accepted_per_s": round(statistics.median(r[1] for r in rates)),
    }


def bench_route(work: Path, n: int) -> dict[str, object]:
    try:
        from edge_moma.config import load_config
        from edge_moma.runtime import Runtime
    except ImportError as exc:  # the router modules are not installed in this checkout
        return {"skipped": f"no Runtime: {exc}"}
    texts = [
        "what's 15% of 80",
        "write a haiku about autumn rain",
        "explain how attention works in a transformer",
        "set a timer for ten minutes",
    ]
    runtimes = {}
    for log_on in (False, True):
        cfg = work / f"route-{log_on}.toml"
        cfg.write_text(
            f'[runtime]\ndata_dir = "{work / f"data-{log_on}"}"\nlog = {str(log_on).lower()}\n'
        )
        try:
            runtimes[log_on] = Runtime(load_config(cfg, check_files=False))
        except Exception as exc:
            return {"skipped": f"no Runtime: {exc}"}
    # Alternate blocks of routes with the log off and on, so both see the same
    # background load; the log is flushed before each "off" block so its writer is idle.
    times: dict[bool, list[int]] = {False: [], True: []}
    ctx = {"online": False, "battery_percent": 80}
    block = 250
    for start in range(-2 * block, n, block):
        for log_on in (False, True):
            rt = runtimes[log_on]
            if not log_on and runtimes[True].decision_log is not None:
                runtimes[True].decision_log.flush()
            for i in range(start, start + block):
                t0 = time.perf_counter_ns()
                rt.route(texts[i % len(texts)], context=ctx)
                if start >= 0:  # the first blocks warm up
                    times[log_on].append(time.perf_counter_ns() - t0)
    hot = runtimes[True].decision_log
    stats = hot.stats() if hot is not None else {}
    for rt in runtimes.values():
        rt.close()
    out: dict[str, object] = {"routes_each": len(times[True]), "dropped": stats.get("dropped")}
    for log_on, values in times.items():
        values.sort()
        out["log_on" if log_on else "log_off"] = {
            "p50_us": round(values[len(values) // 2] / 1e3, 1),
            "p99_us": round(values[int(len(values) * 0.99)] / 1e3, 1),
        }
    on, off = out["log_on"], out["log_off"]
    out["p99_delta_us"] = round(on["p99_us"] - off["p99_us"], 1)  # type: ignore[index]
    out["p50_delta_us"] = round(on["p50_us"] - off["p50_us"], 1)  # type: ignore[index]
    return out


def bench_export_ingest(work: Path, rows: int) -> dict[str, dict[str, float]]:
    store = LogStore.open(work / "big.db")
    chunk = [make_record(i, attempts=i % 4 == 0) for i in range(10_000)]
    import dataclasses
    import uuid

    t0 = time.perf_counter()
    for start in range(0, rows, len(chunk)):
        batch = [
            dataclasses.replace(r, decision=dataclasses.replace(r.decision, id=uuid.uuid4().hex))
            for r in chunk[: min(len(chunk), rows - start)]
        ]
        store.insert(decision_rows(batch, "bench", "redact", None))
    fill = time.perf_counter() - t0
    c0, t0 = time.process_time(), time.perf_counter()
    manifest = export_batch(store, work / "outbox", "bench")
    export_s, export_cpu = time.perf_counter() - t0, time.process_time() - c0
    store.close()
    assert manifest is not None and manifest["files"]["decisions"]["rows"] == rows
    size = sum(f.stat().st_size for f in (work / "outbox").iterdir())
    c0, t0 = time.process_time(), time.perf_counter()
    report = collect([work / "outbox"], work / "fleet.db")
    ingest_s, ingest_cpu = time.perf_counter() - t0, time.process_time() - c0
    assert report["decisions"] == rows, report
    return {
        "export": {
            "rows": rows,
            "seconds": round(export_s, 2),
            "cpu_seconds": round(export_cpu, 2),
            "rows_per_s": round(rows / export_s),
            "batch_bytes": size,
            "fill_seconds": round(fill, 1),
        },
        "ingest": {
            "rows": rows,
            "seconds": round(ingest_s, 2),
            "rows_per_s": round(rows / ingest_s),
            "rows_per_cpu_s": round(rows / ingest_cpu),
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=200_000)
    parser.add_argument("--routes", type=int, default=5_000)
    parser.add_argument("--export-rows", type=int, default=1_000_000)
    parser.add_argument("--out", default=str(REPORTS / "bench_log.json"))
    parser.add_argument(
        "--only", choices=("throughput", "route", "export"), help="Run one part only."
    )
    args = parser.parse_args(argv)
    results: dict[str, object] = {"python": sys.version.split()[0]}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if args.only in (None, "throughput"):
            results["log_throughput"] = bench_throughput(work, args.decisions)
            print("log_throughput", json.dumps(results["log_throughput"]), flush=True)
        if args.only in (None, "route"):
            results["route_p99"] = bench_route(work, args.routes)
            print("route_p99", json.dumps(results["route_p99"]), flush=True)
        if args.only in (None, "export"):
            results.update(bench_export_ingest(work, args.export_rows))
            print("export", json.dumps(results["export"]), flush=True)
            print("ingest", json.dumps(results["ingest"]), flush=True)
    results["targets"] = {
        "log_written_per_s": 50_000,
        "route_p99_delta_us": 50,
        "export_1m_seconds": 30,
        "ingest_rows_per_s": 100_000,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
