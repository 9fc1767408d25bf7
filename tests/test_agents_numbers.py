from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from spoken import spoken

from edge_moma.targets.agents import numbers
from edge_moma.targets.agents.numbers import words_to_numbers


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("twenty one", "21"),
        ("a hundred and five", "105"),
        ("one point five", "1.5"),
        ("zero point two five", "0.25"),
        ("two and a half", "2.5"),
        ("nineteen eighty five", "1985"),
        ("twenty twenty", "2020"),
        ("two thousand and twenty", "2020"),
        ("one thousand two hundred", "1200"),
        ("3 million", "3000000"),
        ("negative five", "-5"),
        ("nine seven", "9 7"),  # two numbers, not 16
        ("sixty and forty two", "60 and 42"),  # "and" joins only after a scale word
        ("half of 90", "0.5 of 90"),
        ("half a cup", "0.5 cup"),
        ("a third of 60", "0.3333333333333333 of 60"),
        ("someone often alone", "someone often alone"),  # no number inside words
    ],
)
def test_words_to_numbers(text: str, expected: str) -> None:
    assert words_to_numbers(text) == expected


@given(st.integers(0, 999_999_999), st.booleans())
def test_every_spoken_number_reads_back(n: int, a_hundred: bool) -> None:
    assert words_to_numbers(spoken(n, a_hundred)) == str(n)


def _every_substitution(text: str) -> str:
    """words_to_numbers with every substitution run, none skipped by its words."""
    if not numbers._ANY.search(text):
        return text
    t = numbers._A_SCALE.sub("one ", text)
    t = numbers._DIGIT_SCALE.sub(
        lambda m: numbers.number_text(float(m.group(1)) * numbers.SCALES[m.group(2)]), t
    )
    t = numbers._RUN.sub(lambda m: numbers._convert(m.group(0)), t)
    t = numbers._POINT_DIGITS.sub(
        lambda m: (
            m.group(1) + "." + "".join(str(numbers._DIGITS.get(w, 0)) for w in m.group(2).split())
        ),
        t,
    )
    t = numbers._AND_A_HALF.sub(
        lambda m: numbers.number_text(int(m.group(1)) + (0.5 if m.group(2) == "half" else 0.25)),
        t,
    )
    t = numbers._HALF.sub("0.5 ", t)
    t = numbers._FRACTION.sub(
        lambda m: numbers.number_text(
            (1.0 if m.group(1) in ("a", "an") else float(m.group(1)))
            / numbers._DENOMINATORS[m.group(2)]
        ),
        t,
    )
    return numbers._NEGATIVE.sub("-", t)


_NUMBER_TEXT_WORDS = [
    "a", "an", "one", "two", "twenty", "hundred", "thousand", "million", "and", "half",
    "halves", "quarter", "quarters", "third", "thirds", "tenth", "point", "five", "oh",
    "negative", "minus", "of", "cup", "3", "12", "0.5", "-", "what's", "plus",
]  # fmt: skip


@given(st.lists(st.sampled_from(_NUMBER_TEXT_WORDS), min_size=1, max_size=10))
def test_skipped_substitutions_change_nothing(words: list[str]) -> None:
    """A substitution skipped for want of its words would not have changed the text."""
    text = " ".join(words)
    words_to_numbers.cache_clear()
    assert words_to_numbers(text) == _every_substitution(text)
