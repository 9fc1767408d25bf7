"""``Router``: checked requests and a snapshot of the world in, ``Decision``s out.

The whole request path, pure: no I/O, no threads, nothing kept between calls
but the seeded random stream that exploration draws from.
Built once from the router bundles and the config; each call gets the requests
(messages + a checked ``RouteContext``) and an ``Environment`` the caller read
for them (device state, spend, unavailable targets, measured speeds, the
dialogs of their sessions). Batch-first: ``decide_many`` runs each model once
for all requests, then each later stage over the whole batch (a stage's code
stays in the CPU's caches; a batch of 6 was 10-15% cheaper a request), at
most ``MAX_MODEL_BATCH`` requests per model run.

With ``[policy] explore > 0`` the LLM stage now and then answers with another
plausible model (``exploration.py``) and the decision records the propensity
of its choice; the draws come from the router's own ``random.Random``, seeded
with ``explore_seed`` for benchmarks and tests. An agent's turn and a pinned
target never draw. An exploration ``hint`` (a second routing bundle the fleet
published for exploration only) runs only when exploration is on, and only
steers which alternative is tried: the greedy choice is always ``quality``'s.

::

    text -> features -> intent + task (ONNX) -> quality of every model (ONNX)
         -> situation (context, device, budgets, privacy) -> agent stage | LLM stage
         -> Decision (target, ranked fallbacks, every candidate's figures and mask)

``Runtime``, the daemon's batcher (through the runtime) and
``scripts/bench_routing.py`` all decide with it.

Example::

    router = Router.load(config)
    request = router.check("what's 15% of 80")
    [decision] = router.decide_many([request], Environment(DeviceState(), time.time()))
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from ..bundle_dirs import BundleKind, bundle_dir, hint_bundle_dir, shipped_bundle_dir
from ..config import Config
from ..context import RouteContext
from ..decision import Decision, DecisionContext, Stage, Understanding
from ..device import DeviceState
from ..errors import BundleError, RequestError, TargetMasked
from ..messages import Messages, estimate_tokens, normalize_messages, query_text
from ..session import Session
from ..speed import Speed
from .agent_stage import AgentChoice, AgentStage, check_intents
from .constraints import ON_DEVICE_MASKS, Situation, estimate, masks_for
from .intent import IntentRouter
from .pinning import pin
from .policy import Choice, choose
from .privacy import PrivacyRules
from .quality import QualityPredictor

logger = logging.getLogger(__name__)
_T = TypeVar("_T")
_NO_CONTEXT = RouteContext()
_NO_SESSION = Session(id="")
# Queries per run of the router's models. Past about 8 a batch saves little more, and
# ONNX Runtime keeps the memory of the largest batch it ran for good: the daemon at 64
# clients decided up to 64 at once and its RSS grew by about 40 MB (128: 80 MB).
MAX_MODEL_BATCH = 16


@dataclass(frozen=True)
class RouteRequest:
    """One request, checked (``Router.check``): its messages and its context."""

    messages: tuple[dict[str, str], ...]
    context: RouteContext = _NO_CONTEXT


@dataclass(frozen=True)
class Environment:
    """What the world looks like for a batch of requests, read once by the caller.

    ``unavailable`` names targets that cannot be used now and why (failed to
    load, circuit open); ``speeds`` holds the measured speed of targets that
    have answered on this device; ``sessions`` the dialogs of the batch's
    session ids (an id not in it is a new dialog).
    """

    device: DeviceState
    now: float
    spent_today_usd: float = 0.0
    spent_month_usd: float = 0.0
    unavailable: Mapping[str, str] = field(default_factory=dict)
    speeds: Mapping[str, Speed] = field(default_factory=dict)
    sessions: Mapping[str, Session] = field(default_factory=dict)


class Router:
    """Decides who answers; built from the bundles and the config, pure afterwards."""

    def __init__(
        self,
        config: Config,
        intent: IntentRouter,
        quality: QualityPredictor,
        *,
        claims: Mapping[str, Callable[[str], float]] | None = None,
        bundle_dirs: tuple[Path, Path] | None = None,
        explore_seed: int | None = None,
        hint: QualityPredictor | None = None,
    ):
        """``claims``: agent name -> its claim function (``AgentStage``: how surely the
        agent's own parser reads a request, 0..1); ``bundle_dirs``: where ``intent``
        and ``quality`` came from; ``explore_seed`` seeds exploration's draws;
        ``hint`` the exploration hint (``exploration.py``), never used for greedy choices."""
        self.config = config
        self._explorer = random.Random(explore_seed)
        self.intent = intent
        self.quality = quality
        self.hint = hint
        self.bundle_dirs = bundle_dirs
        # The logging policy: the hint shapes exploration's propensities, so a decision
        # names it (an audit of an off-policy estimate asks which policy logged what).
        self.version = f"intent:{intent.version}+routing:{quality.version}" + (
            f"+hint:{hint.version}" if hint is not None and config.policy.explore > 0 else ""
        )
        self.privacy = PrivacyRules(config.policy.privacy)
        self._same_features = intent.featurizer == quality.featurizer
        self._models = config.models
        self._traits = [m.traits() for m in config.models]
        self._masks = [masks_for(t) for t in self._traits]
        self._names = {m.name for m in config.models} | {a.name for a in config.agents}
        self._agents = {a.name for a in config.agents}
        self._on_device = frozenset(
            [m.name for m, t in zip(config.models, self._traits, strict=True) if t.on_device]
            + [a.name for a in config.agents if a.traits().on_device]
        )
        check_intents(  # before anything routes with this bundle
            config.agents,
            intent.labels,
            intent.card.get("domains") or {},
            bundle=f"{intent.version} ({bundle_dirs[0]})" if bundle_dirs else intent.version,
            source=str(config.path),
        )
        st = config.agent_stage
        self.agent_stage = AgentStage(
            config.agents,
            threshold=st.threshold,
            switch_confidence=st.switch_confidence,
            domains=intent.card.get("domains") or {},
            claims=claims,
            budgets=config.budgets,
        )

    @classmethod
    def load(
        cls,
        config: Config,
        *,
        claims: Mapping[str, Callable[[str], float]] | None = None,
        explore_seed: int | None = None,
    ) -> Router:
        """Load the router bundles the config resolves to (``bundle_dirs.bundle_dir``).

        An installed bundle (``edge-moma model install``) that this edge-moma cannot
        run, such as one exported by an older version, gives way to the shipped one
        with a warning, so that upgrading never stops routing; a bundle named in
        ``[router]`` is the user's explicit choice, and its error stands.
        """
        intent_dir, intent = _load_bundle(config, "intent", IntentRouter.load)
        routing_dir, quality = _load_bundle(config, "routing", QualityPredictor.load)
        return cls(
            config,
            intent,
            quality,
            claims=claims,
            bundle_dirs=(intent_dir, routing_dir),
            explore_seed=explore_seed,
            hint=_load_hint(config),
        )

    @property
    def features_version(self) -> int:
        """The featurizer version of the intent bundle (the decision log records it)."""
        return self.intent.featurizer.version

    def knows(self, target: str) -> bool:
        """Whether ``target`` is a configured model or agent."""
        return target in self._names

    def check(
        self,
        query: str | Messages,
        context: RouteContext | Mapping[str, Any] | None = None,
        *,
        target: str | None = None,
    ) -> RouteRequest:
        """``query`` and ``context`` checked: ``RequestError`` says what to fix.

        ``target`` pins the first choice as the context's ``target`` does (and wins).
        """
        ctx = _context(context)
        if target is not None:
            ctx = dataclasses.replace(ctx, target=target)
        if ctx.target is not None and not self.knows(ctx.target):
            known = [m.name for m in self.config.models] + [a.name for a in self.config.agents]
            raise RequestError(f"unknown target {ctx.target!r}; known: {known}", param="target")
        return RouteRequest(normalize_messages(query), ctx)

    def decide(self, request: RouteRequest, env: Environment) -> Decision:
        return self.decide_many([request], env)[0]

    def decide_many(self, requests: Sequence[RouteRequest], env: Environment) -> list[Decision]:
        """Decisions for checked requests: the models run once for every
        ``MAX_MODEL_BATCH`` of them.

        A pin with ``target_only`` that a rule masks raises ``TargetMasked``;
        in a batch its message names the query's position in ``requests``.
        """
        numbered = len(requests) > 1
        return [
            decision
            for start in range(0, len(requests), MAX_MODEL_BATCH)
            for decision in self._decide_batch(
                requests[start : start + MAX_MODEL_BATCH], env, start if numbered else None
            )
        ]

    def _decide_batch(
        self, requests: Sequence[RouteRequest], env: Environment, first: int | None
    ) -> list[Decision]:
        """``decide_many`` for at most ``MAX_MODEL_BATCH`` requests, the first of them
        at position ``first`` of the caller's batch (``None``: a lone request)."""
        intent, quality, models = self.intent, self.quality, self._models
        texts = [query_text(r.messages) for r in requests]
        rows = [intent.featurizer.indices(t) for t in texts]
        understandings = intent.understand_many(rows)
        explore = self.config.policy.explore > 0
        routing_rows = (
            rows if self._same_features else [quality.featurizer.indices(t) for t in texts]
        )
        uncertainty: list[list[float] | None]
        if explore:  # exploration also reads how sure the router is of each model
            known, known_unsure = quality.assess_many(routing_rows)
            uncertainty = [quality.pool_uncertainty(u, models) for u in known_unsure]
        else:
            known, uncertainty = quality.known_quality_many(routing_rows), [None] * len(rows)
        qualities = [
            quality.score_pool(k, models, task=u.task)
            for k, u in zip(known, understandings, strict=True)
        ]
        situations = [
            self._situation(r, text, env) for r, text in zip(requests, texts, strict=True)
        ]
        speeds = [env.speeds.get(m.name) for m in models]
        policy, budgets, traits, masks = (
            self.config.policy,
            self.config.budgets,
            self._traits,
            self._masks,
        )
        agents = [
            self._agent_stage(understanding, text, situation, r.context, env)
            for understanding, text, situation, r in zip(
                understandings, texts, situations, requests, strict=True
            )
        ]
        # Exploration only where the LLM policy decides: no agent turn, no pin.
        free = [
            not a.target and not r.context.target for a, r in zip(agents, requests, strict=True)
        ]
        hinted: list[tuple[list[float], list[float]] | None] = [None] * len(rows)
        if explore and self.hint is not None and any(free):
            hint, which = self.hint, [i for i, f in enumerate(free) if f]
            same = hint.featurizer == quality.featurizer
            hint_rows = [
                routing_rows[i] if same else hint.featurizer.indices(texts[i]) for i in which
            ]
            for i, k, u in zip(which, *hint.assess_many(hint_rows), strict=True):
                hinted[i] = (
                    hint.score_pool(k, models, task=understandings[i].task).tolist(),
                    hint.pool_uncertainty(u, models),
                )
        draw = self._explorer.random
        choices = [
            choose(
                [
                    estimate(m.name, m.kind, t, float(q), situation, speed)
                    for m, t, q, speed in zip(models, traits, row, speeds, strict=True)
                ],
                situation,
                policy,
                budgets,
                masks,
                draw() if explore and exploring else None,
                unsure,
                *(hint_row or (None, None)),  # the hint's quality and uncertainty
            )
            for row, situation, exploring, unsure, hint_row in zip(
                qualities, situations, free, uncertainty, hinted, strict=True
            )
        ]
        decisions = []
        for i, (text, r, understanding, situation, agent, choice) in enumerate(
            zip(texts, requests, understandings, situations, agents, choices, strict=True)
        ):
            try:
                decisions.append(
                    self._decision(text, r.context, understanding, situation, agent, choice, env)
                )
            except TargetMasked as exc:  # a pin with target_only that a rule masks
                if first is None:
                    raise
                raise TargetMasked(
                    f"query {first + i}: {exc}", target=exc.target, masked_by=exc.masked_by
                ) from None
        return decisions

    def _situation(self, request: RouteRequest, text: str, env: Environment) -> Situation:
        ctx, state = request.context, env.device
        # Every message goes to the target, so every message is judged, not only the
        # last user message that routing reads. A caller may mark a request sensitive,
        # never unmark one: the config's privacy rules are the device owner's.
        sensitive = self.privacy.classes(*(m["content"] for m in request.messages))
        if ctx.sensitive and not sensitive:
            sensitive = ("caller",)
        return Situation(
            battery_percent=(
                ctx.battery_percent if ctx.battery_percent is not None else state.battery_percent
            ),
            charging=ctx.charging if ctx.charging is not None else state.charging,
            online=ctx.online if ctx.online is not None else state.online,
            deadline_s=ctx.deadline_s
            if ctx.deadline_s is not None
            else self.config.budgets.deadline_s,
            prompt_tokens=sum(estimate_tokens(m["content"]) for m in request.messages),
            output_tokens=ctx.expected_output_tokens or self.config.policy.expected_output_tokens,
            sensitive_classes=sensitive,
            spent_today_usd=env.spent_today_usd,
            spent_month_usd=env.spent_month_usd,
            unavailable=env.unavailable,
            permissions=frozenset(ctx.permissions or ()),
            context_slots=frozenset(ctx.slots or {}),
        )

    def _agent_stage(
        self,
        understanding: Understanding,
        text: str,
        situation: Situation,
        ctx: RouteContext,
        env: Environment,
    ) -> AgentChoice:
        """MoMA's first question: may an agent take this turn now? (``agent_stage.py``)."""
        sid = ctx.session_id
        session = (env.sessions.get(sid) or Session(id=sid)) if sid else _NO_SESSION
        follow_up = session.follow_up_agent(env.now, self.config.agent_stage.follow_up_s)
        return self.agent_stage.select(understanding, text, situation, session, follow_up)

    def _decision(
        self,
        text: str,
        ctx: RouteContext,
        understanding: Understanding,
        situation: Situation,
        agent: AgentChoice,
        choice: Choice,
        env: Environment,
    ) -> Decision:
        """One request's decision from its agent stage, its LLM ranking and its pin."""
        target, fallbacks, reason = choice.target, choice.fallbacks, choice.reason
        stage: Stage = "llm"
        candidates = agent.candidates + choice.candidates
        if agent.target:  # agents first: the LLM ranking becomes the agent's fallbacks
            target, fallbacks = agent.target, tuple(t for t in (target, *fallbacks) if t)
            stage = "agent"
            reason = f"agent stage: {agent.reason}"
        elif self._agents:
            reason = f"{reason}; agent stage: {agent.reason}"
        if ctx.target is not None:
            ranking = (target, *fallbacks) if target else fallbacks
            target, fallbacks, reason = pin(
                ctx.target,
                bool(ctx.target_only),
                ranking,
                candidates,
                self._on_device.__contains__,
                reason,
            )
            stage = "agent" if target in self._agents else "llm"
        if situation.sensitive or not situation.online:
            # The one guarantee every path above keeps, checked once more here: text
            # goes to no target that a privacy or network mask removed.
            barred = {c.target for c in candidates if c.masked_by in ON_DEVICE_MASKS}
            if target in barred or barred.intersection(fallbacks):
                kept = [t for t in (target, *fallbacks) if t and t not in barred]
                target, fallbacks = (kept[0] if kept else None), tuple(kept[1:])
                stage = "agent" if target in self._agents else "llm"
        chosen_by_policy = (
            stage == "llm"
            and ctx.target is None
            and not choice.all_masked
            and target == choice.target
        )
        return Decision(
            id=os.urandom(16).hex(),  # 128 random bits like uuid4().hex, a fifth of its cost
            created=env.now,
            stage=stage,
            target=target,
            fallbacks=fallbacks,
            reason=reason,
            candidates=candidates,
            understanding=understanding,
            all_masked=choice.all_masked and stage == "llm",
            context=DecisionContext(
                battery_percent=situation.battery_percent,
                charging=situation.charging,
                online=situation.online,
                deadline_s=situation.deadline_s,
                sensitive=situation.sensitive_classes,
                prompt_tokens=situation.prompt_tokens,
                output_tokens=situation.output_tokens,
                query_sha256=hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest(),
                session_id=ctx.session_id,
                agent_intent=agent.intent,
                session_action=agent.session_action,
            ),
            router_version=self.version,
            propensity=choice.propensity if chosen_by_policy else None,
            explored=choice.explored and chosen_by_policy,
        )


def _context(context: RouteContext | Mapping[str, Any] | None) -> RouteContext:
    if context is None:
        return _NO_CONTEXT
    if isinstance(context, RouteContext):
        return context
    return RouteContext.from_dict(context)  # checks every key and value


def _load_hint(config: Config) -> QualityPredictor | None:
    """The installed exploration hint (``edge-moma model install`` of a hint release), if
    any and if exploration is on; one that cannot be loaded is skipped with a warning."""
    path = hint_bundle_dir(config)
    if path is None or config.policy.explore <= 0:
        return None
    try:
        return QualityPredictor.load(path)
    except BundleError as exc:
        logger.warning("the exploration hint cannot be used (%s); exploring without it", exc)
        return None


def _load_bundle(config: Config, kind: BundleKind, load: Callable[[Path], _T]) -> tuple[Path, _T]:
    path = bundle_dir(config, kind)
    try:
        return path, load(path)
    except BundleError as exc:
        shipped = shipped_bundle_dir(kind)
        setting = config.router.intent_model if kind == "intent" else config.router.routing_model
        if setting or path == shipped:
            raise
        logger.warning(
            "the installed %s router cannot be used (%s); routing with the shipped one. "
            "Install one built by this edge-moma, or run: edge-moma model rollback",
            kind,
            exc,
        )
        return path, load(shipped)
