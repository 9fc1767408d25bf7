"""Unit conversion agent: length, mass, volume, temperature and speed.

Units are found by their names and abbreviations ("kilos", "km/h", "°F"), the
value by the first number (digits or words; none means 1, so "convert kilos to
pounds" gives the factor). "How many X in N Y" converts Y to X; otherwise the
unit next to the number is the source. A follow-up reuses the last
conversion's missing parts: after "70 F in C", "and in kelvin?" converts 70 F
to kelvin and "what about 100?" converts 100 F to C.

Example::

    >>> convert(10, "kilogram", "pound")
    22.046226218487757
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ...agents.base import CANCEL_INTENT, AgentReply, AgentTurn, cancelled
from .calculator import format_number, words_to_numbers


@dataclass(frozen=True)
class Unit:
    name: str
    plural: str
    dimension: str
    factor: float  # to the dimension's base unit (m, kg, l, m/s); temperature is special


_UNITS: dict[str, tuple[Unit, tuple[str, ...]]] = {}


def _unit(name: str, plural: str, dim: str, factor: float, *aliases: str) -> None:
    _UNITS[name] = (Unit(name, plural, dim, factor), (name, plural, *aliases))


_unit("millimeter", "millimeters", "length", 0.001, "millimetre", "millimetres", "mm")
_unit("centimeter", "centimeters", "length", 0.01, "centimetre", "centimetres", "cm")
_unit("meter", "meters", "length", 1.0, "metre", "metres", "m")
_unit("kilometer", "kilometers", "length", 1000.0, "kilometre", "kilometres", "km", "kms")
_unit("inch", "inches", "length", 0.0254, "in", '"')
_unit("foot", "feet", "length", 0.3048, "ft")
_unit("yard", "yards", "length", 0.9144, "yd", "yds")
_unit("mile", "miles", "length", 1609.344, "mi")
_unit("milligram", "milligrams", "mass", 1e-6, "mg")
_unit("gram", "grams", "mass", 0.001, "g", "gramme", "grammes")
_unit("kilogram", "kilograms", "mass", 1.0, "kg", "kgs", "kilo", "kilos")
_unit("tonne", "tonnes", "mass", 1000.0, "metric ton", "metric tons")
_unit("ounce", "ounces", "mass", 0.028349523125, "oz")
_unit("pound", "pounds", "mass", 0.45359237, "lb", "lbs")
_unit("stone", "stones", "mass", 6.35029318, "st")
_unit("milliliter", "milliliters", "volume", 0.001, "millilitre", "millilitres", "ml")
_unit("liter", "liters", "volume", 1.0, "litre", "litres", "l")
_unit("teaspoon", "teaspoons", "volume", 0.00492892159375, "tsp")
_unit("tablespoon", "tablespoons", "volume", 0.01478676478125, "tbsp")
_unit("fluid ounce", "fluid ounces", "volume", 0.0295735295625, "fl oz")
_unit("cup", "cups", "volume", 0.2365882365)
_unit("pint", "pints", "volume", 0.473176473, "pt")
_unit("quart", "quarts", "volume", 0.946352946, "qt")
_unit("gallon", "gallons", "volume", 3.785411784, "gal")
_unit("celsius", "celsius", "temperature", 1.0, "c", "°c", "centigrade", "degrees celsius")
_unit("fahrenheit", "fahrenheit", "temperature", 1.0, "f", "°f", "degrees fahrenheit")
_unit("kelvin", "kelvin", "temperature", 1.0, "k", "kelvins")
_unit("meter per second", "meters per second", "speed", 1.0, "m/s", "mps")
_unit("kilometer per hour", "kilometers per hour", "speed", 1 / 3.6, "km/h", "kmh", "kph")
_unit("mile per hour", "miles per hour", "speed", 0.44704, "mph")
_unit("foot per second", "feet per second", "speed", 0.3048, "ft/s", "fps")
_unit("knot", "knots", "speed", 0.514444, "kn", "kt")

_ALIASES: dict[str, str] = {}
for _name, (_u, _names) in _UNITS.items():
    for _alias in _names:
        _ALIASES[_alias] = _name
_SHORT = {a for a in _ALIASES if len(a) <= 2}  # "in", "m", "c": only right after a number
_LONG_RE = re.compile(
    r"(?<![\w/])("
    + "|".join(re.escape(a) for a in sorted(_ALIASES, key=len, reverse=True) if a not in _SHORT)
    + r")(?![\w/])"
)
_NUMBER = r"-?\d+(?:\.\d+)?"
_SHORT_RE = re.compile(
    rf"({_NUMBER})\s*(?:degrees?\s+)?("
    + "|".join(re.escape(a) for a in sorted(_SHORT, key=len, reverse=True))
    + r")(?![\w/])"
)
_NUMBER_RE = re.compile(_NUMBER)
_SHORT_TARGET_RE = re.compile(
    r"\b(?:to|in|into)\s+("
    + "|".join(re.escape(a) for a in sorted(_SHORT - {"in", '"'}, key=len, reverse=True))
    + r")(?![\w/])"
)


class ConversionError(ValueError):
    """Two units that cannot be converted into each other, or none found."""


def unit(name: str) -> Unit:
    return _UNITS[name][0]


def convert(value: float, source: str, target: str) -> float:
    """``value`` in unit ``source`` expressed in unit ``target`` (canonical names)."""
    a, b = unit(source), unit(target)
    if a.dimension != b.dimension:
        raise ConversionError(
            f"{a.plural} measure {a.dimension} and {b.plural} measure {b.dimension}; "
            "they cannot be converted into each other"
        )
    if a.dimension == "temperature":
        kelvin = {
            "celsius": value + 273.15,
            "fahrenheit": (value - 32) * 5 / 9 + 273.15,
            "kelvin": value,
        }[a.name]
        return {
            "celsius": kelvin - 273.15,
            "fahrenheit": (kelvin - 273.15) * 9 / 5 + 32,
            "kelvin": kelvin,
        }[b.name]
    return value * a.factor / b.factor


@dataclass(frozen=True)
class Request:
    value: float | None
    source: str | None
    target: str | None


def parse(text: str) -> Request:
    """The value, source and target units named in ``text`` (each may be missing)."""
    t = words_to_numbers(text.lower().replace("’", "'"))
    t = re.sub(r"\b(?:a|an)\s+(?=[a-z])", "1 ", t)
    t = re.sub(r"(?<=\d),(?=\d{3}\b)", "", t)
    found: list[tuple[int, str]] = []
    for m in _SHORT_RE.finditer(t):
        found.append((m.start(2), _ALIASES[m.group(2)]))
    for m in _SHORT_TARGET_RE.finditer(t):
        found.append((m.start(1), _ALIASES[m.group(1)]))
    for m in _LONG_RE.finditer(t):
        if not any(m.start() <= pos < m.end() for pos, _ in found):
            found.append((m.start(), _ALIASES[m.group(1)]))
    found = _dedupe_mass_volume(sorted(found))
    number = _NUMBER_RE.search(t)
    value = float(number.group(0)) if number else None
    units = [name for _, name in found]
    if not units:
        return Request(value, None, None)
    how_many = re.search(r"how\s+(?:many|much)\s+(?:\w+\s+)?", t)
    if len(units) == 1:
        # "in pounds?" names only a target; "10 kg" only a source.
        pos = found[0][0]
        if (
            how_many
            and pos <= how_many.end() + 1
            or re.search(r"\b(?:to|in|into)\s+(?:degrees\s+)?$", t[:pos])
        ):
            return Request(value, None, units[0])
        return Request(value, units[0], None)
    first, second = found[0], found[1]
    if how_many and first[0] <= how_many.end() + 1:
        return Request(value, second[1], first[1])
    if (
        number
        and abs(second[0] - number.end()) < abs(first[0] - number.end())
        and (second[0] > number.end() > first[0])
    ):
        return Request(value, second[1], first[1])
    return Request(value, first[1], second[1])


def _dedupe_mass_volume(found: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """Ounces beside a volume unit are fluid ounces ("ounces and cups")."""
    dims = {unit(n).dimension for _, n in found}
    if "volume" in dims:
        found = [(p, "fluid ounce" if n == "ounce" else n) for p, n in found]
    return found


class UnitsAgent:
    """Answers the ``measurement_conversion`` intent on the device."""

    name = "units"

    def __init__(self, name: str = "units", **_: Any):
        self.name = name

    def handle(self, turn: AgentTurn) -> AgentReply:
        if turn.intent == CANCEL_INTENT:
            return cancelled(self.name)
        req = parse(turn.text)
        last = turn.slots
        value = req.value
        source, target = req.source, req.target
        if last.get("source") and last.get("target"):  # a follow-up fills what is missing
            if source and not target and value is None:
                source, target = last["source"], source  # "and in kelvin?"
            if source is None and target is None:
                source, target = last["source"], last["target"]
            elif source is None:
                source = last["source"]
            elif target is None:
                target = last["target"]
            if value is None:
                value = float(last.get("value", 1.0))
        if source is None or target is None:
            missing = (
                "what to convert"
                if source is None
                else f"what to convert {unit(source).plural} into"
            )
            return AgentReply(
                reply=f"Tell me {missing}, for example: 10 kilograms in pounds, or 70 F in C.",
                state="need_input",
                slots={k: v for k, v in (("source", source), ("target", target)) if v},
                data={"error": "a unit is missing"},
            )
        if value is None:
            value = 1.0
        try:
            result = convert(value, source, target)
        except ConversionError as exc:
            return AgentReply(reply=f"I can't do that: {exc}.", data={"error": str(exc)})
        a, b = unit(source), unit(target)
        shown = round(result, 4) if abs(result) >= 0.01 else float(f"{result:.4g}")
        reply = (
            f"{format_number(value)} {a.name if value == 1 else a.plural} = "
            f"{format_number(shown)} {b.name if shown == 1 else b.plural}"
        )
        data = {"value": value, "source": source, "target": target, "result": result}
        return AgentReply(reply=reply, state="done", slots=dict(data), data=data)
