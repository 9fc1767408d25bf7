"""The JSON of an OpenAI-compatible chat completion, read with every shape checked.

A remote is another program: its answer may be anything. A value of the wrong
shape anywhere (``usage: [1]``, ``usage.prompt_tokens: "abc"``, ``choices``
that are not objects, a stream chunk ``{"choices": ["x"]}``, a delta whose
``content`` is 5) raises ``Malformed`` naming the path and what was found;
the backend turns it into the attempt's ``TargetError`` and the executor falls
back. Optional fields may be missing or ``null``.
"""

from __future__ import annotations

import reprlib
from dataclasses import dataclass
from typing import Any

MAX_TOKENS_REPORTED = 100_000_000  # a usage count beyond this is not a real answer's
_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 40
_REPR.maxlevel, _REPR.maxlist, _REPR.maxdict = 1, 3, 3


class Malformed(ValueError):
    """The JSON does not have the shape of a chat completion; the message says where."""


@dataclass(frozen=True)
class Usage:
    """Token counts the server reported; ``None`` where it reported none."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None


@dataclass(frozen=True)
class Chunk:
    """What one stream event carries."""

    pieces: tuple[str, ...] = ()
    finish_reason: str | None = None
    usage: Usage | None = None
    error: str | None = None  # the server reported an error in the stream


def completion(data: Any) -> tuple[str, str | None, Usage]:
    """(text, finish_reason, usage) of a whole (non-streamed) answer."""
    answer = _object(data, "the answer")
    if answer.get("error"):
        raise Malformed(f"an error instead of an answer: {_show(answer['error'])}")
    choices = answer.get("choices")
    if not isinstance(choices, list) or not choices:
        raise Malformed(f"choices is {_show(choices)}, expected a non-empty array")
    choice = _object(choices[0], "choices[0]")
    message = _object(choice.get("message"), "choices[0].message")
    text = _optional(message, "content", str, "choices[0].message") or ""
    finish = _optional(choice, "finish_reason", str, "choices[0]")
    return text, finish, usage(answer.get("usage"))


def chunk(data: Any) -> Chunk:
    """The pieces, finish reason and usage of one ``data:`` event of a stream."""
    event = _object(data, "the event")
    if event.get("error"):
        return Chunk(error=_show(event["error"]))
    choices = event.get("choices")
    if choices is None:
        choices = []
    if not isinstance(choices, list):
        raise Malformed(f"choices is {_show(choices)}, expected an array")
    pieces: list[str] = []
    finish = None
    for i, raw in enumerate(choices):
        choice = _object(raw, f"choices[{i}]")
        delta = choice.get("delta")
        if delta is not None:
            piece = _optional(_object(delta, f"choices[{i}].delta"), "content", str, "delta")
            if piece:
                pieces.append(piece)
        finish = _optional(choice, "finish_reason", str, f"choices[{i}]") or finish
    raw_usage = event.get("usage")
    return Chunk(tuple(pieces), finish, None if raw_usage is None else usage(raw_usage))


def usage(data: Any) -> Usage:
    """Token counts from a ``usage`` object (missing or null: none reported)."""
    if data is None:
        return Usage()
    counts = _object(data, "usage")
    return Usage(_count(counts, "prompt_tokens"), _count(counts, "completion_tokens"))


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Malformed(f"{where} is {_show(value)}, expected an object")
    return value


def _optional(obj: dict[str, Any], key: str, kind: type, where: str) -> Any:
    value = obj.get(key)
    if value is not None and not isinstance(value, kind):
        raise Malformed(f"{where}.{key} is {_show(value)}, expected a {kind.__name__} or null")
    return value


def _count(obj: dict[str, Any], key: str) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    integral = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if isinstance(value, bool) or not integral or not 0 <= value <= MAX_TOKENS_REPORTED:
        raise Malformed(
            f"usage.{key} is {_show(value)}, expected a count from 0 to {MAX_TOKENS_REPORTED:,}"
        )
    return int(value)


def _show(value: Any) -> str:
    return _REPR.repr(value)
