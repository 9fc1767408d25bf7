"""The LLM stage's policy: utility against the hard constraints.

utility = predicted quality - lambda * cost (USD) [- energy weight * joules on low battery]

``lambda`` comes from the one trade-off knob ``policy.tradeoff`` (1: quality
whatever it costs, 0: the cheapest candidate that passes) and rises as the
day's budget runs out. The hard constraints are the named masks of
``constraints.py`` (the agent stage uses the same ones); the ranking is the
one rule of ``utility.py`` (ties go to the lower cost, then the higher
quality, then the model listed first), which the routing benchmark uses too. With
``policy.explore > 0`` and a uniform draw from the caller, ``exploration`` may
answer with another plausible candidate first and records how likely the
chosen one was (``Choice.propensity``); with a hint router's view it also
tries the hint's greedy choice, and the hint's view picks the other
alternatives worth a try (``exploration``'s "exploration hint").

If every candidate is masked the decision says so and names the least-bad
fallback (the cheapest local model) instead of raising: routing never
throws on the hot path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..config import Budgets, Policy
from ..decision import Candidate
from .constraints import ON_DEVICE_MASKS, Estimate, Masks, Situation, first_mask, low_battery
from .exploration import choose_explored
from .utility import order


def tradeoff_lambda(tradeoff: float, budget_left_fraction: float = 1.0) -> float:
    """Quality points given up per USD: 0 at tradeoff 1, about 30 at 0.5, 999 at 0.

    Calls cost $0.0001-$0.01 here, so at the middle of the knob a cent buys up to
    0.3 quality points, and at 0 only calls under a tenth of a cent stay
    competitive with a free local model. A day's budget that is running out
    raises lambda in proportion (down to 5% left, where it is 20x), so spending
    slows before the budget mask stops it.
    """
    base = 10.0 ** (3.0 * (1.0 - tradeoff)) - 1.0
    return base / max(min(budget_left_fraction, 1.0), 0.05)


@dataclass(frozen=True)
class Choice:
    """The LLM stage's outcome, ready to go into a ``Decision``.

    ``propensity`` is the probability the policy had of choosing ``target``
    (1.0 without exploration; ``None`` when every candidate is masked).
    """

    target: str | None
    fallbacks: tuple[str, ...]
    candidates: tuple[Candidate, ...]
    reason: str
    all_masked: bool
    propensity: float | None = None
    explored: bool = False


def choose(
    estimates: Sequence[Estimate],
    situation: Situation,
    policy: Policy,
    budgets: Budgets,
    masks: Sequence[Masks] | None = None,
    draw: float | None = None,
    uncertainty: Sequence[float] | None = None,
    hint_quality: Sequence[float] | None = None,
    hint_uncertainty: Sequence[float] | None = None,
) -> Choice:
    """Mask, score and rank the candidates; deterministic for equal inputs and draw.

    ``masks`` are each estimate's ``masks_for(traits)`` when the caller keeps them.
    ``draw`` (uniform in [0, 1)) lets ``policy.explore`` try another plausible
    candidate (``exploration``), weighted by each one's ``uncertainty`` (0..1,
    default 1); ``None`` never explores. ``hint_quality`` and ``hint_uncertainty``
    (default ``uncertainty``): the hint router's view of each estimate; its best
    eligible candidate by the same rule is the one exploration leans to, and its view
    picks the other alternatives worth a try, while ``uncertainty`` still sets how
    often to explore. It never changes the ranking (the greedy choice).
    """
    left = 1.0 - situation.spent_today_usd / budgets.daily_usd if budgets.daily_usd > 0 else 1.0
    lam = tradeoff_lambda(policy.tradeoff, left)
    penalise_energy = low_battery(situation, budgets)
    candidates, utilities = [], []
    for i, e in enumerate(estimates):
        utility = e.quality - lam * e.cost_usd
        if penalise_energy:
            utility -= policy.energy_weight * e.energy_j
        mask = first_mask(e, situation, budgets, masks[i] if masks is not None else None)
        utilities.append(utility)
        candidates.append(
            Candidate(
                target=e.target,
                kind=e.kind,
                quality=round(e.quality, 6),
                cost_usd=e.cost_usd,
                latency_s=round(e.latency_s, 6),
                energy_j=round(e.energy_j, 6),
                utility=round(utility, 6),
                masked_by=mask[0] if mask else None,
                reason=mask[1] if mask else None,
            )
        )
    ranking = order(
        utilities,
        [e.cost_usd for e in estimates],
        [e.quality for e in estimates],
        [c.eligible for c in candidates],
    )
    ranked = [candidates[i] for i in ranking]
    if ranked:
        best = ranked[0]
        picked, propensity, explored = ranking[0], 1.0, False
        if draw is not None and policy.explore > 0:
            eligible = [c.eligible for c in candidates]
            unsure = [1.0] * len(candidates) if uncertainty is None else uncertainty
            # Without a hint, the installed router's view decides what is worth a try;
            # with one, the hint's (exploration's "exploration hint").
            view, view_unsure, hint = utilities, unsure, None
            if hint_quality is not None:
                view = [
                    u - e.quality + hq
                    for u, e, hq in zip(utilities, estimates, hint_quality, strict=True)
                ]
                view_unsure = unsure if hint_uncertainty is None else hint_uncertainty
                hinted = order(view, [e.cost_usd for e in estimates], hint_quality, eligible)
                hint = hinted[0] if hinted else None
            pick = choose_explored(
                view,
                eligible,
                ranking[0],
                policy.explore,
                policy.explore_margin,
                view_unsure,
                draw,
                hint,
                pace=unsure,
            )
            picked, propensity, explored = pick.index, pick.propensity, pick.explored
        masked = [c for c in candidates if not c.eligible]
        reason = (
            f"best utility {best.utility:.3f} (quality {best.quality:.2f}, "
            f"${best.cost_usd:.5f}, {best.latency_s:.1f} s) of {len(ranked)} eligible"
        )
        if explored:
            reason = f"explored {candidates[picked].target} (p={propensity:.3f}); {reason}"
        if masked:
            reason += "; masked: " + ", ".join(f"{c.target} ({c.masked_by})" for c in masked)
        return Choice(
            candidates[picked].target,
            tuple(candidates[i].target for i in ranking if i != picked),
            tuple(candidates),
            reason,
            False,
            round(propensity, 6),
            explored,
        )
    here = {e.target for e in estimates if e.traits.on_device}
    fallback = least_bad(candidates, here.__contains__)
    reason = "every candidate is masked"
    if fallback:
        reason += f"; least-bad fallback: {fallback} (the cheapest local model)"
    elif candidates:
        reason += "; no local model to fall back to, and no other may see this request"
    return Choice(fallback, (), tuple(candidates), reason, True)


def least_bad(candidates: Sequence[Candidate], on_device: Callable[[str], bool]) -> str | None:
    """The cheapest model on the device (least energy, then latency), else the cheapest
    other one that no privacy or network mask removed; None if there is none."""
    pool = [c for c in candidates if c.masked_by not in ON_DEVICE_MASKS]
    pool = [c for c in pool if on_device(c.target)] or pool
    if not pool:
        return None
    return min(pool, key=lambda c: (c.energy_j, c.latency_s, c.cost_usd)).target
