"""Per-task mean score of every model, learned from partial, policy-chosen feedback.

The routing signal in public routing data is mostly *which kind of query* it
is (README, "LLM routing"), so the quality predictor serves a table: for each
task (a labelled benchmark, or a pseudo-task the trainer clustered) the mean
score of each model. Logged feedback fills it unevenly: one model per query,
chosen by the policy of the day. Two things keep the table honest:

* **Importance weights.** An observed score counts ``1 / propensity`` (the
  probability the logging policy had of choosing that model), capped at
  ``max_weight``; a cell's mean is the self-normalised (Hajek) weighted mean.
  A model the policy chose mostly on easy queries of a task is then not taken
  for a model that is good at the task.
* **Shrinkage.** A cell with few observations borrows from a logistic
  main-effects fit, ``logit q = task difficulty + model strength``, learned
  from every observation: the estimate is ``(n_eff * mean + shrink * prior) /
  (n_eff + shrink)`` with ``n_eff`` the cell's effective sample size
  ``(sum w)^2 / sum w^2``. Unobserved cells take the prior.

Full-information rows (a routing file: every model scored, weight 1) go
through the same arithmetic, so one estimator serves both.

A router trained on partial feedback picks, among many thinly observed
cells, the ones whose few outcomes happened to be good (the winner's curse):
on llmrouter a candidate sent a third of its queries to a model it had seen 16
times, predicted 0.62 and got 0.46. ``pessimistic`` lowers each cell by its
standard error, so a model wins a task on evidence, not on luck.

>>> labels = np.array([0, 0, 1, 1])
>>> scores = np.array([[1.0, np.nan], [1.0, 0.0], [0.0, 1.0], [np.nan, 1.0]])
>>> table, n_eff = task_table(labels, scores, np.ones((4, 2)), n_tasks=2, shrink=0.0)
>>> table.round(2).tolist(), n_eff.tolist()
([[1.0, 0.0], [0.0, 1.0]], [[2.0, 1.0], [1.0, 2.0]])
"""

from __future__ import annotations

import numpy as np

RIDGE = 5.0  # pseudo-observations pulling each main effect toward 0 (logit scale)
_NEWTON_STEPS = 50


def task_table(
    labels: np.ndarray,
    scores: np.ndarray,
    weights: np.ndarray,
    *,
    n_tasks: int,
    shrink: float,
    max_weight: float = np.inf,
) -> tuple[np.ndarray, np.ndarray]:
    """(table, n_eff), both (n_tasks, models): shrunk weighted means and effective counts.

    ``labels`` (n,) are task ids; ``scores`` (n, models) are NaN where not
    observed; ``weights`` (n, models) are importance weights (1 / propensity).
    """
    labels = np.asarray(labels, dtype=np.int64)
    scores = np.asarray(scores, dtype=np.float64)
    k = scores.shape[1]
    seen = np.isfinite(scores)
    rows, models = np.nonzero(seen)
    r = scores[rows, models]
    w = np.minimum(np.asarray(weights, dtype=np.float64)[rows, models], max_weight)
    if not len(r):
        return np.full((n_tasks, k), 0.5), np.zeros((n_tasks, k))
    t = labels[rows]
    cell = t * k + models
    size = n_tasks * k
    sw = np.bincount(cell, w, size).reshape(n_tasks, k)
    swr = np.bincount(cell, w * r, size).reshape(n_tasks, k)
    sw2 = np.bincount(cell, w * w, size).reshape(n_tasks, k)
    n_eff = np.where(sw > 0, sw**2 / np.maximum(sw2, 1e-300), 0.0)
    prior = main_effects(t, models, r, w / w.mean(), n_tasks, k)
    mean = np.where(sw > 0, swr / np.maximum(sw, 1e-300), prior)
    return (n_eff * mean + shrink * prior) / np.maximum(n_eff + shrink, 1e-300), n_eff


def main_effects(
    tasks: np.ndarray, models: np.ndarray, r: np.ndarray, w: np.ndarray, n_tasks: int, k: int
) -> np.ndarray:
    """``sigmoid(alpha_task + beta_model)`` (n_tasks, k), weighted ridge logistic fit.

    Alternating damped Newton steps: each effect has a closed-form one-dimensional
    step given the other, and a step is capped at 1 logit so rare cells cannot
    throw the fit around.
    """
    alpha, beta = np.zeros(n_tasks), np.zeros(k)
    for _ in range(_NEWTON_STEPS):
        for which in (alpha, beta):
            p = 1.0 / (1.0 + np.exp(-np.clip(alpha[tasks] + beta[models], -30, 30)))
            g, h = w * (p - r), w * p * (1 - p)
            ids, size = (tasks, n_tasks) if which is alpha else (models, k)
            step = (np.bincount(ids, g, size) + RIDGE * which) / (np.bincount(ids, h, size) + RIDGE)
            which -= np.clip(step, -1.0, 1.0)
    return 1.0 / (1.0 + np.exp(-(alpha[:, None] + beta[None, :])))


def pessimistic(table: np.ndarray, n_eff: np.ndarray, shrink: float, z: float) -> np.ndarray:
    """``table`` less ``z`` times a score's largest standard error, ``0.5 / sqrt(n_eff +
    shrink)``, per cell.

    The bound does not read the cell's mean (a thin cell's 8 good answers out of
    8 would otherwise look certain), so cells with equal evidence keep their
    order and only evidence moves a model up or down. The shrinkage's
    pseudo-observations count as evidence; ``z = 0`` changes nothing, and a
    cell seen a thousand times moves by about three points at ``z = 2``.

    >>> pessimistic(np.array([[0.5, 0.5]]), np.array([[0.0, 95.0]]), 5.0, 2.0).round(3).tolist()
    [[0.053, 0.4]]
    """
    return np.clip(table - z * 0.5 / np.sqrt(n_eff + shrink), 0.0, 1.0)
