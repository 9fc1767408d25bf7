"""One request's ``Situation`` for the tests of the masks and both stages."""

from __future__ import annotations

from typing import Any

from edge_moma.routing.constraints import Situation


def situation(**overrides: Any) -> Situation:
    """Online, on mains, a 30 s deadline, 100 prompt and 200 output tokens, nothing spent."""
    base: dict[str, Any] = dict(
        battery_percent=None,
        charging=True,
        online=True,
        deadline_s=30.0,
        prompt_tokens=100,
        output_tokens=200,
    )
    return Situation(**{**base, **overrides})
