"""Training augmentation of the intent router: other styles, number words, near misses.

CLINC150 is written in one style. People talking to an assistant say "nine
times seven", "20 C to F", "new list for camping gear", and give commands to
devices that no built-in agent serves. Two seeded sources of extra training
rows, task ``chat`` (assistant requests) unless a template block names another:

* **templates** (``scripts/data/augment/templates.toml``): phrasings of the
  built-in agents' intents (spoken, imperative, fragments, number words,
  unit and time-zone phrasings, list verbs) and near misses for every agent
  (device and smart-home commands, media, navigation, messaging, contacts,
  news, recommendations), labelled with their CLINC150 intent or ``oos``;
  and everyday requests for an LLM (``oos``, with their task: writing ...);
* **style copies** of CLINC150 training queries: digits as number words, a
  spoken filler, a question turned imperative, a query cut to its fragment.
  A random share of *every* intent's rows (and of ``oos``) gets one copy, so
  no style becomes evidence for one intent.

Example::

    rows = augmented_rows(clinc_train_rows, seed=0)   # the same seed gives the same rows
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from edge_moma.routing.intent import IntentExample  # noqa: E402

TEMPLATES = Path(__file__).resolve().parent / "data" / "augment" / "templates.toml"
TASK = "chat"
STYLE_SHARE = 0.3  # of the source rows that get one style copy
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

_ONES = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen",
]  # fmt: skip
_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_SLOT = re.compile(r"\{(\w+)\}")


def number_words(n: int, rng: np.random.Generator | None = None) -> str:
    """``n`` (0 <= n < 10**9) in English words; ``rng`` varies "a hundred and five" /
    "one hundred five" as people say them."""
    if n < 0:
        return "minus " + number_words(-n, rng)
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + (f" {_ONES[ones]}" if ones else "")
    for size, word in ((10**6, "million"), (1000, "thousand"), (100, "hundred")):
        if n >= size:
            head, rest = divmod(n, size)
            lead = "a" if head == 1 and rng is not None and rng.random() < 0.5 else None
            text = f"{lead or number_words(head, rng)} {word}"
            if rest:
                joiner = " and " if rest < 100 and (rng is None or rng.random() < 0.7) else " "
                text += joiner + number_words(rest, rng)
            return text
    raise AssertionError("unreachable")


def _spell_decimal(value: str, rng: np.random.Generator) -> str:
    whole, _, frac = value.partition(".")
    text = number_words(int(whole), rng)
    if frac:
        text += " point " + " ".join(_ONES[int(d)] for d in frac)
    return text


def _number(rng: np.random.Generator, spoken: bool) -> str:
    """A number as people say or type it: small ones most often, sometimes a decimal."""
    u = rng.random()
    if u < 0.4:
        value = str(int(rng.integers(1, 21)))
    elif u < 0.7:
        value = str(int(rng.integers(21, 101)))
    elif u < 0.88:
        value = str(int(rng.integers(101, 1001)))
    elif u < 0.95:
        value = str(int(rng.integers(1001, 100_001)))
    else:
        value = f"{int(rng.integers(0, 20))}.{int(rng.integers(1, 10))}"
    return _spell_decimal(value, rng) if spoken else value


def _say(value: int, rng: np.random.Generator, spoken: bool) -> str:
    return number_words(value, rng) if spoken else str(value)


_PERCENTS = (5, 10, 12, 15, 18, 20, 25, 30, 33, 40, 50, 60, 75, 80)
# Generators of a slot's value; ``spoken``: numbers in words (one draw per filled template,
# as people say "nine times seven" or type "9 x 7").
GENERATORS: dict[str, Callable[[np.random.Generator, bool], str]] = {
    "n": _number,
    "n2": _number,
    "pct": lambda rng, spoken: _say(int(rng.choice(_PERCENTS)), rng, spoken),
    "deg": lambda rng, spoken: _say(int(rng.integers(-20, 221)), rng, spoken),
    "weekday": lambda rng, spoken: str(rng.choice(WEEKDAYS)),
}


def _fill(template: str, slots: dict[str, list[str]], rng: np.random.Generator) -> str:
    """``template`` with its slots filled; a slot named twice gets one value, and
    ``{x2}`` a value of ``x`` other than ``{x}``'s."""
    filled: dict[str, str] = {}
    spoken = bool(rng.random() < 0.5)

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in filled:
            return filled[name]
        if name in GENERATORS:
            value = GENERATORS[name](rng, spoken)
        else:
            base = name.rstrip("2")
            if base not in slots:
                raise KeyError(f"{TEMPLATES.name}: {template!r} uses an unknown slot {name!r}")
            choices = [c for c in slots[base] if c != filled.get(base)] or slots[base]
            value = str(choices[int(rng.integers(len(choices)))])
        filled[name] = value
        return value

    return " ".join(_SLOT.sub(one, template).split())


