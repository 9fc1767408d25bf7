"""Checks on untrusted values that type checks miss: nesting depth and broken text.

A request body of 300,000 ``[`` overflows any recursive parser or walker
(``RecursionError``); the daemon and the routing context refuse values nested
deeper than ``MAX_JSON_DEPTH`` with a clear error instead. Real bodies nest a
handful of levels (a message's text part is at depth 5).

JSON may carry a lone surrogate (``"\\ud800"``), which Python decodes into a
``str`` that UTF-8 cannot encode: SQLite, llama.cpp and HTTP clients then fail
far from the request. Text that reaches them is checked with ``is_unicode``.
"""

from __future__ import annotations

from typing import Any

MAX_JSON_DEPTH = 64


def too_deep(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether ``value`` (lists and dicts, as JSON parses them) nests deeper than ``limit``."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = item.values()
        elif not isinstance(item, list):
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in item)
    return False


def is_unicode(text: str) -> bool:
    """Whether ``text`` can be encoded as UTF-8 (it holds no lone surrogate)."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
