"""The decision-sink hook: what the runtime hands to whoever records decisions.

The runtime knows nothing about SQLite. After each ``route`` (and after each
``complete``, with its attempts) it calls every sink with one ``LogRecord``;
the SQLite decision log is one sink, a test or an app may add others.
A sink must return quickly and must not raise: routing never waits on it.

Example::

    seen = []
    rt.add_sink(seen.append)
    rt.route("hello")
    assert seen[0].decision.target
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ..attempt import Attempt
from ..decision import Decision


@dataclass(frozen=True, slots=True)
class LogRecord:
    """One decision as routed, the text it was made for, and its attempts if it ran.

    ``text`` is the raw query; the log applies ``[runtime] log_text`` (store,
    redact or hash) before anything reaches the disk.
    """

    decision: Decision
    text: str
    attempts: tuple[Attempt, ...] = ()
    features_version: int | None = None


class DecisionSink(Protocol):
    """Anything callable with a ``LogRecord``; must not block or raise."""

    def __call__(self, record: LogRecord) -> None: ...
