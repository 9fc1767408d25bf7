"""The one protocol every target implements: a chat request in, a completion out.

The policy never knows which kind of backend it talks to; the executor calls
``complete`` (or ``stream``) and reads the ``Completion``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class ChatRequest:
    """An OpenAI-style chat request, independent of the target."""

    messages: tuple[dict[str, str], ...]
    max_tokens: int = 256
    temperature: float = 0.2
    stop: tuple[str, ...] = ()
    timeout_s: float | None = None


@dataclass(frozen=True)
class Completion:
    """One target's answer with what it cost."""

    text: str
    target: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    latency_s: float = 0.0
    ttft_s: float | None = None
    finish_reason: str = "stop"
    extra: dict[str, object] = field(default_factory=dict)


class Backend(Protocol):
    """A target that answers chat requests."""

    name: str

    def complete(self, request: ChatRequest) -> Completion:
        """Answer the whole request; raise ``TargetError`` on failure."""
        ...

    def stream(self, request: ChatRequest) -> Iterator[str]:
        """Yield the answer's text as it is generated; raise ``TargetError`` on failure."""
        ...

    def close(self) -> None:
        """Free what the backend holds (a loaded model, an HTTP pool)."""
        ...
