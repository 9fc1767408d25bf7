"""The agent stage: can an agent take this turn now? (MoMA's first question.)

Each turn masks the configured agents with the hard constraints every target
meets (``constraints.MASKS``: disabled, unavailable, network, privacy,
permission, context, budget, battery, latency; the LLM stage uses the same
list), then with the stage's own, in order; the first that fires says why the
agent is excluded:

    session      another agent holds this session's dialog
    out_of_scope the intent router judged the query out of scope
    confidence   its intents' confidence is below its threshold

An agent's confidence is the summed confidence of its intents among the
query's top intents (so "time" vs "timezone" confusion inside the clock agent
costs nothing). A built-in agent may also *claim* a query its own parser
recognises ("what is 100 multiplied by 55", which a bag-of-words intent model
may call out of scope): the claim lifts it to its threshold, never above an
agent the intent router is confident about. The stage takes the
highest-confidence unmasked agent; the
agent holding an active dialog keeps follow-ups without any threshold until
the user cancels or the intent router is confident that the subject changed.
Otherwise the turn goes to LLM routing, and the ``Decision`` still carries
every agent's mask. Pure and I/O-free: a few microseconds a turn.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from ..agents.base import CANCEL_INTENT
from ..config import AgentConfig, Budgets
from ..decision import Candidate, Understanding
from ..errors import ConfigError
from ..session import Session
from .constraints import Situation, estimate, first_mask, masks_for
from .intent import OOS

SessionAction = Literal[
    "none", "start", "continue", "follow_up", "cancel", "subject_change", "agent_down"
]

_CANCEL = re.compile(
    r"^\W*(?:oh\s+)?(?:never\s*mind|nevermind|forget\s+(?:it|about\s+it|that)|"
    r"stop(?:\s+(?:it|that))?|cancel(?:\s+(?:it|that|this))?|abort|quit|no\s+thanks?)"
    r"(?:\s+(?:please|then|now))?\W*$",
    re.IGNORECASE,
)
_FOLLOW_UP = re.compile(
    r"^\W*(?:and|or|but|also|then|now|what about|how about|in|into|to|make it|same for)\b|"
    r"\b(?:too|instead|as well|again)\W*$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class AgentChoice:
    """The agent stage's verdict: an agent (``target``) or ``None`` for LLM routing."""

    target: str | None
    intent: str
    confidence: float
    reason: str
    candidates: tuple[Candidate, ...]
    session_action: SessionAction = "none"


def is_cancel(text: str) -> bool:
    """Whether the whole turn calls the dialog off ("never mind", "stop", "cancel that")."""
    return bool(_CANCEL.match(text))


_NO_TOKENS = Situation(None, True, True, 0.0, 0, 0)


class _Agent:
    """An agent's config with its traits and intents precomputed."""

    __slots__ = ("config", "name", "intents", "threshold", "traits", "masks", "figures")

    def __init__(self, config: AgentConfig, domains: Mapping[str, Sequence[str]], default: float):
        self.config = config
        self.name = config.name
        intents = set(config.intents)
        for d in config.domains:
            intents.update(domains.get(d, ()))
        self.intents = frozenset(intents)
        self.threshold = config.threshold or default
        self.traits = config.traits()
        self.masks = masks_for(self.traits)
        # A flat cost_usd and latency_s: the same for every request, estimated once.
        self.figures = estimate(self.name, "agent", self.traits, 0.0, _NO_TOKENS)


# A reply of one or two words ("Lisbon", "at 7") answers the question the waiting
# agent asked: it never ends the dialog, however sure the intent router is of a
# fragment it was not trained to read alone.
SWITCH_MIN_WORDS = 3


