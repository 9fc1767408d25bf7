"""A circuit breaker per target: stop calling what keeps failing, for a while.

After ``failures`` failed attempts in a row a target's circuit *opens*: the
runtime masks it (``masked_by="unavailable"``, reason "circuit open ...") and
the executor skips it, so requests stop paying its timeouts. After
``cooldown_s`` the circuit is *half-open*: the next request may try it once;
an answer closes the circuit, a failure opens it for another cool-down.

Example::

    breaker = CircuitBreaker(failures=3, cooldown_s=30)
    for _ in range(3):
        breaker.failure("cloud", "cannot connect")
    breaker.open_targets()     # {'cloud': 'circuit open after 3 failures ...'}
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Circuit:
    failures: int = 0
    opened_at: float | None = None
    last_error: str = ""


class CircuitBreaker:
    """Counts consecutive failures per target and masks a target while its circuit is open."""

    def __init__(
        self,
        failures: int = 3,
        cooldown_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        if failures < 1:
            raise ValueError(f"failures must be >= 1, got {failures!r}")
        self.failures = failures
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._circuits: dict[str, _Circuit] = {}
        self._lock = threading.Lock()

    def _why(self, name: str, c: _Circuit, now: float) -> str | None:
        if c.opened_at is None or now - c.opened_at >= self.cooldown_s:
            return None
        left = self.cooldown_s - (now - c.opened_at)
        return (
            f"circuit open after {c.failures} failures in a row (last: {c.last_error}); "
            f"retried in {left:.0f} s"
        )

    def blocked(self, target: str) -> str | None:
        """Why ``target`` may not be tried now, or None (closed or half-open)."""
        with self._lock:
            c = self._circuits.get(target)
            return self._why(target, c, self._clock()) if c else None

    def open_targets(self) -> dict[str, str]:
        """Every target whose circuit is open, with why: the policy's unavailable mask."""
        if not self._circuits:  # the usual case, on every routing call
            return {}
        now = self._clock()
        with self._lock:
            out = {n: self._why(n, c, now) for n, c in self._circuits.items()}
        return {n: why for n, why in out.items() if why}

    def success(self, target: str) -> None:
        with self._lock:
            self._circuits.pop(target, None)

    def failure(self, target: str, error: str) -> None:
        with self._lock:
            c = self._circuits.setdefault(target, _Circuit())
            c.failures += 1
            c.last_error = error
            if c.failures >= self.failures:
                c.opened_at = self._clock()  # (re)open: a half-open trial failed too
