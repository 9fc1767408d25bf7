"""Off-policy value of a routing policy, estimated from decisions another policy logged.

A logged decision ``i`` holds the model the device chose (``logged[i]``), the
probability it had of choosing it (``propensity[i]``, from ``exploration``)
and the score the answer got (``reward[i]``). A deterministic policy that
would choose ``choice[i]`` has, for its quality part:

* **IPS** (inverse propensity scoring): ``1[logged = choice] / propensity * reward``;
  unbiased whenever the logging policy could have chosen ``choice``, but
  noisy when that was unlikely;
* **SNIPS**: the same, divided by the mean importance weight instead of 1;
* **DR** (doubly robust): a reward model's prediction for ``choice``, plus the
  IPS-weighted error of that model on the logged choice: unbiased if either
  the propensities or the reward model are right, and much less noisy than
  IPS when the model is close.

Cost (and any other part of the utility that is known before the answer) is
the same for every estimator: the device's own estimate for ``choice``. Two
policies are compared on the *same* decisions, so the per-decision
difference (``paired``) cancels everything they agree on; its mean and a
bootstrap confidence interval decide the routing gate.

>>> logged = np.array([0, 1, 0, 1]); p = np.array([0.5, 0.5, 0.5, 0.5])
>>> reward = np.array([1.0, 0.0, 1.0, 0.0])
>>> float(ips(np.zeros(4, dtype=int), logged, p, reward).mean())  # always model 0
1.0
"""

from __future__ import annotations

import numpy as np


def ips(
    choice: np.ndarray, logged: np.ndarray, propensity: np.ndarray, reward: np.ndarray
) -> np.ndarray:
    """Per-decision IPS terms of the policy that picks ``choice``; their mean is the value."""
    return np.where(choice == logged, reward / propensity, 0.0)


def snips(
    choice: np.ndarray, logged: np.ndarray, propensity: np.ndarray, reward: np.ndarray
) -> float:
    """Self-normalised IPS value (the weights' mean replaces 1); NaN if no decision matches."""
    w = np.where(choice == logged, 1.0 / propensity, 0.0)
    return float((w * reward).sum() / w.sum()) if w.sum() > 0 else float("nan")


def doubly_robust(
    choice: np.ndarray,
    logged: np.ndarray,
    propensity: np.ndarray,
    reward: np.ndarray,
    predicted: np.ndarray,
    max_weight: float = np.inf,
) -> np.ndarray:
    """Per-decision DR terms; ``predicted`` (n, models) is the reward model's estimate.

    ``max_weight`` caps the importance weight of the correction (clipped DR):
    a rarely explored choice then moves the estimate by at most that many
    times its error, trading a little bias toward the reward model for a much
    narrower interval.
    """
    rows = np.arange(len(choice))
    weight = np.minimum(1.0 / propensity, max_weight)
    correction = np.where(choice == logged, (reward - predicted[rows, logged]) * weight, 0.0)
    return predicted[rows, choice] + correction


def crossfit_bias(
    logged: np.ndarray,
    propensity: np.ndarray,
    reward: np.ndarray,
    predicted: np.ndarray,
    folds: np.ndarray,
    *,
    shrink: float = 5.0,
    max_weight: float = np.inf,
) -> np.ndarray:
    """``predicted`` (n, models) corrected by each model's mean error on the *other* folds.

    A reward model trained elsewhere (a candidate predictor) is most wrong
    exactly where it is sure of itself; its per-model error, measured on
    decisions that logged that model (importance-weighted, shrunk toward no
    correction by ``shrink`` pseudo-decisions), is taken out before it enters
    the doubly-robust estimate. Cross-fitting keeps a decision's own outcome out
    of its correction: ``folds`` (n,) holds each decision's fold.
    """
    n, k = predicted.shape
    rows = np.arange(n)
    weight = np.minimum(1.0 / propensity, max_weight)
    error = reward - predicted[rows, logged]
    out = predicted.copy()
    for f in np.unique(folds):
        other = folds != f
        num = np.bincount(logged[other], weight[other] * error[other], k)
        den = np.bincount(logged[other], weight[other], k) + shrink
        out[folds == f] += num / den
    return np.clip(out, 0.0, 1.0)


def bootstrap_interval(
    values: np.ndarray, level: float = 0.95, resamples: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` (resampled with replacement)."""
    values = np.asarray(values, dtype=np.float64)
    if not len(values):
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = np.concatenate(  # in chunks: resamples x n indices at once can be large
        [
            values[rng.integers(0, len(values), (min(256, resamples - i), len(values)))].mean(1)
            for i in range(0, resamples, 256)
        ]
    )
    tail = (1.0 - level) / 2.0
    return float(np.quantile(means, tail)), float(np.quantile(means, 1.0 - tail))
