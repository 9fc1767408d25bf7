"""A pin (the caller naming its target) and what it may override.

A pin is a request, not a way around the device's rules. It overrides the
preferences: the policy's ranking, the latency mask (a prediction; the
request's deadline still bounds the attempt at run time) and the agent
stage's own judgement of a turn (``confidence``, ``out_of_scope``,
``declined``, ``session``). It never lifts a rule: ``privacy`` and
``network`` (text stays on the device), ``unavailable`` (the target cannot
answer now), ``budget`` and ``battery`` (the owner's limits), and an agent's
``disabled``, ``permission`` and ``context``.

A pinned target a rule masks gives way to the best eligible on-device target
(an on-device agent or a local model, in the policy's order): the caller asked
for one target, so a masked pin never sends the request to another one off
the device. The reason names the rule. With ``target_only`` the request fails
with ``TargetMasked`` instead, and an unmasked pin gets no fallbacks.

Example::

    pin("gpt-4o", False, ("calculator", "smol", "gpt-4o"), candidates, on_device, reason)

``on_device`` says whether a target runs on the device (its ``TargetTraits``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..decision import Candidate
from ..errors import TargetMasked
from .policy import least_bad

LIFTED_BY_A_PIN = frozenset({"latency", "confidence", "out_of_scope", "declined", "session"})


def pin(
    target: str,
    only: bool,
    ranking: Sequence[str],
    candidates: Sequence[Candidate],
    on_device: Callable[[str], bool],
    reason: str,
) -> tuple[str | None, tuple[str, ...], str]:
    """(target, fallbacks, reason) of a decision pinned to ``target``.

    ``ranking`` is the unpinned decision's (agent first, then the LLM ranking);
    ``on_device`` says whether a target runs on the device.
    """
    masked = next((c for c in candidates if c.target == target and not _lifted(c)), None)
    if masked is None:
        rest = () if only else tuple(t for t in ranking if t != target)
        return target, rest, f"pinned to {target} by the caller; policy: {reason}"
    why = f"{target} is masked by {masked.masked_by} ({masked.reason})"
    if only:
        raise TargetMasked(
            f"{why}; the caller asked for {target} only (target_only), so nothing was sent. "
            "Without target_only the request goes to the best eligible on-device target",
            target=target,
            masked_by=str(masked.masked_by),
        )
    local = [t for t in ranking if on_device(t)]
    if not local:  # the least-bad model on the device, if there is one
        models = [c for c in candidates if c.kind != "agent" and on_device(c.target)]
        fallback = least_bad(models, on_device)
        local = [fallback] if fallback else []
    if not local:
        where = "no on-device target can take it"
    elif any(c.target == local[0] and c.eligible for c in candidates):
        where = f"the request goes to the best eligible on-device target, {local[0]}"
    else:
        where = f"no on-device target is eligible; the least-bad one, {local[0]}, takes it"
    reason = f"pinned to {target} by the caller, but {why}: {where}; policy: {reason}"
    return (local[0] if local else None), tuple(local[1:]), reason


def _lifted(candidate: Candidate) -> bool:
    return candidate.masked_by is None or candidate.masked_by in LIFTED_BY_A_PIN
