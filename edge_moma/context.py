"""Per-request context: device state, deadline and pins the app may set.

Every field left ``None`` is filled from the device probe or the config. The
probe never runs on the routing path: the runtime reads a cached device state
(see ``device.py``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from .errors import ConfigError


@dataclass(frozen=True)
class RouteContext:
    """What the app knows about this request; ``None`` means "use the device state"."""

    battery_percent: float | None = None
    charging: bool | None = None
    online: bool | None = None
    deadline_s: float | None = None
    sensitive: bool | None = None  # None: decided by the config's privacy rules
    expected_output_tokens: int | None = None
    target: str | None = None  # pin the first choice; fallbacks stay
    session_id: str | None = None  # a dialog's id: agents keep multi-turn state per session
    permissions: list[str] | None = None  # granted to agents that require "permission:NAME"
    slots: dict[str, Any] | None = None  # context agents may require ("slot:NAME") and read

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RouteContext:
        """Build from JSON (``--context`` or an API body); unknown keys are an error."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(
                f"unknown context key {unknown[0]!r}; expected one of {sorted(names)}",
                key_path="context",
            )
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}
