"""Measured speed of each target on this device, fed back into the policy.

The config declares a model's time to first token and tokens/s; what the
device really does depends on its CPU, its thermal state and what else runs.
Every answered attempt updates an exponential moving average per target, and
the runtime hands the measured speeds to the router (``Environment.speeds``) so
latency estimates (and the latency mask) learn the device.

Example::

    meter = SpeedMeter()
    meter.record("smollm2-135m", ttft_s=0.12, tokens=40, latency_s=1.02)
    meter.speed("smollm2-135m")    # Speed(ttft_s=0.12, tokens_per_s=44.4...)
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass

from ..speed import Speed


@dataclass(frozen=True)
class SpeedSample:
    """The moving averages of one target and how many answers they come from."""

    ttft_s: float | None
    tokens_per_s: float | None
    samples: int


class SpeedMeter:
    """Per-target moving averages of time to first token and generation speed.

    ``alpha`` is the weight of the newest answer (0.3: about the last five
    answers count). Answers of fewer than ``min_tokens`` tokens update only the
    time to first token: their speed is mostly noise.
    """

    def __init__(self, alpha: float = 0.3, min_tokens: int = 4):
        if not 0.0 < alpha <= 1.0:
            raise ValueError(f"alpha must be in (0, 1], got {alpha!r}")
        self.alpha = alpha
        self.min_tokens = min_tokens
        self._ttft: dict[str, float] = {}
        self._tps: dict[str, float] = {}
        self._n: dict[str, int] = {}
        self._lock = threading.Lock()

    def _mix(self, table: dict[str, float], target: str, value: float) -> None:
        old = table.get(target)
        table[target] = value if old is None else old + self.alpha * (value - old)

    def record(self, target: str, *, ttft_s: float | None, tokens: int, latency_s: float) -> None:
        """Add one answer: ``tokens`` generated in ``latency_s``, the first after ``ttft_s``."""
        with self._lock:
            if ttft_s is not None and ttft_s >= 0:
                self._mix(self._ttft, target, ttft_s)
                generating = latency_s - ttft_s
                if tokens >= self.min_tokens and generating > 0:
                    self._mix(self._tps, target, (tokens - 1) / generating)
            self._n[target] = self._n.get(target, 0) + 1

    def sample(self, target: str) -> SpeedSample:
        with self._lock:
            return SpeedSample(
                self._ttft.get(target), self._tps.get(target), self._n.get(target, 0)
            )

    def speed(self, target: str, declared: Speed | None = None) -> Speed | None:
        """The measured speed, completed by ``declared`` where nothing is measured yet.

        ``None`` when nothing is measured and nothing declared is given: the
        policy then uses the config's figures.
        """
        if target not in self._n:  # nothing measured yet: the usual case for remote models
            return declared
        s = self.sample(target)
        ttft = s.ttft_s if s.ttft_s is not None else (declared.ttft_s if declared else None)
        tps = (
            s.tokens_per_s
            if s.tokens_per_s is not None
            else (declared.tokens_per_s if declared else None)
        )
        if ttft is None or tps is None:
            return None
        return Speed(ttft, tps)

    def measured(self, declared: Mapping[str, Speed]) -> dict[str, Speed]:
        """The speed of every target of ``declared`` measured so far, completed by its
        declared speed where only half is measured (``speed``); the others are left out."""
        if not self._n:  # nothing measured yet: every routing call until the first answer
            return {}
        out = {}
        for target, speed in declared.items():
            if target in self._n:
                measured = self.speed(target, speed)
                if measured is not None:
                    out[target] = measured
        return out
