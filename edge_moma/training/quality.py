"""Training the quality predictor (``routing/quality.py``) from a routing file.

``edge-moma train routing``, the routing benchmark's cross-validation, the
fleet's ``retrain-routing`` and ``scripts/build_models.py`` all train through
``train_quality``: one shared embedding-bag body with a quality head (sigmoid,
per known model), a log-cost head and, when the file names tasks, a task head,
exported to int8 ONNX with the card the predictor loads. The weight of the
quality head against the per-task prior is chosen here, on a held-out slice of
the training file (``BLEND_WEIGHTS``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ..routing.bundle import write_card
from ..routing.features import Featurizer
from ..routing.quality import DEFAULT_PRIOR, KIND, _logit, blend_task_prior
from .trainer import HeadData, TrainConfig, train_embedding_bag


def default_train_config() -> Any:
    """The trainer settings the shipped bundle uses (chosen by cross-validation)."""
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
