"""Benchmark the shipped intent router on CLINC150 test + oos_test; print and write JSON.

    python scripts/bench_intent.py [--model models/intent] [--report reports/bench_intent.json]

Figures: in-scope accuracy, oos recall/precision, macro F1, featurize + infer
latency at batch size 1 on one thread (p50/p99), model size, bundle load time
(median of 5 loads, after onnxruntime is imported once), the int8-vs-fp32
accuracy difference, and the task head's accuracy on the held-out everyday
prompts (tests/data/everyday_prompts.jsonl) and benchmark prompts. The targets
are printed next to the figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from build_models import make_intent_data  # noqa: E402

from edge_moma.routing.intent import IntentRouter  # noqa: E402
from edge_moma.training.intent import evaluate_intent  # noqa: E402

TARGETS = {
    "in_scope_accuracy": (">=", 0.94),
    "oos_recall": (">=", 0.68),
    "everyday_task_accuracy": (">=", 0.90),
    "latency_p50_us": ("<=", 100.0),
    "latency_p99_us": ("<=", 300.0),
    "model_mb": ("<=", 5.0),
    "load_ms": ("<=", 50.0),
    "int8_vs_fp32_points": ("abs<=", 0.5),
}


def _met(op: str, value: float | None, bound: float) -> bool:
    if value is None:
        return False
    if op == ">=":
        return value >= bound
    if op == "<=":
        return value <= bound
    return abs(value) <= bound


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "intent")
    parser.add_argument("--report", type=Path, default=ROOT / "reports" / "bench_intent.json")
    args = parser.parse_args(argv)

    import onnxruntime  # noqa: F401  (imported once by the runtime; not part of a load)

    loads = []
    for _ in range(5):
        began = time.perf_counter()
        IntentRouter.load(args.model)
        loads.append((time.perf_counter() - began) * 1e3)
    with tempfile.TemporaryDirectory() as tmp:
        files = make_intent_data(Path(tmp))
        report = evaluate_intent(files["test"], args.model)
        everyday = evaluate_intent(files["everyday_test"], args.model, latency=False)
        prompts = evaluate_intent(files["prompts_test"], args.model, latency=False)
    bundle_bytes = sum(p.stat().st_size for p in args.model.iterdir() if p.is_file())
    diff = report["int8_vs_fp32"].get("difference_points")
    figures = {
        "in_scope_accuracy": report["in_scope_accuracy"],
        "oos_recall": report["oos_recall"],
        "oos_precision": report["oos_precision"],
        "accuracy": report["accuracy"],
        "macro_f1": report["macro_f1"],
        "latency_p50_us": report["latency_us"]["p50"],
        "latency_p99_us": report["latency_us"]["p99"],
        "cpu_p50_us": report["cpu_us"]["p50"],
        "cpu_p99_us": report["cpu_us"]["p99"],
        "model_mb": round(bundle_bytes / 1e6, 3),
        "load_ms": round(statistics.median(loads), 1),
        "int8_vs_fp32_points": diff,
        "everyday_task_accuracy": everyday["task"]["accuracy"],
        "prompts_task_accuracy": prompts["task"]["accuracy"],
    }
    result = {
        "benchmark": "CLINC150 test + oos_test; task head: held-out everyday and benchmark prompts",
        "n": report["n"],
        "figures": figures,
        "targets": {
            k: {"target": f"{op} {bound}", "met": _met(op, figures[k], bound)}
            for k, (op, bound) in TARGETS.items()
        },
        "report": report,
    }
    for key, value in figures.items():
        target = result["targets"].get(key)
        mark = (
            ""
            if target is None
            else f"   target {target['target']}: " + ("met" if target["met"] else "NOT met")
        )
        print(f"{key:22s} {value}{mark}")
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
