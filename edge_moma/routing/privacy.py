"""Privacy rules: which classes of sensitive text a query contains.

A query that matches any rule may only run on the device; the decision log
uses the same rules to redact what it stores.

Every message of every request is judged, so on a long prompt the rules'
case-insensitive scans were most of a decision's cost (~400 us for 2,000
characters and the default three rules). Two exact shortcuts skip a scan that
cannot match: a rule of ASCII keywords alone needs one of its keywords in an
ASCII text's lower case, and a rule's *needle*, one character that every match
must contain (``@`` for an e-mail address, a digit for a card number), must be
in the text. Either way the rule's own pattern decides whenever it could match.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from ..config import PrivacyRule

try:  # the parser behind ``re``, public until 3.11 and private since
    from re import _parser as _sre_parse  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - Python 3.10
    import sre_parse as _sre_parse

_CLASSES = {
    "CATEGORY_DIGIT": r"\d",
    "CATEGORY_NOT_DIGIT": r"\D",
    "CATEGORY_SPACE": r"\s",
    "CATEGORY_NOT_SPACE": r"\S",
    "CATEGORY_WORD": r"\w",
    "CATEGORY_NOT_WORD": r"\W",
}


class PrivacyRules:
    """Compiled privacy rules from the config's ``[[policy.privacy]]``."""

    def __init__(self, rules: Sequence[PrivacyRule]):
        self._rules: list[
            tuple[str, re.Pattern[str], tuple[str, ...] | None, re.Pattern[str] | None]
        ] = []
        for rule in rules:
            parts = [rule.regex] if rule.regex else []
            parts += [r"\b" + re.escape(k) + r"\b" for k in rule.keywords]
            pattern = re.compile("|".join(parts), re.IGNORECASE)
            words = (
                tuple(k.lower() for k in rule.keywords)
                if not rule.regex and all(k.isascii() for k in rule.keywords)
                else None
            )
            self._rules.append((rule.name, pattern, words, needle(pattern)))

    def classes(self, *texts: str) -> tuple[str, ...]:
        """Names of the rules any of the texts matches, in config order."""
        lowered = [t.lower() if t.isascii() else None for t in texts]
        return tuple(
            name
            for name, pattern, words, pin in self._rules
            if any(
                (words is None or low is None or any(w in low for w in words))
                and (pin is None or pin.search(t))
                and pattern.search(t)
                for t, low in zip(texts, lowered, strict=True)
            )
        )

    def redact(self, text: str) -> str:
        """The text with every match replaced by ``[name]``."""
        for name, pattern, _, _ in self._rules:
            text = pattern.sub(f"[{name}]", text)
        return text


def needle(pattern: re.Pattern[str]) -> re.Pattern[str] | None:
    """A pattern of single characters one of which every match of ``pattern`` holds,
    compiled with its flags; ``None`` when no such set is found (then nothing is skipped)."""
    try:
        parsed = _sre_parse.parse(pattern.pattern, pattern.flags)
        found = _sequence(list(parsed))
    except Exception:  # an analysis we cannot do is a shortcut we do not take
        return None
    if not found:
        return None
    return re.compile("|".join(found), parsed.state.flags & ~re.VERBOSE)


def _sequence(items: list[tuple[Any, Any]]) -> list[str] | None:
    """The cheapest needle of any item a match of the sequence must contain."""
    options = [n for n in (_item(op, av) for op, av in items) if n]
    return min(options, key=lambda n: sum(map(_cost, n)), default=None)


def _item(op: Any, av: Any) -> list[str] | None:
    name = str(op)
    if name == "LITERAL":
        return [re.escape(chr(av))]
    if name == "IN":
        return _char_class(av)
    if name == "SUBPATTERN":
        _group, add_flags, del_flags, sub = av
        return None if add_flags or del_flags else _sequence(list(sub))
    if name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
        low, _high, sub = av
        return _sequence(list(sub)) if low >= 1 else None
    if name == "BRANCH":
        branches = [_sequence(list(b)) for b in av[1]]
        if not all(branches):
            return None
        return sorted({n for b in branches if b for n in b})
    return None  # anchors, look-arounds, back-references, "any": nothing certain


def _char_class(members: list[tuple[Any, Any]]) -> list[str] | None:
    parts = []
    negate = ""
    for op, av in members:
        name = str(op)
        if name == "NEGATE":
            negate = "^"
        elif name == "LITERAL":
            parts.append(re.escape(chr(av)))
        elif name == "RANGE":
            parts.append(f"{re.escape(chr(av[0]))}-{re.escape(chr(av[1]))}")
        elif name == "CATEGORY" and str(av) in _CLASSES:
            parts.append(_CLASSES[str(av)])
        else:
            return None
    return [f"[{negate}{''.join(parts)}]"] if parts else None


def _cost(needle_source: str) -> int:
    """How often a needle is likely to occur in prose: rare punctuation is best."""
    if len(needle_source) == 1 or (len(needle_source) == 2 and needle_source[0] == "\\"):
        char = needle_source[-1]
        return 8 if char.isalnum() else 4 if char in " .,-'\"\n" else 1
    return 10