def template_rows(seed: int, path: Path = TEMPLATES) -> list[IntentExample]:
    """Rows of every template in ``path``, filled with a generator seeded by ``seed``."""
    spec: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    rng = np.random.default_rng(seed)
    slots = {k: v for key, part in spec.items() if key.startswith("slots") for k, v in part.items()}
    per = int(spec["settings"]["per_template"])
    rows: list[IntentExample] = []
    seen: set[str] = set()
    for block in spec["rows"]:
        for template in block["templates"]:
            for _ in range(int(block.get("per_template", per))):
                text = _fill(template, slots, rng)
                if text.lower() not in seen:
                    seen.add(text.lower())
                    rows.append(IntentExample(text, block["label"], block.get("task", TASK)))
    return rows


# --- style copies of existing queries ---------------------------------------------

_PREFIXES = ("hey ", "ok ", "um ", "so ", "hey there ", "yo ", "alright ", "please ")
_QUESTION_PREFIXES = ("quick question ", "can you tell me ", "i wanna know ", "do you know ")
_QUESTION = re.compile(r"^(?:what|how|when|where|who|which|why|is|are|do|does|did|can|will)\b")
_SUFFIXES = (" please", " for me", " thanks", " now", " real quick", " ok", " asap")
_ASKING = re.compile(
    r"^(?:please |hey |so |ok )?(?:(?:can|could|would|will) you (?:please )?"
    r"(?:tell me |let me know |help me )?|i need to know |i want to know |i'd like to know |"
    r"tell me |do you know |please tell me |i need you to |i want you to |i would like you to )"
)
_WH = re.compile(r"^(?:what is|what's|whats|what are) (?:the )?")
_DIGITS = re.compile(r"\d+(?:\.\d+)?")


def _with_number_words(text: str, rng: np.random.Generator) -> str:
    def one(m: re.Match[str]) -> str:
        value = m.group(0)
        return _spell_decimal(value, rng) if float(value) < 10**9 else value

    return _DIGITS.sub(one, text).replace("%", " percent")


def _spoken(text: str, rng: np.random.Generator) -> str:
    text = text.replace("what is", "what's").replace("i am ", "i'm ").rstrip("?")
    if rng.random() < 0.6:
        prefixes = _PREFIXES + _QUESTION_PREFIXES if _QUESTION.match(text) else _PREFIXES
        return prefixes[int(rng.integers(len(prefixes)))] + text
    return text + _SUFFIXES[int(rng.integers(len(_SUFFIXES)))]


def _imperative(text: str, rng: np.random.Generator) -> str:
    asked = _ASKING.sub("", text, count=1)
    if asked != text:
        return asked
    verb = ("tell me ", "give me ", "find ", "show me ")[int(rng.integers(4))]
    return _WH.sub(verb, text, count=1)


def _fragment(text: str, rng: np.random.Generator) -> str:
    cut = _WH.sub("", _ASKING.sub("", text, count=1), count=1).rstrip("?")
    for tail in (" please", " for me", " right now", " now"):
        cut = cut.removesuffix(tail)
    return cut if len(cut.split()) >= 2 else text


STYLES: dict[str, Callable[[str, np.random.Generator], str]] = {
    "number_words": _with_number_words,
    "spoken": _spoken,
    "imperative": _imperative,
    "fragment": _fragment,
}


def style_copies(
    rows: Sequence[IntentExample], seed: int, share: float = STYLE_SHARE
) -> list[IntentExample]:
    """One restyled copy of a random ``share`` of ``rows`` (label and task kept).

    Each chosen row tries the styles in a random order and keeps the first that
    changes it (a row without digits has no number-word copy).
    """
    return [copy for _, copy in styled_pairs(rows, seed, share)]


def styled_pairs(
    rows: Sequence[IntentExample], seed: int, share: float = STYLE_SHARE
) -> list[tuple[IntentExample, IntentExample]]:
    """``style_copies`` with each copy's source row: (source, copy), in order."""
    rng = np.random.default_rng(seed)
    names = list(STYLES)
    out = []
    for row in rows:
        if rng.random() >= share:
            continue
        text = row.text.lower()
        for k in rng.permutation(len(names)):
            styled = " ".join(STYLES[names[k]](text, rng).split())
            if styled and styled != text:
                out.append((row, IntentExample(styled, row.label, row.task)))
                break
    return out


def augmented_rows(rows: Sequence[IntentExample], seed: int) -> list[IntentExample]:
    """Style copies of ``rows`` plus the template rows, deduplicated against ``rows``."""
    known = {r.text.lower() for r in rows}
    out = []
    for r in style_copies(rows, seed) + template_rows(seed + 1):
        if r.text.lower() not in known:
            known.add(r.text.lower())
            out.append(r)
    return out
