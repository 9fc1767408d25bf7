"""The one protocol every target implements: a chat request in, a completion out.

The policy never knows which kind of backend it talks to; the executor calls
``complete`` (or ``stream``) and reads the ``Completion``. ``stream`` is a
generator of text pieces whose *return value* is the ``Completion`` (tokens,
cost, time to first token), so a streamed answer is accounted for exactly like
a whole one::

    gen = backend.stream(request)
    try:
        while True:
            print(next(gen), end="")
    except StopIteration as stop:
        completion = stop.value

Cancellation: set ``request.cancel`` (a ``threading.Event``) from any thread;
the backend stops generating at the next token and returns what it has with
``finish_reason == "cancelled"``. Closing a ``stream`` generator stops it too.
"""

from __future__ import annotations

import threading
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from .pool import LocalPool

FINISH_CANCELLED = "cancelled"


@dataclass(frozen=True)
class ChatRequest:
    """An OpenAI-style chat request, independent of the target.

    ``timeout_s`` is the time this attempt may take (the executor sets it to
    what is left of the request's deadline); ``cancel`` stops a running
    generation from another thread.
    """

    messages: tuple[dict[str, str], ...]
    max_tokens: int = 256
    temperature: float = 0.2
    stop: tuple[str, ...] = ()
    timeout_s: float | None = None
    cancel: threading.Event | None = field(default=None, compare=False, repr=False)

    @property
    def cancelled(self) -> bool:
        return self.cancel is not None and self.cancel.is_set()


@dataclass(frozen=True)
class Completion:
    """One target's answer with what it cost.

    ``latency_s`` is the whole attempt, ``ttft_s`` the time to the first
    generated text (``None`` if nothing was generated).
    """

    text: str
    target: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    latency_s: float = 0.0
    ttft_s: float | None = None
    finish_reason: str = "stop"
    extra: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class BackendOptions:
    """What a runtime shares with every backend it creates (each kind reads what it needs)."""

    threads: int = 0  # llama.cpp threads when a local model sets none; 0: one per core
    pool: LocalPool | None = None  # the memory-budgeted pool of loaded local models
    max_queue: int = 0  # requests waiting per local model (TargetBusy beyond); 0: no limit


class Backend(Protocol):
    """A target that answers chat requests."""

    name: str

    def complete(self, request: ChatRequest) -> Completion:
        """Answer the whole request; raise ``TargetError`` on failure."""
        ...

    def stream(self, request: ChatRequest) -> Generator[str, None, Completion]:
        """Yield the answer's text as it is generated and return its ``Completion``.

        Raise ``TargetError`` on failure, before or after the first piece.
        """
        ...

    def close(self) -> None:
        """Free what the backend holds (a loaded model, an HTTP pool)."""
        ...


def drain(pieces: Generator[str, None, Completion]) -> Completion:
    """Run a ``stream`` generator to its end and return its ``Completion``.

    Backends whose native call streams use this to implement ``complete``.
    """
    while True:
        try:
            next(pieces)
        except StopIteration as stop:
            completion: Completion = stop.value
            return completion
