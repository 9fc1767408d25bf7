#!/usr/bin/env python3
"""Derive two-model routing files (a strong and a cheap model) from a routing file.

RouteLLM-style figures (APGR, CPT) need a pool of two. This keeps two of a
file's models in every line and writes the same pair for each input file:

    python scripts/make_two_model_set.py scripts/data/llmrouter/train.jsonl \\
        scripts/data/llmrouter/test.jsonl --out-dir build/llmrouter-pair

By default the pair is picked from the first file: the strong model has the
highest mean score, the cheap one the lowest mean cost (on llmrouter:
llama-3.1-nemotron-51b-instruct and gemma-2-9b-it); ``--strong`` / ``--weak``
name them instead. ``--rows N --seed S`` keeps a seeded random N lines of each
file (small files for tests). Lines are read as bytes split on newlines and
written back with only the pair's ``scores`` and ``costs``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edge_moma.training.routing_data import load_routing_set  # noqa: E402


def pick_pair(path: Path) -> tuple[str, str]:
    """(strong, cheap): the best mean score, and the lowest mean cost (better score on a tie)."""
    data = load_routing_set(path)
    quality, cost = data.scores.mean(axis=0), data.costs.mean(axis=0)
    strong = int(np.lexsort((cost, -quality))[0])
    weak = int(np.lexsort((-quality, cost))[0])
    if strong == weak:
        raise SystemExit(f"{path}: the best model is also the cheapest; pass --strong and --weak")
    return data.models[strong], data.models[weak]


def write_pair(src: Path, out: Path, pair: tuple[str, str], rows: int, seed: int) -> int:
    lines = [line for line in src.read_bytes().split(b"\n") if line.strip()]
    if rows and rows < len(lines):
        keep = np.sort(np.random.default_rng(seed).choice(len(lines), rows, replace=False))
        lines = [lines[i] for i in keep]
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as fh:
        for line in lines:
            row = json.loads(line)
            row["scores"] = {m: row["scores"][m] for m in pair}
            row["costs"] = {m: row["costs"][m] for m in pair}
            fh.write(json.dumps(row) + "\n")
    return len(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "files", nargs="+", type=Path, help="routing files; the pair comes from the first"
    )
    ap.add_argument("--out-dir", type=Path, required=True)
    ap.add_argument("--strong", help="the strong model (default: best mean score)")
    ap.add_argument("--weak", help="the cheap model (default: lowest mean cost)")
    ap.add_argument("--rows", type=int, default=0, help="keep this many random lines per file")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    strong, weak = pick_pair(args.files[0])
    pair = (args.strong or strong, args.weak or weak)
    for src in args.files:
        n = write_pair(src, args.out_dir / src.name, pair, args.rows, args.seed)
        print(
            f"{args.out_dir / src.name}: {n} prompts, models {pair[0]} (strong), {pair[1]} (cheap)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