class AgentStage:
    """Masks agents and picks one per turn; built once from the config."""

    def __init__(
        self,
        agents: Sequence[AgentConfig],
        *,
        threshold: float = 0.2,
        switch_confidence: float = 0.8,
        domains: Mapping[str, Sequence[str]] | None = None,
        claims: Mapping[str, Callable[[str], bool]] | None = None,
        budgets: Budgets | None = None,
    ):
        """``claims``: agent name -> a test for queries its own parser plainly recognises
        (``AgentRegistry.claims``); a claim lifts the agent to its threshold even when
        the intent router is unsure or calls the query out of scope. ``budgets`` are
        what the budget mask reads (the config's ``[budgets]``)."""
        self.threshold = threshold
        self.budgets = budgets or Budgets()
        self._claims = dict(claims or {})
        self.switch_confidence = switch_confidence
        self._agents = [_Agent(a, domains or {}, threshold) for a in agents]
        self._by_name = {a.name: a for a in self._agents}
        self._owners: dict[str, list[_Agent]] = {}
        for a in self._agents:
            for label in a.intents:
                self._owners.setdefault(label, []).append(a)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._by_name)

    def owner_of(self, intent: str) -> str | None:
        """The first enabled agent that handles ``intent`` (for reports and benchmarks)."""
        return next(
            (a.name for a in self._agents if a.config.enabled and intent in a.intents), None
        )

    def select(
        self,
        understanding: Understanding,
        text: str,
        situation: Situation,
        session: Session | None = None,
        follow_up_agent: str | None = None,
    ) -> AgentChoice:
        """Mask the agents for this turn and pick the one that takes it, if any.

        ``follow_up_agent`` is the agent a follow-up may return to (the session's
        active agent, or the one that just finished); ``Session.follow_up_agent``.
        """
        confs: dict[str, tuple[float, str]] = {}  # agent -> (summed confidence, best intent)
        for s in understanding.intents:  # best first, so the first intent seen is the best
            for owner in self._owners.get(s.label, ()):
                total, best_intent = confs.get(owner.name, (0.0, s.label))
                confs[owner.name] = (total + s.confidence, best_intent)
        top = understanding.top_intent
        active = session.agent if session is not None and session.active else None
        holder: _Agent | None = None
        action: SessionAction = "none"
        switched = ""
        if follow_up_agent and follow_up_agent in self._by_name:
            candidate = self._by_name[follow_up_agent]
            own = top is not None and top.label in candidate.intents
            # An agent waiting for an answer keeps the turn unless the user clearly
            # turns to another agent: "call the plumber" answering "what should I
            # remind you about?" is not a phone call, whatever the intent router says.
            confident_elsewhere = (
                not understanding.out_of_scope
                and top is not None
                and top.confidence >= self.switch_confidence
                and len(text.split()) >= SWITCH_MIN_WORDS
                and not own
                and any(o.config.enabled for o in self._owners.get(top.label, ()))
            )
            if active == follow_up_agent:
                if is_cancel(text) or (
                    top is not None
                    and top.label == CANCEL_INTENT
                    and not understanding.out_of_scope
                ):
                    holder, action = candidate, "cancel"
                elif confident_elsewhere:
                    action = "subject_change"
                    switched = f"; the subject changed ({top.label} {top.confidence:.2f})"  # type: ignore[union-attr]
                else:
                    holder, action = candidate, "continue"
            elif not confident_elsewhere and _FOLLOW_UP.search(text):
                holder, action = candidate, "follow_up"

        candidates = []
        best: tuple[float, _Agent, str] | None = None
        holder_mask: tuple[str, str] | None = None
        for a in self._agents:
            conf, intent = confs.get(a.name, (0.0, ""))
            figures = a.figures
            mask = first_mask(figures, situation, self.budgets, a.masks)
            if mask is None and holder is not None and a is not holder:
                mask = ("session", f"{holder.name} holds this session's dialog")
            claim = self._claims.get(a.name)
            claimed = (
                claim is not None
                and mask is None
                and a is not holder
                and (conf < a.threshold or understanding.out_of_scope)
                and claim(text)
            )
            if claimed:
                conf, intent = max(conf, a.threshold), intent or min(a.intents)
            if mask is None and a is not holder:
                if understanding.out_of_scope and not claimed:
                    mask = ("out_of_scope", "the intent router judged the query out of scope")
                elif conf < a.threshold:
                    mask = (
                        "confidence",
                        f"confidence {conf:.2f} is below its threshold {a.threshold:.2f}"
                        if conf > 0
                        else "none of its intents is among the query's top intents",
                    )
            if a is holder:
                holder_mask = mask
            candidates.append(
                Candidate(
                    target=a.name,
                    kind="agent",
                    quality=conf,
                    cost_usd=figures.cost_usd,
                    latency_s=figures.latency_s,
                    energy_j=figures.energy_j,
                    utility=conf,
                    masked_by=mask[0] if mask else None,
                    reason=mask[1] if mask else None,
                )
            )
            if mask is None and (best is None or conf > best[0]):
                best = (conf, a, intent)

        if holder is not None:
            if holder_mask is not None:
                return AgentChoice(
                    None,
                    "",
                    0.0,
                    f"{holder.name} held the dialog but is masked ({holder_mask[0]}: "
                    f"{holder_mask[1]}); the dialog ends and LLM routing takes the turn",
                    tuple(candidates),
                    "agent_down" if action != "follow_up" else "none",
                )
            conf, intent = confs.get(holder.name, (0.0, ""))
            if action == "cancel":
                intent = CANCEL_INTENT
            elif conf < holder.threshold:  # no intent of its own: the dialog's intent
                intent = (session.intent if session is not None else None) or intent
            why = {
                "cancel": "the user cancelled the dialog",
                "continue": "continues the active dialog",
                "follow_up": "takes a follow-up to the dialog it just finished",
            }[action]
            return AgentChoice(
                holder.name, intent, conf, f"{holder.name} {why}", tuple(candidates), action
            )
        if best is None:
            return AgentChoice(
                None,
                "",
                0.0,
                "no agent can take the turn" + switched,
                tuple(candidates),
                "subject_change" if switched else "none",
            )
        conf, agent, intent = best
        return AgentChoice(
            agent.name,
            intent,
            conf,
            f"{agent.name} handles {intent} (confidence {conf:.2f} >= {agent.threshold:.2f})"
            + switched,
            tuple(candidates),
            "subject_change" if switched else "start",
        )


