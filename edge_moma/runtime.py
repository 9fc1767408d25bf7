"""``Runtime``: the embedded face of edge-moma (the CLI and the daemon call it too).

One request flows: text -> features -> intent/task router -> quality predictor
-> device state, budgets, privacy -> policy -> ``Decision`` -> executor.
``route`` never blocks on I/O: device state is cached by a background thread,
the router bundles are loaded once at start and backends only on first use.

Example::

    with Runtime.from_config() as rt:
        decision = rt.route("what's 15% of 80")
        answer = rt.complete("Name the capital of France.")
        print(answer.target, answer.text)
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .attempt import Attempt
from .bundle_dirs import bundle_dir
from .config import Config, load_config
from .context import RouteContext
from .decision import Decision
from .device import DeviceMonitor
from .errors import (
    AllTargetsFailed,
    LogError,
    RequestError,
    TargetUnavailable,
)
from .log.ledger import DAY_S, MONTH_S, Ledger, MemoryLedger
from .log.sinks import DecisionSink, LogRecord
from .messages import (
    GenerationOptions,
    Messages,
    query_text,
)
from .routing.router import Environment, Router, RouteRequest
from .targets._agent_db import database_path
from .targets.agents import AgentRegistry, AgentTurn
from .targets.backends import Backend, BackendOptions, ChatRequest
from .targets.backends.pool import LocalPool
from .targets.breaker import CircuitBreaker
from .targets.executor import Hooks, Response, ResponseStream, execute
from .targets.kinds import create_backend
from .targets.sessions import SessionManager, SessionStore
from .targets.speed_meter import SpeedMeter

if TYPE_CHECKING:
    from .log.writer import DecisionLog

logger = logging.getLogger(__name__)


class Runtime:
    """Routes and answers requests on the device; a context manager that closes itself."""

    def __init__(
        self,
        config: Config,
        *,
        ledger: Ledger | None = None,
        device: DeviceMonitor | None = None,
    ):
        self.config = config
        self.agents = AgentRegistry(
            config.agents, data_dir=config.data_dir, source=str(config.path)
        )
        self._claims = self.agents.claims()
        self._router = Router.load(config, claims=self._claims)
        self._sinks: list[DecisionSink] = []
        self.decision_log: DecisionLog | None = None
        if config.runtime.log:
            from .log.writer import DecisionLog, LogSettings

            redact = self._router.privacy.redact
            self.decision_log = DecisionLog(LogSettings.from_config(config, redact))
            self._sinks.append(self.decision_log)
        self.ledger: Ledger = ledger or (
            self.decision_log.ledger if self.decision_log else MemoryLedger()
        )
        self.device = device or DeviceMonitor()
        self._traits = {m.name: m.traits() for m in config.models}
        self._declared = {name: traits.declared_speed for name, traits in self._traits.items()}
        self._backends: dict[str, Backend] = {}
        self._unavailable: dict[str, str] = {}
        for model in config.models:
            why = model.unavailable()
            if why:
                self._unavailable[model.name] = why
        self._lock = threading.Lock()
        self.pool = LocalPool(config.runtime.memory_budget_mb)
        self.speeds = SpeedMeter()
        self.breaker = CircuitBreaker(
            config.runtime.circuit_failures, config.runtime.circuit_cooldown_s
        )
        st = config.agent_stage
        store = SessionStore(database_path(config.data_dir)) if st.persist_sessions else None
        self.sessions = SessionManager(
            ttl_s=st.session_ttl_s, follow_up_s=st.follow_up_s, store=store
        )

    @classmethod
    def from_config(cls, path: str | os.PathLike[str] | None = None, **kwargs: Any) -> Runtime:
        """Load the config by the documented search order and start a runtime."""
        return cls(load_config(path), **kwargs)

    # --- routing ------------------------------------------------------------------

    @property
    def router(self) -> Router:
        """The router in use (it changes when ``reload_router`` loads a new one)."""
        return self._router

    @property
    def router_version(self) -> str:
        return self._router.version

    def route(
        self,
        query: str | Messages,
        *,
        context: RouteContext | Mapping[str, Any] | None = None,
    ) -> Decision:
        """Decide who answers ``query``; never blocks on I/O and never raises for a full mask.

        The decision goes to every sink (the decision log, unless ``[runtime] log = false``).
        """
        return self.route_checked([self._router.check(query, context)])[0]

    def route_many(
        self,
        queries: Sequence[str | Messages],
        *,
        contexts: Sequence[RouteContext | Mapping[str, Any] | None] | None = None,
    ) -> list[Decision]:
        """``route`` for several queries in order, with one run of each model for all.

        For a busy caller (the daemon, a batch job): the models' cost per query
        at 8 queries is about a quarter of 8 ``route`` calls, and each decision
        is the one ``route`` makes. Every query is checked first, so a bad one
        (a ``RequestError`` naming its position) decides and logs none.
        """
        if isinstance(queries, str) or not isinstance(queries, Sequence):
            raise RequestError("route_many takes a list of queries; route takes one text")
        if contexts is not None and len(contexts) != len(queries):
            raise RequestError(
                f"{len(contexts)} contexts for {len(queries)} queries; pass one each"
            )
        router, requests = self._router, []
        for i, query in enumerate(queries):
            try:
                requests.append(router.check(query, contexts[i] if contexts is not None else None))
            except RequestError as exc:
                raise RequestError(f"query {i}: {exc}", param=exc.param, code=exc.code) from None
        return self.route_checked(requests) if requests else []

    def route_checked(self, requests: Sequence[RouteRequest]) -> list[Decision]:
        """Decisions for requests already checked with ``router.check``, each handed to
        the sinks (the daemon checks each request as it arrives, then decides a batch)."""
        decisions = self._router.decide_many(requests, self._environment(requests))
        if self._sinks:
            for decision, request in zip(decisions, requests, strict=True):
                self._emit(decision, query_text(request.messages))
        return decisions

    def _environment(self, requests: Sequence[RouteRequest]) -> Environment:
        """What the router is told about the world for these requests, read once."""
        now = time.time()
        sids = {r.context.session_id for r in requests if r.context.session_id}
        return Environment(
            device=self.device.state(),
            now=now,
            spent_today_usd=self.ledger.spent_since(now - DAY_S),
            spent_month_usd=self.ledger.spent_since(now - MONTH_S),
            unavailable={**self.breaker.open_targets(), **self._unavailable},
            speeds=self.speeds.measured(self._declared),
            sessions={sid: self.sessions.get(sid) for sid in sids},
        )

    # --- execution ----------------------------------------------------------------

    def complete(
        self,
        messages_or_text: str | Messages,
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        stop: str | Sequence[str] | None = None,
        options: GenerationOptions | None = None,
        context: RouteContext | Mapping[str, Any] | None = None,
        target: str | None = None,
        cancel: threading.Event | None = None,
    ) -> Response:
        """Route, then answer with the chosen target, falling back down the ranking.

        ``max_tokens`` (256), ``temperature`` (0.2) and ``stop`` override the
        fields of ``options`` (a ``GenerationOptions``). ``target`` pins the first
        choice (the policy's ranking stays as fallback); setting ``cancel`` from
        another thread stops a running generation. Raises ``AllTargetsFailed``
        (with every attempt) if no target answers.
        """
        generation = _options(options, max_tokens, temperature, stop)
        decision, request, backend_for = self._prepare(
            messages_or_text, generation, context, target, cancel
        )
        done = self._done(decision, request)
        try:
            response = execute(
                decision,
                request,
                backend_for,
                deadline_s=decision.context.deadline_s,
                hooks=self._hooks(),
            )
        except AllTargetsFailed as exc:
            done(exc.attempts, None)
            raise
        done(response.attempts, response)
        return response

    def stream(
        self,
        messages_or_text: str | Messages,
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        stop: str | Sequence[str] | None = None,
        options: GenerationOptions | None = None,
        context: RouteContext | Mapping[str, Any] | None = None,
        target: str | None = None,
    ) -> ResponseStream:
        """Route now, then answer piece by piece as the target generates (options as ``complete``).

        Fallback applies until the first piece arrives; after that a failure
        ends the stream with ``StreamInterrupted`` rather than switching
        targets mid-answer. ``.response`` holds the attempts once it ended.

        Example::

            with rt.stream("Tell me a joke.") as answer:
                for piece in answer:
                    print(piece, end="", flush=True)
            print(answer.response.target)
        """
        generation = _options(options, max_tokens, temperature, stop)
        decision, request, backend_for = self._prepare(
            messages_or_text, generation, context, target, None
        )
        return ResponseStream(
            decision,
            request,
            backend_for,
            deadline_s=decision.context.deadline_s,
            hooks=self._hooks(),
            on_done=self._done(decision, request),
        )

    def _prepare(
        self,
        messages_or_text: str | Messages,
        options: GenerationOptions,
        context: RouteContext | Mapping[str, Any] | None,
        target: str | None,
        cancel: threading.Event | None,
    ) -> tuple[Decision, ChatRequest, functools.partial[Backend]]:
        """Validate, route, and build the request and the executor's ``backend_for``."""
        checked = self._router.check(messages_or_text, context, target=target)
        decision = self._router.decide(checked, self._environment([checked]))
        ctx = checked.context
        request = ChatRequest(
            messages=checked.messages,
            max_tokens=options.max_tokens,
            temperature=options.temperature,
            stop=options.stop,
            cancel=cancel,
        )
        return decision, request, self._backend_for(decision, request, ctx)

    def _hooks(self) -> Hooks:
        return Hooks(self._mark_unavailable, self.breaker, self.speeds)

    def _done(
        self, decision: Decision, request: ChatRequest
    ) -> Callable[[Sequence[Attempt], Response | None], None]:
        """What runs once a request ended, whole or streamed: charge the ledger, log
        the decision and its attempts, and move the session on if it was answered."""

        def done(attempts: Sequence[Attempt], response: Response | None = None) -> None:
            self._charge(attempts)
            if self._sinks:
                self._emit(decision, query_text(request.messages), tuple(attempts))
            if response is not None and response.target:
                self._advance_session(decision, response)

        return done

    # --- logging and feedback -----------------------------------------------------

    def add_sink(self, sink: DecisionSink) -> None:
        """Also hand every decision (a ``LogRecord``) to ``sink``; it must not block."""
        self._sinks.append(sink)

    def _emit(self, decision: Decision, text: str, attempts: tuple[Attempt, ...] = ()) -> None:
        record = LogRecord(decision, text, attempts, self._router.features_version)
        for sink in self._sinks:
            try:
                sink(record)
            except Exception:  # a broken sink must never break routing
                logger.exception("decision sink %r failed", sink)

    def feedback(
        self,
        decision_id: str,
        *,
        score: float | None = None,
        correct: bool | None = None,
        note: str | None = None,
        source: str = "app",
    ) -> None:
        """Record how good a decision's answer was (score 0..1 and/or correct) for retraining."""
        from .log.store import Feedback

        checked = Feedback(decision_id, score, correct, source, note).check()
        if self.decision_log is None:
            raise LogError("logging is off ([runtime] log = false); feedback has nowhere to go")
        self.decision_log.add_feedback(checked)

    def reload_router(self) -> bool:
        """Load the router bundles the config resolves to now; True if they changed.

        After ``edge-moma model install`` or ``rollback`` a long-running process
        (the daemon) calls this to route with the new version without a restart.
        """
        dirs = (bundle_dir(self.config, "intent"), bundle_dir(self.config, "routing"))
        if dirs == self._router.bundle_dirs:
            return False
        self._router = Router.load(self.config, claims=self._claims)  # one assignment: atomic
        return True

    def _charge(self, attempts: Sequence[Attempt]) -> None:
        """Add what remote attempts cost to the spend ledger that budgets read."""
        for attempt in attempts:
            if attempt.cost_usd:
                self.ledger.add(attempt.target, attempt.cost_usd)

    def _backend_for(
        self, decision: Decision, request: ChatRequest, ctx: RouteContext
    ) -> functools.partial[Backend]:
        """The executor's ``backend_for``: agents get this turn bound to them."""
        return functools.partial(self._backend, turn=self._agent_turn(decision, request, ctx))

    def _agent_turn(
        self, decision: Decision, request: ChatRequest, ctx: RouteContext
    ) -> AgentTurn | None:
        """What an agent target sees: the session's slots for it, over the context's slots."""
        if decision.stage != "agent" or decision.target is None:
            return None
        sid = decision.context.session_id
        session = self.sessions.get(sid)
        own: Mapping[str, Any] = {}
        if session.agent == decision.target:
            own = session.slots
        elif session.last_agent == decision.target:
            own = session.last_slots
        top = decision.understanding.top_intent if decision.understanding else None
        intent = decision.context.agent_intent or (top.label if top else "")
        slots = {**(ctx.slots or {}), **own}
        return AgentTurn(sid or "", request.messages, intent, slots)

    def _advance_session(self, decision: Decision, response: Response) -> None:
        """Move the session's state machine after a turn was answered."""
        sid = decision.context.session_id
        if not sid:
            return
        extra = response.completion.extra if response.completion else {}
        slots = extra.get("slots")
        if response.target in self.agents and isinstance(slots, dict):
            intent, state = str(extra["intent"]), str(extra["state"])
            self.sessions.agent_replied(sid, response.target, intent, state, slots)
        else:
            agent_failed = decision.stage == "agent" and decision.target in self.agents
            self.sessions.end(sid, "agent_down" if agent_failed else "llm")

    def _backend(self, name: str, turn: AgentTurn | None = None) -> Backend:
        if name in self.agents:  # an agent bound to this turn; the executor cannot tell
            return self.agents.backend(name, turn or AgentTurn("", (), ""))
        with self._lock:
            backend = self._backends.get(name)
            if backend is None:
                model = self.config.model(name)
                if model is None:
                    raise TargetUnavailable("not in the configured pool", target=name)
                options = BackendOptions(
                    threads=self.config.runtime.threads,
                    pool=self.pool,
                    max_queue=self.config.runtime.max_queue,
                )
                backend = create_backend(model, options)
                self._backends[name] = backend
            return backend

    def targets(self) -> list[dict[str, Any]]:
        """Every configured model and agent, with whether it can be used now and why not.

        What ``GET /v1/models`` of the daemon lists; ``queued`` counts requests
        waiting for a local model, ``loaded`` says whether it is in memory.
        """
        blocked = {**self.breaker.open_targets(), **self._unavailable}
        online = self.device.state().online
        loaded = set(self.pool.loaded)
        rows: list[dict[str, Any]] = []
        for m in self.config.models:
            offline = not online and self._traits[m.name].needs_network
            why = blocked.get(m.name) or ("offline" if offline else None)
            backend = self._backends.get(m.name)
            rows.append(
                {
                    "id": m.name,
                    "kind": m.kind,
                    "available": why is None,
                    "reason": why,
                    "loaded": m.name in loaded,
                    "queued": getattr(backend, "queued", 0),
                }
            )
        for a in self.config.agents:
            why = blocked.get(a.name) or (None if a.enabled else "disabled in the config")
            if why is None and "network" in a.requires and not online:
                why = "offline"
            rows.append({"id": a.name, "kind": "agent", "available": why is None, "reason": why})
        return rows

    def _mark_unavailable(self, target: str, why: str) -> None:
        self._unavailable[target] = why

    def close(self) -> None:
        """Free loaded models, stop the device monitor and flush the decision log."""
        with self._lock:
            for backend in self._backends.values():
                backend.close()
            self._backends.clear()
        self.agents.close()
        self.sessions.close()
        self.device.close()
        if self.decision_log is not None:
            self.decision_log.close()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _options(
    options: GenerationOptions | None,
    max_tokens: int | None,
    temperature: float | None,
    stop: str | Sequence[str] | None,
) -> GenerationOptions:
    """``options`` (default: ``GenerationOptions()``) with the keyword arguments given over it."""
    given = {"max_tokens": max_tokens, "temperature": temperature, "stop": stop}
    changes: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
    base = options or GenerationOptions()
    return dataclasses.replace(base, **changes) if changes else base
