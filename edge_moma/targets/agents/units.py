"""Unit conversion agent: length, area, mass, volume, temperature, speed and time spans.

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

from ...agents.base import (
    CANCEL_INTENT,
    CANNOT,
    CERTAIN,
    POSSIBLE,
    AgentReply,
    AgentTurn,
    cancelled,
    not_a_command,
    words,
)
from .calculator import format_number
from .numbers import without_thousands_separators, words_to_numbers


@dataclass(frozen=True)
class Unit:
    name: str
    plural: str
    dimension: str
    factor: float  # to the dimension's base unit (m, kg, l, m/s, s); temperature is special


_UNITS: dict[str, tuple[Unit, tuple[str, ...]]] = {}


def _unit(name: str, plural: str, dim: str, factor: float, *aliases: str) -> None:
    _UNITS[name] = (Unit(name, plural, dim, factor), (name, plural, *aliases))


_unit("millimeter", "millimeters", "length", 0.001, "millimetre", "millimetres", "mm")
_unit("centimeter", "centimeters", "length", 0.01, "centimetre", "centimetres", "cm")
_unit("decimeter", "decimeters", "length", 0.1, "decimetre", "decimetres", "dm")
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
# A "ton" said alone is the US (short) ton of 2,000 pounds; the British long ton is named.
_unit("ton", "tons", "mass", 907.18474, "short ton", "short tons", "us ton", "us tons")
_unit("long ton", "long tons", "mass", 1016.0469088, "imperial ton", "imperial tons")
_unit("ounce", "ounces", "mass", 0.028349523125, "oz")
_unit("pound", "pounds", "mass", 0.45359237, "lb", "lbs")
_unit("stone", "stones", "mass", 6.35029318)
_unit(
    "milliliter", "milliliters", "volume", 0.001, "millilitre", "millilitres", "ml", "ml's", "mls"
)
_unit("liter", "liters", "volume", 1.0, "litre", "litres", "l")
_unit("teaspoon", "teaspoons", "volume", 0.00492892159375, "tsp")
_unit("tablespoon", "tablespoons", "volume", 0.01478676478125, "tbsp")
_unit("fluid ounce", "fluid ounces", "volume", 0.0295735295625, "fl oz")
_unit("cup", "cups", "volume", 0.2365882365)
_unit("pint", "pints", "volume", 0.473176473, "pt")
_unit("quart", "quarts", "volume", 0.946352946, "qt")
_unit("gallon", "gallons", "volume", 3.785411784, "gal")
_unit(
    "celsius",
    "celsius",
    "temperature",
    1.0,
    "c",
    "°c",
    "centigrade",
    "degrees celsius",
    "celcius",
    "celsisus",
    "celsuis",
)
_unit(
    "fahrenheit",
    "fahrenheit",
    "temperature",
    1.0,
    "f",
    "°f",
    "degrees fahrenheit",
    "farenheit",
    "fahrenheight",
    "farenheight",
    "fahrenhiet",
)
_unit("kelvin", "kelvin", "temperature", 1.0, "k", "kelvins")
_unit("meter per second", "meters per second", "speed", 1.0, "m/s", "mps")
_unit(
    "kilometer per hour",
    "kilometers per hour",
    "speed",
    1 / 3.6,
    "km/h",
    "kmh",
    "kph",
    "km per hour",
    "kms per hour",
    "kilometres per hour",
    "kilometre per hour",
)
_unit("mile per hour", "miles per hour", "speed", 0.44704, "mph")
_unit("foot per second", "feet per second", "speed", 0.3048, "ft/s", "fps")
_unit("knot", "knots", "speed", 0.514444, "kn", "kt")
_unit(
    "square millimeter",
    "square millimeters",
    "area",
    1e-6,
    "square millimetre",
    "square millimetres",
    "sq mm",
    "mm2",
    "mm²",
)
_unit(
    "square centimeter",
    "square centimeters",
    "area",
    1e-4,
    "square centimetre",
    "square centimetres",
    "sq cm",
    "cm2",
    "cm²",
)
_unit(
    "square meter",
    "square meters",
    "area",
    1.0,
    "square metre",
    "square metres",
    "sq m",
    "m2",
    "m²",
)
_unit(
    "square kilometer",
    "square kilometers",
    "area",
    1e6,
    "square kilometre",
    "square kilometres",
    "sq km",
    "km2",
    "km²",
)
_unit("square inch", "square inches", "area", 0.00064516, "sq in")
_unit("square foot", "square feet", "area", 0.09290304, "sq ft", "sq feet", "ft2", "ft²")
_unit("square yard", "square yards", "area", 0.83612736, "sq yd", "sq yds")
_unit("square mile", "square miles", "area", 2589988.110336, "sq mi", "sq miles")
_unit("acre", "acres", "area", 4046.8564224)
_unit("hectare", "hectares", "area", 10000.0, "ha")
# Data sizes, in bytes. Kilo-, mega-, giga-, tera- and petabytes are decimal, as SI and
# storage makers count them (a kilobyte is 1,000 bytes); the binary sizes of 1,024 are named
# apart (kibibyte, mebibyte, gibibyte, tebibyte). "KB", "MB", "GB" and "TB" are bytes.
_unit("bit", "bits", "data", 0.125)
_unit("byte", "bytes", "data", 1.0)
_unit("kilobit", "kilobits", "data", 125.0, "kbit", "kbits")
_unit("megabit", "megabits", "data", 125e3, "mbit", "mbits")
_unit("gigabit", "gigabits", "data", 125e6, "gbit", "gbits")
_unit("kilobyte", "kilobytes", "data", 1e3, "kb")
_unit("megabyte", "megabytes", "data", 1e6, "mb")
_unit("gigabyte", "gigabytes", "data", 1e9, "gb")
_unit("terabyte", "terabytes", "data", 1e12, "tb")
_unit("petabyte", "petabytes", "data", 1e15, "pb")
_unit("kibibyte", "kibibytes", "data", 1024.0, "kib")
_unit("mebibyte", "mebibytes", "data", 1024.0**2, "mib")
_unit("gibibyte", "gibibytes", "data", 1024.0**3, "gib")
_unit("tebibyte", "tebibytes", "data", 1024.0**4, "tib")
_unit("second", "seconds", "time", 1.0, "sec", "secs")
_unit("minute", "minutes", "time", 60.0, "min", "mins")
_unit("hour", "hours", "time", 3600.0, "hr", "hrs")
_unit("day", "days", "time", 86400.0)
_unit("week", "weeks", "time", 604800.0, "wk", "wks")
_unit("fortnight", "fortnights", "time", 1209600.0)
_unit("month", "months", "time", 2629746.0)  # a mean Gregorian month, 30.436875 days
_unit("year", "years", "time", 31556952.0, "yr", "yrs")  # a mean Gregorian year
_unit("decade", "decades", "time", 315569520.0)
_unit("century", "centuries", "time", 3155695200.0)

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
# Words without which no text names a unit (the claim's cheap gate).
_UNIT_WORDS = frozenset(
    w for a in _ALIASES if a not in ("in", '"') for w in a.split() if w not in ("per", "metric")
)
_SHORT_TARGET_RE = re.compile(
    r"\b(?:to|in|into|convert|from|many|much)\s+("
    + "|".join(re.escape(a) for a in sorted(_SHORT - {"in", '"'}, key=len, reverse=True))
    + r")(?![\w/])"
)
_NEGATIVE = re.compile(r"\b(?:minus|negative)\s+(?=\d)")
_BELOW_ZERO = re.compile(r"(\d+(?:\.\d+)?)\s+(?:degrees\s+)?below\s+(?:zero|0)\b")
_CONVERSION_WORDS = re.compile(
    r"\b(?:convert\w*|conversion|how\s+(?:many|much)|equal\w*|equivalent|in\s+(?:metric|imperial))\b"
)
_INTO = re.compile(r"\b(?:to|in|into)\b")
_HOW_FAR = re.compile(
    r"\bhow\s+(?:many|much|far)\s+\w+\s+(?:is\s+it\s+|away\s+|far\s+)?(?:to|from|until|till)\s+(?!\d)"
)
_AMOUNT_OF = re.compile(r"\bhow\s+(?:many|much)\s+\w+(?:\s+\w+)?\s+of\s+(?!an?\b|one\b|\d)")
_CONVERT_WORDS = frozenset(
    ["convert", "converts", "converted", "converting", "conversion", "conversions", "measurement",
     "measurements", "equivalent"]
)  # fmt: skip
_CONVERT = re.compile(r"\b(?:" + "|".join(_CONVERT_WORDS) + r")\b")
_NOT_A_UNIT = re.compile(r"\b(?:to|into|in)\s+(?!(?:metric|imperial|us|uk|standard)\b)[a-z]")
# A thing converted, no unit named: "convert this recipe to metric", "convert my file".
_A_THING = re.compile(
    r"\bconvert\s+(?:this|that|these|those|my|our|your)\s+"
    r"(?!(?:units?|measurements?|numbers?|amounts?|values?|temperatures?|weights?)\b)[a-z]"
)
# A conversion into money is not a unit conversion ("100 pounds in dollars").
_CURRENCY = re.compile(
    r"\b(?:dollars?|bucks|euros?|yen|rupees?|pesos?|francs?|yuan|won|bitcoins?|sterling|"
    r"usd|eur|gbp|currency|exchange)\b|[$€£¥]"
)


# A command that sets something to a value ("set the thermostat from 68 fahrenheit to 20
# celsius", "preheat the oven to 180 celsius"): a conversion only when its two units are
# joined as one ("change 60 kilometers per hour to miles per hour").
_SETTING = re.compile(
    r"^\W*(?:please\s+)?(?:set|change|turn|switch|preheat|heat|cool|warm|put|adjust|raise|"
    r"lower|bring|keep|make)\s+(?:the|my|our|it|this|that|up|down|on|off)\b"
)


# "A bit" and "a little bit" mean "somewhat", unless the request names another data size
# ("how many bytes in a bit").
_A_BIT = re.compile(r"\b(?:an?|little|tiny|wee)\s+bit\b")
_DATA_WORDS = re.compile(r"\b(?:\w*bytes?|\w*bits|kilobit|megabit|gigabit|[kmgtp]i?b)\b")


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
    linked: bool = False  # the two units are joined as a conversion ("10 kg in pounds")


# Words that join two units into a conversion, and words that may stand beside them.
_LINKS = frozenset(
    ["to", "in", "into", "is", "are", "as", "equals", "equal", "make", "makes", "per", "="]
)
_ASKING = frozenset(["give", "need", "want", "please", "show", "from"])
_BESIDE = frozenset(
    ["how", "many", "much", "what", "what's", "whats", "that", "there", "a", "an", "one", "the",
     "is", "are", "be", "would", "will", "does", "do", "i", "you", "me", "tell", "get", "of"]
)  # fmt: skip


# Words that may stand right before a unit without changing it ("a US cup", "a fluid ounce").
_UNIT_QUALIFIERS = frozenset(
    ["us", "u.s.", "uk", "imperial", "metric", "american", "british", "standard", "fluid",
     "liquid", "dry", "square", "cubic", "nautical", "statute", "short", "long", "level",
     "full", "single", "regular", "whole", "mean", "calendar"]
)  # fmt: skip


_ARTICLES = frozenset(["the", "one", "each", "every", "per"])  # ("a" and "an" read as 1)


def _qualified(between: list[str]) -> bool:
    """Whether a word right before the second unit makes it something else: "how many days
    are in a leap year" asks a fact about leap years, "hours in a school day" one about
    school days, not a conversion."""
    if len(between) < 2 or not (between[-2][0].isdigit() or between[-2] in _ARTICLES):
        return False  # "tablespoons and cups", "feet in 3 yards": no word qualifies a unit
    last = between[-1]
    return (
        last[0].isalpha()
        and last not in _LINKS
        and last not in _BESIDE
        and last not in _UNIT_QUALIFIERS
        and last not in _UNIT_WORDS
    )


# Feet and inches said together ("6 foot 2", "5 ft 10 in to cm", "5 feet and 3 inches"):
# an "in" after the inches is their unit only when "in", "to" or "into" follows it.
_FEET_INCHES = re.compile(
    r"\b(\d+)\s*(?:foot|feet|ft)\s*,?\s*(?:and\s+)?(\d+(?:\.\d+)?)"
    r"(?!\s*(?:meters?|metres?|m|cm|mm|km|yards?|yd|miles?|mi)\b)"
    r"(?:\s*(?:inches|inch|in)\b(?=\s+(?:in|to|into)\b)|\s*(?:inches|inch)\b)?"
)


def _in_inches(m: re.Match[str]) -> str:
    return f"{int(m.group(1)) * 12 + float(m.group(2)):g} inches"


def parse(text: str) -> Request:
    """The value, source and target units named in ``text`` (each may be missing)."""
    t = words_to_numbers(text.lower().replace("’", "'"))
    if "bit" in t and _A_BIT.search(t) and not _DATA_WORDS.search(_A_BIT.sub("", t)):
        t = _A_BIT.sub("somewhat", t)  # "slow down a bit", with no other data size
    # each substitution only when the text holds a word it cannot match without
    if "minus" in t or "negative" in t:
        t = _NEGATIVE.sub("-", t)
    if "below" in t:
        t = _BELOW_ZERO.sub(r"-\1", t)
    t = re.sub(r"\b(?:a|an)\s+(?=[a-z])", "1 ", t)
    t = without_thousands_separators(t)
    if "f" in t:  # "6 foot 2 in cm": a height in feet and inches is one length
        t = _FEET_INCHES.sub(_in_inches, t)
    found: list[tuple[int, int, str]] = []
    longs = list(_LONG_RE.finditer(t))
    for m, g in [(m, 2) for m in _SHORT_RE.finditer(t)] + [
        (m, 1) for m in _SHORT_TARGET_RE.finditer(t)
    ]:  # "5 km", "in km", unless a longer name starts there ("km per hour")
        if not any(n.start() == m.start(g) and n.end() > m.end(g) for n in longs):
            found.append((m.start(g), m.end(g), _ALIASES[m.group(g)]))
    for m in longs:
        if not any(m.start() <= pos < m.end() for pos, _, _ in found):
            found.append((m.start(), m.end(), _ALIASES[m.group(1)]))
    found = _race_distance(_dedupe_mass_volume(sorted(found)), t)
    number = _NUMBER_RE.search(t)
    value = float(number.group(0)) if number else None
    units = [name for _, _, name in found]
    if not units:
        return Request(value, None, None)
    how_many = re.search(r"how\s+(?:many|much)\s+(?:\w+\s+)?", t)
    if len(units) == 1:
        # "in pounds?" names only a target; "10 kg" only a source.
        pos = found[0][0]
        if (
            how_many
            and how_many.start() <= pos <= how_many.end() + 1
            or re.search(r"\b(?:to|in|into)\s+(?:degrees\s+)?$", t[:pos])
        ):
            return Request(value, None, units[0])
        return Request(value, units[0], None)
    first, second = found[0], found[1]
    between = re.findall(r"[^\s,]+", t[first[1] : second[0]])
    # a number (or "a") right before the first unit, a conversion question, or the two
    # units joined by "to" after nothing but filler ("give me kilograms to pounds": the
    # agent gives the rate; not "switch the thermostat from celsius to fahrenheit")
    asked = (
        bool(_CONVERSION_WORDS.search(t))
        or re.search(r"-?\d+(?:\.\d+)?\s*(?:degrees?\s+)?$", t[: first[0]])
        or between in (["to"], ["into"])
        and all(w in _BESIDE or w in _ASKING for w in re.findall(r"[^\s,]+", t[: first[0]]))
    )
    # an amount before each unit is a change from one to the other ("set the thermostat from
    # 68 fahrenheit to 20 celsius"), not a conversion, which has one amount
    both = (
        bool(between)
        and _NUMBER_RE.fullmatch(between[-1]) is not None
        and re.search(r"-?\d+(?:\.\d+)?\s*(?:degrees?\s+)?$", t[: first[0]]) is not None
    )
    linked = (
        bool(asked)
        and first[2] != second[2]
        and not both
        and not _qualified(between)
        and (
            bool(_CONVERT.search(t))
            or (
                any(w in _LINKS for w in between)
                and sum(
                    1
                    for w in between
                    if w not in _LINKS and w not in _BESIDE and not w[0].isdigit()
                )
                <= 1
            )
        )
    )
    if how_many and how_many.start() <= first[0] <= how_many.end() + 1:
        return Request(value, second[2], first[2], linked)
    if (
        number
        and abs(second[0] - number.end()) < abs(first[0] - number.end())
        and (second[0] > number.end() > first[0])
    ):
        return Request(value, second[2], first[2], linked)
    return Request(value, first[2], second[2], linked)


def _race_distance(found: list[tuple[int, int, str]], t: str) -> list[tuple[int, int, str]]:
    """A "k" beside a length is a race's kilometres ("what's 5k in miles"), not kelvin."""
    if any(unit(n).dimension == "length" for _, _, n in found):
        found = [(p, e, "kilometer" if n == "kelvin" and t[p:e] == "k" else n) for p, e, n in found]
    return found


