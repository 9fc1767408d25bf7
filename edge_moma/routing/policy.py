"""The LLM stage's policy: utility against hard constraints.

utility = predicted quality - lambda * cost (USD) [- energy weight * joules on low battery]

``lambda`` comes from the one trade-off knob ``policy.tradeoff`` (1: quality
whatever it costs, 0: the cheapest candidate that passes) and rises as the
day's budget runs out. Hard constraints are small named masks over the
candidates, each saying why it removed one; they are not branches inside one
big function, so a new constraint is one more entry in ``MASKS``.

If every candidate is masked the decision says so and names the least-bad
fallback (the cheapest local model) instead of raising: routing never throws
on the hot path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ..config import Budgets, LocalModel, ModelConfig, Policy, RemoteModel
from ..decision import Candidate
from ..speed import Speed


@dataclass(frozen=True)
class Situation:
    """Everything about this request that the masks and the utility read."""

    battery_percent: float | None
    charging: bool
    online: bool
    deadline_s: float
    prompt_tokens: int
    output_tokens: int
    sensitive_classes: tuple[str, ...] = ()
    spent_today_usd: float = 0.0
    spent_month_usd: float = 0.0
    unavailable: dict[str, str] = field(default_factory=dict)

    @property
    def sensitive(self) -> bool:
        return bool(self.sensitive_classes)


@dataclass(frozen=True)
class Estimate:
    """Predicted figures of one model for one request, before masking."""

    model: ModelConfig
    quality: float
    cost_usd: float
    latency_s: float
    energy_j: float


def declared_speed(model: ModelConfig) -> Speed:
    if isinstance(model, RemoteModel):
        return Speed(model.latency_s, model.tokens_per_s)
    return Speed(model.ttft_s, model.tokens_per_s)


def estimate(
    model: ModelConfig, quality: float, situation: Situation, speed: Speed | None = None
) -> Estimate:
    """Cost, latency and energy of ``model`` answering this request."""
    speed = speed or declared_speed(model)
    latency = speed.ttft_s + situation.output_tokens / speed.tokens_per_s
    if isinstance(model, RemoteModel):
        cost = (
            model.price_in * situation.prompt_tokens + model.price_out * situation.output_tokens
        ) / 1000.0
        energy = 0.0
    else:
        cost = 0.0
        energy = model.joules_per_token * (situation.prompt_tokens + situation.output_tokens)
    return Estimate(model, float(quality), cost, latency, energy)


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


def low_battery(situation: Situation, budgets: Budgets) -> bool:
    return (
        situation.battery_percent is not None
        and not situation.charging
        and situation.battery_percent < budgets.battery_low_percent
    )


# --- masks: each returns why it removes the candidate, or None -------------------

MaskFn = Callable[[Estimate, Situation, Budgets], "str | None"]


def mask_unavailable(e: Estimate, s: Situation, b: Budgets) -> str | None:
    why = s.unavailable.get(e.model.name)
    return f"unavailable: {why}" if why else None


def mask_network(e: Estimate, s: Situation, b: Budgets) -> str | None:
    if isinstance(e.model, RemoteModel) and not s.online:
        return "the device is offline"
    return None


def mask_privacy(e: Estimate, s: Situation, b: Budgets) -> str | None:
    if isinstance(e.model, RemoteModel) and s.sensitive:
        return f"sensitive query ({', '.join(s.sensitive_classes)}) may only run locally"
    return None


def mask_budget(e: Estimate, s: Situation, b: Budgets) -> str | None:
    if e.cost_usd <= 0:
        return None
    day_left = b.daily_usd - s.spent_today_usd
    month_left = b.monthly_usd - s.spent_month_usd
    if e.cost_usd > day_left:
        return f"cost ${e.cost_usd:.5f} exceeds the daily budget left (${max(day_left, 0):.5f})"
    if e.cost_usd > month_left:
        return f"cost ${e.cost_usd:.5f} exceeds the monthly budget left (${max(month_left, 0):.5f})"
    return None


def mask_battery(e: Estimate, s: Situation, b: Budgets) -> str | None:
    if (
        isinstance(e.model, LocalModel)
        and s.battery_percent is not None
        and not s.charging
        and s.battery_percent < b.battery_critical_percent
    ):
        return (
            f"battery {s.battery_percent:.0f}% is below the critical "
            f"{b.battery_critical_percent:.0f}%"
        )
    return None


def mask_latency(e: Estimate, s: Situation, b: Budgets) -> str | None:
    if e.latency_s > s.deadline_s:
        return f"predicted {e.latency_s:.2f} s exceeds the deadline of {s.deadline_s:.2f} s"
    return None


MASKS: tuple[tuple[str, MaskFn], ...] = (
    ("unavailable", mask_unavailable),
    ("network", mask_network),
    ("privacy", mask_privacy),
    ("budget", mask_budget),
    ("battery", mask_battery),
    ("latency", mask_latency),
)


@dataclass(frozen=True)
class Choice:
    """The LLM stage's outcome, ready to go into a ``Decision``."""

    target: str | None
    fallbacks: tuple[str, ...]
    candidates: tuple[Candidate, ...]
    reason: str
    all_masked: bool


def choose(
    estimates: Sequence[Estimate], situation: Situation, policy: Policy, budgets: Budgets
) -> Choice:
    """Mask, score and rank the candidates; deterministic for equal inputs.

    Ties in utility go to the model listed first in the config.
    """
    left = 1.0 - situation.spent_today_usd / budgets.daily_usd if budgets.daily_usd > 0 else 1.0
    lam = tradeoff_lambda(policy.tradeoff, left)
    penalise_energy = low_battery(situation, budgets)
    candidates = []
    for e in estimates:
        utility = e.quality - lam * e.cost_usd
        if penalise_energy and isinstance(e.model, LocalModel):
            utility -= policy.energy_weight * e.energy_j
        masked_by, reason = None, None
        for name, mask in MASKS:
            why = mask(e, situation, budgets)
            if why:
                masked_by, reason = name, why
                break
        candidates.append(
            Candidate(
                target=e.model.name,
                kind=e.model.kind,
                quality=round(e.quality, 6),
                cost_usd=e.cost_usd,
                latency_s=round(e.latency_s, 6),
                energy_j=round(e.energy_j, 6),
                utility=round(utility, 6),
                masked_by=masked_by,
                reason=reason,
            )
        )
    order = sorted(range(len(candidates)), key=lambda i: -candidates[i].utility)
    ranked = [candidates[i] for i in order if candidates[i].eligible]
    if ranked:
        best = ranked[0]
        masked = [c for c in candidates if not c.eligible]
        reason = (
            f"best utility {best.utility:.3f} (quality {best.quality:.2f}, "
            f"${best.cost_usd:.5f}, {best.latency_s:.1f} s) of {len(ranked)} eligible"
        )
        if masked:
            reason += "; masked: " + ", ".join(f"{c.target} ({c.masked_by})" for c in masked)
        return Choice(
            best.target, tuple(c.target for c in ranked[1:]), tuple(candidates), reason, False
        )
    fallback = _least_bad(candidates)
    reason = "every candidate is masked"
    if fallback:
        reason += f"; least-bad fallback: {fallback} (the cheapest local model)"
    return Choice(fallback, (), tuple(candidates), reason, True)


def _least_bad(candidates: Sequence[Candidate]) -> str | None:
    """The cheapest local model (least energy, then latency), else the cheapest remote one."""
    if not candidates:
        return None
    local = [c for c in candidates if c.kind == "local"]
    pool = local or list(candidates)
    return min(pool, key=lambda c: (c.energy_j, c.latency_s, c.cost_usd)).target
