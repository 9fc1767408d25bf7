"""Per-model quality predictor: how well would each model in the pool answer this query?

One int8 ONNX embedding-bag network over the shared featurizer's indices
gives, for each model it was trained on (its *known* models):

* ``task`` (softmax, when the training data has two or more tasks): which
  task the query looks like, served through a per-task table of model scores
  (``task_prior``): quality = ``P(task) @ table``;
* ``quality`` (sigmoid, when it has fewer): probability of a good answer
  from a per-model logistic head;
* ``log_cost`` (linear): log of the USD the call is expected to cost, so the
  benchmark can price a query before making it.

**Why a task table.** In every public routing set tried (RouterBench,
llmrouter), per-query features barely rank queries *within* a task while the
task is worth a lot: a per-task lookup is as good a router as any per-query
model, and it learns from a few rows per task. Tasks are the training file's
labels, or pseudo-tasks the trainer clusters from the prompts when rows lack
one (logged traffic); the table is learned from partial, policy-chosen
feedback with importance weights and shrinkage (``task_table``). Old bundles
with a blend weight ``w`` serve ``w * quality + (1 - w) * P(task) @ table``.

The features are the featurizer's n-grams, idf-weighted and projected onto
the training prompts' top singular vectors (``training/quality.py``); the graph's
embedding table is that projection, so nothing but ONNX Runtime runs here.

**Pools that are not the training pool.** A pool entry (anything with ``name``,
``profile`` and ``priors`` attributes, such as a config's model entry) is
scored by the first rule that applies:

1. ``profile`` names a known model: that model's head;
2. ``name`` is a known model: its head (a learned profile replaces priors);
3. ``priors`` (``{"overall": q, "<task>": q, ...}``, task labels of the intent
   router): the prior for the query's task (``overall`` when the task has no
   prior), moved by the query's *difficulty* — how far the known models'
   predictions for this query sit from their average, on the logit scale;
4. nothing: ``DEFAULT_PRIOR`` (0.5) moved by the same difficulty.

No ONNX re-export is needed for a new pool. Example::

    predictor = QualityPredictor.load("models/routing")
    q = predictor.predict(featurizer.indices("Write a haiku"), config.models, task="writing")
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..errors import BundleError
from .bundle import bag_runner, load_session, verify_bundle
from .features import Featurizer

logger = logging.getLogger(__name__)

KIND = "routing"
DEFAULT_PRIOR = 0.5
_EPS = 1e-4
_CHUNK = 64  # texts a model run in known_batch: padding to the longest wastes little


class PoolEntry(Protocol):
    """What the predictor reads from a pool entry (a config model entry fits)."""

    @property
    def name(self) -> str: ...
    @property
    def profile(self) -> str | None: ...
    @property
    def priors(self) -> Mapping[str, float] | None: ...


def _logit(p: np.ndarray | float) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


def _mean_logit(p: np.ndarray) -> float:
    """``_logit(p).mean()`` of one query's dozen values: a float loop is 3x faster than numpy."""
    total, lo, hi = 0.0, _EPS, 1 - _EPS
    for x in p.tolist():
        x = lo if x < lo else (hi if x > hi else x)
        total += math.log(x / (1 - x))
    return total / len(p)


@dataclass(frozen=True)
class Resolution:
    """How one pool entry is scored: a known model's head, or a prior (``source``)."""

    name: str
    source: str  # "profile", "name", "priors" or "default"
    known: str | None  # the known model whose head scores it
    priors: Mapping[str, float] | None


@dataclass(frozen=True)
class _Plan:
    """How ``score_pool`` maps one pool: a gather of known heads, then the prior-scored entries."""

    names: tuple[str, ...]
    take: np.ndarray  # the known model scoring each entry (0, overwritten, for prior-scored ones)
    priors: tuple[tuple[int, Resolution], ...]
    order: tuple[int, ...] = ()  # ``take`` as ints, for plain-list gathers


