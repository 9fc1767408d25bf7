"""The speed meter: moving averages of measured TTFT and tokens/s per target."""

from __future__ import annotations

import pytest

from edge_moma.speed import Speed
from edge_moma.targets.speed_meter import SpeedMeter


def test_first_answer_sets_then_moving_average_follows() -> None:
    m = SpeedMeter(alpha=0.5)
    m.record("a", ttft_s=0.2, tokens=11, latency_s=1.2)  # 10 tokens in 1 s after the first
    assert m.speed("a") == Speed(0.2, pytest.approx(10.0))
    m.record("a", ttft_s=0.4, tokens=21, latency_s=1.4)  # 20 tokens/s
    s = m.sample("a")
    assert s.samples == 2
    assert s.ttft_s == pytest.approx(0.3) and s.tokens_per_s == pytest.approx(15.0)


def test_short_answers_update_only_ttft() -> None:
    m = SpeedMeter(min_tokens=4)
    m.record("a", ttft_s=0.1, tokens=2, latency_s=0.2)
    assert m.sample("a").tokens_per_s is None
    assert m.speed("a") is None  # half a measurement: the policy keeps the config's figures
    assert m.speed("a", Speed(0.5, 42.0)) == Speed(0.1, 42.0)


def test_unmeasured_targets_use_the_declared_speed() -> None:
    m = SpeedMeter()
    assert m.speed("never") is None
    assert m.speed("never", Speed(0.3, 20.0)) == Speed(0.3, 20.0)
    m.record("never", ttft_s=None, tokens=50, latency_s=2.0)  # no TTFT: nothing to learn
    assert m.sample("never").ttft_s is None and m.sample("never").samples == 1


def test_alpha_is_checked() -> None:
    with pytest.raises(ValueError, match="alpha"):
        SpeedMeter(alpha=0)
