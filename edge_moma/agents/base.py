"""The agent protocol: one turn of a dialog in, one ``AgentReply`` out.

An agent is the smallest useful thing: ``handle(turn) -> AgentReply``. The
runtime wraps it in ``targets.agents.backend.AgentBackend`` so that the
executor sees one more ``Backend`` and never learns which kind of target it
talks to; the reply's state, slots and data travel in ``Completion.extra``.
This module is the plug-in API: values and a protocol, nothing else to import.

Example::

    class Echo:
        name = "echo"

        def handle(self, turn: AgentTurn) -> AgentReply:
            return AgentReply(reply=turn.text, state="done")
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple, Protocol

from ..messages import query_text
from .spelling import respelled

AgentState = Literal["done", "need_input"]
AGENT_STATES: tuple[str, ...] = ("done", "need_input")
CANCEL_INTENT = "cancel"

# An agent's claim: ``claim(text) -> float`` in 0..1, how surely the agent's own
# parser reads the request, on the same scale as the intent router's confidence.
# The agent stage takes the stronger of the two and lets a claim of 0 veto the
# agent (``agent_stage``). The built-in agents answer with three levels:
CERTAIN = 1.0  # the whole request reads as one of its commands: it answers it
POSSIBLE = 0.1  # its vocabulary, not a full reading: the intent router decides
CANNOT = 0.0  # nothing it can read: it declines the request

_SPACE_RUN = re.compile(r"\s{2,}")
_TOKENS = re.compile(r"[a-z°']+|\d[\d:.,]*")
_DIGIT = re.compile(r"\d")


# What a request says at its edges without asking anything: fillers and greetings before
# it ("um", "hey there"), courtesy after it ("thanks", "for me", "please"), a closing
# question mark or full stop. The built-in parsers read a request without them, in the
# claim (``words``) and in the answer (``AgentTurn.request``) alike, so "um what is 7 x 7
# thanks" is "what is 7 x 7" to every agent. "so", "well", "oh" and "right" are fillers
# only with a comma ("well, ..."; "well water" is not one) or, for "so", before a question.
# A question frame before a question is one too: "do you know what is today", "can u tell
# me what 30% off 279 is" and "tell me when is it right now" ask what the question asks;
# and so is an assistant's name said first ("alexa, what time is it", "ok google ...").
_FILLERS = ("um", "umm", "uh", "uhm", "erm", "hm", "hmm", "hey", "hi", "hello", "yo", "ok",
            "okay", "alright", "alexa", "siri", "google", "cortana", "bixby", "jarvis",
            "olly")  # fmt: skip
_COURTESY = ("please", "pls", "plz", "thanks", "thanks a lot", "thanks so much",
             "thanks in advance", "thank you", "thank u", "thank you very much",
             "thank you so much", "thx", "asap", "real quick", "for me", "if you can",
             "if you could", "if possible")  # fmt: skip


def _phrases(phrases: tuple[str, ...]) -> str:
    """An alternation of ``phrases``, longest first, any run of spaces between words."""
    return "|".join(p.replace(" ", r"\s+") for p in sorted(phrases, key=len, reverse=True))


_LEAD = re.compile(
    rf"^(?:(?:{_phrases(_FILLERS)})\b(?:\s+(?:there|assistant)\b)?[\s,!.]*"
    r"|(?:so|well|oh|right)\s*,\s*|so\s+(?=(?:what|when|how|can|could)\b)"
    r"|i\s+wonder\s+(?=(?:what|when|how|if|whether|where|which)\b)"
    r"|(?:(?:do|did)\s+(?:you|u)\s+know|(?:can|could|would|will)\s+(?:you|u)\s+tell\s+me"
    r"|tell\s+me)\s+(?=(?:what|when|how|where|which|who|whether|if)\b))",
    re.IGNORECASE,
)
_TAIL = re.compile(rf"[\s,]+(?:{_phrases(_COURTESY)})$", re.IGNORECASE)
# The cheap look before those searches (``words``): a request's first word could begin a
# filler or its first two a frame ("i wonder", "can you"), its last word end a courtesy,
# or its last character be a mark or a space.
_LEAD_FIRST = frozenset([*_FILLERS, "so", "well", "oh", "right"])
_LEAD_PAIRS = frozenset(
    [("i", "wonder"), ("tell", "me")]
    + [(ask, you) for ask in ("do", "did", "can", "could", "would", "will") for you in ("you", "u")]
)
_TAIL_LAST = frozenset(p.rsplit(None, 1)[-1] for p in _COURTESY)
# Courtesy words after these are what the request is about: "remind me to say thanks",
# "text her thank you", "add a thank you card" (no courtesy is stripped after them).
_BEFORE_AN_OBJECT = frozenset(
    [
        "say", "said", "tell", "send", "sent", "write", "text", "email", "a", "an", "the", "my",
        "your", "his", "her", "their", "our", "to", "no", "of", "him", "them",
    ]
)  # fmt: skip


def as_parsed(text: str) -> str:
    """The text the built-in parsers read: runs of two or more spaces, tabs or line breaks
    made one space (typed "what  is 7 x 7"; a single one is left as it is, and the patterns
    read it as a space), no courtesy at its edges (``without_courtesy``), and a slipped
    agent word read as that word (``spelling.respelled``: "what tiime is it")."""
    return respelled(without_courtesy(_SPACE_RUN.sub(" ", text)))


def without_courtesy(text: str) -> str:
    """``text`` without fillers before it and courtesy after it (see ``_FILLERS``), as the
    built-in parsers read it; the rest of the text is unchanged, case and all.

    >>> without_courtesy("Um, what is 7 x 7, thanks!")
    'what is 7 x 7'
    >>> without_courtesy("remind me to say thanks")
    'remind me to say thanks'
    """
    core = text.strip()
    while (lead := _LEAD.match(core)) is not None and 0 < lead.end() < len(core):
        core = core[lead.end() :]
    while core:
        end = len(core)
        while end and (core[end - 1] in "!?." or core[end - 1].isspace()):
            end -= 1
        if 0 < end < len(core) and core[end - 1].isdigit() and core[end] == "!":
            end += 1  # "5!" is a factorial
        core = core[:end]
        tail = _TAIL.search(core)
        if tail is None:
            return core
        before = core[: tail.start()].rsplit(None, 1)
        if not before or before[-1].lower() in _BEFORE_AN_OBJECT:
            return core  # courtesy alone, or what the request is about
        core = core[: tail.start()]
    return core


class Words(NamedTuple):
    """A request as the claims' cheap gates see it: lower case, its words, whether it has digits."""

    text: str
    words: frozenset[str]
    digits: bool


