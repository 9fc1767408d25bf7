"""The spend ledger that budgets read.

An interface with one in-memory implementation; the SQLite decision log
implements the same two methods so budgets survive restarts. Both keep the
recent spend in a ``SpendWindow``.
"""

from __future__ import annotations

import bisect
import threading
import time
from typing import Protocol

DAY_S = 86_400.0
MONTH_S = 30 * DAY_S
# What the budgets read (a day, a month) plus a day of slack for clock changes.
WINDOW_S = MONTH_S + DAY_S
MAX_ENTRIES = 50_000  # spend entries a window keeps at most (one per window_s / this)


class Ledger(Protocol):
    """Where money spent on remote targets is recorded."""

    def add(self, target: str, usd: float, at: float | None = None) -> None: ...

    def spent_since(self, since: float) -> float: ...


class SpendWindow:
    """Spend of the last ``window_s`` seconds, summed since any time in O(log n).

    Routing reads two sums (today, this month) on every decision, and a month
    of cloud calls is thousands of entries: a scan per read would slow routing
    as the device is used. Entries are kept in time order with running totals.
    Spend within ``window_s / MAX_ENTRIES`` of the newest entry (54 s for the
    budgets' month) joins it, so a busy month is at most ``MAX_ENTRIES`` entries
    (about 3 MB), not one per call.
    """

    def __init__(self, window_s: float = WINDOW_S):
        self._window = window_s
        self._bucket = window_s / MAX_ENTRIES
        self._times: list[float] = []
        self._totals: list[float] = []  # spend of every entry up to and including i
        self._dropped = 0.0  # spend of the entries that left the window
        self._lock = threading.Lock()

    def add(self, at: float, usd: float) -> None:
        with self._lock:
            if self._times and 0.0 <= at - self._times[-1] < self._bucket:
                self._totals[-1] += usd
                return
            i = bisect.bisect_right(self._times, at)
            before = self._totals[i - 1] if i else self._dropped
            self._times.insert(i, at)
            self._totals.insert(i, before + usd)
            for j in range(i + 1, len(self._totals)):  # only for an entry older than the last
                self._totals[j] += usd
            cut = bisect.bisect_left(self._times, self._times[-1] - self._window)
            if cut:
                self._dropped = self._totals[cut - 1]
                del self._times[:cut], self._totals[:cut]

    def spent_since(self, since: float) -> float:
        with self._lock:
            if not self._totals:
                return 0.0
            i = bisect.bisect_left(self._times, since)
            return self._totals[-1] - (self._totals[i - 1] if i else self._dropped)


class MemoryLedger:
    """A process-local ledger: spend is forgotten when the process ends."""

    def __init__(self) -> None:
        self._window = SpendWindow()

    def add(self, target: str, usd: float, at: float | None = None) -> None:
        self._window.add(time.time() if at is None else at, usd)

    def spent_since(self, since: float) -> float:
        return self._window.spent_since(since)
