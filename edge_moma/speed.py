"""``Speed``: a target's time to first token and generation speed, declared or measured.

The config declares it, the speed meter measures it on this device, and the
policy turns it into a predicted latency; a value no layer has to import
another for.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Speed:
    """A target's time to first token (s) and generation speed (tokens/s)."""

    ttft_s: float
    tokens_per_s: float
