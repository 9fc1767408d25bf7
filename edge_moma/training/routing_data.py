"""Routing sets: prompts with every pool model's score and cost, loaded and checked.

A routing set is JSON Lines, one prompt a line::

    {"id": "q1", "task": "arc-challenge", "prompt": "...",
     "scores": {"model-a": 1.0, "model-b": 0.0}, "costs": {"model-a": 0.002, "model-b": 0.0001}}

``task`` is optional; scores are in [0, 1] and costs are the USD each call
cost. The pool of a file is the set of models in its ``scores``: every line must
score and price the same models, so nothing depends on a fixed list of names.
Bad lines raise ``DataError`` naming the file and line, because a silently
skipped row changes every figure computed from the file.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError
from ..jsonl import records


@dataclass(frozen=True)
class RoutingSet:
    """One routing file as arrays: ``scores`` and ``costs`` are (n_prompts, n_models)."""

    path: str
    ids: tuple[str, ...]
    prompts: tuple[str, ...]
    tasks: tuple[str | None, ...]
    models: tuple[str, ...]
    scores: np.ndarray
    costs: np.ndarray
    sha256: str

    def __len__(self) -> int:
        return len(self.prompts)

    @property
    def has_tasks(self) -> bool:
        """True when every prompt names its task (the per-task baseline needs it)."""
        return all(t is not None for t in self.tasks)

    def subset(self, rows: np.ndarray) -> RoutingSet:
        """The prompts at ``rows`` (for cross-validation folds)."""
        rows = np.asarray(rows, dtype=np.int64)
        return RoutingSet(
            path=self.path,
            ids=tuple(self.ids[i] for i in rows),
            prompts=tuple(self.prompts[i] for i in rows),
            tasks=tuple(self.tasks[i] for i in rows),
            models=self.models,
            scores=self.scores[rows],
            costs=self.costs[rows],
            sha256=self.sha256,
        )


def _number(value: Any, what: str, path: str, line: int) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DataError(f"{what} must be a number, got {value!r}", path=path, line=line)
    value = float(value)
    if not math.isfinite(value):
        raise DataError(f"{what} must be finite, got {value!r}", path=path, line=line)
    return value


def _row(obj: Any, path: str, line: int) -> tuple[str, str, str | None, dict, dict]:
    if not isinstance(obj, dict):
        raise DataError("each line must be a JSON object", path=path, line=line)
    for key in ("prompt", "scores", "costs"):
        if key not in obj:
            raise DataError(f"missing key {key!r}", path=path, line=line)
    prompt, scores, costs = obj["prompt"], obj["scores"], obj["costs"]
    if not isinstance(prompt, str):
        raise DataError("'prompt' must be a string", path=path, line=line)
    if not isinstance(scores, dict) or not scores:
        raise DataError("'scores' must be a non-empty object {model: score}", path=path, line=line)
    if not isinstance(costs, dict):
        raise DataError("'costs' must be an object {model: USD}", path=path, line=line)
    task = obj.get("task")
    if task is not None and not isinstance(task, str):
        raise DataError("'task' must be a string when given", path=path, line=line)
    ident = obj.get("id", f"line-{line}")
    return str(ident), prompt, task, scores, costs


def load_routing_set(path: str | Path) -> RoutingSet:
    """Read and validate a routing file; raise ``DataError`` at the first bad line.

    >>> data = load_routing_set("scripts/data/routerbench/train.jsonl")  # doctest: +SKIP
    >>> data.scores.shape  # doctest: +SKIP
    (2205, 11)
    """
    path = Path(path)
    name = str(path)
    try:
        raw = path.read_bytes()
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the name
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise DataError(f"cannot read the routing file: {why}", path=name) from exc
    ids: list[str] = []
    prompts: list[str] = []
    tasks: list[str | None] = []
    score_rows: list[list[float]] = []
    cost_rows: list[list[float]] = []
    models: tuple[str, ...] | None = None
    for line_no, obj in records(raw.split(b"\n"), name):
        ident, prompt, task, scores, costs = _row(obj, name, line_no)
        if models is None:
            models = tuple(sorted(scores))
        if set(scores) != set(models):
            raise DataError(
                f"'scores' names models {sorted(scores)}, but the first line names "
                f"{list(models)}; every line must score the same pool",
                path=name,
                line=line_no,
            )
        missing = [m for m in models if m not in costs]
        if missing:
            raise DataError(f"'costs' lacks models {missing}", path=name, line=line_no)
        srow = [_number(scores[m], f"score of {m!r}", name, line_no) for m in models]
        crow = [_number(costs[m], f"cost of {m!r}", name, line_no) for m in models]
        for m, s in zip(models, srow, strict=True):
            if not 0.0 <= s <= 1.0:
                raise DataError(f"score of {m!r} is {s}, expected 0..1", path=name, line=line_no)
        for m, c in zip(models, crow, strict=True):
            if c < 0.0:
                raise DataError(f"cost of {m!r} is {c}, expected >= 0", path=name, line=line_no)
        ids.append(ident)
        prompts.append(prompt)
        tasks.append(task)
        score_rows.append(srow)
        cost_rows.append(crow)
    if models is None:
        raise DataError("the routing file has no prompts", path=name)
    return RoutingSet(
        path=name,
        ids=tuple(ids),
        prompts=tuple(prompts),
        tasks=tuple(tasks),
        models=models,
        scores=np.asarray(score_rows, dtype=np.float64),
        costs=np.asarray(cost_rows, dtype=np.float64),
        sha256=hashlib.sha256(raw).hexdigest(),
    )


def kfold_indices(n: int, k: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """``k`` (train_rows, test_rows) pairs; every row is tested exactly once.

    A seeded permutation, so the same file and seed give the same folds everywhere.
    """
    if k < 2:
        raise ValueError(f"cross-validation needs k >= 2, got {k}")
    if n < k:
        raise DataError(f"cannot split {n} prompts into {k} folds")
    order = np.random.default_rng(seed).permutation(n)
    folds = np.array_split(order, k)
    return [
        (np.sort(np.concatenate(folds[:i] + folds[i + 1 :])), np.sort(folds[i])) for i in range(k)
    ]
