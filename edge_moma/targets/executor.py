"""Execute a decision: try its ranking in order until a target answers.

Fallback rules, the same for every kind of target (the executor only sees
the ``Backend`` protocol):

- a target that fails (load error, timeout, HTTP error, a stream dropped
  before its first piece) is followed by the next one in the ranking, as long
  as the request's deadline has time left; each attempt gets what is left of
  the deadline less the next target's expected latency (``ChatRequest.timeout_s``;
  at most half of what is left is held back), so a first choice that hangs
  still leaves its fallback time to answer;
- a target whose circuit breaker is open is skipped without being called;
- a stream that already delivered text is never switched to another target
  behind the reader's back: it ends with ``StreamInterrupted`` instead;
- a cancelled request does not fall back; the attempt it cut short is kept
  with ``error = "cancelled"``, so the log never counts it as an answer.
- an exception that is not a ``TargetError`` (a backend's bug, an answer no
  check caught) is that target's failure too, logged with its traceback: one
  broken target must not fail a request that another could answer.

Every attempt (target, latency, tokens, cost, error) is kept so the decision
log can learn from failures as well as answers.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field

from ..attempt import Attempt
from ..decision import Decision
from ..errors import (
    AllTargetsFailed,
    StreamInterrupted,
    TargetBusy,
    TargetError,
    TargetUnavailable,
)
from .backends import Backend, ChatRequest, Completion
from .backends.base import FINISH_CANCELLED
from .breaker import CircuitBreaker
from .speed_meter import SpeedMeter

logger = logging.getLogger(__name__)
_ERROR_CHARS = 300


def target_failure(target: str, exc: Exception) -> TargetError:
    """``exc`` raised by ``target`` as its ``TargetError`` (unexpected ones are logged)."""
    if isinstance(exc, TargetError):
        return exc
    logger.error("%s failed unexpectedly", target, exc_info=exc)
    what = " ".join(f"{type(exc).__name__}: {exc}".split())[:_ERROR_CHARS]
    return TargetError(f"failed unexpectedly ({what})", target=target)


@dataclass(frozen=True)
class Response:
    """The answer to ``Runtime.complete`` with the decision and every attempt behind it."""

    text: str
    target: str
    decision: Decision
    attempts: tuple[Attempt, ...] = field(default_factory=tuple)
    completion: Completion | None = None

    @property
    def fell_back(self) -> bool:
        return len(self.attempts) > 1

    @property
    def cancelled(self) -> bool:
        """Stopped by its ``cancel`` event before a target finished the answer."""
        c = self.completion
        return not self.target or (c is not None and c.finish_reason == FINISH_CANCELLED)


@dataclass
class Hooks:
    """What the executor reports outcomes to; every part is optional."""

    on_unavailable: Callable[[str, str], None] | None = None
    breaker: CircuitBreaker | None = None
    meter: SpeedMeter | None = None


CANCELLED = "cancelled"


class Progress:
    """An execution so far, readable from another thread: its attempts and the target it
    is trying now. ``Targets.close`` ends an execution that is still running from it."""

    def __init__(self) -> None:
        self.attempts: list[Attempt] = []
        self.trying: str | None = None
        self._since = time.monotonic()

    def start(self, target: str) -> None:
        self.trying, self._since = target, time.monotonic()

    def cut_short(self, why: str) -> tuple[Attempt, ...]:
        """The attempts, the one running now ended with ``error = why``."""
        if self.trying is None:
            return tuple(self.attempts)
        return (*self.attempts, Attempt(self.trying, time.monotonic() - self._since, error=why))


class _Run:
    """The bookkeeping of one execution: deadline, attempts, breaker and meter."""

    def __init__(
        self,
        decision: Decision,
        request: ChatRequest,
        deadline_s: float,
        hooks: Hooks,
        progress: Progress | None = None,
    ):
        self.decision = decision
        self.request = request
        self.deadline_s = deadline_s
        self.hooks = hooks
        self.start = time.monotonic()
        self.progress = progress or Progress()
        self.attempts = self.progress.attempts
        self.note = ""
        self.retry_after_s: float | None = None

    def targets(self) -> Iterator[tuple[str, ChatRequest]]:
        """Targets to try, each with the request bounded by what is left of the deadline."""
        for i, target in enumerate(self.decision.ranking):
            if self.request.cancelled:
                return
            left = self.deadline_s - (time.monotonic() - self.start)
            if self.deadline_s > 0 and left <= 0 and self.attempts:
                rest = ", ".join(self.decision.ranking[i:])
                self.note = f"; the deadline of {self.deadline_s:g} s passed before trying {rest}"
                return
            breaker = self.hooks.breaker
            why = breaker.blocked(target) if breaker else None
            if why:
                self.attempts.append(Attempt(target, 0.0, error=f"skipped: {why}"))
                continue
            timeout = None
            if self.deadline_s > 0:
                timeout = max(left - self._reserve(i, left), 0.001)
            self.progress.start(target)
            yield target, dataclasses.replace(self.request, timeout_s=timeout)
            self.progress.trying = None

    def _reserve(self, i: int, left: float) -> float:
        """Time held back for the target after the ``i``-th: its expected latency, at
        most half of what is ``left``."""
        ranking = self.decision.ranking
        after = self.decision.candidate(ranking[i + 1]) if i + 1 < len(ranking) else None
        return min(after.latency_s, left / 2) if after is not None else 0.0

    def failed(self, target: str, t0: float, exc: TargetError, tokens: int = 0) -> Attempt:
        attempt = Attempt(target, time.monotonic() - t0, completion_tokens=tokens, error=str(exc))
        self.attempts.append(attempt)
        if isinstance(exc, TargetBusy):  # a full queue is no fault of the target's
            self.retry_after_s = min(self.retry_after_s or exc.retry_after_s, exc.retry_after_s)
        elif isinstance(exc, TargetUnavailable):
            if self.hooks.on_unavailable is not None:
                self.hooks.on_unavailable(target, str(exc))
        elif self.hooks.breaker is not None:
            self.hooks.breaker.failure(target, str(exc))
        return attempt

    def answered(self, target: str, completion: Completion) -> Response:
        cancelled = completion.finish_reason == FINISH_CANCELLED
        self.attempts.append(
            Attempt(
                target,
                completion.latency_s,
                completion.prompt_tokens,
                completion.completion_tokens,
                completion.cost_usd,
                CANCELLED if cancelled else None,
            )
        )
        if self.hooks.breaker is not None:
            self.hooks.breaker.success(target)
        if self.hooks.meter is not None and completion.finish_reason != FINISH_CANCELLED:
            self.hooks.meter.record(
                target,
                ttft_s=completion.ttft_s,
                tokens=completion.completion_tokens,
                latency_s=completion.latency_s,
            )
        return Response(completion.text, target, self.decision, tuple(self.attempts), completion)

    def all_failed(self) -> AllTargetsFailed:
        return AllTargetsFailed(tuple(self.attempts), self.note, self.retry_after_s)


def execute(
    decision: Decision,
    request: ChatRequest,
    backend_for: Callable[[str], Backend],
    *,
    deadline_s: float,
    on_unavailable: Callable[[str, str], None] | None = None,
    hooks: Hooks | None = None,
    progress: Progress | None = None,
) -> Response:
    """Run ``request`` on the decision's targets in order until one answers."""
    hooks = hooks or Hooks()
    if on_unavailable is not None:
        hooks = dataclasses.replace(hooks, on_unavailable=on_unavailable)
    run = _Run(decision, request, deadline_s, hooks, progress)
    for target, attempt_request in run.targets():
        t0 = time.monotonic()
        try:
            completion = backend_for(target).complete(attempt_request)
        except Exception as exc:
            run.failed(target, t0, target_failure(target, exc))
            continue
        return run.answered(target, completion)
    if request.cancelled:
        return Response("", "", decision, tuple(run.attempts))
    raise run.all_failed()


