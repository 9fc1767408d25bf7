"""Per-model quality predictor: how well would each model in the pool answer this query?

One int8 ONNX embedding-bag network over the shared featurizer's indices has
two heads, one output per model it was trained on (its *known* models):

* ``quality``  (sigmoid): probability of a correct / good answer;
* ``log_cost`` (linear): log of the USD the call is expected to cost, so the
  benchmark can price a query before making it (output length, and so cost,
  depends on the kind of query);
* ``task`` (softmax, when the training file names tasks): which of the
  training file's tasks (benchmarks) the query looks like.

**Shrinking toward the task.** On RouterBench the per-query part of the
quality head barely ranks queries *within* a task (held-out AUC ~0.5), while
the task itself is worth a lot: a per-task lookup is as good a router as any.
So the served quality is ``w * head + (1 - w) * P(task) @ task_quality``, the
per-task mean score of each model weighted by the task head, with ``w`` chosen
at training time on a held-out slice of the training file (least Brier
score) and recorded in the card (``task_prior``).

The routing model keeps a short text (``ROUTING_FEATURIZER``: the first and
last 128 characters): its quality was unchanged in cross-validation and
featurizing a few-shot prompt costs a quarter of the default's time.

The form was chosen by 5-fold cross-validation on RouterBench (see the README):
a shared body with per-model heads matched per-model logistic regression and
beat kNN, at a fraction of the size and time.

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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..errors import BundleError
from .bundle import bag_runner, load_session, verify_bundle
from .features import Featurizer, bag_feed

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
        out = self._run([*self._quality_outputs, "log_cost"], bag_feed(rows))
        return self._served(out[:-1]), np.exp(out[-1].astype(np.float64))

    def known_quality(self, indices: np.ndarray) -> np.ndarray:
        """The quality of every known model for one query (``known`` without the cost)."""
        return self.known_quality_many([indices])[0]

    def known_quality_many(self, rows: Sequence[np.ndarray]) -> np.ndarray:
        """``known_quality`` for several queries' indices in one model run: (n, k)."""
        return self._served(self._run(self._quality_outputs, bag_feed(rows)))

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


# --- training ----------------------------------------------------------------------------


def default_train_config() -> Any:
    """The trainer settings the shipped bundle uses (chosen by cross-validation)."""
    from ..training.trainer import TrainConfig

    return TrainConfig(dim=QUALITY_DIM, hidden=(32,), epochs=10, seed=0)


# 2^18 buckets x 8 int8 = 2 MB. In 5-fold CV on RouterBench, dim 8 / hidden 32 gave
# AIQ 0.846, dim 32 / hidden 64 0.845, dim 64 / hidden 128 0.843: wider only overfits.
QUALITY_DIM = 8
# Candidate weights of the quality head against the task prior (0 = task prior only),
# and the share of the training file held out to choose among them.
BLEND_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)
BLEND_HOLDOUT = 0.2


