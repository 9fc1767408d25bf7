"""The spend ledger that budgets read.

An interface with one in-memory implementation for now; the SQLite decision
log implements the same two methods so budgets survive restarts.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol

DAY_S = 86_400.0
MONTH_S = 30 * DAY_S


class Ledger(Protocol):
    """Where money spent on remote targets is recorded."""

    def add(self, target: str, usd: float, at: float | None = None) -> None: ...

    def spent_since(self, since: float) -> float: ...


class MemoryLedger:
    """A process-local ledger: spend is forgotten when the process ends."""

    def __init__(self) -> None:
        self._entries: list[tuple[float, str, float]] = []
        self._lock = threading.Lock()

    def add(self, target: str, usd: float, at: float | None = None) -> None:
        with self._lock:
            self._entries.append((time.time() if at is None else at, target, usd))

    def spent_since(self, since: float) -> float:
        with self._lock:
            return sum(usd for at, _, usd in self._entries if at >= since)
