"""The circuit breaker: opens after repeated failures, masks for a cool-down, half-opens."""

from __future__ import annotations

import pytest

from edge_moma.targets.breaker import CircuitBreaker


def make(failures: int = 3, cooldown: float = 30.0) -> tuple[CircuitBreaker, list[float]]:
    now = [100.0]
    return CircuitBreaker(failures, cooldown, clock=lambda: now[0]), now


def test_opens_only_after_failures_in_a_row() -> None:
    b, _ = make()
    b.failure("cloud", "boom")
    b.failure("cloud", "boom")
    b.success("cloud")  # an answer resets the count
    b.failure("cloud", "boom")
    b.failure("cloud", "boom")
    assert b.blocked("cloud") is None and b.open_targets() == {}
    b.failure("cloud", "cannot connect")
    why = b.blocked("cloud")
    assert why is not None and "after 3 failures in a row (last: cannot connect)" in why
    assert list(b.open_targets()) == ["cloud"]


def test_cool_down_half_opens_and_a_failed_trial_reopens() -> None:
    b, now = make(failures=1, cooldown=10)
    b.failure("cloud", "x")
    now[0] += 9.9
    assert b.blocked("cloud") is not None
    now[0] += 0.2
    assert b.blocked("cloud") is None  # half-open: one trial may go
    b.failure("cloud", "y")
    assert b.blocked("cloud") is not None and "retried in 10 s" in (b.blocked("cloud") or "")
    now[0] += 11
    b.success("cloud")
    assert b.open_targets() == {}


def test_targets_are_independent() -> None:
    b, _ = make(failures=1)
    b.failure("a", "x")
    assert b.blocked("b") is None and list(b.open_targets()) == ["a"]


def test_failures_must_be_positive() -> None:
    with pytest.raises(ValueError, match="failures must be >= 1"):
        CircuitBreaker(0)