@functools.lru_cache(maxsize=64)
def words(text: str) -> Words:
    """The words of a request, read once per turn for every agent's claim (cached), without
    courtesy at its edges (``without_courtesy``, looked for only when the first or last
    word or mark could be one: most requests have none)."""
    t = respelled(text.lower().replace("’", "'"))
    if "  " in t or not t.isprintable():  # a run of spaces may be there (``as_parsed``)
        t = _SPACE_RUN.sub(" ", t)
    found = _TOKENS.findall(t)
    if t and (
        t[-1] in "!?."
        or t[-1].isspace()
        or found
        and (found[0] in _LEAD_FIRST or found[-1] in _TAIL_LAST or tuple(found[:2]) in _LEAD_PAIRS)
    ):  # most requests have no courtesy at their edges: a few lookups, not the searches
        t = without_courtesy(t)
        found = _TOKENS.findall(t)
    return Words(t, frozenset(found), _DIGIT.search(t) is not None)


# A pattern split by the words its branches spell out, for a cheap gate before a costly
# search: ``(keys, pattern)`` pairs, a pattern searched only when one of its keys is in the
# text. Every branch of a keyed pattern spells out one of its keys, so no text without them
# can match it; a pattern without keys has every branch anchored at the start ("^") and is
# tried there alone. A long alternation whose branches start at a word boundary is tried
# branch by branch at every position of the text (tens of microseconds on a long one); the
# ``in`` tests cost next to nothing.
Gated = tuple[tuple[tuple[str, ...], re.Pattern[str]], ...]


def holds_any(text: str, keys: tuple[str, ...]) -> bool:
    """Whether one of ``keys`` is in ``text``: ``any(k in text for k in keys)`` without a
    generator, which costs more than the ``in`` tests on a short text."""
    for key in keys:  # noqa: SIM110
        if key in text:
            return True
    return False


def search_gated(gated: Gated, text: str) -> bool:
    """Whether any pattern of ``gated`` matches ``text``, as one search of all their branches
    would say, trying only the patterns whose keys are in ``text``."""
    for keys, pattern in gated:
        if not keys:
            if pattern.match(text) is not None:
                return True
        elif holds_any(text, keys) and pattern.search(text) is not None:
            return True
    return False


# A request for something written about a subject ("tell me a joke about time zones",
# "a poem about my shopping list", "the latest on the time change debate"): the subject's
# words are no command to any agent.
_WRITE_ABOUT = re.compile(
    r"\b(?:jokes?|poems?|stor(?:y|ies)|songs?|raps?|riddles?|limericks?|haikus?|essays?|"
    r"puns?|fun\s+facts?|news|headlines|the\s+latest|articles?)\s+(?:about|on)\b"
)


def writes_about(text: str) -> bool:
    """Whether ``text`` (lower case, as ``words`` gives it) asks for writing about a subject:
    every built-in agent's claim declines such a request."""
    # "on" anywhere, not " on ": the pattern also reads "news on?" and "jokes on, ..."
    return ("about" in text or "on" in text) and _WRITE_ABOUT.search(text) is not None


