"""Typing slips in the words the built-in agents read: "whats the tiime in london".

The agents' parsers read words exactly, so one slipped key in a word they need
("tiime", "remidner", "dividded", "centimeeters") made a parser decline a
request the intent router, which reads character n-grams, had right. A word the
lexicon does not know is read as the one agent word a single slip away (a letter
dropped, added, changed, or two neighbours swapped), when exactly one is; real
words a slip away from an agent word ("tide", "dime", "lost") are known and stay
as typed. ``lexicon.txt`` is built from CLINC150's agent requests and an English
word list by ``scripts/build_lexicon.py``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from pathlib import Path

_LEXICON = Path(__file__).with_name("lexicon.txt")
# Words of four letters or more: a three-letter token is as often an abbreviation ("gmt",
# "cpp") as a slip.
_WORD = re.compile(r"[a-z]{4,}", re.IGNORECASE)
_LONGEST = 24  # letters: longer than any agent word and a slip (a pasted run is not looked up)


@functools.lru_cache(maxsize=1)
def _tables() -> tuple[frozenset[str], frozenset[str], dict[str, tuple[str, ...]]]:
    """(agent words, known words, each agent word and its one-letter deletions -> the words)."""
    sections: dict[str, list[str]] = {"agent": [], "known": []}
    current: list[str] | None = None
    for raw in _LEXICON.read_bytes().split(b"\n"):
        line = raw.decode("utf-8").strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections[line[1:-1]]
        elif current is not None:
            current.append(line)
    agent = frozenset(sections["agent"])
    return agent, frozenset(sections["known"]) | agent, deletion_index(agent)


def deletion_index(words: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """Each word and each of its one-letter deletions -> the words it comes from: a word one
    slip from another shares a key with it (``near``)."""
    index: dict[str, list[str]] = {}
    for word in words:
        for key in {word, *_deletions(word)}:
            index.setdefault(key, []).append(word)
    return {k: tuple(v) for k, v in index.items()}


def _deletions(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


def near(word: str, index: dict[str, tuple[str, ...]]) -> set[str]:
    """The words of ``index`` (``deletion_index``) one slip from ``word``."""
    return {
        candidate
        for key in (word, *_deletions(word))
        for candidate in index.get(key, ())
        if one_slip(word, candidate)
    }


def one_slip(typed: str, word: str) -> bool:
    """Whether ``typed`` is ``word`` with exactly one letter dropped, added or changed, or
    two neighbouring letters swapped."""
    if typed == word or abs(len(typed) - len(word)) > 1:
        return False
    if len(typed) != len(word):
        short, long = sorted((typed, word), key=len)
        return any(long[:i] + long[i + 1 :] == short for i in range(len(long)))
    diff = [i for i, (a, b) in enumerate(zip(typed, word, strict=True)) if a != b]
    return len(diff) == 1 or (
        len(diff) == 2
        and diff[1] == diff[0] + 1
        and typed[diff[0]] == word[diff[1]]
        and typed[diff[1]] == word[diff[0]]
    )


@functools.lru_cache(maxsize=8192)  # words recur: each one looked for once, not per turn
def respelled_word(word: str) -> str:
    """``word`` (lower case), or the agent word it is one slip from when it is unknown and
    exactly one agent word is that close (or several forms of one word: the longest)."""
    _, known, index = _tables()
    if word in known or len(word) > _LONGEST:  # no agent word is a slip from a longer one
        return word
    found = near(word, index)
    if len(found) > 1:  # "remindr": remind or reminder, one word's forms: the longest
        longest = max(found, key=len)
        if all(longest.startswith(other) for other in found):
            return longest
    return found.pop() if len(found) == 1 else word


def respelled(text: str) -> str:
    """``text`` with each slipped agent word read as that word (``respelled_word``); a word
    respelled is lower case, the others are left as typed."""
    for typed in _WORD.findall(text):  # most requests have no slip: looked for, not rebuilt
        if _read(typed) != typed:
            return _WORD.sub(lambda m: _read(m.group(0)), text)
    return text


def _read(typed: str) -> str:
    """``typed``, or the agent word it slipped from (lower case)."""
    lower = typed.lower()
    if lower in _tables()[1]:
        return typed
    word = respelled_word(lower)
    return typed if word == lower else word  # a word not respelled keeps its case
