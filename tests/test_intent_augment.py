"""The intent router's training augmentation (scripts/intent_augment.py): seeded,
labelled with real labels, and saying numbers the way people do."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from intent_augment import (  # noqa: E402
    STYLES,
    augmented_rows,
    number_words,
    style_copies,
    styled_pairs,
    template_rows,
)

from edge_moma.routing.intent import OOS, IntentExample  # noqa: E402

CLINC = json.loads((ROOT / "scripts/data/clinc150/data_full.json").read_text(encoding="utf-8"))
AGENT_INTENTS = {
    "calculator", "measurement_conversion", "time", "date", "timezone", "reminder",
    "reminder_update", "todo_list", "todo_list_update", "shopping_list", "shopping_list_update",
}  # fmt: skip

_UNITS = {
    w: i
    for i, w in enumerate(
        ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
         "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
         "eighteen", "nineteen"]
    )
}  # fmt: skip
_TENS = {w: 10 * (i + 2) for i, w in enumerate(
    ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
)}  # fmt: skip
_SCALES = {"hundred": 100, "thousand": 1000, "million": 10**6}


def _parse(words: str) -> int:
    """A reader of English number words, independent of the writer under test."""
    tokens = words.split()
    sign = -1 if tokens[:1] == ["minus"] else 1
    total = current = 0
    for w in tokens[1:] if sign < 0 else tokens:
        if w in ("and",):
            continue
        if w == "a":
            current += 1
        elif w in _UNITS:
            current += _UNITS[w]
        elif w in _TENS:
            current += _TENS[w]
        elif w == "hundred":
            current *= 100
        elif w in _SCALES:
            total += current * _SCALES[w]
            current = 0
        else:
            raise ValueError(f"not a number word: {w!r}")
    return sign * (total + current)


@given(st.integers(min_value=-(10**9) + 1, max_value=10**9 - 1), st.integers(0, 2**32 - 1))
def test_number_words_read_back_to_the_number(n: int, seed: int) -> None:
    assert _parse(number_words(n, np.random.default_rng(seed))) == n
    assert _parse(number_words(n)) == n


def test_number_words_say_it_as_people_do() -> None:
    assert number_words(21) == "twenty one"
    assert number_words(105) == "one hundred and five"
    assert number_words(240) == "two hundred and forty"
    assert number_words(7000) == "seven thousand"


def test_templates_are_seeded_and_use_real_labels() -> None:
    rows = template_rows(seed=3)
    assert rows == template_rows(seed=3) and rows != template_rows(seed=4)
    clinc_labels = {label for _, label in CLINC["train"]} | {OOS}
    labels = {r.label for r in rows}
    assert labels <= clinc_labels
    assert AGENT_INTENTS - {"reminder"} <= labels | {"reminder"}
    assert all("{" not in r.text and "}" not in r.text for r in rows)
    # Near misses for every agent: device commands, media, navigation, messaging ...
    negatives = {r.text for r in rows if r.label not in AGENT_INTENTS}
    for phrase in ("vacuum", "play", "navigate to", "text ", "contacts", "news"):
        assert any(phrase in t for t in negatives), phrase
    assert len(negatives) > 300


def test_spoken_phrasings_of_the_agents_intents_are_taught() -> None:
    texts = {r.text.lower(): r.label for r in template_rows(seed=0)}
    assert any(" times " in t and not any(c.isdigit() for c in t) for t in texts)
    assert any(t.startswith("new list for") for t in texts)
    assert any(t.startswith("how many hours ahead is") for t in texts)


def test_style_copies_keep_the_label_and_reach_every_intent() -> None:
    rows = [IntentExample(t, label, "chat") for t, label in CLINC["train"] + CLINC["oos_train"]]
    copies = style_copies(rows, seed=0)
    assert copies == style_copies(rows, seed=0)
    assert 0.2 * len(rows) < len(copies) < 0.4 * len(rows)  # STYLE_SHARE of the rows
    by_text = {}
    for r in rows:
        by_text.setdefault(r.label, set()).add(r.text)
    assert {r.label for r in copies} == {r.label for r in rows}  # no style marks one intent
    assert sum(r.text in by_text[r.label] for r in copies) < 0.02 * len(copies)
    spelled = STYLES["number_words"]("what is 15% of 3143", np.random.default_rng(0))
    assert "fifteen percent" in spelled and not any(c.isdigit() for c in spelled)
    assert STYLES["fragment"]("what is the time in tokyo", None) == "time in tokyo"  # type: ignore[arg-type]


def test_augmented_rows_add_no_duplicate_of_the_source() -> None:
    rows = [IntentExample(t, label, "chat") for t, label in CLINC["train"][:3000]]
    known = {r.text.lower() for r in rows}
    extra = augmented_rows(rows, seed=0)
    assert extra and not any(r.text.lower() in known for r in extra)
    assert len({r.text.lower() for r in extra}) == len(extra)


def test_styled_pairs_name_each_copys_source() -> None:
    rows = [IntentExample(t, label, "chat") for t, label in CLINC["train"][:3000]]
    pairs = styled_pairs(rows, seed=0)
    assert [copy for _, copy in pairs] == style_copies(rows, seed=0)
    sources = {r.text for r in rows}
    for source, copy in pairs:
        assert source.text in sources and copy.label == source.label
        assert copy.text != source.text.lower()
    # a number-word copy keeps the source's other words
    spelled = [(s, c) for s, c in pairs if any(ch.isdigit() for ch in s.text)]
    assert spelled and all(set(c.text.split()) & set(s.text.lower().split()) for s, c in spelled)
