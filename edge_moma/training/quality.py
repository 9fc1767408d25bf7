"""Training the quality predictor (``routing/quality.py``) from a routing file.

``edge-moma train routing``, the routing benchmark's cross-validation, the
fleet's ``retrain-routing`` and ``scripts/build_models.py`` all train through
``train_quality``: idf-weighted n-gram features projected on the prompts' top
singular vectors (the ONNX embedding table), a softmax task head (tasks from
the file, or k-means pseudo-tasks) served through a shrunk,
importance-weighted task table (``task_table``), per-model log-cost heads,
and a logistic quality head only when there are no tasks; exported to int8
ONNX with the card the predictor loads. ``out_of_fold_quality`` gives the
same predictions cross-fitted, for the fleet's gate.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..routing.features import Featurizer
from ..routing.quality import _EPS, DEFAULT_PRIOR, KIND, _logit
from .onnx_export import Pooling


@dataclass(frozen=True)
class RoutingTrainConfig:
    """Settings of ``train_quality``; stored in the model card so a bundle can be rebuilt.

    ``dim``: the features' dimensions. On llmrouter (2,000 rows, pseudo-tasks)
    16 gave AIQ 0.584, 32 0.583, 64 0.574, and the int8 model is 1 / 2 / 4 MB.

    ``tasks`` is the number of pseudo-tasks clustered when rows lack a task (0:
    about sqrt(prompts / 10), from 2 to 32); ``shrink`` the pseudo-observations
    a task-table cell borrows from the main-effects fit; ``max_weight`` caps an
    importance weight (1 / propensity); ``c`` is the inverse L2 strength of the
    logistic heads on standardised features; ``pessimism`` the standard errors
    each table cell is lowered by (``task_table.pessimistic``: 0 for full
    information, where it changed llmrouter's AIQ by under 0.001; the fleet's
    retrain from partial feedback uses ``fleet.FLEET_PESSIMISM``).
    """

    dim: int = 16
    tasks: int = 0
    shrink: float = 5.0
    max_weight: float = 10.0
    c: float = 1.0
    seed: int = 0
    pessimism: float = 0.0

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
    from ..routing.bundle import write_card
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
    from .task_table import pessimistic, task_table

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
    if cfg.pessimism:
        table = pessimistic(table, n_eff, cfg.shrink, cfg.pessimism)
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
