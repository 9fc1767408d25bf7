"""Typing slips in agent words: read as the word when one agent word is a slip away."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from agent_turns import turn
from hypothesis import given
from hypothesis import strategies as st

from edge_moma.agents.base import CERTAIN
from edge_moma.agents.spelling import _LEXICON, _tables, one_slip, respelled
from edge_moma.targets.agents import calculator, reminders, units

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("typed", "word", "expected"),
    [
        ("tiime", "time", True),  # a letter doubled
        ("tme", "time", True),  # dropped
        ("tine", "time", True),  # changed
        ("itme", "time", True),  # neighbours swapped
        ("time", "time", False),  # no slip
        ("tmie", "time", True),
        ("emit", "time", False),  # more than one
        ("timer", "time", True),
        ("timers", "time", False),
    ],
)
def test_one_slip(typed: str, word: str, expected: bool) -> None:
    assert one_slip(typed, word) is expected


@pytest.mark.parametrize(
    ("text", "read"),
    [
        ("what tiime is it right now", "what time is it right now"),
        ("set a remidner", "set a reminder"),
        ("what is 750 dividded by 5", "what is 750 divided by 5"),
        ("how many qaurts are in a gallon", "how many quarts are in a gallon"),
        ("please tell me today's adte", "please tell me today's date"),
        ("Add coke to my SHPOPING list", "Add coke to my shopping list"),  # the rest as typed
        ("add Dune to my reading list", "add Dune to my reading list"),  # unknown, not a slip
        # real words a slip from an agent word stay as typed
        ("what's the tide at noon", "what's the tide at noon"),
        ("rewind the song", "rewind the song"),
        ("make a list of pros and cons", "make a list of pros and cons"),
        ("can you set a remindr for me", "can you set a reminder for me"),  # remind(er)
        # two agent words a slip away: no guess ("iillion": million or billion)
        ("what is two iillion times three", "what is two iillion times three"),
        ("can you tell me the current itme", "can you tell me the current time"),
        ("wht is 2 + 2", "wht is 2 + 2"),  # three letters: as often an abbreviation
    ],
)
def test_respelled(text: str, read: str) -> None:
    assert respelled(text) == read


def test_a_long_run_of_letters_is_left_as_typed_at_once() -> None:
    text = "remind me " + "x" * 200_000  # a word this long is never an agent word's slip
    assert respelled(text) == text
    assert max(len(w) for w in _tables()[0]) + 1 <= 24


def test_a_slipped_request_is_claimed_and_answered_as_typed_right() -> None:
    assert calculator.claim("what is 750 dividded by 5") == CERTAIN
    reply = calculator.CalculatorAgent().handle(turn("what is 750 dividded by 5", "calculator"))
    assert reply.data["result"] == 150
    assert units.claim("how many qaurts are in a gallon") == CERTAIN
    reply = units.UnitsAgent().handle(turn("how many qaurts are in a gallon", ""))
    assert reply.data["result"] == pytest.approx(4)
    assert reminders.claim("set a remidner to call mom") == CERTAIN


_AGENT_WORDS = sorted(_tables()[0])


@given(st.lists(st.sampled_from(_AGENT_WORDS), min_size=1, max_size=8), st.data())
def test_respelling_keeps_all_but_the_letters_of_slipped_words(
    said: list[str], data: st.DataObject
) -> None:
    text = " ".join(said)
    assert respelled(text) == text  # agent words are known
    i = data.draw(st.integers(0, len(said) - 1))
    word = said[i]
    j = data.draw(st.integers(0, len(word) - 1))
    slipped = " ".join(
        [*said[:i], word[:j] + word[j + 1 :] + "q" * (len(word) < 5), *said[i + 1 :]]
    )
    read = respelled(slipped)
    assert re.sub(r"[a-z]", "", read) == re.sub(r"[a-z]", "", slipped)  # spaces, marks kept
    assert respelled(read) == read  # a word read is known: reading again changes nothing
    for typed, out in zip(slipped.split(" "), read.split(" "), strict=True):
        assert out == typed or one_slip(typed, out)


def test_the_shipped_lexicon_is_what_the_build_writes() -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    import build_lexicon

    agent, known = build_lexicon.build()
    sections = _LEXICON.read_bytes().split(b"\n[known]\n")
    assert sections[0].split(b"\n[agent]\n")[1].decode().split("\n") == agent
    assert sections[1].decode().strip("\n").split("\n") == known
