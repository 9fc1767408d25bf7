"""Quality-cost curves and the figures read off them (RouterBench AIQ, RouteLLM APGR/CPT).

Kept apart from the benchmark driver (``routing_eval``) so the arithmetic can
be checked against hand-computed cases without training anything.

A router swept over the trade-off knob gives points (mean cost, mean quality).
Mixing two operating points at random reaches any point on the segment between
them, so what a router can achieve is the *non-decreasing upper convex hull*
of its points; every figure here reads that hull:

* ``aiq``: the hull's area over the cost range ``[c_lo, c_hi]`` divided by its
  width (RouterBench). The hull is extended flat to ``c_hi`` and counts as 0
  below the router's cheapest point.
* ``cost_to_reach``: the lowest cost at which the hull reaches a quality.
* ``quality_within``: the best hull quality at or below a cost.
* ``apgr`` / ``cpt`` (RouteLLM, two-model pools): with x = share of calls to the
  stronger model, PGR(x) = (q(x) - q_weak) / (q_strong - q_weak) on the
  piecewise-linear curve through the points plus both single models;
  APGR = mean of PGR over x in [0, 1], CPT(p) = least x with PGR(x) >= p.
"""

from __future__ import annotations

import numpy as np


def upper_hull(costs: np.ndarray, qualities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vertices (sorted by cost) of the non-decreasing upper convex hull of the points.

    >>> upper_hull(np.array([1.0, 2.0, 3.0]), np.array([0.5, 0.55, 0.9]))
    (array([1., 3.]), array([0.5, 0.9]))
    """
    c = np.asarray(costs, dtype=np.float64)
    q = np.asarray(qualities, dtype=np.float64)
    if c.shape != q.shape or c.ndim != 1 or not len(c):
        raise ValueError("costs and qualities must be non-empty 1-d arrays of one length")
    order = np.lexsort((-q, c))
    hull: list[tuple[float, float]] = []
    for x, y in zip(c[order], q[order], strict=True):
        if hull and y <= hull[-1][1]:
            continue  # costs no less and is no better: dominated
        while len(hull) >= 2:
            (x1, y1), (x2, y2) = hull[-2], hull[-1]
            # Drop the middle vertex when it lies on or below the chord to the new point.
            if (y2 - y1) * (x - x1) <= (y - y1) * (x2 - x1):
                hull.pop()
            else:
                break
        hull.append((float(x), float(y)))
    xs, ys = zip(*hull, strict=True)
    return np.array(xs), np.array(ys)


def hull_value(xs: np.ndarray, ys: np.ndarray, cost: float) -> float:
    """Quality of the hull at ``cost``: 0 below its first vertex, flat after its last."""
    if cost < xs[0]:
        return 0.0
    return float(np.interp(cost, xs, ys))


def aiq(costs: np.ndarray, qualities: np.ndarray, c_lo: float, c_hi: float) -> float:
    """Area under the hull over ``[c_lo, c_hi]`` divided by ``c_hi - c_lo``."""
    if not c_hi > c_lo:
        raise ValueError(f"the cost range must be non-empty, got [{c_lo}, {c_hi}]")
    xs, ys = upper_hull(costs, qualities)
    lo = max(c_lo, float(xs[0]))  # the hull counts as 0 below its first vertex
    if lo >= c_hi:
        return 0.0
    grid = np.unique(np.concatenate([[lo, c_hi], xs[(xs > lo) & (xs < c_hi)]]))
    vals = np.interp(grid, xs, ys)  # flat beyond the last vertex
    area = float(np.sum((vals[1:] + vals[:-1]) / 2 * np.diff(grid)))
    return float(area / (c_hi - c_lo))


def cost_to_reach(costs: np.ndarray, qualities: np.ndarray, target: float) -> float | None:
    """Least cost at which the hull reaches ``target`` quality, or ``None`` if it never does."""
    xs, ys = upper_hull(costs, qualities)
    if ys[-1] < target:
        return None
    if ys[0] >= target:
        return float(xs[0])
    i = int(np.argmax(ys >= target))
    x1, x2, y1, y2 = xs[i - 1], xs[i], ys[i - 1], ys[i]
    return float(x1 + (target - y1) * (x2 - x1) / (y2 - y1))


def quality_within(costs: np.ndarray, qualities: np.ndarray, budget: float) -> float | None:
    """Best hull quality at a mean cost <= ``budget``; ``None`` if no point is that cheap."""
    xs, ys = upper_hull(costs, qualities)
    if budget < xs[0]:
        return None
    return hull_value(xs, ys, budget)


def _pgr_curve(
    shares: np.ndarray, qualities: np.ndarray, q_weak: float, q_strong: float
) -> tuple[np.ndarray, np.ndarray]:
    if q_strong == q_weak:
        raise ValueError("APGR is undefined when both models have the same quality")
    x = np.concatenate([[0.0, 1.0], np.asarray(shares, dtype=np.float64)])
    q = np.concatenate([[q_weak, q_strong], np.asarray(qualities, dtype=np.float64)])
    # One quality per share (the best point at that share), then sorted by share.
    order = np.lexsort((-q, x))
    x, q = x[order], q[order]
    keep = np.concatenate([[True], np.diff(x) > 0])
    return x[keep], (q[keep] - q_weak) / (q_strong - q_weak)


def apgr(shares: np.ndarray, qualities: np.ndarray, q_weak: float, q_strong: float) -> float:
    """Mean performance-gap recovered over the share of strong-model calls in [0, 1]."""
    x, pgr = _pgr_curve(shares, qualities, q_weak, q_strong)
    return float(np.sum((pgr[1:] + pgr[:-1]) / 2 * np.diff(x)))


def cpt(
    shares: np.ndarray, qualities: np.ndarray, q_weak: float, q_strong: float, target: float
) -> float:
    """Least share of strong-model calls whose PGR reaches ``target`` (0.5 for CPT(50%))."""
    x, pgr = _pgr_curve(shares, qualities, q_weak, q_strong)
    i = int(np.argmax(pgr >= target))  # pgr[-1] is 1 at x = 1, so some point qualifies
    if i == 0:
        return float(x[0])
    x1, x2, p1, p2 = x[i - 1], x[i], pgr[i - 1], pgr[i]
    return float(x1 + (target - p1) * (x2 - x1) / (p2 - p1))
