"""``Targets``: given a decision, produce an answer (or a stream), with fallback.

Everything that answers lives here, behind one object the runtime composes:
the configured models' backends (created on first use through the kinds
registry, local ones within the memory budget), the agents bound to a turn,
the dialog sessions they move along, the executor's fallback down the
decision's ranking, the circuit breaker and the speed meter. What the router
must know of them is read as a snapshot: ``unavailable()``, ``measured_speeds()``,
``sessions()``. Every execution is tracked until it ends, so ``close`` can end
one still running (a thread stuck in a target that does not answer): its
``on_done`` gets the attempts so far, the current one ended "cancelled: ...".

Example::

    targets = Targets(config)
    response = targets.complete(decision, messages, GenerationOptions(), RouteContext())
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ..attempt import Attempt
from ..config import Config
from ..context import RouteContext
from ..decision import Decision
from ..errors import AllTargetsFailed, TargetUnavailable
from ..messages import GenerationOptions
from ..session import Session
from ..speed import Speed
from ._agent_db import database_path
from .agents import AgentRegistry, AgentTurn
from .backends import Backend, BackendOptions, ChatRequest
from .backends.pool import LocalPool
from .breaker import CircuitBreaker
from .executor import CANCELLED, Hooks, Progress, Response, ResponseStream, execute
from .kinds import create_backend
from .sessions import SessionManager, SessionStore
from .speed_meter import SpeedMeter

Done = Callable[[tuple[Attempt, ...], Response | None], None]


class Targets:
    """The configured models and agents, answering decisions; closed with the runtime."""

    def __init__(self, config: Config):
        self.config = config
        self._agents = AgentRegistry(
            config.agents, data_dir=config.data_dir, source=str(config.path)
        )
        self._traits = {m.name: m.traits() for m in config.models}
        self._traits.update({a.name: a.traits() for a in config.agents})
        self._declared = {m.name: self._traits[m.name].declared_speed for m in config.models}
        self._backends: dict[str, Backend] = {}
        self._unavailable: dict[str, str] = {}
        self._config_problems: dict[str, str] = {}  # masks check_config set, and why
        self.check_config()
        self._lock = threading.Lock()
        self._running: dict[object, tuple[Progress, Done]] = {}  # executions not ended yet
        rt, st = config.runtime, config.agent_stage
        self._pool = LocalPool(rt.memory_budget_mb)
        self._speeds = SpeedMeter()
        self._breaker = CircuitBreaker(rt.circuit_failures, rt.circuit_cooldown_s)
        store = SessionStore(database_path(config.data_dir)) if st.persist_sessions else None
        self._sessions = SessionManager(
            ttl_s=st.session_ttl_s, follow_up_s=st.follow_up_s, store=store
        )

    def check_config(self) -> None:
        """Mask each model its config entry says cannot run now (``unavailable()``: a file
        not found, an API key variable not set) and lift the mask of one that can again.

        At start and when the runtime reloads: routing never reads the environment.
        """
        for m in self.config.models:
            why = m.unavailable()
            if why:
                self._config_problems[m.name] = self._unavailable[m.name] = why
            elif m.name in self._config_problems:
                old = self._config_problems.pop(m.name)
                if self._unavailable.get(m.name) == old:
                    del self._unavailable[m.name]

    # --- what the router reads ------------------------------------------------------

    def claims(self) -> dict[str, Callable[[str], float]]:
        """Built-in agents' tests for queries their parser plainly recognises (``AgentStage``)."""
        return self._agents.claims()

    def unavailable(self) -> dict[str, str]:
        """Targets that cannot be used now, and why: failed to load, or circuit open."""
        return {**self._breaker.open_targets(), **self._unavailable}

    def measured_speeds(self) -> dict[str, Speed]:
        """The speed of every model that has answered on this device (``SpeedMeter``)."""
        return self._speeds.measured(self._declared)

    def sessions(self, session_ids: Iterable[str]) -> dict[str, Session]:
        """The dialog of each session id now (a fresh one for an unknown or expired id)."""
        return {sid: self._sessions.get(sid) for sid in session_ids}

    def session(self, session_id: str) -> Session:
        return self._sessions.get(session_id)

    # --- answering ------------------------------------------------------------------

    def complete(
        self,
        decision: Decision,
        messages: tuple[dict[str, str], ...],
        options: GenerationOptions,
        context: RouteContext,
        *,
        cancel: threading.Event | None = None,
        on_done: Done | None = None,
    ) -> Response:
        """Answer with the decision's target, falling back down its ranking.

        ``on_done(attempts, response)`` runs once it ended, answered or not
        (``response`` is None when every target failed: ``AllTargetsFailed``).
        """
        request = _request(messages, options, cancel)
        progress = Progress()
        done = self._done(decision, on_done, progress)
        try:
            response = execute(
                decision,
                request,
                self._backend_for(decision, request, context),
                deadline_s=decision.context.deadline_s,
                hooks=self._hooks(),
                progress=progress,
            )
        except AllTargetsFailed as exc:
            done(exc.attempts, None)
            raise
        except BaseException as exc:  # a bug in a target: still logged, never left running
            done(progress.cut_short(f"failed: {exc!r}"), None)
            raise
        done(response.attempts, response)
        return response

    def stream(
        self,
        decision: Decision,
        messages: tuple[dict[str, str], ...],
        options: GenerationOptions,
        context: RouteContext,
        *,
        cancel: threading.Event | None = None,
        on_done: Done | None = None,
    ) -> ResponseStream:
        """``complete`` piece by piece: fallback until the first piece, never after it."""
        request = _request(messages, options, cancel)
        progress = Progress()
        return ResponseStream(
            decision,
            request,
            self._backend_for(decision, request, context),
            deadline_s=decision.context.deadline_s,
            hooks=self._hooks(),
            on_done=self._done(decision, on_done, progress),
            progress=progress,
        )

    def _hooks(self) -> Hooks:
        return Hooks(self._mark_unavailable, self._breaker, self._speeds)

    def _mark_unavailable(self, target: str, why: str) -> None:
        self._unavailable[target] = why

    def _done(self, decision: Decision, on_done: Done | None, progress: Progress) -> Done:
        """The caller's ``on_done``, then the session moved on if the turn was answered.

        Until then the execution is in ``_running``: ``close`` ends one still
        running as cancelled, and its own ``done`` then does nothing.
        """
        key = object()
        with self._lock:
            self._running[key] = (progress, on_done or _ignore)

        def done(attempts: tuple[Attempt, ...], response: Response | None) -> None:
            with self._lock:
                if self._running.pop(key, None) is None:
                    return  # ended by close() as cancelled
            if on_done is not None:
                on_done(attempts, response)
            if response is not None and response.target:
                self._advance_session(decision, response)

        return done

    def _backend_for(
        self, decision: Decision, request: ChatRequest, context: RouteContext
    ) -> functools.partial[Backend]:
        """The executor's ``backend_for``: agents get this turn bound to them."""
        return functools.partial(self._backend, turn=self._agent_turn(decision, request, context))

    def _agent_turn(
        self, decision: Decision, request: ChatRequest, context: RouteContext
    ) -> AgentTurn | None:
        """What an agent target sees: the session's slots for it, over the context's slots."""
        if decision.stage != "agent" or decision.target is None:
            return None
        sid = decision.context.session_id
        session = self._sessions.get(sid)
        own: Mapping[str, Any] = {}
        if session.agent == decision.target:
            own = session.slots
        elif session.last_agent == decision.target:
            own = session.last_slots
        top = decision.understanding.top_intent if decision.understanding else None
        intent = decision.context.agent_intent or (top.label if top else "")
        slots = {**(context.slots or {}), **own}
        return AgentTurn(sid or "", request.messages, intent, slots)

    def _advance_session(self, decision: Decision, response: Response) -> None:
        """Move the session's state machine after a turn was answered."""
        sid = decision.context.session_id
        if not sid:
            return
        extra = response.completion.extra if response.completion else {}
        slots = extra.get("slots")
        if response.target in self._agents and isinstance(slots, dict):
            intent, state = str(extra["intent"]), str(extra["state"])
            self._sessions.agent_replied(sid, response.target, intent, state, slots)
        else:
            agent_failed = decision.stage == "agent" and decision.target in self._agents
            self._sessions.end(sid, "agent_down" if agent_failed else "llm")

    def _backend(self, name: str, turn: AgentTurn | None = None) -> Backend:
        if name in self._agents:  # an agent bound to this turn; the executor cannot tell
            return self._agents.backend(name, turn or AgentTurn("", (), ""))
        with self._lock:
            backend = self._backends.get(name)
            if backend is None:
                model = self.config.model(name)
                if model is None:
                    raise TargetUnavailable("not in the configured pool", target=name)
                options = BackendOptions(
                    threads=self.config.runtime.threads,
                    pool=self._pool,
                    max_queue=self.config.runtime.max_queue,
                )
                backend = create_backend(model, options)
                self._backends[name] = backend
            return backend

    # --- what callers read ----------------------------------------------------------

    def listing(self, online: bool) -> list[dict[str, Any]]:
        """Every configured model and agent, with whether it can be used now and why not.

        ``queued`` counts requests waiting for a local model, ``loaded`` says
        whether it is in memory (``GET /v1/models`` of the daemon).
        """
        blocked = self.unavailable()
        loaded = set(self._pool.loaded)
        rows: list[dict[str, Any]] = []
        for m in self.config.models:
            why = blocked.get(m.name) or self._offline(m.name, online)
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
            why = why or self._offline(a.name, online)
            rows.append({"id": a.name, "kind": "agent", "available": why is None, "reason": why})
        return rows

    def _offline(self, name: str, online: bool) -> str | None:
        return "offline" if not online and self._traits[name].needs_network else None

    def stats(self) -> dict[str, Any]:
        """Availability, loaded models and measured speeds (``Runtime.stats``)."""
        speeds = {}
        for name in self._declared:
            sample = self._speeds.sample(name)
            if sample.samples:
                speeds[name] = {
                    "ttft_s": sample.ttft_s,
                    "tokens_per_s": sample.tokens_per_s,
                    "samples": sample.samples,
                }
        return {
            "unavailable": self.unavailable(),
            "loaded": self._pool.loaded,
            "memory_used_mb": self._pool.used_mb,
            "speeds": speeds,
        }

    def close(self) -> None:
        """End what still runs as cancelled, then free loaded models, agents' resources
        and the session store."""
        with self._lock:
            running, self._running = list(self._running.values()), {}
        for progress, on_done in running:
            on_done(progress.cut_short(f"{CANCELLED}: the runtime closed before the end"), None)
        with self._lock:
            for backend in self._backends.values():
                backend.close()
            self._backends.clear()
        self._agents.close()
        self._sessions.close()


def _ignore(attempts: tuple[Attempt, ...], response: Response | None) -> None:
    """The ``on_done`` of a caller that passed none."""


def _request(
    messages: tuple[dict[str, str], ...],
    options: GenerationOptions,
    cancel: threading.Event | None,
) -> ChatRequest:
    return ChatRequest(
        messages=messages,
        max_tokens=options.max_tokens,
        temperature=options.temperature,
        stop=options.stop,
        cancel=cancel,
    )
