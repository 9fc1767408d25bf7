"""``Runtime``: the embedded face of edge-moma (the CLI and the daemon call it too).

A thin composition of the parts that do the work::

    Router    checked requests + a snapshot of the world -> Decisions   (routing/router.py)
    Targets   a Decision -> an answer or a stream, with fallback          (targets/answering.py)
    sinks     every decision (the SQLite decision log is one)             (log/)
    ledger    what remote calls cost, which the budgets read              (log/ledger.py)
    device    battery and network, probed in the background               (device.py)

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
import logging
import os
import threading
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .attempt import Attempt
from .bundle_dirs import bundle_dir
from .config import Config, load_config
from .context import RouteContext
from .decision import Decision
from .device import DeviceMonitor
from .errors import LogError, RequestError
from .log.ledger import DAY_S, MONTH_S, Ledger, MemoryLedger
from .log.sinks import DecisionSink, LogRecord
from .messages import GenerationOptions, Messages, query_text
from .routing.router import Environment, Router, RouteRequest
from .session import Session
from .targets.answering import Done, Targets
from .targets.executor import Response, ResponseStream

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
        explore_seed: int | None = None,
    ):
        """``explore_seed`` seeds the router's exploration draws ([policy] explore), so a
        benchmark or a test explores alike on every run."""
        self._config = config
        self._targets = Targets(config)
        self._claims = self._targets.claims()
        self._explore_seed = explore_seed
        try:
            self._router = Router.load(config, claims=self._claims, explore_seed=explore_seed)
        except BaseException:
            self._targets.close()
            raise
        self._sinks: list[DecisionSink] = []
        self._log: DecisionLog | None = None
        if config.runtime.log:
            from .log.writer import DecisionLog, LogSettings

            redact = self._router.privacy.redact
            self._log = DecisionLog(LogSettings.from_config(config, redact))
            self._sinks.append(self._log)
        self._ledger: Ledger = ledger or (self._log.ledger if self._log else MemoryLedger())
        self._device = device or DeviceMonitor()

    @classmethod
    def from_config(cls, path: str | os.PathLike[str] | None = None, **kwargs: Any) -> Runtime:
        """Load the config by the documented search order and start a runtime."""
        return cls(load_config(path), **kwargs)

    # --- what it is made of -------------------------------------------------------

    @property
    def config(self) -> Config:
        return self._config

    @property
    def router(self) -> Router:
        """The router in use (it changes when ``reload_router`` loads a new one)."""
        return self._router

    @property
    def router_version(self) -> str:
        return self._router.version

    @property
    def device(self) -> DeviceMonitor:
        """The device probe; ``rt.device.set(online=False)`` overrides what it reads."""
        return self._device

    @property
    def ledger(self) -> Ledger:
        """Where remote calls' cost goes and the budgets read it from."""
        return self._ledger

    @property
    def decision_log(self) -> DecisionLog | None:
        """The SQLite decision log (``flush()``, counters); None with ``[runtime] log = false``."""
        return self._log

    # --- routing ------------------------------------------------------------------

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
        targets = self._targets
        return Environment(
            device=self._device.state(),
            now=now,
            spent_today_usd=self._ledger.spent_since(now - DAY_S),
            spent_month_usd=self._ledger.spent_since(now - MONTH_S),
            unavailable=targets.unavailable(),
            speeds=targets.measured_speeds(),
            sessions=targets.sessions({r.context.session_id or "" for r in requests} - {""}),
        )

    # --- answering ----------------------------------------------------------------

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
        choice (the policy's ranking stays as fallback; a pinned target a rule masks
        gives way to the best on-device one, see ``routing/pinning.py``); setting
        ``cancel`` from another thread stops a running generation. Raises
        ``AllTargetsFailed`` (with every attempt) if no target answers.
        """
        generation = _options(options, max_tokens, temperature, stop)
        request, decision = self._decide_one(messages_or_text, context, target)
        return self._targets.complete(
            decision,
            request.messages,
            generation,
            request.context,
            cancel=cancel,
            on_done=self._done(decision, request),
        )

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
        cancel: threading.Event | None = None,
    ) -> ResponseStream:
        """Route now, then answer piece by piece as the target generates (options as ``complete``).

        Fallback applies until the first piece arrives; after that a failure
        ends the stream with ``StreamInterrupted`` rather than switching
        targets mid-answer. ``.response`` holds the attempts once it ended.
        ``cancel`` (or ``.cancel()``) stops it at the next token, from any thread.

        Example::

            with rt.stream("Tell me a joke.") as answer:
                for piece in answer:
                    print(piece, end="", flush=True)
            print(answer.response.target)
        """
        generation = _options(options, max_tokens, temperature, stop)
        request, decision = self._decide_one(messages_or_text, context, target)
        return self._targets.stream(
            decision,
            request.messages,
            generation,
            request.context,
            cancel=cancel,
            on_done=self._done(decision, request),
        )

    def _decide_one(
        self,
        query: str | Messages,
        context: RouteContext | Mapping[str, Any] | None,
        target: str | None,
    ) -> tuple[RouteRequest, Decision]:
        """Check and decide one request to answer (its sinks get it once it ended)."""
        request = self._router.check(query, context, target=target)
        return request, self._router.decide(request, self._environment([request]))

    def _done(self, decision: Decision, request: RouteRequest) -> Done:
        """What runs once a request ended, whole or streamed: charge the ledger and log
        the decision with its attempts (``Targets`` then moves the session on)."""

        def done(attempts: tuple[Attempt, ...], response: Response | None) -> None:
            for attempt in attempts:
                if attempt.cost_usd:
                    self._ledger.add(attempt.target, attempt.cost_usd)
            if self._sinks:
                self._emit(decision, query_text(request.messages), attempts)

        return done

    def targets(self) -> list[dict[str, Any]]:
        """Every configured model and agent, with whether it can be used now and why not.

        What ``GET /v1/models`` of the daemon lists; ``queued`` counts requests
        waiting for a local model, ``loaded`` says whether it is in memory.
        """
        return self._targets.listing(online=self._device.state().online)

    def session(self, session_id: str) -> Session:
        """The dialog state of ``session_id`` now (which agent holds it, if any)."""
        return self._targets.session(session_id)

    # --- logging, feedback, lifecycle ---------------------------------------------

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
    ) -> str:
        """Record how good a decision's answer was (score 0..1 and/or correct) for retraining.

        ``decision_id`` is an id or a unique prefix of one, as ``edge-moma feedback``
        takes it; a decision routed a moment ago counts (the log is flushed first).
        Returns the full id; ``DecisionNotFound`` if no logged decision (or several) match.
        """
        from .log.store import Feedback

        checked = Feedback(decision_id, score, correct, source, note).check()
        if self._log is None:
            raise LogError("logging is off ([runtime] log = false); feedback has nowhere to go")
        full_id = self._log.resolve_id(decision_id)
        self._log.add_feedback(dataclasses.replace(checked, decision_id=full_id))
        return full_id

    def reload_router(self) -> bool:
        """Load the router bundles the config resolves to now; True if they changed.

        After ``edge-moma model install`` or ``rollback`` a long-running process
        (the daemon) calls this to route with the new version without a restart.
        It also checks the models' config again (``Targets.check_config``: an API key
        variable set or unset since), and refuses a bundle the agents cannot use.
        """
        self._targets.check_config()
        dirs = (bundle_dir(self._config, "intent"), bundle_dir(self._config, "routing"))
        if dirs == self._router.bundle_dirs:
            return False
        # One assignment: atomic. The new router's draws start again from the seed.
        self._router = Router.load(
            self._config, claims=self._claims, explore_seed=self._explore_seed
        )
        return True

    def stats(self) -> dict[str, Any]:
        """What the runtime is doing, for monitoring: the router, spend, the targets'
        availability, loaded models and measured speeds, and the decision log's counters."""
        now = time.time()
        return {
            "router_version": self._router.version,
            "spent_today_usd": self._ledger.spent_since(now - DAY_S),
            "spent_month_usd": self._ledger.spent_since(now - MONTH_S),
            **self._targets.stats(),
            "log": self._log.stats() if self._log is not None else None,
        }

    def close(self) -> None:
        """Free loaded models, stop the device monitor and flush the decision log.

        A request still running (its thread stuck in a target that does not answer)
        is logged now, its current attempt ended with ``error`` "cancelled: ..."; a
        caller that cancels its requests first (``cancel=``) gets their real ends.
        """
        self._targets.close()
        self._device.close()
        if self._log is not None:
            self._log.close()

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
