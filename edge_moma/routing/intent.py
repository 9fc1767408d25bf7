"""The on-device intent and task router: what is this query, and may an agent take it?

One int8 ONNX model with two heads over the shared featurizer:

- ``intent``: the bundle's intent labels (CLINC150's 150 plus ``oos`` for the
  shipped bundle; any labels for a user's own file), with a temperature-
  calibrated confidence. A query is **out of scope** when the top class is
  ``oos`` or when the best in-scope confidence is below the bundle's
  threshold; temperature and threshold are chosen on the validation split and
  stored in the model card.
- ``task``: what kind of request it is (``TASK_LABELS`` for the shipped
  bundle), for the LLM stage to judge models by. Absent when the training file
  has no ``task`` field.

Training and evaluation files are JSON Lines ``{"text": ..., "label": ...}``
with an optional ``"task"``; label ``oos`` marks an out-of-scope query.

Example::

    router = IntentRouter.load("models/intent")       # one ONNX session, once
    u = router.understand("set an alarm for 7 am")
    u.top_intent.label, u.out_of_scope, u.task         # ('alarm', False, 'chat')
    ids = router.featurizer.indices(text)              # featurize once ...
    router.understand_indices(ids)                      # ... share with other models
    router.understand_many([ids, other_ids])            # one model run for several
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..decision import IntentScore, Understanding
from ..errors import BundleError, DataError
from ..jsonl import read_records
from .bundle import bag_runner, load_session, verify_bundle
from .features import Featurizer

logger = logging.getLogger(__name__)

OOS = "oos"
KIND = "intent"
TASK_LABELS = ("chat", "code", "commonsense", "knowledge", "math", "writing")
MODEL_FP32, MODEL_INT8 = "intent.onnx", "intent.int8.onnx"
TOP_K = 3
Progress = Callable[[str], None]


@dataclass(frozen=True)
class IntentExample:
    """One row of an intent file; ``task`` is ``None`` when the row has none."""

    text: str
    label: str
    task: str | None = None


def read_intent_file(path: str | Path) -> list[IntentExample]:
    """Read an intent JSON Lines file; a bad row raises ``DataError`` naming file and line."""
    name = str(path)
    rows: list[IntentExample] = []
    for number, obj in read_records(path):
        if not isinstance(obj, dict):
            raise DataError("expected a JSON object", path=name, line=number)
        text, label, task = obj.get("text"), obj.get("label"), obj.get("task")
        if not isinstance(text, str):
            raise DataError('missing string field "text"', path=name, line=number)
        if not isinstance(label, str) or not label:
            raise DataError('missing string field "label"', path=name, line=number)
        if task is not None and not isinstance(task, str):
            raise DataError('field "task" must be a string', path=name, line=number)
        rows.append(IntentExample(text, label, task))
    if not rows:
        raise DataError("no rows", path=name)
    return rows


def write_intent_file(path: str | Path, rows: Sequence[IntentExample]) -> Path:
    """Write rows in the intent format (what ``read_intent_file`` reads)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for r in rows:
            obj = {"text": r.text, "label": r.label}
            if r.task is not None:
                obj["task"] = r.task
            fh.write(json.dumps(obj, ensure_ascii=False) + "\n")
    return path