def _dedupe_mass_volume(found: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Ounces beside a volume unit are fluid ounces ("ounces and cups")."""
    dims = {unit(n).dimension for _, _, n in found}
    if "volume" in dims:
        found = [(p, e, "fluid ounce" if n == "ounce" else n) for p, e, n in found]
    return found


def claim(text: str) -> float:
    """How surely the units agent reads ``text`` (the agent stage's claim, see ``agent_stage``).

    ``CERTAIN`` when two different units of the same kind are joined as a
    conversion ("20 C to F", "how many ounces in a cup", "12 feet is equal to
    how many inches", "give me kilograms to pounds": the rate); ``POSSIBLE``
    for units that are not joined so ("what day of the week"; "how many days
    are in a leap year", where a word before the unit makes it a thing), one
    unit in a question with "to/in/how many" ("convert kilos": the agent asks
    for the rest) or conversion words alone;
    ``CANNOT`` otherwise: no unit (a thing converted: "convert this recipe
    to metric"), units of different kinds ("grams in a cup"), a command that
    sets something to a value ("set the oven to 350 F",
    "set the thermostat from 68 fahrenheit to 20 celsius": an amount before
    each unit is a change, not a conversion), one unit with
    neither an amount nor "convert" ("how tall is Everest in feet": a fact
    in a unit), money ("100 pounds in dollars"), and what no built-in agent
    takes (``not_a_command``): writing about a subject, a question about words
    ("how do you spell kilometer"), a question for a reason or a person or
    settings.
    """
    t, words_in, _ = words(text)
    if _UNIT_WORDS.isdisjoint(words_in):  # "convert a pdf to word": into something not a unit
        return (
            CANNOT
            if _CONVERT_WORDS.isdisjoint(words_in) or _NOT_A_UNIT.search(t) or _A_THING.search(t)
            else POSSIBLE
        )
    if _CURRENCY.search(t) or not_a_command(t, words_in):
        return CANNOT
    req = parse(t)
    if req.source and req.target:
        if unit(req.source).dimension != unit(req.target).dimension:
            return CANNOT
        if req.linked:
            return CERTAIN
        return CANNOT if _SETTING.match(t) else POSSIBLE
    if _SETTING.match(t):
        return CANNOT  # a device set to a value in a unit: "set the oven to 350 F"
    if req.source or req.target:
        spelled = words_to_numbers(t)
        if _AMOUNT_OF.search(spelled) or _HOW_FAR.search(t):
            # "how many grams of protein in an egg": an amount, not a conversion;
            # "how many kilometers is it to the lake": a distance
            return CANNOT
        if not _CONVERT.search(t) and not _NUMBER_RE.search(spelled):
            # one unit, no amount, no "convert": a fact asked in a unit ("how tall is
            # Everest in feet", "how many steps make a mile"), not a conversion
            return CANNOT
        return POSSIBLE if _CONVERSION_WORDS.search(t) or _INTO.search(t) else CANNOT
    return POSSIBLE if _CONVERT.search(t) else CANNOT


class UnitsAgent:
    """Answers the ``measurement_conversion`` intent on the device."""

    name = "units"
    claim = staticmethod(claim)

    def __init__(self, name: str = "units", **_: Any):
        self.name = name

    def handle(self, turn: AgentTurn) -> AgentReply:
        if turn.intent == CANCEL_INTENT:
            return cancelled(self.name)
        req = parse(turn.request)
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
