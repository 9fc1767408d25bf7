from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from spoken import spoken

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
