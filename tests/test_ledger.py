"""The spend window budgets read: exact sums since any time, old spend leaving the window."""

from __future__ import annotations

import random

import pytest

from edge_moma.log.ledger import DAY_S, MAX_ENTRIES, WINDOW_S, MemoryLedger, SpendWindow


def test_sums_match_a_scan_with_entries_out_of_order() -> None:
    rng = random.Random(0)
    window = SpendWindow(window_s=10 * DAY_S)
    entries: list[tuple[float, float]] = []
    for _ in range(500):
        at = rng.uniform(0, 5 * DAY_S)  # within the window, in no particular order
        usd = rng.choice([0.0, 0.001, 0.02, 0.5])
        window.add(at, usd)
        entries.append((at, usd))
        since = rng.uniform(-DAY_S, 6 * DAY_S)
        assert window.spent_since(since) == pytest.approx(sum(u for a, u in entries if a >= since))


def test_spend_older_than_the_window_is_dropped_but_sums_stay_right() -> None:
    window = SpendWindow(window_s=100.0)
    window.add(0.0, 1.0)
    window.add(50.0, 2.0)
    window.add(120.0, 4.0)  # the entry at 0 leaves the window (older than 120 - 100)
    assert window.spent_since(60.0) == pytest.approx(4.0)
    assert window.spent_since(30.0) == pytest.approx(6.0)
    assert window.spent_since(-1.0) == pytest.approx(6.0)  # what is gone is not counted
    window.add(110.0, 8.0)  # late, out of order, still inside the window
    assert window.spent_since(100.0) == pytest.approx(12.0)
    assert window.spent_since(115.0) == pytest.approx(4.0)


def test_memory_ledger_reads_the_window() -> None:
    ledger = MemoryLedger()
    assert ledger.spent_since(0.0) == 0.0
    ledger.add("gpt", 0.25, at=1000.0)
    ledger.add("gpt", 0.5, at=2000.0)
    assert ledger.spent_since(1500.0) == pytest.approx(0.5)
    assert ledger.spent_since(0.0) == pytest.approx(0.75)


def test_a_month_of_calls_keeps_a_bounded_number_of_entries() -> None:
    """One entry per call grew without bound with a busy cloud model (defect 9 of issue 17)."""
    window = SpendWindow()
    step = WINDOW_S / (4 * MAX_ENTRIES)  # four calls per bucket, for a whole window and more
    n = 5 * MAX_ENTRIES
    for i in range(n):
        window.add(i * step, 0.001)
    assert len(window._times) <= MAX_ENTRIES + 1
    last = (n - 1) * step
    assert window.spent_since(last - DAY_S) == pytest.approx(0.001 * DAY_S / step, rel=0.01)
