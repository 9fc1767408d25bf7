"""The agent stage: can an agent take this turn now? (MoMA's first question.)

Each turn masks the configured agents with the hard constraints every target
meets (``constraints.MASKS``: disabled, unavailable, network, privacy,
permission, context, budget, battery, latency; the LLM stage uses the same
list), then with the stage's own, in order; the first that fires says why the
agent is excluded:

    session      another agent holds this session's dialog
    declined     the agent's own parser cannot read the request (its claim is 0)
    out_of_scope the intent router judged the query out of scope
    confidence   its score is below its threshold

The claim rule, one for every agent. An agent's *evidence* is the summed
confidence of its intents among the query's top intents (so "time" vs
"timezone" confusion inside the clock agent costs nothing), or 0 when the
intent router judged the query out of scope. An agent may also have a
*claim*: ``claim(text) -> float`` in 0..1, how surely its own parser reads
the request (``agents.base``: the built-in agents answer ``CERTAIN`` 1.0,
``POSSIBLE`` 0.1 or ``CANNOT`` 0). Then::

    claim is None (no claim function,  score = evidence
      or a turn over 160 characters)
    claim == 0                         masked "declined": it cannot parse the request
    otherwise                          score = max(evidence, claim)

and the agent may take the turn when ``score >= threshold``, except that a claim
below its evidence (the parser reads the request only in part: ``POSSIBLE``)
leaves the decision to the intent router, which must then prefer the agent:
its evidence at least the confidence of the strongest intent no agent serves
("set the bedroom lights to 10 percent at 11 pm" is more smart home than
calculator, "what's the forecast for the next 10 days" more weather than
date). So an agent that cannot read a request declines it however sure the
intent router is ("tell the vacuum to clean the kitchen" is not a to-do
item), and an agent that reads it with certainty takes it however unsure the
router is ("nine times seven"), always within the masks above. Built-in agents have claims; a
Python plug-in may declare one (``agents.plugins``); HTTP agents have none,
since the stage never does I/O. The stage takes the highest-scoring unmasked
agent (equal scores: the one with more evidence, then the first configured); the
agent holding an active dialog keeps follow-ups without any threshold or
claim until the user cancels or the intent router is confident that the
subject changed. Otherwise the turn goes to LLM routing, and the
``Decision`` still carries every agent's mask. Pure and I/O-free: a few
microseconds a turn.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from ..agents.base import CANCEL_INTENT
from ..config import AgentConfig, Budgets
from ..decision import Candidate, IntentScore, Understanding
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


def _claimed(claim: Callable[[str], float], text: str) -> float | None:
    """A claim in 0..1; ``None`` (no opinion) when a plug-in's claim fails or is not a number."""
    try:
        value = claim(text)
        if value.__class__ is float and 0.0 <= value <= 1.0:
            return value  # the common case, checked cheaply: the stage asks every turn
        value = float(value)
    except Exception:  # a plug-in's bug must not break routing: it just has no say
        return None
    return None if value != value else min(1.0, max(0.0, value))  # NaN: no say


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
# Shared zero-score candidates kept (agent x mask; bounded all the same).
_ZERO_CACHE = 256
# Claims are asked of turns up to this long: commands to an agent are short (CLINC150's
# longest is 136 characters), and a claim parser reading a 2,000-character prompt cost
# milliseconds. Longer turns: no claim, the intent router's evidence alone decides.
MAX_CLAIM_CHARS = 160
_VARYING = frozenset({"budget", "unavailable"})  # their reasons hold figures or errors


