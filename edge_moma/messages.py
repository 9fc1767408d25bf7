"""What a request says and how to answer it: messages, the text routing judges, generation options.

One validator (``normalize_messages``) for every face: the library, the CLI and
the daemon hand it what the caller sent and get ``{role, content}`` messages or
a ``RequestError`` naming the field (``param``) and the kind of mistake
(``code``), which the daemon answers as an OpenAI-style 400. Routing judges the
last user message (``query_text``); ``GenerationOptions`` are the knobs of the
answer, checked once wherever they come from.

Example::

    messages = normalize_messages("what's 15% of 80")
    query_text(messages)                       # "what's 15% of 80"
    GenerationOptions(max_tokens=64, stop="\\n")  # stop=("\\n",)
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any

from .errors import RequestError
from .untrusted import is_unicode

Messages = Sequence[Mapping[str, Any]]
MAX_OUTPUT_TOKENS = 1_000_000  # the most a request may ask to generate
ROLES = ("system", "user", "assistant", "tool")
INVALID_TYPE, UNKNOWN_PARAMETER = "invalid_type", "unknown_parameter"


def normalize_messages(
    messages_or_text: str | Messages, *, fields: AbstractSet[str] | None = None
) -> tuple[dict[str, str], ...]:
    """A text or OpenAI-style messages as validated ``{role, content}`` messages.

    ``content`` may be a string or a list of text parts (``{"type": "text",
    "text": ...}``, joined). ``fields``, when given, are the keys a message may
    have (the daemon refuses the others); otherwise other keys are ignored.
    """
    if isinstance(messages_or_text, str):
        if not messages_or_text.strip():
            raise RequestError("the query is empty; pass some text to route", param="messages")
        return ({"role": "user", "content": _text(messages_or_text, "the query")},)
    # type() first: the daemon validates every request, and isinstance() on an ABC
    # costs more than the rest of a one-message check.
    if not messages_or_text or not (
        type(messages_or_text) in (list, tuple) or isinstance(messages_or_text, Sequence)
    ):
        raise RequestError(
            "messages must be a non-empty list of {role, content} objects", param="messages"
        )
    out = []
    for i, m in enumerate(messages_or_text):
        if not (type(m) is dict or isinstance(m, Mapping)):
            raise type_error(f"messages[{i}]", "an object with role and content", m)
        if fields is not None and not m.keys() <= fields:
            check_fields(m, fields, f"messages[{i}].")
        role = m.get("role")
        if role not in ROLES:
            if not isinstance(role, str):
                raise type_error(f"messages[{i}].role", f"one of {list(ROLES)}", role)
            raise RequestError(
                f"messages[{i}].role is {role!r}; expected one of {list(ROLES)}",
                param=f"messages[{i}].role",
            )
        content = m.get("content")
        if type(content) is not str:
            content = _content(content, f"messages[{i}].content")
        if not content.isascii():
            content = _text(content, f"messages[{i}].content")
        out.append({"role": role, "content": content})
    if not any(m["role"] == "user" and m["content"].strip() for m in out):
        raise RequestError("messages hold no user message with text to route", param="messages")
    return tuple(out)


def _content(value: Any, param: str) -> str:
    if isinstance(value, str):
        return value
    if not isinstance(value, list):
        raise type_error(param, "a string or a list of text parts", value)
    texts = []
    for j, part in enumerate(value):
        if not (isinstance(part, Mapping) and part.get("type") == "text"):
            raise RequestError(f"{param}[{j}]: only text parts are supported", param=param)
        text = part.get("text")
        if not isinstance(text, str):
            raise type_error(f"{param}[{j}].text", "a string", text)
        texts.append(text)
    return "".join(texts)


def _text(text: str, where: str) -> str:
    """``text`` if UTF-8 can encode it: a lone surrogate (a ``\\ud800`` escape in JSON)
    would fail far from the request, in SQLite, llama.cpp or an HTTP client."""
    if is_unicode(text):
        return text
    raise RequestError(
        f"{where} is not valid Unicode text (it holds a lone surrogate, e.g. from a "
        "\\ud800 escape in JSON); no model could read it",
        param=None if where == "the query" else where,
    )


def type_error(param: str, expected: str, value: Any) -> RequestError:
    """The error for a field of the wrong JSON type (``code`` ``invalid_type``)."""
    found = "null" if value is None else type(value).__name__
    return RequestError(f"{param} must be {expected}, got {found}", param=param, code=INVALID_TYPE)


def check_fields(obj: Mapping[str, Any], allowed: Collection[str], where: str = "") -> None:
    """Refuse a key of ``obj`` not in ``allowed`` (``code`` ``unknown_parameter``)."""
    for key in obj:
        if key not in allowed:
            raise RequestError(
                f"unrecognized request argument supplied: {where}{key}; "
                f"edge-moma accepts {sorted(allowed)}",
                param=f"{where}{key}",
                code=UNKNOWN_PARAMETER,
            )


def query_text(messages: Sequence[Mapping[str, str]]) -> str:
    """The text routing judges and an agent answers: the last user message that holds
    text, as ``normalize_messages`` requires one ("" if none; a trailing empty user
    message is skipped, not judged)."""
    for m in reversed(messages):
        text = m["content"]
        if m["role"] == "user" and text and not text.isspace():
            return text
    return ""


def estimate_tokens(text: str) -> int:
    """A tokenizer-free token estimate (about 4 characters a token) for cost and latency."""
    return max(1, len(text) // 4)


@dataclass(frozen=True)
class GenerationOptions:
    """How to generate an answer: the same checks for the library, the CLI and the daemon.

    ``temperature`` runs from 0 to 2 (OpenAI's range); ``stop`` may be one
    string or several.
    """

    max_tokens: int = 256
    temperature: float = 0.2
    stop: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        n = self.max_tokens
        if type(n) is not int:  # bool is an int too
            raise type_error("max_tokens", "a positive integer", n)
        if not 0 < n <= MAX_OUTPUT_TOKENS:
            raise RequestError(
                f"max_tokens must be an integer from 1 to {MAX_OUTPUT_TOKENS}, got {n}",
                param="max_tokens",
            )
        t = self.temperature
        if type(t) is not float:
            if isinstance(t, bool) or not isinstance(t, (int, float)):
                raise type_error("temperature", "a number", t)
            object.__setattr__(self, "temperature", float(t))
        if not 0.0 <= t <= 2.0:
            raise RequestError(f"temperature must be from 0 to 2, got {t}", param="temperature")
        stop: Any = self.stop
        if stop == ():  # the usual case: nothing to check
            return
        if isinstance(stop, str):
            stop = (stop,)
        if not (isinstance(stop, (list, tuple)) and all(isinstance(s, str) for s in stop)):
            raise type_error("stop", "a string or a list of strings", stop)
        object.__setattr__(self, "stop", tuple(stop))