class IntentRouter:
    """A loaded intent bundle: one ONNX Runtime session, created at load time only."""

    def __init__(self, session: Any, card: dict[str, Any], featurizer: Featurizer):
        self._run = bag_runner(session, f"intent bundle {card.get('version', '')}")
        self.card = card
        self.featurizer = featurizer
        self.version: str = card["version"]
        self.labels: list[str] = list(card["labels"])
        self.tasks: list[str] = list(card.get("tasks") or [])
        rule = card["decision"]
        self.threshold = float(rule["threshold"])
        self._oos = self.labels.index(OOS) if OOS in self.labels else -1
        self._outputs = ["intent_top_values", "intent_top_indices"]
        if self.tasks:
            self._outputs.append("task")

    @classmethod
    def load(
        cls,
        bundle_dir: str | Path,
        *,
        precision: str | None = None,
        intra_op_threads: int = 1,
        verify: bool = True,
    ) -> IntentRouter:
        """Load a bundle (checksums, featurizer version, ONNX session); ``BundleError`` if unusable.

        ``precision`` picks ``"int8"`` (default when present) or ``"fp32"``.
        """
        bundle_dir = Path(bundle_dir)
        card = verify_bundle(bundle_dir, kind=KIND) if verify else _read_kind(bundle_dir)
        featurizer = Featurizer.from_params(card.get("featurizer") or {})
        models = card.get("models") or {}
        precision = precision or card.get("default_precision", "int8")
        if precision not in models:
            raise BundleError(
                f"{bundle_dir}: no {precision!r} model in this bundle (has {sorted(models)})"
            )
        for key in ("version", "labels", "decision"):
            if key not in card:
                raise BundleError(f"{bundle_dir}: model card lacks {key!r}; rebuild the bundle")
        session = load_session(bundle_dir / models[precision], intra_op_threads)
        try:
            router = cls(session, card, featurizer)
        except BundleError as exc:
            raise BundleError(f"{bundle_dir}: {exc}") from None
        names = {o.name for o in session.get_outputs()}
        if not set(router._outputs) <= names:
            raise BundleError(
                f"{bundle_dir}: model outputs {sorted(names)} lack {router._outputs}; "
                "rebuild the bundle with this edge-moma"
            )
        return router

    def understand(self, text: str) -> Understanding:
        """Featurize and classify one text (never raises on odd text: emoji, empty, huge)."""
        return self.understand_indices(self.featurizer.indices(text))

    def understand_indices(self, indices: np.ndarray) -> Understanding:
        """Classify indices from ``self.featurizer`` (so a caller can featurize once).

        The one-row path every routed request takes (``understand_many`` of one row
        too): no padding, no per-batch lists, which cost some 12 us a query.
        """
        values, ids, *task = self._run(self._outputs, (indices,))
        # a.tolist()[0]: one call where a[0].tolist() makes a view first
        return self._understanding(
            values.tolist()[0], ids.tolist()[0], task[0].tolist()[0] if task else None
        )

    def understand_many(self, rows: Sequence[np.ndarray]) -> list[Understanding]:
        """``understand_indices`` for several texts in one model run (``onnx_export``).

        The graph returns the best ``TOP_K + 1`` intents already sorted, so this
        is a few list operations in Python a row, not a sort over every label.
        """
        if len(rows) == 1:  # one routed request, the common case
            return [self.understand_indices(rows[0])]
        out = self._run(self._outputs, rows)
        task_rows = out[2].tolist() if self.tasks else [None] * len(rows)
        return [
            self._understanding(values, ids, task_p)
            for values, ids, task_p in zip(out[0].tolist(), out[1].tolist(), task_rows, strict=True)
        ]

    def _understanding(
        self, values: list[float], ids: list[int], task_p: list[float] | None
    ) -> Understanding:
        """One row of the model's outputs as an ``Understanding`` (best intents first)."""
        oos, labels = self._oos, self.labels
        intents: list[IntentScore] = []
        for i, v in zip(ids, values, strict=False):  # the TopK pair: equal lengths
            if i != oos:
                intents.append(IntentScore(labels[i], v))
                if len(intents) == TOP_K:
                    break
        out_of_scope = ids[0] == oos or not intents or intents[0].confidence < self.threshold
        if task_p is not None:  # a handful of floats: a list beats numpy calls
            task_conf = max(task_p)
            task = self.tasks[task_p.index(task_conf)]
        else:
            task, task_conf = "", 0.0
        return Understanding(tuple(intents), out_of_scope, task, task_conf, self.version)


def _read_kind(bundle_dir: Path) -> dict[str, Any]:
    from .bundle import read_card

    card = read_card(bundle_dir)
    if card.get("kind") != KIND:
        raise BundleError(f"{bundle_dir}: bundle holds a {card.get('kind')!r} model, not intent")
    return card
