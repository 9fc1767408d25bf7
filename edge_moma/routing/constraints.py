"""The hard constraints, one list for both stages: named masks over target traits.

Each request is described once (``Situation``: device, deadline, privacy,
spend, what the request grants), each target once (``Estimate``: its traits
and predicted cost, latency and energy for this request). The masks below run
in order over agents (the agent stage) and models (the LLM stage) alike; the
first that fires removes the target and says why::

    disabled     the config switched it off
    unavailable  its file is missing, it failed to load, or its circuit breaker is open
    network      it needs the network and the device is offline
    privacy      the query is sensitive and the target may not see it (off the device,
                 or sensitive_ok = false)
    permission   a "permission:NAME" it requires was not granted for this request
    context      a "slot:NAME" it requires is not in the request's context
    budget       its estimated cost exceeds the daily or monthly budget left
    battery      it drains the battery and the battery is critical, not charging
    latency      its predicted latency exceeds the deadline

A new constraint is one function and one entry in ``MASKS`` (with the traits it
can concern, so other targets skip it); it reads ``TargetTraits``
(``traits.py``), never a config class.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from ..config import Budgets
from ..speed import Speed
from ..traits import TargetTraits


@dataclass(frozen=True)
class Situation:
    """Everything about one request that the masks and the utility read."""

    battery_percent: float | None
    charging: bool
    online: bool
    deadline_s: float
    prompt_tokens: int
    output_tokens: int
    sensitive_classes: tuple[str, ...] = ()
    spent_today_usd: float = 0.0
    spent_month_usd: float = 0.0
    unavailable: Mapping[str, str] = field(default_factory=dict)
    permissions: frozenset[str] = frozenset()  # granted to targets that require them
    context_slots: frozenset[str] = frozenset()  # the names of the request's context slots

    @property
    def sensitive(self) -> bool:
        return bool(self.sensitive_classes)


class Estimate(NamedTuple):
    """One target's predicted figures for one request, before masking (a tuple: one is
    built for every target of every request, so it must cost next to nothing)."""

    target: str
    kind: str
    traits: TargetTraits
    quality: float
    cost_usd: float
    latency_s: float
    energy_j: float


def estimate(
    target: str,
    kind: str,
    traits: TargetTraits,
    quality: float,
    situation: Situation,
    speed: Speed | None = None,
) -> Estimate:
    """Cost, latency and energy of ``target`` answering this request.

    ``speed`` is the measured one when the target has answered on this device,
    else the declared ``traits.declared_speed``.
    """
    if speed is None:
        ttft, tps = traits.ttft_s, traits.tokens_per_s
    else:
        ttft, tps = speed.ttft_s, speed.tokens_per_s
    prompt, output = situation.prompt_tokens, situation.output_tokens
    cost = (
        traits.usd_per_call
        + (traits.usd_per_1k_in * prompt + traits.usd_per_1k_out * output) / 1000.0
    )
    latency = ttft + output / tps
    energy = traits.joules_per_token * (prompt + output)
    return Estimate(target, kind, traits, float(quality), cost, latency, energy)


def low_battery(situation: Situation, budgets: Budgets) -> bool:
    """Below ``battery_low_percent`` and not charging: energy costs utility."""
    return (
        situation.battery_percent is not None
        and not situation.charging
        and situation.battery_percent < budgets.battery_low_percent
    )


# --- masks: each returns why it removes the target, or None ------------------------

Mask = Callable[[Estimate, Situation, Budgets], "str | None"]


def mask_disabled(e: Estimate, s: Situation, b: Budgets) -> str | None:
    return None if e.traits.enabled else "enabled = false in the config"


def mask_unavailable(e: Estimate, s: Situation, b: Budgets) -> str | None:
    return s.unavailable.get(e.target) or None


def mask_network(e: Estimate, s: Situation, b: Budgets) -> str | None:
    return "the device is offline" if e.traits.needs_network and not s.online else None


def mask_privacy(e: Estimate, s: Situation, b: Budgets) -> str | None:
    if not s.sensitive or e.traits.sensitive_ok:
        return None
    classes = ", ".join(s.sensitive_classes)
    if e.traits.leaves_device:
        return f"sensitive query ({classes}) may only run locally"
    return f"sensitive query ({classes}) and sensitive_ok = false"


def mask_permission(e: Estimate, s: Situation, b: Budgets) -> str | None:
    missing = next((p for p in e.traits.permissions if p not in s.permissions), None)
    return None if missing is None else f"requires permission {missing!r}, not granted"


def mask_context(e: Estimate, s: Situation, b: Budgets) -> str | None:
    missing = next((n for n in e.traits.slots if n not in s.context_slots), None)
    return None if missing is None else f"requires context slot {missing!r}, not provided"


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
        e.traits.drains_battery
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


def _always(t: TargetTraits) -> bool:
    return True


def _priced(t: TargetTraits) -> bool:
    return t.usd_per_call > 0 or t.usd_per_1k_in > 0 or t.usd_per_1k_out > 0


# The masks that keep text on the device: a target either removed is never tried,
# not as the least-bad fallback, not pinned (``pinning.py``), not as a fallback.
ON_DEVICE_MASKS = frozenset({"network", "privacy"})

# (name, mask, which traits it can ever fire for): the last part lets each target
# skip, once and for all, the masks that cannot concern it (masks_for).
MASKS: tuple[tuple[str, Mask, Callable[[TargetTraits], bool]], ...] = (
    ("disabled", mask_disabled, lambda t: not t.enabled),
    ("unavailable", mask_unavailable, _always),
    ("network", mask_network, lambda t: t.needs_network),
    ("privacy", mask_privacy, lambda t: not t.sensitive_ok),
    ("permission", mask_permission, lambda t: bool(t.permissions)),
    ("context", mask_context, lambda t: bool(t.slots)),
    ("budget", mask_budget, _priced),
    ("battery", mask_battery, lambda t: t.drains_battery),
    ("latency", mask_latency, _always),
)
Masks = tuple[tuple[str, Mask], ...]


@functools.lru_cache(maxsize=256)
def masks_for(traits: TargetTraits) -> Masks:
    """The masks of ``MASKS`` that can remove a target with ``traits``, in order."""
    return tuple((name, mask) for name, mask, applies in MASKS if applies(traits))


def first_mask(
    e: Estimate, s: Situation, b: Budgets, masks: Masks | None = None
) -> tuple[str, str] | None:
    """The name of the first mask that removes ``e`` and why, or None if none does.

    ``masks`` is ``masks_for(e.traits)``, which a caller that routes the same
    target many times computes once.
    """
    for name, mask in masks_for(e.traits) if masks is None else masks:
        why = mask(e, s, b)
        if why:
            return name, why
    return None