class ResponseStream:
    """A streamed answer: iterate for text pieces; ``response`` once it has ended.

    Routing is done when the stream is created (``decision`` is set); the first
    target is called on the first ``next()``. ``cancel()`` (from any thread)
    stops generation at the next token; ``close()`` (or leaving a ``with``
    block) stops it and frees the model at once.

    Example::

        with rt.stream("Tell me a joke.") as answer:
            for piece in answer:
                print(piece, end="", flush=True)
        print(answer.response.target, answer.response.attempts)
    """

    def __init__(
        self,
        decision: Decision,
        request: ChatRequest,
        backend_for: Callable[[str], Backend],
        *,
        deadline_s: float,
        hooks: Hooks | None = None,
        on_done: Callable[[tuple[Attempt, ...], Response | None], None] | None = None,
        progress: Progress | None = None,
    ):
        self.decision = decision
        self._cancel = request.cancel or threading.Event()
        request = dataclasses.replace(request, cancel=self._cancel)
        self._run = _Run(decision, request, deadline_s, hooks or Hooks(), progress)
        self._backend_for = backend_for
        self._on_done = on_done
        self._pieces: list[str] = []
        self.response: Response | None = None
        self._gen = self._generate()

    @property
    def text(self) -> str:
        """The text received so far."""
        return "".join(self._pieces)

    @property
    def attempts(self) -> tuple[Attempt, ...]:
        return tuple(self._run.attempts)

    def __iter__(self) -> ResponseStream:
        return self

    def __next__(self) -> str:
        return next(self._gen)

    def cancel(self) -> None:
        """Stop generating at the next token; the stream then ends normally."""
        self._cancel.set()

    def close(self) -> None:
        self._gen.close()

    def __enter__(self) -> ResponseStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _generate(self) -> Generator[str, None, None]:
        run = self._run
        try:
            for target, request in run.targets():
                t0 = time.monotonic()
                try:
                    pieces = self._backend_for(target).stream(request)
                    first = next(pieces)
                except StopIteration as stop:  # answered with no text at all
                    self.response = run.answered(target, _completion(stop.value, target, "", t0))
                    return
                except Exception as exc:
                    run.failed(target, t0, target_failure(target, exc))
                    continue
                yield from self._deliver(target, first, pieces, t0)
                return
            if not run.request.cancelled:
                raise run.all_failed()
            self.response = Response("", "", self.decision, tuple(run.attempts))
        finally:
            if self._on_done is not None:
                self._on_done(tuple(run.attempts), self.response)

    def _deliver(
        self, target: str, first: str, pieces: Generator[str, None, Completion], t0: float
    ) -> Generator[str, None, None]:
        """Pass on a target's pieces; from here on the stream is committed to it."""
        try:
            self._pieces.append(first)
            yield first
            while True:
                try:
                    piece = next(pieces)
                except StopIteration as stop:
                    completion = _completion(stop.value, target, self.text, t0)
                    self.response = self._run.answered(target, completion)
                    return
                except Exception as exc:
                    failure = target_failure(target, exc)
                    attempt = self._run.failed(target, t0, failure, tokens=len(self._pieces))
                    raise StreamInterrupted(
                        target, attempt.error or "", self.text, tuple(self._run.attempts)
                    ) from exc
                self._pieces.append(piece)
                yield piece
        except GeneratorExit:  # the reader closed the stream: not the target's failure
            self._run.attempts.append(
                Attempt(
                    target,
                    time.monotonic() - t0,
                    completion_tokens=len(self._pieces),
                    error="closed by the reader before the end",
                )
            )
            raise
        finally:
            pieces.close()


def _completion(value: Completion | None, target: str, text: str, t0: float) -> Completion:
    """A stream's return value, or one built from what it yielded (plain iterators)."""
    if isinstance(value, Completion):
        return value
    return Completion(text=text, target=target, latency_s=time.monotonic() - t0)