def check_intents(
    agents: Sequence[AgentConfig],
    labels: Collection[str],
    domains: Collection[str],
    *,
    bundle: str,
    source: str = "",
) -> None:
    """Refuse an enabled agent whose ``intents`` (or ``domains``) the intent bundle lacks.

    Such an agent would never be chosen for what it is meant for, or worse,
    claim unrelated queries; ``oos`` (out of scope) is no agent's to take.
    """
    for i, a in enumerate(agents):
        if not a.enabled:
            continue
        for key, wanted, known in (("intents", a.intents, labels), ("domains", a.domains, domains)):
            bad = [x for x in wanted if x not in known or x == OOS]
            if bad:
                hints = "; ".join(_hint(x, known) for x in bad)
                raise ConfigError(
                    f"agent {a.name!r} names {key} the intent bundle {bundle} cannot route to "
                    f"it: {hints}. Fix the names, set enabled = false, or use a bundle with them",
                    path=source or None,
                    key_path=f"agents[{i}].{key}",
                )


def _hint(name: str, known: Collection[str]) -> str:
    """``name`` with why it cannot be used: the close matches among ``known``, if any."""
    if name == OOS:
        return f"{name!r} (the out-of-scope label)"
    close = difflib.get_close_matches(name, [k for k in known if k != OOS], n=3)
    if close:
        return f"{name!r} (not a label; did you mean {' or '.join(map(repr, close))}?)"
    return f"{name!r} (not a label, nothing close)"