# A question about words rather than a command in them ("translate what time is it into
# German", "what does 24 7 mean", "how do you say shopping list in French"): the words
# quoted are no request to any agent.
_ABOUT_WORDS = re.compile(
    r"\btranslat(?:e|ion)\b|\bhow\s+(?:do\s+(?:you|i|we)|to|would\s+you|should\s+i)\s+"
    r"(?:say|spell|pronounce)\b|^\W*(?:spell|pronounce|define)\b|\bdefinition\s+of\b"
    r"|\bmeaning\s+of\b|\bwhat\s+(?:does|do|did)\s+.+\s+(?:mean|stand\s+for)\W*$"
    r"|\b(?:synonyms?|antonyms?|another\s+word|other\s+words?)\s+for\b"
)
_ABOUT_WORDS_KEYS = (
    "translat",
    "say",
    "spell",
    "pronounc",
    "defin",
    "mean",
    "stand",
    "word",
    "nym",
)


def asks_about_words(text: str) -> bool:
    """Whether ``text`` (lower case, as ``words`` gives it) asks about words (a translation,
    a spelling, a meaning) rather than giving a command in them: every built-in agent's
    claim declines such a request, whatever agent's words it quotes."""
    return holds_any(text, _ABOUT_WORDS_KEYS) and _ABOUT_WORDS.search(text) is not None


# A question for a reason or a person ("why can't you divide by zero", "who invented time
# zones", "how come 7 times 8 is hard to remember"): an explanation or a fact, never one of
# the built-in agents' commands, whatever numbers, times or lists it mentions.
_WHY_WHO = re.compile(
    r"^\W*(?:(?:hey|ok|okay|so|and|but|um|well|say)\W+)*(?:(?:do\s+you\s+know|can\s+you\s+"
    r"tell\s+me|could\s+you\s+tell\s+me|tell\s+me|i\s+wonder|any\s+idea)\s+)?"
    r"(?:why|who|whom|whose|who's|how\s+come)\b"
)


def asks_why_or_who(text: str) -> bool:
    """Whether ``text`` (lower case, as ``words`` gives it) opens with a question for a reason
    or a person ("why ...", "who ...", "how come ..."): every built-in agent's claim declines
    it."""
    return ("why" in text or "who" in text or "how come" in text) and _WHY_WHO.match(
        text
    ) is not None


# A device's or an app's settings ("turn off reminder notifications", "change the clock
# settings"): no agent's command, whichever agent's words name them.
_SETTINGS_WORDS = frozenset(
    ["notifications", "settings", "setting", "ringtone", "ringtones", "preferences"]
)


def about_settings(words_in: frozenset[str]) -> bool:
    """Whether a request's words (``words``) name settings or notifications: every built-in
    agent's claim declines it."""
    return not words_in.isdisjoint(_SETTINGS_WORDS)


@functools.lru_cache(maxsize=64)
def not_a_command(text: str, words_in: frozenset[str]) -> bool:
    """Whether a request (as ``words`` gives it) is none of the built-in agents' commands,
    whatever their words it holds: writing about a subject (``writes_about``), a question
    about words (``asks_about_words``), a question for a reason or a person
    (``asks_why_or_who``) or settings (``about_settings``). Cached: every agent's claim asks
    it of the same turn."""
    return (
        about_settings(words_in)
        or asks_why_or_who(text)
        or writes_about(text)
        or asks_about_words(text)
    )


@dataclass(frozen=True)
class AgentTurn:
    """What an agent sees of one turn.

    ``intent`` is the intent the stage routed on (``"cancel"`` when the user
    called the dialog off); ``slots`` are what the agent returned last turn in
    this session (empty at the start of a dialog).
    """

    session_id: str
    messages: tuple[dict[str, str], ...]
    intent: str
    slots: Mapping[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The last user message: the text the agent answers (the built-in agents read it
        as ``request``)."""
        return query_text(self.messages)

    @property
    def request(self) -> str:
        """``text`` as the built-in agents parse it (``as_parsed``), as their claims did."""
        return as_parsed(self.text)


@dataclass(frozen=True)
class AgentReply:
    """An agent's answer in plain text, whether it needs more input, and structured data.

    ``slots`` are kept by the session and handed back on the next turn (pending
    values while ``state == "need_input"``, context for follow-ups after
    ``"done"``); ``data`` is the structured result for apps.
    """

    reply: str
    state: AgentState = "done"
    slots: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)


class Agent(Protocol):
    """Anything with a name that answers a turn."""

    name: str

    def handle(self, turn: AgentTurn) -> AgentReply:
        """Answer one turn; raise ``TargetError`` if the agent itself failed."""
        ...


def cancelled(agent: str) -> AgentReply:
    """The reply every built-in agent gives when the user calls a dialog off."""
    return AgentReply(reply="Okay, cancelled.", state="done", data={"cancelled": True})
