"""The one rule that turns predicted quality and cost into a ranking.

``utility = quality - lam * cost``: ``lam`` is the trade-off knob (0 = best
predicted quality whatever it costs, ``math.inf`` = cheapest). Candidates are
ranked by utility; **ties go to the lower cost, then to the higher quality,
then to the candidate listed first** (the config's order), so a query gets the
same choice on every run and every machine.

The runtime's LLM stage (``policy.choose``) ranks with ``order``; the routing
benchmark (``training/routing_eval.py``) chooses for thousands of queries at
once with ``select_batch``, the same rule on arrays, so the curve the benchmark
draws is the one the product walks along (a test holds the two to the same
choices, ties included).

>>> import numpy as np
>>> select(np.array([0.9, 0.7]), np.array([1.0, 0.1]), lam=0.5)
1
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

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


def order(
    utility: Sequence[float],
    cost: Sequence[float],
    quality: Sequence[float],
    eligible: Sequence[bool] | None = None,
) -> list[int]:
    """Indices of the eligible candidates, best first: THE ranking rule (module docstring).

    A candidate whose utility is not finite is never eligible. Plain Python:
    for a pool of a dozen, numpy's per-call overhead costs more than the work.
    """
    return sorted(_eligible(utility, eligible), key=_rule(utility, cost, quality))


def _rule(
    utility: Sequence[float], cost: Sequence[float], quality: Sequence[float]
) -> Callable[[int], tuple[float, float, float, int]]:
    """The sort key of candidate ``i``: higher utility, lower cost, higher quality, first."""
    return lambda i: (-utility[i], cost[i], -quality[i], i)


def _eligible(utility: Sequence[float], eligible: Sequence[bool] | None) -> list[int]:
    ok = range(len(utility)) if eligible is None else [i for i, e in enumerate(eligible) if e]
    return [i for i in ok if math.isfinite(utility[i])]


def _lists(
    quality: np.ndarray, cost: np.ndarray, lam: float, eligible: np.ndarray | None
) -> tuple[list[float], list[float], list[float], list[bool] | None]:
    """(utility, cost, quality, eligible) of one query as lists, for ``order`` and ``select``."""
    u = utilities(quality, cost, lam).tolist()
    c = np.asarray(cost, dtype=np.float64).tolist()
    q = np.asarray(quality, dtype=np.float64).tolist()
    return u, c, q, None if eligible is None else np.asarray(eligible, dtype=bool).tolist()


def rank(
    quality: np.ndarray, cost: np.ndarray, lam: float, eligible: np.ndarray | None = None
) -> list[int]:
    """Eligible candidates of one query from best to worst utility (the fallback order)."""
    return order(*_lists(quality, cost, lam, eligible))


def select(
    quality: np.ndarray, cost: np.ndarray, lam: float, eligible: np.ndarray | None = None
) -> int:
    """Index of the best candidate of one query (``rank(...)[0]``), or -1 if none is eligible."""
    u, c, q, ok = _lists(quality, cost, lam, eligible)
    best, best_key = -1, None
    for i, ui in enumerate(u):  # one pass, the rule's key: min(_eligible(...), key=_rule(...))
        if (ok is None or ok[i]) and math.isfinite(ui):
            key = (-ui, c[i], -q[i])
            if best_key is None or key < best_key:
                best, best_key = i, key
    return best


def select_batch(
    quality: np.ndarray, cost: np.ndarray, lam: float, eligible: np.ndarray | None = None
) -> np.ndarray:
    """``select`` for each row of (n, m) arrays at once (the same rule, vectorised).

    Rows whose candidates are all ineligible get -1.
    """
    quality = np.atleast_2d(np.asarray(quality, dtype=np.float64))
    cost = np.atleast_2d(np.asarray(cost, dtype=np.float64))
    u = utilities(quality, cost, lam)
    if eligible is not None:
        eligible = np.atleast_2d(np.asarray(eligible, dtype=bool))
        u = np.where(eligible, u, -np.inf)
    u = np.where(np.isfinite(u), u, -np.inf)
    best = u.max(axis=1, keepdims=True)
    tied = (u == best) & np.isfinite(u)
    # The tie-break of ``order``: lowest cost, then highest quality, then lowest index.
    key_cost = np.where(tied, cost, np.inf)
    tied &= key_cost == key_cost.min(axis=1, keepdims=True)
    key_q = np.where(tied, quality, -np.inf)
    tied &= key_q == key_q.max(axis=1, keepdims=True)
    choice = np.argmax(tied, axis=1)
    choice[~tied.any(axis=1)] = -1
    return choice
