"""Exploration in the LLM stage: now and then answer with another plausible model.

A router that only ever sees the outcomes of the model it already prefers
never learns that another would have done as well for less. So the policy
sometimes tries a *plausible* alternative: an eligible candidate whose
optimistic utility — its utility plus ``margin`` times its uncertainty —
reaches the best one's. Uncertainty is 1 for a model the router does not
know (scored by priors) and falls as the router's table gathers outcomes for
it (``QualityPredictor.assess_many``); a candidate known for sure is never
tried. The policy explores with probability ``rate`` times the largest
uncertainty among the plausible alternatives, and picks one of them in
proportion to its uncertainty: a router that knows little explores at
``rate``, one that has learned explores less and less.

The chosen target's *propensity* — the probability the policy had of
choosing it — goes into the decision and the log, so the fleet can learn from
outcomes without the policy's bias (importance weights) and estimate
off-policy what another router would have achieved (``off_policy``).

What exploration never touches: a candidate a hard constraint masked (its
propensity is 0), a pinned target, an agent's turn (the router does not ask
for a draw then), and a decision where every candidate is masked.

**The exploration hint.** Uniform tries give each of nine alternatives a
propensity of about 0.02: the gate, which judges a candidate router exactly
where it disagrees with the installed one, then has a few decisions there,
each weighing ~40, and cannot vouch for a truly better router. A device may
hold a *hint* — a router the fleet refused, published for exploration only
(``training/rollout.py``). Where the hint's greedy choice ``hint`` differs
from ``best``, the policy answers with it with probability ``rate`` and
otherwise follows the policy above: a mixture, so a candidate's propensity is
``rate * [i == hint] + (1 - rate) * p_i`` (weights of about ``1 / rate``
where the gate needs them). The hint never changes ``best`` (the greedy
choice) and never picks a masked candidate (a masked ``hint`` is ignored).

The hint also decides *which* other alternatives are worth a try: ``utilities``
and ``uncertainty`` are then the hint's view (its predictions and its own
table's counts), so a model the fleet has learned is poor for this kind of
query is no longer tried on the installed router's ignorance; how *often* the
device explores still follows the installed router's uncertainty (``pace``).
On the fleet-loop benchmark this kept served quality within 2 points of the
greedy policy's in every round after the first (README, "The fleet loop
benchmark").

Pure functions over lists (a pool is a dozen models: a plain loop beats
numpy's per-call overhead); the caller supplies the uniform draw, so tests and
benchmarks can seed it and the hot path pays for one ``random()``.

>>> propensities([0.5, 0.45, 0.1], [True, True, True], 0, 0.2, 0.1, [0.0, 1.0, 1.0])
[0.8, 0.2, 0.0]
>>> choose_explored([0.5, 0.45, 0.1], [True, True, True], 0, 0.2, 0.1, [0.0, 1.0, 1.0], 0.15)
Explored(index=1, propensity=0.2, explored=True)
>>> [round(p, 6) for p in propensities([0.5, 0.45, 0.1], [True] * 3, 0, 0.2, 0.1, [0, 1, 1], 2)]
[0.64, 0.16, 0.2]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Explored:
    """The candidate the policy answers with, how likely it was, and whether it explored."""

    index: int
    propensity: float
    explored: bool


def plausible(
    utilities: Sequence[float],
    eligible: Sequence[bool],
    best: int,
    margin: float,
    uncertainty: Sequence[float],
) -> list[int]:
    """Eligible alternatives to ``best`` whose utility + margin x uncertainty reaches its."""
    top = utilities[best]
    return [
        i
        for i, u in enumerate(utilities)
        if i != best and eligible[i] and uncertainty[i] > 0 and u + margin * uncertainty[i] >= top
    ]


def _tries(
    near: Sequence[int], rate: float, uncertainty: Sequence[float], pace: Sequence[float] | None
) -> tuple[float, float]:
    """(how often to explore, the uncertainty the ``near`` alternatives share it by): an
    alternative's propensity is ``uncertainty[i] / total * explore``, the share taken
    first so a tiny total cannot overflow ``explore / total``."""
    explore = rate * max((uncertainty if pace is None else pace)[i] for i in near)
    return explore, sum(uncertainty[i] for i in near)


def propensities(
    utilities: Sequence[float],
    eligible: Sequence[bool],
    best: int,
    rate: float,
    margin: float,
    uncertainty: Sequence[float],
    hint: int | None = None,
    pace: Sequence[float] | None = None,
) -> list[float]:
    """The probability of choosing each candidate: 0 when masked, summing to 1 over the rest.

    ``hint``: the hint router's greedy choice (module docstring); a masked one is ignored.
    ``pace``: the uncertainties whose largest over the plausible alternatives scales
    ``rate`` (default ``uncertainty``; with a hint, the installed router's).
    """
    out = [0.0] * len(utilities)
    near = plausible(utilities, eligible, best, margin, uncertainty)
    if not near:
        out[best] = 1.0
    else:
        explore, total = _tries(near, rate, uncertainty, pace)
        for i in near:
            out[i] = uncertainty[i] / total * explore
        out[best] = 1.0 - explore
    if hint is not None and hint != best and eligible[hint]:
        out = [(1.0 - rate) * x for x in out]
        out[hint] += rate
    return out


def choose_explored(
    utilities: Sequence[float],
    eligible: Sequence[bool],
    best: int,
    rate: float,
    margin: float,
    uncertainty: Sequence[float],
    draw: float,
    hint: int | None = None,
    pace: Sequence[float] | None = None,
) -> Explored:
    """The candidate a uniform ``draw`` in [0, 1) falls on: the plausible alternatives
    share the bottom of the interval in pool order (``propensities``), the best the rest;
    with a ``hint`` that differs from ``best``, the hint takes the bottom of it first.

    One pass over the pool, no list of probabilities: this runs on every decision.
    """
    if hint is not None and hint != best and eligible[hint]:
        # Rare (the hint disagrees with the greedy choice): the full list is cheap enough.
        p = propensities(utilities, eligible, best, rate, margin, uncertainty, hint, pace)
        edge = 0.0
        for i in (hint, *(j for j in range(len(p)) if j != hint)):
            edge += p[i]
            if p[i] > 0 and draw < edge:
                return Explored(i, p[i], i != best)
        return Explored(best, p[best], False)  # rounding at the top edge
    return _uniform(utilities, eligible, best, rate, margin, uncertainty, draw, pace)


def _uniform(
    utilities: Sequence[float],
    eligible: Sequence[bool],
    best: int,
    rate: float,
    margin: float,
    uncertainty: Sequence[float],
    draw: float,
    pace: Sequence[float] | None = None,
) -> Explored:
    """``choose_explored`` without a hint's greedy choice to lean to."""
    near = plausible(utilities, eligible, best, margin, uncertainty)
    if not near:
        return Explored(best, 1.0, False)
    weights = [uncertainty[i] for i in near]
    explore, total = _tries(near, rate, uncertainty, pace)
    if draw < explore:
        edge = 0.0
        for i, w in zip(near, weights, strict=True):
            edge += w / total * explore
            if draw < edge:
                return Explored(i, w / total * explore, True)
        return Explored(near[-1], weights[-1] / total * explore, True)  # rounding at the top edge
    return Explored(best, 1.0 - explore, False)
