"""The everyday-prompt table (tests/data/everyday_prompts.jsonl) and the task head on it."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

from edge_moma.routing.intent import TASK_LABELS, IntentRouter

ROOT = Path(__file__).resolve().parent.parent
TABLE = ROOT / "tests" / "data" / "everyday_prompts.jsonl"
HELD_OUT_SHA256 = "f93948798ed7d8605e1dffee5b8fe3d566d6e7cc2747752c97322429bbc1c9a8"


def _rows() -> list[dict[str, str]]:
    return [json.loads(line) for line in TABLE.read_bytes().split(b"\n") if line.strip()]


def test_the_table_covers_every_task_in_both_parts() -> None:
    rows = _rows()
    assert len(rows) >= 300
    assert len({r["text"].lower() for r in rows}) == len(rows)
    assert {r["split"] for r in rows} == {"train", "heldout"}
    for split in ("train", "heldout"):
        tasks = Counter(r["task"] for r in rows if r["split"] == split)
        assert set(tasks) == set(TASK_LABELS), split
    kinds = {r["kind"] for r in rows}
    for kind in ("poem", "story", "summary", "translation", "brainstorm", "code", "math"):
        assert kind in kinds
    # The held-out part is fixed (every third prompt of a kind among the first 336 rows);
    # training prompts added later must leave it as it is, or its figures stop comparing.
    held = sorted(r["text"] for r in rows if r["split"] == "heldout")
    assert len(held) == 111
    assert hashlib.sha256("\n".join(held).encode()).hexdigest() == HELD_OUT_SHA256


# Issue #18's target: a shipped bundle must meet it. The shipped one reads 103 of 111
# (92.8%); seed 1 of its recipe reads 99 (89.2%), and so would fail here (README, "Tried
# and not shipped"). It was 29.7% before the table and 83.8% after the first refresh.
SHIPPED_FLOOR = 0.90


def test_the_shipped_task_head_reads_the_held_out_prompts() -> None:
    router = IntentRouter.load(ROOT / "models" / "intent")
    held = [r for r in _rows() if r["split"] == "heldout"]
    right = sum(router.understand(r["text"]).task == r["task"] for r in held)
    assert right >= SHIPPED_FLOOR * len(held), f"{right}/{len(held)}"
    assert router.understand("Write a poem").task == "writing"
    assert router.understand("Write a haiku").task == "writing"
    assert router.understand("Summarise the plot of Hamlet").task == "writing"
