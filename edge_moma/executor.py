"""Execute a decision: try its ranking in order until a target answers.

Every attempt (target, latency, tokens, cost, error) is kept so the decision
log can learn from failures as well as answers. Fallback stops when the
request's deadline has passed: a late answer from a fallback is not worth
more time than the app allowed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .backends import Backend, ChatRequest, Completion
from .decision import Decision
from .errors import TargetError, TargetUnavailable


@dataclass(frozen=True)
class Attempt:
    """One try of one target."""

    target: str
    latency_s: float
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    error: str | None = None


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


class AllTargetsFailed(TargetError):
    """Every target in the decision's ranking failed; ``attempts`` says how."""

    def __init__(self, attempts: tuple[Attempt, ...]):
        self.attempts = attempts
        detail = "; ".join(f"{a.target}: {a.error}" for a in attempts) or "no target to try"
        super().__init__(f"every target failed ({detail})", target="*")


def execute(
    decision: Decision,
    request: ChatRequest,
    backend_for: Callable[[str], Backend],
    *,
    deadline_s: float,
    on_unavailable: Callable[[str, str], None] | None = None,
) -> Response:
    """Run ``request`` on the decision's targets in order until one answers."""
    start = time.monotonic()
    attempts: list[Attempt] = []
    for target in decision.ranking:
        if attempts and time.monotonic() - start > deadline_s:
            break
        t0 = time.monotonic()
        try:
            completion = backend_for(target).complete(request)
        except TargetError as exc:
            attempts.append(Attempt(target, time.monotonic() - t0, error=str(exc)))
            if isinstance(exc, TargetUnavailable) and on_unavailable is not None:
                on_unavailable(target, str(exc))
            continue
        attempts.append(
            Attempt(
                target,
                completion.latency_s,
                completion.prompt_tokens,
                completion.completion_tokens,
                completion.cost_usd,
            )
        )
        return Response(completion.text, target, decision, tuple(attempts), completion)
    raise AllTargetsFailed(tuple(attempts))
