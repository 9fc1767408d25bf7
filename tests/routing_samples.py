"""A small synthetic routing set with a signal a router can learn, written to a real file.

Two kinds of prompt: code prompts (``def ...``) that only the expensive model
``big`` answers well, and chat prompts that the cheap ``small`` answers as well
as ``big``. A router that reads the prompt should send chat to ``small``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

CODE = ["def parse_{w}(text): return text.split()", "def sort_{w}(xs): return sorted(xs)"]
CHAT = ["tell me a joke about {w}", "what is a nice name for a {w}"]
WORDS = ["cat", "tree", "river", "lamp", "cloud", "stone", "bird", "road", "chair", "book"]


def routing_rows(n: int = 80, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        code = i % 2 == 0
        word = WORDS[int(rng.integers(len(WORDS)))] + str(int(rng.integers(100)))
        template = (CODE if code else CHAT)[int(rng.integers(2))]
        big = 1.0 if rng.random() < 0.9 else 0.0
        small = (0.0 if rng.random() < 0.9 else 1.0) if code else big
        rows.append(
            {
                "id": f"q{i}",
                "task": "code" if code else "chat",
                "prompt": template.format(w=word),
                "scores": {"small": small, "big": big},
                "costs": {"small": 0.0001 * (1 + rng.random()), "big": 0.002 * (1 + rng.random())},
            }
        )
    return rows


def write_routing_file(path: Path, rows: list[dict] | None = None) -> Path:
    rows = routing_rows() if rows is None else rows
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path
