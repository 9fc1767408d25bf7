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
the training prompts' top singular vectors (``train_quality``); the graph's
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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .bundle import bag_runner, load_session, verify_bundle
from .errors import BundleError
from .features import Featurizer, bag_feed
from .onnx_export import Pooling

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
        out = self._run([*self._quality_outputs, "log_cost"], bag_feed(rows))
        return self._served(out[:-1]), np.exp(out[-1].astype(np.float64))

    def known_quality(self, indices: np.ndarray) -> np.ndarray:
        """The quality of every known model for one query (``known`` without the cost)."""
        return self.known_quality_many([indices])[0]

    def known_quality_many(self, rows: Sequence[np.ndarray]) -> np.ndarray:
        """``known_quality`` for several queries' indices in one model run: (n, k)."""
        return self._served(self._run(self._quality_outputs, bag_feed(rows)))

    def assess_many(self, rows: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(quality, uncertainty) of every known model for several queries: two (n, k).

        Uncertainty is ``sqrt(shrink / (shrink + n))`` with ``n`` the outcomes
        behind the query's table cells (weighted by the task head): 1 with no
        outcome, about 0.3 with ten times ``shrink``; 0 without a table count.
        """
        out = self._run(self._quality_outputs, bag_feed(rows))
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


# --- training ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RoutingTrainConfig:
    """Settings of ``train_quality``; stored in the model card so a bundle can be rebuilt.

    ``dim``: the features' dimensions. On llmrouter (2,000 rows, pseudo-tasks)
    16 gave AIQ 0.584, 32 0.583, 64 0.574, and the int8 model is 1 / 2 / 4 MB.

    ``tasks`` is the number of pseudo-tasks clustered when rows lack a task (0:
    about sqrt(prompts / 10), from 2 to 32); ``shrink`` the pseudo-observations
    a task-table cell borrows from the main-effects fit; ``max_weight`` caps an
    importance weight (1 / propensity); ``c`` is the inverse L2 strength of the
    logistic heads on standardised features.
    """

    dim: int = 16
    tasks: int = 0
    shrink: float = 5.0
    max_weight: float = 10.0
    c: float = 1.0
    seed: int = 0

    def params(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def default_train_config() -> RoutingTrainConfig:
    """The trainer settings the shipped bundle uses."""
    return RoutingTrainConfig()


# sum / sqrt(n): an idf-weighted text's norm then barely depends on its length
POOLING: Pooling = "sqrtn"


def train_quality(
    data: Any,
    out_dir: str | Path,
    config: RoutingTrainConfig | None = None,
    data_path: str | None = None,
    featurizer: Featurizer | None = None,
    metrics: dict[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
    keep_fp32: bool = False,
    *,
    weights: np.ndarray | None = None,
    extra_prompts: Sequence[str] = (),
) -> dict[str, Any]:
    """Train the predictor on a ``RoutingSet`` and write a bundle to ``out_dir``.

    How (measured in the README, "LLM routing"): the featurizer's n-grams,
    idf-weighted and projected on the training prompts' top ``dim`` singular
    vectors (the ONNX embedding table, so the served features are the trained
    ones); tasks from the file, or k-means pseudo-tasks when rows lack one; a
    softmax task head and a shrunk, importance-weighted task table
    (``task_table``), which is what is served; per-model log-cost heads. The
    per-model logistic quality head on the same features is trained and served
    only when there is no table (fewer than two tasks): blended with a table,
    it lost routing value in held-out tests (README). Scores may be NaN (not
    observed: logged partial feedback); ``weights`` (n, models) are their
    importance weights, 1 by default. ``extra_prompts`` (logged queries without
    feedback) shape the features and the pseudo-tasks only. ``data_path`` is
    what the card records as the training file. Returns the written card.
    """
    from .bundle import write_card
    from .onnx_export import Head, export_embedding_bag

    cfg = config or default_train_config()
    featurizer = featurizer or Featurizer()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    n, k = len(data), len(data.models)
    weights = np.ones((n, k)) if weights is None else np.asarray(weights, dtype=np.float64)
    say = progress or (lambda _msg: None)
    embedding, features, labels, names, source = _represent(data, extra_prompts, featurizer, cfg)
    say(
        f"features: {embedding.shape[1]} dims over {len(features)} prompts; "
        f"tasks: {len(names)} ({source})"
    )
    x = features[:n]
    weight = 0.0 if names else 1.0  # the table alone when there are tasks (docstring)
    fit = _fit(data, x, labels[:n], len(names), weights, cfg, task_x=features, task_y=labels)
    heads = [Head("log_cost", *fit.log_cost, "linear")]
    if fit.quality is not None:
        heads.append(Head("quality", *fit.quality, "sigmoid"))
    if fit.task is not None:
        heads.append(Head("task", *fit.task, "softmax"))
    for stale in out_dir.glob("quality*.onnx"):
        stale.unlink()
    paths = export_embedding_bag(
        out_dir / "quality.onnx", embedding, [], heads, POOLING, metadata={"kind": KIND}
    )
    if not keep_fp32:  # the int8 twin is what runs; the fp32 file is 4x its size
        paths.pop("fp32").unlink()
    predicted = fit.served(x)
    task_prior = None
    if names:
        task_prior = {
            "labels": names,
            "source": source,
            "quality": np.round(fit.table, 6).tolist(),
            "observed": np.round(fit.n_eff, 2).tolist(),
            "weight": weight,
        }
    observed = np.isfinite(data.scores).sum(0)
    card = {
        "kind": KIND,
        # The feature width names the trainer: a bundle of the earlier n-gram network
        # trained on the same file and seed had the same version without it.
        "version": f"routing-{k}m-{data.sha256[:8]}-d{cfg.dim}-s{cfg.seed}",
        "onnx": {key: p.name for key, p in paths.items()},
        "featurizer": featurizer.params(),
        "known_models": list(data.models),
        "base_logit": float(_logit(predicted).mean()),
        "heads": {
            "log_cost": "linear, log USD per call",
            **(
                {"task": "softmax over task_prior.labels"}
                if names
                else {"quality": "sigmoid, P(good answer)"}
            ),
        },
        **({"task_prior": task_prior} if task_prior else {}),
        "default_prior": DEFAULT_PRIOR,
        "train_config": cfg.params(),
        "data": {
            "path": data_path or data.path,
            "sha256": data.sha256,
            "n": n,
            "extra_prompts": len(extra_prompts),
            "tasks": sorted({t for t in data.tasks if t is not None}),
            "mean_score": dict(
                zip(data.models, np.round(_col_mean(data.scores), 6).tolist(), strict=True)
            ),
            "mean_cost_usd": dict(zip(data.models, _col_mean(data.costs).tolist(), strict=True)),
            **(
                {"observed": dict(zip(data.models, observed.tolist(), strict=True))}
                if observed.min() < n
                else {}
            ),
        },
        "metrics": metrics or {},
    }
    return write_card(out_dir, card)


def out_of_fold_quality(
    data: Any,
    folds: np.ndarray,
    config: RoutingTrainConfig | None = None,
    featurizer: Featurizer | None = None,
    *,
    weights: np.ndarray | None = None,
    extra_prompts: Sequence[str] = (),
) -> np.ndarray:
    """What ``train_quality`` would serve for each row, had the row's fold been left out.

    ``folds`` (n,) holds a fold id per row (-1: always trained on). The features,
    pseudo-tasks and task head need no scores and are fitted once on every
    prompt; the table (or, without tasks, the quality head) is refitted per
    fold. NaN rows where there is no fold. The fleet's gate evaluates a
    candidate on these predictions, so every logged outcome serves both to
    train it and, out of fold, to check it (cross-fitting).
    """
    cfg = config or default_train_config()
    featurizer = featurizer or Featurizer()
    n, k = len(data), len(data.models)
    weights = np.ones((n, k)) if weights is None else np.asarray(weights, dtype=np.float64)
    _, features, labels, names, _ = _represent(data, extra_prompts, featurizer, cfg)
    x = features[:n]
    out = np.full((n, k), np.nan)
    task = None
    for f in np.unique(folds[folds >= 0]):
        test, rest = np.flatnonzero(folds == f), np.flatnonzero(folds != f)
        fit = _fit(
            data.subset(rest), x[rest], labels[rest], len(names), weights[rest], cfg,
            task_x=features, task_y=labels, task=task,
        )  # fmt: skip
        task = fit.task  # no scores in it: one fit serves every fold
        out[test] = fit.served(x[test])
    return out


def _represent(
    data: Any, extra_prompts: Sequence[str], featurizer: Featurizer, cfg: RoutingTrainConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str], str]:
    """(embedding, features of every prompt, task ids, task names, source)."""
    from threadpoolctl import threadpool_limits

    flat, offsets = featurizer.batch([*data.prompts, *extra_prompts])
    # One BLAS / OpenMP thread: threaded reductions round differently from run to run,
    # and a k-means tie broken the other way would change the tasks.
    with threadpool_limits(limits=1):
        embedding = lsa_embedding(flat, offsets, featurizer.n_buckets, cfg.dim, cfg.seed)
        features = pooled(flat, offsets, embedding)
        labels, names, source = pseudo_tasks(data, features, cfg)
    return embedding, features, labels, names, source


def lsa_embedding(
    flat: np.ndarray, offsets: np.ndarray, n_buckets: int, dim: int, seed: int
) -> np.ndarray:
    """The embedding table ``idf x V`` (n_buckets, d): V holds the top right singular vectors
    of the prompts' row-normalised TF-IDF matrix (latent semantic analysis).

    A bucket no prompt touched gets a zero row: an unseen n-gram adds nothing.
    """
    from sklearn.utils.extmath import randomized_svd

    counts = _counts(flat, offsets, n_buckets)
    n = counts.shape[0]
    df = np.bincount(counts.indices, minlength=n_buckets)
    idf = np.where(df > 0, np.log((1.0 + n) / (1.0 + df)) + 1.0, 0.0)
    tfidf = counts.multiply(idf[None, :]).tocsr()
    norms = np.sqrt(np.asarray(tfidf.multiply(tfidf).sum(axis=1)).ravel())
    tfidf = tfidf.multiply(1.0 / np.maximum(norms, 1e-12)[:, None]).tocsr()
    d = max(1, min(dim, n - 1, n_buckets - 1))
    _, _, vt = randomized_svd(tfidf, d, n_iter=2, random_state=seed)
    return (idf[:, None] * vt.T).astype(np.float32)


def pooled(flat: np.ndarray, offsets: np.ndarray, embedding: np.ndarray) -> np.ndarray:
    """What the ONNX graph computes before its heads: the rows' sum over sqrt(n) (POOLING)."""
    lens = np.diff(offsets)
    summed = np.add.reduceat(embedding[flat].astype(np.float64), offsets[:-1], axis=0)
    summed[lens == 0] = 0.0
    return summed / np.sqrt(np.maximum(lens, 1))[:, None]


def _counts(flat: np.ndarray, offsets: np.ndarray, n_buckets: int) -> Any:
    import scipy.sparse as sp

    rows = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    counts = sp.csr_matrix((np.ones(len(flat)), (rows, flat)), shape=(len(offsets) - 1, n_buckets))
    counts.sum_duplicates()
    return counts


def pseudo_tasks(
    data: Any, features: np.ndarray, cfg: RoutingTrainConfig
) -> tuple[np.ndarray, list[str], str]:
    """(task id per prompt, task names, source): the file's tasks when every row names
    one, else k-means clusters of every prompt's direction in feature space.

    Extra prompts (after the file's rows) get a cluster too; with file tasks they
    get -1 (no label). Fewer than two tasks: no table (empty names).
    """
    n = len(data)
    if data.has_tasks:
        names = sorted(set(data.tasks))
        index = {t: i for i, t in enumerate(names)}
        labels = np.r_[[index[t] for t in data.tasks], np.full(len(features) - n, -1)]
        return (labels.astype(np.int64), names, "file") if len(names) > 1 else (labels, [], "")
    k = cfg.tasks or int(np.clip(round(math.sqrt(len(features) / 10)), 2, 32))
    unit = features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
    distinct = len(np.unique(unit.round(6), axis=0))
    k = min(k, distinct)
    if k < 2:
        return np.zeros(len(features), dtype=np.int64), [], ""
    from sklearn.cluster import KMeans

    labels = KMeans(k, n_init=4, random_state=cfg.seed).fit(unit).labels_.astype(np.int64)
    return labels, [f"cluster-{i:02d}" for i in range(k)], "clusters"


@dataclass
class _Fitted:
    """The heads ((weight, bias) each, folded onto raw features) and the task table:
    a quality head without tasks, a task head and table with them."""

    quality: tuple[np.ndarray, np.ndarray] | None
    log_cost: tuple[np.ndarray, np.ndarray]
    task: tuple[np.ndarray, np.ndarray] | None
    table: np.ndarray
    n_eff: np.ndarray

    def served(self, x: np.ndarray) -> np.ndarray:
        """The served quality of feature rows ``x`` (the predictor's ``_served``)."""
        if self.task is None:
            assert self.quality is not None
            return 1.0 / (1.0 + np.exp(-(x @ self.quality[0] + self.quality[1])))
        z = x @ self.task[0] + self.task[1]
        probs = np.exp(z - z.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
        return probs @ self.table


def _fit(
    data: Any,
    x: np.ndarray,
    labels: np.ndarray,
    n_tasks: int,
    weights: np.ndarray,
    cfg: RoutingTrainConfig,
    task_x: np.ndarray,
    task_y: np.ndarray,
    task: tuple[np.ndarray, np.ndarray] | None = None,
) -> _Fitted:
    """Every head and the table from feature rows ``x`` of ``data``'s rows (the task
    head from ``task_x``/``task_y``, unless ``task`` gives it)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):  # reproducible fits (see _represent)
        return _fit_heads(data, x, labels, n_tasks, weights, cfg, task_x, task_y, task)


def _fit_heads(
    data: Any,
    x: np.ndarray,
    labels: np.ndarray,
    n_tasks: int,
    weights: np.ndarray,
    cfg: RoutingTrainConfig,
    task_x: np.ndarray,
    task_y: np.ndarray,
    task: tuple[np.ndarray, np.ndarray] | None,
) -> _Fitted:
    from .task_table import task_table

    mu, sd = x.mean(axis=0), x.std(axis=0) + 1e-9
    z = (x - mu) / sd
    k = len(data.models)
    log_cost = np.log(np.maximum(data.costs, 1e-12))
    w_c, b_c = np.zeros((x.shape[1], k)), _col_mean(log_cost)
    for j in range(k):
        seen = np.isfinite(log_cost[:, j])
        if seen.sum() > 1:
            w_c[:, j], b_c[j] = _ridge(z[seen], log_cost[seen, j])
    cost = _fold(w_c, b_c, mu, sd)
    if not n_tasks:
        w_q, b_q = np.zeros((x.shape[1], k)), np.zeros(k)
        fallback = _col_mean(data.scores, DEFAULT_PRIOR)
        for j in range(k):
            w_q[:, j], b_q[j] = _logistic(z, data.scores[:, j], weights[:, j], cfg, fallback[j])
        return _Fitted(_fold(w_q, b_q, mu, sd), cost, None, np.zeros((0, k)), np.zeros((0, k)))
    if task is None:
        has = task_y >= 0
        task = _fold(*_softmax_regression((task_x[has] - mu) / sd, task_y[has], n_tasks, cfg),
                     mu, sd)  # fmt: skip
    table, n_eff = task_table(
        labels,
        data.scores,
        weights,
        n_tasks=n_tasks,
        shrink=cfg.shrink,
        max_weight=cfg.max_weight,
    )
    return _Fitted(None, cost, task, table, n_eff)


def _fold(
    w: np.ndarray, b: np.ndarray, mu: np.ndarray, sd: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Weights on standardised features as weights on raw features."""
    w_raw = w / sd[:, None]
    return w_raw.astype(np.float32), (b - mu @ w_raw).astype(np.float32)


def _logistic(
    z: np.ndarray, y: np.ndarray, w: np.ndarray, cfg: RoutingTrainConfig, fallback: float
) -> tuple[np.ndarray, float]:
    """Weighted ridge logistic regression on observed (fractional) scores; a model with
    too few or constant observations gets a constant (its mean, else ``fallback``)."""
    from sklearn.linear_model import LogisticRegression

    seen = np.isfinite(y)
    s, ws = y[seen], np.minimum(w[seen], cfg.max_weight)
    if len(s) < 2 or s.min() == s.max():
        p = float(np.clip(s.mean() if len(s) else fallback, _EPS, 1 - _EPS))
        return np.zeros(z.shape[1]), math.log(p / (1 - p))
    zs = z[seen]
    clf = LogisticRegression(C=cfg.c, max_iter=1000)
    clf.fit(
        np.r_[zs, zs],
        np.r_[np.ones(len(s)), np.zeros(len(s))],
        sample_weight=np.r_[s * ws, (1 - s) * ws],
    )
    return clf.coef_[0], float(clf.intercept_[0])


def _softmax_regression(
    z: np.ndarray, y: np.ndarray, n_classes: int, cfg: RoutingTrainConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression; classes absent from ``y`` get a very low bias."""
    from sklearn.linear_model import LogisticRegression

    w, b = np.zeros((z.shape[1], n_classes)), np.full(n_classes, -30.0)
    present = np.unique(y)
    if len(present) == 1:
        b[present[0]] = 0.0
        return w, b
    clf = LogisticRegression(C=cfg.c, max_iter=1000).fit(z, y)
    w[:, clf.classes_] = clf.coef_.T
    b[clf.classes_] = clf.intercept_
    if len(present) == 2:  # sklearn fits one vector for two classes: split it
        w[:, clf.classes_[0]], b[clf.classes_[0]] = 0.0, 0.0
    return w, b


def _ridge(z: np.ndarray, y: np.ndarray, alpha: float = 1.0) -> tuple[np.ndarray, float]:
    mean = float(y.mean())
    a = z - z.mean(axis=0)
    coef = np.linalg.solve(a.T @ a + alpha * np.eye(z.shape[1]), a.T @ (y - mean))
    return coef, mean - float(z.mean(axis=0) @ coef)


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