class AgentStage:
    """Masks agents and picks one per turn; built once from the config."""

    def __init__(
        self,
        agents: Sequence[AgentConfig],
        *,
        threshold: float = 0.2,
        switch_confidence: float = 0.8,
        domains: Mapping[str, Sequence[str]] | None = None,
        claims: Mapping[str, Callable[[str], float]] | None = None,
        budgets: Budgets | None = None,
    ):
        """``claims``: agent name -> its claim function (``AgentRegistry.claims``), combined
        with the intent router's evidence by the claim rule in the module docstring;
        ``budgets`` are what the budget mask reads (the config's ``[budgets]``)."""
        self.threshold = threshold
        self.budgets = budgets or Budgets()
        self._claims = dict(claims or {})
        self.switch_confidence = switch_confidence
        self._agents = [_Agent(a, domains or {}, threshold) for a in agents]
        self._by_name = {a.name: a for a in self._agents}
        self._zero: dict[tuple[str, tuple[str, str] | None], Candidate] = {}
        self._owners: dict[str, list[_Agent]] = {}
        for a in self._agents:
            for label in a.intents:
                self._owners.setdefault(label, []).append(a)
        self._served = frozenset(i for a in self._agents if a.config.enabled for i in a.intents)

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
        best: tuple[float, float, _Agent, str] | None = None  # score, evidence, agent, intent
        holder_mask: tuple[str, str] | None = None
        for a in self._agents:
            conf, intent = confs.get(a.name, (0.0, ""))
            evidence = 0.0 if understanding.out_of_scope else conf
            figures = a.figures
            mask = first_mask(figures, situation, self.budgets, a.masks)
            if mask is None and holder is not None and a is not holder:
                mask = ("session", f"{holder.name} holds this session's dialog")
            if mask is None and a is not holder:
                conf, mask = self._score(a, conf, understanding, text)
            if a is holder:
                holder_mask = mask
            candidates.append(self._candidate(a, conf, mask))
            if mask is None and (best is None or (conf, evidence) > best[:2]):
                best = (conf, evidence, a, intent)  # equal scores: the router's evidence decides

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
        conf, evidence, agent, intent = best
        why = (
            f"{agent.name} handles {intent} (confidence {conf:.2f} >= {agent.threshold:.2f})"
            if conf <= evidence
            else f"{agent.name} reads the request itself (claim {conf:.2f} >= "
            f"{agent.threshold:.2f}; intent evidence {evidence:.2f})"
        )
        return AgentChoice(
            agent.name,
            intent,
            conf,
            why + switched,
            tuple(candidates),
            "subject_change" if switched else "start",
        )

    def _candidate(self, a: _Agent, conf: float, mask: tuple[str, str] | None) -> Candidate:
        """The agent's entry in the decision. Most turns give most agents score 0 with the
        same mask; those entries are immutable and shared, since building one costs
        several microseconds (a frozen dataclass) and the stage runs on every turn."""
        key = (a.name, mask) if conf == 0.0 and (mask is None or mask[0] not in _VARYING) else None
        if key is not None:
            cached = self._zero.get(key)
            if cached is not None:
                return cached
        figures = a.figures
        candidate = Candidate(
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
        if key is not None and len(self._zero) < _ZERO_CACHE:
            self._zero[key] = candidate
        return candidate

    def _rival(self, understanding: Understanding) -> IntentScore | None:
        """The strongest intent no enabled agent serves (intents come best first)."""
        for s in understanding.intents:
            if s.label not in self._served:
                return s
        return None

    def _score(
        self,
        a: _Agent,
        evidence: float,
        understanding: Understanding,
        text: str,
    ) -> tuple[float, tuple[str, str] | None]:
        """The claim rule: the agent's score and, if it cannot take the turn, why."""
        out_of_scope = understanding.out_of_scope
        if out_of_scope:
            evidence = 0.0
        claim = self._claims.get(a.name)
        said = None if claim is None or len(text) > MAX_CLAIM_CHARS else _claimed(claim, text)
        if said is not None and said <= 0.0:
            return 0.0, ("declined", "declined: its parser cannot read the request (claim 0)")
        score = evidence if said is None else max(evidence, said)
        if score >= a.threshold:
            if said is None or said >= score:
                return score, None
            # a weak claim: the strongest intent no agent serves must not outweigh the agent
            rival = self._rival(understanding)
            if rival is None or evidence >= rival.confidence:
                return score, None
            return score, (
                "confidence",
                f"its parser reads the request only in part (claim {said:.2f}) and the intent "
                f"router prefers {rival.label} ({rival.confidence:.2f}) to its intents "
                f"({evidence:.2f})",
            )
        if out_of_scope:
            return score, ("out_of_scope", "the intent router judged the query out of scope")
        return score, (
            "confidence",
            f"confidence {score:.2f} is below its threshold {a.threshold:.2f}"
            if score > 0
            else "none of its intents is among the query's top intents",
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
