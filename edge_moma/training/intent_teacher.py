"""The intent bundle devices run now, as the teacher of its successor.

A retrain from the same data without the build-time sentence encoder trains a
plain n-gram model, which loses points to the distilled shipped bundle. The
current bundle carries what the encoder taught it, so a retrain (fleet
``retrain``, ``edge-moma train intent --teacher``) learns from it:

* **warm start**: the new model starts from the bundle's weights (the int8
  table dequantized), its intent head with the temperature taken out again;
* **soft targets**: noisy copies of the training queries (words dropped, a
  sub-span kept; seeded) with targets half the bundle's probabilities and half
  the query's own label, so new rows teach without erasing what it knew;
* **its out-of-scope rule**: the bundle's oos weight (``weigh_oos``; the full
  build chose it on validation data) carried over, and, on the noisy copies, the
  temperature that best matches the new model's probabilities to the bundle's
  and the threshold at which the weighted new model calls as many copies out of
  scope as the bundle does; so every row trains (none is held out to calibrate).

The bundle teaches with its model before the oos weight: training would undo a
weight baked into the warm start and the targets (the retrain then calls more
queries out of scope than its teacher), so the weight is applied to the new
model afterwards, the way the build applies it.

The bundle must use the same labels as the training file (a fleet retrain drops
logged rows of other labels) and the same featurizer; its task head is reused
when the tasks match too. Nothing here needs the network or the encoder.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..routing.features import Featurizer
from ..routing.intent import OOS, IntentExample, IntentRouter
from .intent import Calibration, Distillation, fit_temperature
from .trainer import EmbeddingBagModel

COPIES = 2
TEACHER_WEIGHT = 0.5
P_DROP, P_SPAN = 0.1, 0.2
_WORD = re.compile(r"[a-z0-9']+|[^\sa-z0-9']")
_GRID = np.linspace(0.0, 1.0, 401)  # quantiles of the top confidence tried as thresholds


def _out_of_scope(probs: np.ndarray, oos: int, threshold: float) -> np.ndarray:
    """The intent router's rule on probability rows: the oos class wins, or the best
    in-scope confidence is below ``threshold``."""
    if oos < 0:
        return probs.max(axis=1) < threshold
    scores = probs.copy()
    scores[:, oos] = -1.0
    return (probs.argmax(axis=1) == oos) | (scores.max(axis=1) < threshold)


def noisy_copies(
    texts: Sequence[str],
    seed: int,
    *,
    copies: int = COPIES,
    neighbours: dict[str, list[str]] | None = None,
    p_drop: float = P_DROP,
    p_swap: float = 0.0,
    p_span: float = P_SPAN,
) -> list[str]:
    """``copies`` noisy copies of each text: word drops, swaps for a ``neighbours`` word,
    sub-spans (the build's encoder supplies neighbours; a device retrain has none)."""
    rng = np.random.default_rng(seed)
    neighbours = neighbours or {}
    out = []
    for text in texts:
        tokens = _WORD.findall(text.lower())
        for _ in range(copies):
            kept = []
            for w in tokens:
                u = rng.random()
                if u < p_drop:
                    continue
                if u < p_drop + p_swap and w in neighbours:
                    kept.append(neighbours[w][rng.integers(len(neighbours[w]))])
                else:
                    kept.append(w)
            if len(kept) > 3 and rng.random() < p_span:
                n = int(rng.integers(max(2, len(kept) // 2), len(kept) + 1))
                start = int(rng.integers(0, len(kept) - n + 1))
                kept = kept[start : start + n]
            out.append(" ".join(kept) or text)
    return out


@dataclass(frozen=True)
class BundleTeacher:
    """A loaded bundle's weights, labels and rule, ready to teach a retrain."""

    source: str
    version: str
    model: EmbeddingBagModel
    labels: tuple[str, ...]
    tasks: tuple[str, ...]
    featurizer: Featurizer
    temperature: float
    threshold: float
    oos_index: int
    oos_weight: float = 1.0
    oos_weight_source: str = ""

    @classmethod
    def load(cls, bundle_dir: str | Path) -> BundleTeacher:
        """Read a bundle (checksums verified); its fp32 model when present, else the int8 one."""
        bundle_dir = Path(bundle_dir)
        router = IntentRouter.load(bundle_dir)
        models = router.card["models"]
        path = bundle_dir / models.get("fp32", models["int8"])
        rule = router.card["decision"]
        temperature = float(rule["temperature"])
        model = EmbeddingBagModel.from_onnx(path)
        # The exported head divides its logits by the temperature; train on raw logits.
        model = model.with_temperature("intent", 1.0 / temperature)
        oos = router.labels.index(OOS) if OOS in router.labels else -1
        weight = float(rule.get("oos_weight", 1.0))
        if oos >= 0 and weight != 1.0:  # teach with the model the weight was chosen for
            head = model.head("intent")
            bias = head.bias.copy()
            bias[oos] -= np.float32(temperature * np.log(weight))
            heads = [replace(h, bias=bias) if h is head else h for h in model.heads]
            model = replace(model, heads=heads)
        return cls(
            source=str(bundle_dir),
            version=router.version,
            model=model,
            labels=tuple(router.labels),
            tasks=tuple(router.tasks),
            featurizer=router.featurizer,
            temperature=temperature,
            threshold=float(rule["threshold"]),
            oos_index=oos,
            oos_weight=weight,
            oos_weight_source=str(rule.get("oos_weight_chosen_by", "")),
        )

    def start(self, labels: Sequence[str], tasks: Sequence[str]) -> EmbeddingBagModel:
        """The warm-start model for a training file with these labels and tasks."""
        if tuple(labels) != self.labels:
            extra = sorted(set(labels) - set(self.labels))
            missing = sorted(set(self.labels) - set(labels))
            raise DataError(
                f"the teacher bundle {self.source} has other intent labels than the training "
                f"file (only in the file: {extra[:5]}, only in the bundle: {missing[:5]}); "
                "train without a teacher, or with a bundle trained on these labels"
            )
        return self.model if tuple(tasks) == self.tasks else self.model.without("task")

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """The bundle's calibrated intent probabilities [len(texts), labels], before its oos
        weight (the student learns the model; the weight is carried over)."""
        model = self.model.with_temperature("intent", self.temperature)
        return model.predict(*self.featurizer.batch(list(texts)))["intent"]

    def calibration(self, logits: np.ndarray, texts: Sequence[str]) -> Calibration:
        """A student's rule from its ``logits`` on ``texts``: the temperature that fits its
        probabilities to the bundle's, the bundle's oos weight, and the threshold at which,
        so weighted, it calls as many of the texts out of scope as the bundle does with its
        own rule (the same confidence scale, the same rate)."""
        teacher = self.probabilities(texts)
        temperature = fit_temperature(logits, teacher)
        z = logits / temperature
        student = np.exp(z - z.max(axis=1, keepdims=True))
        student /= student.sum(axis=1, keepdims=True)
        i = self.oos_index
        teacher, student = self._weighted(teacher), self._weighted(student)
        rate = float(np.mean(_out_of_scope(teacher, i, self.threshold)))
        top = np.delete(student, i, axis=1) if i >= 0 else student
        candidates = np.unique(np.concatenate([[0.0], np.quantile(top.max(axis=1), _GRID)]))
        gaps = [abs(np.mean(_out_of_scope(student, i, th)) - rate) for th in candidates]
        threshold = round(float(candidates[int(np.argmin(gaps))]), 6)
        return Calibration(
            temperature,
            threshold,
            f"matched to the teacher bundle {self.version} on the noisy copies: the temperature "
            f"fits its probabilities, the threshold its out-of-scope rate ({rate:.3f})",
            self.oos_weight,
            _carried(self.version, self.oos_weight_source),
        )

    def _weighted(self, probs: np.ndarray) -> np.ndarray:
        """``probs`` with the oos class's probability weighted by the bundle's oos weight,
        renormalized: what ``weigh_oos`` does to a model's outputs."""
        if self.oos_index < 0 or self.oos_weight == 1.0:
            return probs
        out = probs.copy()
        out[:, self.oos_index] *= self.oos_weight
        return out / out.sum(axis=1, keepdims=True)

    def distillation(self, rows: Sequence[IntentExample], seed: int) -> Distillation:
        """Noisy copies of ``rows`` with targets half the bundle's, half the row's label."""
        texts = noisy_copies([r.text for r in rows], seed)
        probs = self.probabilities(texts)
        index = {label: i for i, label in enumerate(self.labels)}
        own = np.zeros_like(probs)
        own[np.arange(len(texts)), np.repeat([index[r.label] for r in rows], COPIES)] = 1.0
        return Distillation(
            texts=tuple(texts),
            tasks=tuple(r.task for r in rows for _ in range(COPIES)),
            soft_labels=(TEACHER_WEIGHT * probs + (1 - TEACHER_WEIGHT) * own).astype(np.float32),
            about={
                "teacher": f"the bundle {self.version} (warm start and soft targets)",
                "recipe": (
                    f"{COPIES} noisy copies of each training query (drop {P_DROP}, sub-span "
                    f"{P_SPAN}; seed {seed}) with targets {TEACHER_WEIGHT} x the teacher's "
                    f"probabilities + {1 - TEACHER_WEIGHT} x the query's label; the teacher's "
                    "weights as the starting point and its out-of-scope threshold"
                ),
            },
        )


_CHOSEN = "; first chosen: "


def _carried(version: str, source: str) -> str:
    """Where a carried oos weight comes from: the teacher, and the build that first chose
    it, however many retrains it has passed through (the text does not grow)."""
    origin = source.split(_CHOSEN)[-1] if source else "unknown"
    return f"carried from the teacher bundle {version}{_CHOSEN}{origin}"
