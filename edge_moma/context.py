"""Per-request context: device state, deadline and pins the app may set.

Every field left ``None`` is filled from the device probe or the config. The
probe never runs on the routing path: the runtime reads a cached device state
(see ``device.py``).

Every value is checked when a context is built, from JSON or in Python, with
the config loader's own type rules (``config.check_value``: a flag must be a
JSON ``true``/``false``, a number a number) and the ranges of the matching CLI
flags and config keys; a wrong one is a ``RequestError`` naming the key. A
context that was accepted cannot weaken a mask: ``"online": "false"`` is
refused, never read as "online".
"""

from __future__ import annotations

import math
import typing
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from .config import check_value
from .errors import ConfigError, RequestError
from .messages import MAX_OUTPUT_TOKENS
from .untrusted import MAX_JSON_DEPTH, is_unicode, too_deep

MAX_DEADLINE_S = 86_400.0  # a day; longer waits are a mistake, and timers overflow near 1e300

# key -> (lowest, highest, what is expected): as ``--battery`` / ``--deadline`` and
# ``[budgets] deadline_s`` / ``[policy] expected_output_tokens`` take them.
_RANGES: dict[str, tuple[float, float, str]] = {
    "battery_percent": (0.0, 100.0, "a percentage from 0 to 100"),
    "deadline_s": (0.0, MAX_DEADLINE_S, f"seconds from 0 to {MAX_DEADLINE_S:.0f}"),
    "expected_output_tokens": (1, MAX_OUTPUT_TOKENS, f"an integer from 1 to {MAX_OUTPUT_TOKENS}"),
}


@dataclass(frozen=True)
class RouteContext:
    """What the app knows about this request; ``None`` means "use the device state"."""

    battery_percent: float | None = None
    charging: bool | None = None
    online: bool | None = None
    deadline_s: float | None = None
    sensitive: bool | None = None  # true: keep it on the device; else the privacy rules decide
    expected_output_tokens: int | None = None
    # Pin the first choice (fallbacks stay). A pin never lifts a rule: a pinned target
    # that privacy, network, budget, battery or availability masks gives way to the best
    # eligible on-device target; with ``target_only`` the request fails instead.
    target: str | None = None
    target_only: bool | None = None  # only the pinned target: no fallbacks, no redirection
    session_id: str | None = None  # a dialog's id: agents keep multi-turn state per session
    permissions: list[str] | None = None  # granted to agents that require "permission:NAME"
    slots: dict[str, Any] | None = None  # context agents may require ("slot:NAME") and read

    def __post_init__(self) -> None:
        for name in _NAMES:
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, _checked(name, value))
        if self.target_only and self.target is None:
            raise RequestError(
                "routing context: target_only asks for the pinned target only, but no "
                "target is pinned; name one (target, --target, or the daemon's model)",
                param="context.target_only",
            )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RouteContext:
        """Build from JSON (``--context`` or an API body); a wrong key or value is a
        ``RequestError`` naming it."""
        if not isinstance(data, Mapping):
            raise RequestError(
                f"the routing context must be an object of keys {sorted(_NAMES)}, "
                f"got {type(data).__name__}",
                param="context",
            )
        for key in data:
            if key not in _NAMES:
                raise RequestError(
                    f"unknown context key {key!r}; expected one of {sorted(_NAMES)}",
                    param=f"context.{key}",
                )
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


_NAMES = tuple(f.name for f in fields(RouteContext))
_HINTS = typing.get_type_hints(RouteContext)
# The field's type where a value of exactly that type is all check_value accepts as it
# is (a bool for a bool, a str for a str...); None for lists and objects.
_SCALARS = {t.__name__: t for t in (bool, int, float, str)}
_EXACT = {
    name: _SCALARS.get(getattr(typing.get_args(hint)[0], "__name__", ""))
    for name, hint in _HINTS.items()
}
_SAFE_INT = 2**53  # converts to a float exactly


def _checked(name: str, value: Any) -> Any:
    """``value`` of context key ``name``, typed and in range, or a ``RequestError``
    naming the key. Values of exactly the field's type skip ``check_value``'s walk
    over the type hint: on the daemon's hot path that walk cost more than the rest."""
    exact = _EXACT[name]
    if type(value) is exact:
        pass
    elif exact is float and type(value) is int and -_SAFE_INT <= value <= _SAFE_INT:
        value = float(value)
    else:
        value = _typed(name, value)
    bounds = _RANGES.get(name)
    if bounds is not None:
        lo, hi, expected = bounds
        if (isinstance(value, float) and not math.isfinite(value)) or not lo <= value <= hi:
            big = isinstance(value, int) and value.bit_length() > 64
            raise _out_of_range(name, "a very large integer" if big else repr(value), expected)
    elif name == "target" and not value:
        raise RequestError(
            "routing context: target: found '', expected the name of a model or agent",
            param="context.target",
        )
    elif name == "session_id" and not is_unicode(value):
        raise RequestError(
            "routing context: session_id: found text with a lone surrogate (an unpaired "
            "\\ud800-\\udfff escape), expected text that is valid Unicode; the session log "
            "stores it as UTF-8",
            param="context.session_id",
        )
    elif name == "slots" and (not all(isinstance(k, str) for k in value) or too_deep(value)):
        raise RequestError(
            "routing context: slots: expected an object whose keys are strings, nested at "
            f"most {MAX_JSON_DEPTH} levels deep",
            param="context.slots",
        )
    return value


def _typed(name: str, value: Any) -> Any:
    """``value`` through the config loader's type check (``config.check_value``)."""
    try:
        return check_value(_HINTS[name], value, name)
    except ConfigError as exc:  # worded for TOML: a JSON caller knows tables as objects
        message = str(exc).replace("a table", "an object")
        raise RequestError(f"routing context: {message}", param=f"context.{name}") from None
    except OverflowError:  # an integer too large for a float
        raise _out_of_range(name, "a very large integer", _RANGES[name][2]) from None


def _out_of_range(name: str, found: str, expected: str) -> RequestError:
    return RequestError(
        f"routing context: {name}: found {found}, expected {expected}", param=f"context.{name}"
    )