def train_quality(
    data: Any,
    out_dir: str | Path,
    config: Any = None,
    data_path: str | None = None,
    featurizer: Featurizer | None = None,
    metrics: dict[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
    keep_fp32: bool = False,
) -> dict[str, Any]:
    """Train the predictor on a ``RoutingSet`` and write a bundle to ``out_dir``.

    ``data_path`` is what the card records as the training file (relative to
    the repository for shipped bundles) so ``eval routing`` can train its
    baselines on the same file. Returns the written card.
    """
    from ..training.trainer import train_embedding_bag
    from .bundle import write_card

    cfg = config or default_train_config()
    featurizer = featurizer or Featurizer()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    flat, offsets = featurizer.batch(list(data.prompts))
    tasks = sorted({t for t in data.tasks if t is not None})
    # Rows without a task (logged outcomes: the device does not know the benchmark
    # a query resembles) leave the task head unlabelled; a file where every row
    # lacks one trains without it.
    with_tasks = len(tasks) > 1
    task_prior: dict[str, Any] | None = None
    if with_tasks:
        weight, brier = _choose_blend(data, flat, offsets, featurizer.n_buckets, tasks, cfg)
        task_prior = {
            "labels": tasks,
            "quality": np.round(_task_table(data, tasks), 6).tolist(),
            "weight": weight,
            "holdout_brier": brier,
        }
        if progress:
            progress(f"task prior: head weight {weight} (held-out Brier {brier})")
    heads = _heads(data, tasks if with_tasks else [], np.arange(len(data)))
    model = train_embedding_bag(flat, offsets, featurizer.n_buckets, heads, cfg, progress)
    cost_mean = _col_mean(np.log(np.maximum(data.costs, 1e-12)))
    # Fold the per-model mean log cost into the head, so the graph outputs log USD.
    model.heads = [
        replace(h, bias=(h.bias + cost_mean).astype(np.float32)) if h.name == "log_cost" else h
        for h in model.heads
    ]
    # Buckets no training text touched keep their random init: zero them, so an
    # unseen n-gram adds nothing instead of noise.
    seen = np.zeros(featurizer.n_buckets, dtype=bool)
    seen[flat] = True
    model.embedding[~seen] = 0.0
    for stale in out_dir.glob("quality*.onnx"):
        stale.unlink()
    paths = model.export(out_dir / "quality.onnx", metadata={"kind": KIND})
    if not keep_fp32:  # the int8 twin is what runs; the fp32 file is 4x its size
        paths.pop("fp32").unlink()
    outputs = model.predict(flat, offsets)
    predicted = outputs["quality"]
    if task_prior:
        table = np.asarray(task_prior["quality"])
        predicted = blend_task_prior(predicted, outputs["task"], table, task_prior["weight"])
    base_logit = float(_logit(predicted).mean())
    card = {
        "kind": KIND,
        "version": f"routing-{len(data.models)}m-{data.sha256[:8]}-s{cfg.seed}",
        "onnx": {k: p.name for k, p in paths.items()},
        "featurizer": featurizer.params(),
        "known_models": list(data.models),
        "base_logit": base_logit,
        "heads": {
            "quality": "sigmoid, P(good answer)",
            "log_cost": "linear, log USD per call",
            **({"task": "softmax over task_prior.labels"} if with_tasks else {}),
        },
        **({"task_prior": task_prior} if task_prior else {}),
        "default_prior": DEFAULT_PRIOR,
        "train_config": cfg.params(),
        "data": {
            "path": data_path or data.path,
            "sha256": data.sha256,
            "n": len(data),
            "tasks": sorted({t for t in data.tasks if t is not None}),
            "mean_score": dict(
                zip(data.models, np.round(_col_mean(data.scores), 6).tolist(), strict=True)
            ),
            "mean_cost_usd": dict(zip(data.models, _col_mean(data.costs).tolist(), strict=True)),
            **(
                {"observed": dict(zip(data.models, observed.tolist(), strict=True))}
                if (observed := np.isfinite(data.scores).sum(0)).min() < len(data)
                else {}
            ),
        },
        "metrics": metrics or {},
    }
    return write_card(out_dir, card)


def _col_mean(x: np.ndarray, fallback: np.ndarray | float | None = None) -> np.ndarray:
    """Column means ignoring NaN (a score or cost not observed for that prompt).

    A column with nothing observed takes ``fallback`` (default: the mean of all
    observed values, else 0). Dense data gives exactly ``x.mean(axis=0)``.
    """
    seen = np.isfinite(x)
    if seen.all():
        return np.asarray(x.mean(axis=0), dtype=np.float64)
    counts = seen.sum(axis=0)
    sums = np.where(seen, x, 0.0).sum(axis=0)
    if fallback is None:
        fallback = float(sums.sum() / counts.sum()) if counts.sum() else 0.0
    return np.where(counts > 0, sums / np.maximum(counts, 1), fallback)


def _task_table(data: Any, tasks: list[str], rows: np.ndarray | None = None) -> np.ndarray:
    """Mean score of every model per task (tasks x models) over ``rows``; a model with
    no observed score on a task takes its mean over all of ``rows``."""
    rows = np.arange(len(data)) if rows is None else rows
    labels = np.array([data.tasks[i] for i in rows], dtype=object)
    scores = data.scores[rows]
    overall = _col_mean(scores)
    return np.stack([_col_mean(scores[labels == t], overall) for t in tasks])


def _heads(data: Any, tasks: list[str], rows: np.ndarray) -> list[Any]:
    """Training targets of ``rows``: quality, centred log cost and (with ``tasks``) the task."""
    from ..training.trainer import HeadData

    k = len(data.models)
    log_cost = np.log(np.maximum(data.costs[rows], 1e-12))  # NaN (not observed) stays NaN
    heads = [
        HeadData("quality", data.scores[rows], k, "sigmoid"),
        HeadData("log_cost", log_cost - _col_mean(log_cost), k, "linear", loss_weight=0.5),
    ]
    if tasks:
        index = {t: i for i, t in enumerate(tasks)}
        ids = np.array([index.get(data.tasks[i], -1) for i in rows])  # -1: no task
        heads.append(HeadData("task", ids, len(tasks), "softmax", loss_weight=0.5))
    return heads


def _choose_blend(
    data: Any, flat: np.ndarray, offsets: np.ndarray, n_buckets: int, tasks: list[str], cfg: Any
) -> tuple[float, dict[str, float]]:
    """The head weight (``BLEND_WEIGHTS``) of least Brier score on a held-out slice.

    Trains once on the rest of the training file, so the choice never sees
    the prompts it is scored on (nor, in cross-validation, the evaluated fold).
    """
    from ..training.trainer import train_embedding_bag

    order = np.random.default_rng(cfg.seed).permutation(len(data))
    n_val = max(1, int(round(BLEND_HOLDOUT * len(data))))
    val, fit = np.sort(order[:n_val]), np.sort(order[n_val:])
    if (
        not all(t in {data.tasks[i] for i in fit} for t in tasks)
        or not np.isfinite(data.scores[val]).any()
    ):
        return 1.0, {}  # too few prompts to hold some out: keep the head alone
    sub_flat, sub_off = _rows(flat, offsets, fit)
    model = train_embedding_bag(sub_flat, sub_off, n_buckets, _heads(data, tasks, fit), cfg)
    out = model.predict(*_rows(flat, offsets, val))
    table = _task_table(data, tasks, fit)
    seen = np.isfinite(data.scores[val])  # Brier over the observed scores only
    brier = {
        str(w): round(
            float(
                np.mean(
                    (
                        (blend_task_prior(out["quality"], out["task"], table, w) - data.scores[val])
                        ** 2
                    )[seen]
                )
            ),
            6,
        )
        for w in BLEND_WEIGHTS
    }
    best = min(BLEND_WEIGHTS, key=lambda w: (brier[str(w)], -w))
    return float(best), brier


def _rows(flat: np.ndarray, offsets: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The CSR batch of ``rows`` only."""
    parts = [flat[offsets[i] : offsets[i + 1]] for i in rows]
    sub_off = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum([len(p) for p in parts], out=sub_off[1:])
    return np.concatenate(parts), sub_off
