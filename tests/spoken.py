"""Numbers as people say them, for tests: an independent writer of what ``numbers`` reads."""

from __future__ import annotations

_ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
         "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
         "eighteen", "nineteen"]  # fmt: skip
_TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def _below_thousand(n: int, a_hundred: bool) -> str:
    hundreds, rest = divmod(n, 100)
    words = []
    if hundreds:
        words.append(("a" if a_hundred and hundreds == 1 else _ONES[hundreds]) + " hundred")
    if rest:
        if hundreds:
            words.append("and")
        if rest < 20:
            words.append(_ONES[rest])
        else:
            tens, ones = divmod(rest, 10)
            words.append(_TENS[tens] + (f" {_ONES[ones]}" if ones else ""))
    return " ".join(words)


def spoken(n: int, a_hundred: bool = False) -> str:
    """0 <= n < 1e9 in words: 105 -> "one hundred and five" ("a hundred and five")."""
    if n == 0:
        return "zero"
    parts = []
    for scale, name in ((1_000_000, "million"), (1_000, "thousand")):
        if n >= scale:
            parts.append(f"{_below_thousand(n // scale, False)} {name}")
            n %= scale
    if n:
        parts.append(_below_thousand(n, a_hundred and not parts))
    return " ".join(parts)


def spoken_decimal(whole: int, digits: str) -> str:
    """12, "05" -> "twelve point zero five"."""
    return f"{spoken(whole)} point " + " ".join(_ONES[int(d)] for d in digits)
