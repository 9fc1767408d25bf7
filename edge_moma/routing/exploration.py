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

Pure functions over lists (a pool is a dozen models: a plain loop beats
numpy's per-call overhead); the caller supplies the uniform draw, so tests and
benchmarks can seed it and the hot path pays for one ``random()``.

>>> propensities([0.5, 0.45, 0.1], [True, True, True], 0, 0.2, 0.1, [0.0, 1.0, 1.0])
[0.8, 0.2, 0.0]
>>> choose_explored([0.5, 0.45, 0.1], [True, True, True], 0, 0.2, 0.1, [0.0, 1.0, 1.0], 0.15)
Explored(index=1, propensity=0.2, explored=True)
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


def propensities(
    utilities: Sequence[float],
    eligible: Sequence[bool],
    best: int,
    rate: float,
    margin: float,
    uncertainty: Sequence[float],
) -> list[float]:
    """The probability of choosing each candidate: 0 when masked, summing to 1 over the rest."""
    out = [0.0] * len(utilities)
    near = plausible(utilities, eligible, best, margin, uncertainty)
    if not near:
        out[best] = 1.0
        return out
    explore = rate * max(uncertainty[i] for i in near)
    scale = explore / sum(uncertainty[i] for i in near)
    for i in near:
        out[i] = uncertainty[i] * scale
    out[best] = 1.0 - explore
    return out


def choose_explored(
    utilities: Sequence[float],
    eligible: Sequence[bool],
    best: int,
    rate: float,
    margin: float,
    uncertainty: Sequence[float],
    draw: float,
) -> Explored:
    """The candidate a uniform ``draw`` in [0, 1) falls on: the plausible alternatives
    share the bottom of the interval in pool order (``propensities``), the best the rest.

    One pass over the pool, no list of probabilities: this runs on every decision.
    """
    top = utilities[best]
    near = [
        i
        for i, u in enumerate(utilities)
        if i != best and eligible[i] and uncertainty[i] > 0 and u + margin * uncertainty[i] >= top
    ]
    if not near:
        return Explored(best, 1.0, False)
    weights = [uncertainty[i] for i in near]
    explore = rate * max(weights)
    scale = explore / sum(weights)
    if draw < explore:
        edge = 0.0
        for i, w in zip(near, weights, strict=True):
            edge += w * scale
            if draw < edge:
                return Explored(i, w * scale, True)
        return Explored(near[-1], weights[-1] * scale, True)  # rounding at the top edge
    return Explored(best, 1.0 - explore, False)
