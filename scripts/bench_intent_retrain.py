"""Does a fleet retrain of the intent router reach the shipped bundle? Print and write JSON.

    python scripts/bench_intent_retrain.py [--current models/intent] [--epochs 2] \\
        [--base FILE.jsonl] [--report reports/bench_intent_retrain.json]

Runs ``edge_moma.training.fleet.retrain_intent`` (what ``scripts/fleet.py retrain`` runs)
on the shipped bundle's own training data (CLINC150 train + val with the
build's augmentation and prompts, from ``scripts/build_models.py``; or
``--base``) with an empty fleet database, once taught by ``--current`` and once
from the data alone (``--plain`` adds that run), and evaluates candidate and
current bundle on CLINC150 test + oos_test and on a second intent set, the
spoken-style development set ``scripts/data/augment/style_dev.jsonl`` (CLINC150
labels, written for this project; the augmentation was tuned against it).
Target: in-scope accuracy and oos recall at least the current bundle's, within 0.3 point
(neither more than 0.3 point below it: ``<set>_reaches_current``), on both sets.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from build_models import make_intent_data  # noqa: E402

from edge_moma.routing.intent import read_intent_file  # noqa: E402
from edge_moma.training.fleet import open_fleet_db, retrain_intent  # noqa: E402
from edge_moma.training.intent import evaluate_rows  # noqa: E402

STYLE = ROOT / "scripts" / "data" / "augment" / "style_dev.jsonl"
WITHIN = 0.003


def _figures(rows: dict[str, list[Any]], bundle: Path) -> dict[str, Any]:
    out = {}
    for name, data in rows.items():
        r = evaluate_rows(data, bundle, latency=False)
        out[name] = {k: r[k] for k in ("accuracy", "in_scope_accuracy", "oos_recall")}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--current", type=Path, default=ROOT / "models" / "intent")
    parser.add_argument("--base", type=Path, help="base training file [the shipped build's]")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--plain", action="store_true", help="also retrain without a teacher")
    parser.add_argument(
        "--report", type=Path, default=ROOT / "reports" / "bench_intent_retrain.json"
    )
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        files = make_intent_data(work / "data")
        base = args.base or files["train_val"]
        tests = {"clinc150": read_intent_file(files["test"]), "style_dev": read_intent_file(STYLE)}
        open_fleet_db(work / "fleet.db").close()  # no logged feedback: the base data alone
        result: dict[str, Any] = {
            "base": str(args.base or "CLINC150 train + val with the build's augmentation"),
            "epochs": args.epochs,
            "current": {"bundle": str(args.current), **_figures(tests, args.current)},
        }
        runs = {"taught": args.current, **({"plain": None} if args.plain else {})}
        for name, teacher in runs.items():
            began = time.perf_counter()
            retrain_intent(
                work / "fleet.db",
                base,
                work / name,
                work / f"{name}.work",
                epochs=args.epochs,
                teacher=teacher,
            )
            result[name] = {
                "train_s": round(time.perf_counter() - began, 1),
                **_figures(tests, work / name),
            }
    for name in runs:
        for s in tests:
            got, cur = result[name][s], result["current"][s]
            deltas = {k: round(got[k] - cur[k], 4) for k in ("in_scope_accuracy", "oos_recall")}
            result[name][f"{s}_delta"] = deltas
            result[name][f"{s}_reaches_current"] = all(d >= -WITHIN for d in deltas.values())
    for name in ("current", *runs):
        r = result[name]
        line = "  ".join(f"{s}: " + json.dumps(r[s]) for s in tests)
        print(f"{name:8s} {line}")
        for s in tests if name != "current" else ():
            print(
                f"{'':8s} {s} delta {r[f'{s}_delta']}  "
                f"at least current - 0.3 point: {r[f'{s}_reaches_current']}"
            )
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
