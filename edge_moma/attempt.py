"""``Attempt``: one try of one target, as the executor ran it and the log keeps it.

A value with no dependencies, so that the decision log, its sinks and the
errors that carry attempts (``AllTargetsFailed``, ``StreamInterrupted``) never
import the executor or a backend.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Attempt:
    """One try of one target: how long it took, what it produced and cost, or why it failed."""

    target: str
    latency_s: float
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    error: str | None = None