class QualityPredictor:
    """Loaded routing bundle: scores any pool for one query from featurizer indices."""

    def __init__(self, session: Any, card: dict[str, Any], bundle_dir: Path):
        self._run = bag_runner(session, f"routing bundle {bundle_dir}")
        self.card = card
        self.bundle_dir = bundle_dir
        self.featurizer = Featurizer.from_params(card["featurizer"])
        self.version: str = str(card.get("version", ""))
        self.models: tuple[str, ...] = tuple(card["known_models"])
        self._index = {m: i for i, m in enumerate(self.models)}
        # Mean logit of every known model's quality over the training prompts:
        # the zero point of the difficulty offset applied to priors.
        self._base_logit = float(card["base_logit"])
        self._cache: dict[tuple[int, ...], _Plan] = {}
        prior = card.get("task_prior")
        self._blend = float(prior["weight"]) if prior else 1.0
        self._task_quality = (
            np.asarray(prior["quality"], dtype=np.float64) if prior else np.zeros((0, 0))
        )
        # Only the outputs the served quality reads: with the task prior alone
        # (weight 0) the quality head is not fetched, and log_cost only by ``known``.
        self._quality_outputs = (["quality"] if self._blend > 0 else []) + (
            ["task"] if self._blend < 1 else []
        )
        # Effective outcomes behind each table cell (exploration's uncertainty);
        # a bundle without them counts as knowing its models for sure.
        observed = (prior or {}).get("observed")
        shrink = float((card.get("train_config") or {}).get("shrink", 5.0))
        # n / shrink per cell: uncertainty is (1 + P(task) @ this) ** -0.5 (assess_many).
        self._observed = np.asarray(observed, np.float32) / np.float32(shrink) if observed else None

    @classmethod
    def load(cls, bundle_dir: str | Path, variant: str = "int8") -> QualityPredictor:
        """Verify the bundle's checksums and open its ONNX model (one intra-op thread)."""
        bundle_dir = Path(bundle_dir)
        card = verify_bundle(bundle_dir, kind=KIND)
        files = card.get("onnx", {})
        if variant not in files:
            raise BundleError(f"{bundle_dir}: the bundle has no {variant!r} model ({list(files)})")
        for key in ("featurizer", "known_models", "base_logit"):
            if key not in card:
                raise BundleError(f"{bundle_dir}: model card lacks {key!r}; rebuild the bundle")
        return cls(load_session(bundle_dir / files[variant]), card, bundle_dir)

    # --- raw model -------------------------------------------------------------------

    def known(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(quality, expected cost in USD) of every known model for one query."""
        quality, cost = self.known_many([indices])
        return quality[0], cost[0]

    def known_many(self, rows: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """``known`` for several queries' indices in one model run: two (n, k) arrays."""
        out = self._run([*self._quality_outputs, "log_cost"], rows)
        return self._served(out[:-1]), np.exp(out[-1].astype(np.float64))

    def known_quality(self, indices: np.ndarray) -> np.ndarray:
        """The quality of every known model for one query (``known`` without the cost)."""
        return self.known_quality_many([indices])[0]

    def known_quality_many(self, rows: Sequence[np.ndarray]) -> np.ndarray:
        """``known_quality`` for several queries' indices in one model run: (n, k)."""
        return self._served(self._run(self._quality_outputs, rows))

    def assess_many(self, rows: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(quality, uncertainty) of every known model for several queries: two (n, k).

        Uncertainty is ``sqrt(shrink / (shrink + n))`` with ``n`` the outcomes
        behind the query's table cells (weighted by the task head): 1 with no
        outcome, about 0.3 with ten times ``shrink``; 0 without a table count.
        """
        out = self._run(self._quality_outputs, rows)
        if self._observed is None or self._blend >= 1:
            return self._served(out), np.zeros((len(rows), len(self.models)))
        return self._served(out), (1.0 + out[-1] @ self._observed) ** -0.5

    def pool_uncertainty(self, known: np.ndarray, pool: Sequence[PoolEntry]) -> list[float]:
        """``assess_many``'s uncertainty row mapped onto ``pool``: 1 for prior-scored entries."""
        plan = self._plan(pool)
        row = known.tolist()
        out = [row[i] for i in plan.order]
        for i, _ in plan.priors:
            out[i] = 1.0
        return out

    def _served(self, out: list[np.ndarray]) -> np.ndarray:
        """The served quality (n, k) from the ``_quality_outputs`` of one run (module docstring)."""
        if self._blend >= 1:
            return out[0].astype(np.float64)
        task_probs = out[-1].astype(np.float64)
        if self._blend <= 0:
            return task_probs @ self._task_quality
        return blend_task_prior(
            out[0].astype(np.float64), task_probs, self._task_quality, self._blend
        )

    def known_batch(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """``known`` for many texts: (n, k) quality and (n, k) expected cost."""
        k = len(self.models)
        chunks = [
            self.known_many([self.featurizer.indices(t) for t in texts[i : i + _CHUNK]])
            for i in range(0, len(texts), _CHUNK)
        ]
        if not chunks:
            return np.zeros((0, k)), np.zeros((0, k))
        return np.concatenate([c[0] for c in chunks]), np.concatenate([c[1] for c in chunks])

    # --- pools -----------------------------------------------------------------------

    def resolve(self, pool: Sequence[PoolEntry]) -> list[Resolution]:
        """How each pool entry will be scored (rules in the module docstring)."""
        out = []
        for entry in pool:
            profile = getattr(entry, "profile", None)
            priors = getattr(entry, "priors", None)
            if profile and profile in self._index:
                out.append(Resolution(entry.name, "profile", profile, priors))
            elif entry.name in self._index:
                out.append(Resolution(entry.name, "name", entry.name, priors))
            elif priors:
                out.append(Resolution(entry.name, "priors", None, priors))
            else:
                out.append(Resolution(entry.name, "default", None, None))
            if profile and profile not in self._index:
                logger.warning(
                    "model %r names profile %r, which this routing bundle does not know "
                    "(known: %s); scoring it by %s",
                    entry.name,
                    profile,
                    ", ".join(self.models),
                    out[-1].source,
                )
        return out

    def _plan(self, pool: Sequence[PoolEntry]) -> _Plan:
        """``resolve(pool)`` as a gather plus the prior-scored entries, cached per pool."""
        key = tuple(id(e) for e in pool)
        hit = self._cache.get(key)
        if hit is None or hit.names != tuple(e.name for e in pool):
            resolved = self.resolve(pool)
            hit = _Plan(
                names=tuple(r.name for r in resolved),
                take=np.array(
                    [self._index[r.known] if r.known is not None else 0 for r in resolved],
                    dtype=np.intp,
                ),
                priors=tuple((i, r) for i, r in enumerate(resolved) if r.known is None),
                order=tuple(self._index[r.known] if r.known is not None else 0 for r in resolved),
            )
            if len(self._cache) > 64:
                self._cache.clear()
            self._cache[key] = hit
        return hit

    def predict(
        self,
        indices: np.ndarray,
        pool: Sequence[PoolEntry],
        task: str | None = None,
        task_probs: Mapping[str, float] | None = None,
    ) -> np.ndarray:
        """Predicted quality in [0, 1] of every pool entry for one query, in pool order.

        ``task`` (the intent router's top task) or ``task_probs`` (its
        distribution) pick the per-task prior of entries scored by priors.
        """
        return self.score_pool(self.known_quality(indices), pool, task, task_probs)

    def score_pool(
        self,
        known_quality: np.ndarray,
        pool: Sequence[PoolEntry],
        task: str | None = None,
        task_probs: Mapping[str, float] | None = None,
    ) -> np.ndarray:
        """Map the known models' qualities for one query onto ``pool``."""
        plan = self._plan(pool)
        out = np.asarray(known_quality, dtype=np.float64)[plan.take]
        if plan.priors:
            difficulty = _mean_logit(known_quality) - self._base_logit
            for i, r in plan.priors:
                prior = min(max(_prior(r.priors, task, task_probs), _EPS), 1 - _EPS)
                out[i] = 1.0 / (1.0 + math.exp(-(math.log(prior / (1 - prior)) + difficulty)))
        return out


def blend_task_prior(
    quality: np.ndarray, task_probs: np.ndarray, task_quality: np.ndarray, weight: float
) -> np.ndarray:
    """``weight * quality + (1 - weight) * task_probs @ task_quality`` (rows or one query)."""
    return weight * quality + (1.0 - weight) * (task_probs @ task_quality)


def _prior(
    priors: Mapping[str, float] | None, task: str | None, task_probs: Mapping[str, float] | None
) -> float:
    if not priors:
        return DEFAULT_PRIOR
    overall = float(priors.get("overall", DEFAULT_PRIOR))
    if task_probs:
        total = sum(task_probs.values()) or 1.0
        return sum(float(priors.get(t, overall)) * p for t, p in task_probs.items()) / total
    if task is not None:
        return float(priors.get(task, overall))
    return overall
