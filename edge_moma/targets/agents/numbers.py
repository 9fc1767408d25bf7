"""Numbers written in words, as people say them to an assistant, rewritten as digits.

"twenty one" -> 21, "a hundred and five" -> 105, "one point five" -> 1.5,
"two and a half" -> 2.5, "nineteen eighty five" -> 1985, "3 million" ->
3000000, "negative five" -> -5, "a third of" -> 0.3333333333333333 of. Words
that do not combine into one number stay separate numbers ("nine seven" ->
"9 7", "sixty and forty two" -> "60 and 42"): "and" joins only after a scale
word, as in "two thousand and twenty". Shared by every built-in agent so that
"twenty" means the same to the calculator, the units and the clock.

Example::

    >>> words_to_numbers("what's a hundred and five minus thirty eight")
    "what's 105 minus 38"
"""

from __future__ import annotations

import functools
import re

from ...agents.base import holds_any

ONES = {
    "zero": 0, "oh": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19,
}  # fmt: skip
TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
    "eighty": 80, "ninety": 90,
}  # fmt: skip
SCALES = {"hundred": 100, "thousand": 1_000, "million": 1_000_000, "billion": 1_000_000_000}
_DIGITS = {k: v for k, v in ONES.items() if v < 10}
_DENOMINATORS = {
    "half": 2, "halves": 2, "third": 3, "thirds": 3, "quarter": 4, "quarters": 4, "fourth": 4,
    "fourths": 4, "fifth": 5, "fifths": 5, "sixth": 6, "sixths": 6, "eighth": 8, "eighths": 8,
    "tenth": 10, "tenths": 10,
}  # fmt: skip

_WORD = "|".join(sorted((w for w in [*ONES, *TENS, *SCALES] if w != "oh"), key=len, reverse=True))
_DIGIT_WORD = "|".join(sorted(_DIGITS, key=len, reverse=True))
# A run: number words joined by spaces/hyphens ("and" only after a scale word), an
# optional decimal part ("point five"), an optional "and a half".
_RUN = re.compile(
    rf"\b(?:{_WORD})\b(?:(?:[\s-]+|(?<=hundred)\s+and\s+|(?<=thousand)\s+and\s+"
    rf"|(?<=million)\s+and\s+|(?<=billion)\s+and\s+)(?:{_WORD})\b)*"
    rf"(?:\s+point(?:\s+(?:{_DIGIT_WORD}|oh))+\b)?"
    rf"(?:\s+and\s+a\s+(?:half|quarter)\b)?"
)
_A_SCALE = re.compile(r"\b(?:a|an)\s+(?=(?:hundred|thousand|million|billion)\b)")
_POINT_DIGITS = re.compile(rf"\b(\d+)\s+point((?:\s+(?:{_DIGIT_WORD}|oh))+)\b")
_DIGIT_SCALE = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)\s+(hundred|thousand|million|billion)\b")
_NEGATIVE = re.compile(r"\bnegative\s+(?=\d)")
_FRACTION = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?|a|an)\s+(" + "|".join(_DENOMINATORS) + r")\b")
_HALF = re.compile(r"\bhalf\s+(?:an?\s+|(?=of\b))")
_AND_A_HALF = re.compile(r"(?<![\d.])(\d+)\s+and\s+a\s+(half|quarter)\b")
_SCALE_WORDS = tuple(SCALES)
# Every denominator holds one of these ("thirds" holds "third", "halves" itself).
_FRACTION_WORDS = (
    "half",
    "halves",
    "third",
    "quarter",
    "fourth",
    "fifth",
    "sixth",
    "eighth",
    "tenth",
)


def _convert(run: str) -> str:
    """One run of number words -> one or more numbers in digits."""
    words = [w for w in re.split(r"[\s-]+", run) if w]
    fraction = 0.0
    if words[-3:-1] == ["and", "a"] and words[-1] in ("half", "quarter"):
        fraction = 0.5 if words[-1] == "half" else 0.25
        words = words[:-3]
    decimals = ""
    if "point" in words:
        at = words.index("point")
        decimals = "".join(str(_DIGITS.get(w, 0)) for w in words[at + 1 :])
        words = words[:at]
    numbers: list[int] = []
    total, current, last = 0, 0, ""
    for w in words:
        if w == "and":
            continue
        if w in SCALES:
            if w == "hundred":
                current = max(current, 1) * 100
            else:
                total += max(current, 1) * SCALES[w]
                current = 0
            last = "scale"
            continue
        v = ONES.get(w, TENS.get(w, 0))
        kind = "tens" if w in TENS else "teen" if v >= 10 else "ones"
        if last in ("teen", "tens") and current < 100 and (kind == "tens" or v >= 10):
            current = current * 100 + v  # "nineteen eighty", "twenty twenty", "twenty eleven"
        elif last == "tens" and kind == "ones" and current % 10 == 0:
            current += v  # "twenty one"
        elif last in ("ones", "teen", "tens") or (last == "scale" and current % 100 and v):
            numbers.append(total + current)  # "nine seven": two numbers
            total, current = 0, v
        else:
            current += v
        last = kind
    numbers.append(total + current)
    head = [str(n) for n in numbers[:-1]]
    tail = numbers[-1]
    if decimals:
        return " ".join([*head, f"{tail}.{decimals}"])
    if fraction:
        return " ".join([*head, number_text(tail + fraction)])
    return " ".join([*head, str(tail)])


def number_text(value: float) -> str:
    """A number as digits that read back exactly (no rounding: 1/3 stays 1/3 as a float)."""
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}\b)")


def without_thousands_separators(text: str) -> str:
    """``text`` with the commas between a number's digits dropped ("1,500" -> "1500")."""
    return _THOUSANDS.sub("", text) if "," in text else text


_ANY = re.compile(rf"\d|\b(?:{_WORD}|half|negative|{'|'.join(_DENOMINATORS)})\b")


@functools.lru_cache(maxsize=64)
def words_to_numbers(text: str) -> str:
    """``text`` (lower case) with number words, fractions and scales written as digits.
    Cached: the claims of the calculator, the units and the clock each read the same turn."""
    if not _ANY.search(text):
        return text
    # Each substitution below runs only when the text holds a word it cannot match without
    # (a scale, "point", "half" or "quarter", a denominator, "negative").
    t = text
    if holds_any(t, _SCALE_WORDS):
        t = _A_SCALE.sub("one ", t)
        t = _DIGIT_SCALE.sub(lambda m: number_text(float(m.group(1)) * SCALES[m.group(2)]), t)
    t = _RUN.sub(lambda m: _convert(m.group(0)), t)
    if "point" in t:
        t = _POINT_DIGITS.sub(
            lambda m: (
                m.group(1) + "." + "".join(str(_DIGITS.get(w, 0)) for w in m.group(2).split())
            ),
            t,
        )
    if "half" in t or "quarter" in t:
        t = _AND_A_HALF.sub(
            lambda m: number_text(int(m.group(1)) + (0.5 if m.group(2) == "half" else 0.25)), t
        )
    if "half" in t:
        t = _HALF.sub("0.5 ", t)
    if holds_any(t, _FRACTION_WORDS):
        t = _FRACTION.sub(
            lambda m: number_text(
                (1.0 if m.group(1) in ("a", "an") else float(m.group(1)))
                / _DENOMINATORS[m.group(2)]
            ),
            t,
        )
    return _NEGATIVE.sub("-", t) if "negative" in t else t
