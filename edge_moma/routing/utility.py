"""The one rule that turns predicted quality and cost into a choice.

``utility = quality - lam * cost``: ``lam`` is the trade-off knob (0 = best
predicted quality whatever it costs, ``math.inf`` = cheapest). The runtime
policy and the routing benchmark call the same functions, so the curve the
benchmark draws is the curve the product walks along.

Ties are broken the same way everywhere (lower cost, then lower index), so a
query gives the same choice on every run and every machine.

>>> import numpy as np
>>> select(np.array([0.9, 0.7]), np.array([1.0, 0.1]), lam=0.5)
1
"""

from __future__ import annotations

import math

import numpy as np


def utilities(quality: np.ndarray, cost: np.ndarray, lam: float) -> np.ndarray:
    """Utility of each candidate; ``lam = inf`` ranks by cost alone (as ``-cost``)."""
    quality = np.asarray(quality, dtype=np.float64)
    cost = np.asarray(cost, dtype=np.float64)
    if lam < 0 or math.isnan(lam):
        raise ValueError(f"the trade-off knob must be >= 0, got {lam}")
    if math.isinf(lam):
        return -cost
    return quality - lam * cost


def select_batch(
    quality: np.ndarray, cost: np.ndarray, lam: float, eligible: np.ndarray | None = None
) -> np.ndarray:
    """Index of the best-utility candidate in each row of (n, m) arrays.

    Ties go to the lower cost, then to the higher quality, then to the lower
    index. Rows whose candidates are all ineligible get -1.
    """
    quality = np.atleast_2d(np.asarray(quality, dtype=np.float64))
    cost = np.atleast_2d(np.asarray(cost, dtype=np.float64))
    u = utilities(quality, cost, lam)
    if eligible is not None:
        eligible = np.atleast_2d(np.asarray(eligible, dtype=bool))
        u = np.where(eligible, u, -np.inf)
    best = u.max(axis=1, keepdims=True)
    tied = (u == best) & np.isfinite(u)
    # Lexicographic tie-break: lowest cost, then highest quality, then lowest index.
    key_cost = np.where(tied, cost, np.inf)
    tied &= key_cost == key_cost.min(axis=1, keepdims=True)
    key_q = np.where(tied, quality, -np.inf)
    tied &= key_q == key_q.max(axis=1, keepdims=True)
    choice = np.argmax(tied, axis=1)
    choice[~tied.any(axis=1)] = -1
    return choice


def select(
    quality: np.ndarray, cost: np.ndarray, lam: float, eligible: np.ndarray | None = None
) -> int:
    """Index of the best-utility candidate of one query, or -1 if none is eligible.

    Same choice as ``select_batch`` on one row; a plain loop, because for a
    pool of a dozen models numpy's per-call overhead costs more than the work.
    """
    u = utilities(quality, cost, lam).tolist()
    q, c = (
        np.asarray(quality, dtype=np.float64).tolist(),
        np.asarray(cost, dtype=np.float64).tolist(),
    )
    ok = [True] * len(u) if eligible is None else np.asarray(eligible, dtype=bool).tolist()
    best = -1
    for i, ui in enumerate(u):
        if not ok[i] or ui == -math.inf:
            continue
        if best < 0 or (ui, -c[i], q[i]) > (u[best], -c[best], q[best]):
            best = i
    return best


def rank(
    quality: np.ndarray, cost: np.ndarray, lam: float, eligible: np.ndarray | None = None
) -> list[int]:
    """Eligible candidates from best to worst utility (the fallback order), same tie rules."""
    quality = np.asarray(quality, dtype=np.float64)
    cost = np.asarray(cost, dtype=np.float64)
    u = utilities(quality, cost, lam)
    order = np.lexsort((np.arange(len(u)), -quality, cost, -u))
    if eligible is None:
        return [int(i) for i in order]
    eligible = np.asarray(eligible, dtype=bool)
    return [int(i) for i in order if eligible[i]]
