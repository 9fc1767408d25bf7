"""Claims and answers agree: what a built-in agent claims with certainty, it answers right.

Property tests over generated phrasings of every family (numbers in digits and in
words, operators, unit pairs, place pairs and clock times, list verbs), and a fuzz
over arbitrary text: a claim is always a number in 0..1, and a certain claim is
always followed by an answer, never by an error.
"""

from __future__ import annotations

import importlib
import math
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from agent_turns import turn
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from spoken import spoken, spoken_decimal

from edge_moma.agents import base
from edge_moma.agents.base import (
    CANNOT,
    CERTAIN,
    POSSIBLE,
    Gated,
    search_gated,
    writes_about,
)
from edge_moma.targets.agents.calculator import CalculatorAgent
from edge_moma.targets.agents.calculator import claim as calculator_claim
from edge_moma.targets.agents.clock import ClockAgent
from edge_moma.targets.agents.clock import claim as clock_claim
from edge_moma.targets.agents.reminders import RemindersAgent
from edge_moma.targets.agents.reminders import claim as reminders_claim
from edge_moma.targets.agents.units import _UNITS, UnitsAgent, convert
from edge_moma.targets.agents.units import claim as units_claim

NOW = datetime(2024, 7, 1, 15, 30, tzinfo=timezone.utc)  # summer: daylight saving in the north
CLAIMS = {
    "calculator": calculator_claim,
    "units": units_claim,
    "clock": clock_claim,
    "reminders": reminders_claim,
}


def said(n: int, as_words: bool) -> str:
    return spoken(n, a_hundred=n % 7 == 0) if as_words else str(n)


# --- calculator -------------------------------------------------------------------

BINARY = [
    ("{a} plus {b}", lambda a, b: a + b),
    ("what's {a} minus {b}", lambda a, b: a - b),
    ("{a} times {b}", lambda a, b: a * b),
    ("what is {a} multiplied by {b}", lambda a, b: a * b),
    ("what's {a} over {b}", lambda a, b: a / b),
    ("{a} divided by {b}", lambda a, b: a / b),
    ("divide {a} by {b}", lambda a, b: a / b),
    ("multiply {a} by {b}", lambda a, b: a * b),
    ("subtract {b} from {a}", lambda a, b: a - b),
    ("take {b} away from {a}", lambda a, b: a - b),
    ("how much is {a} plus {b}", lambda a, b: a + b),
    ("can you tell me what {a} times {b} is", lambda a, b: a * b),
    ("{b} percent of {a}", lambda a, b: b * a / 100),
    ("what's {b}% off {a}", lambda a, b: a * (1 - b / 100)),
    ("increase {a} by {b} percent", lambda a, b: a * (1 + b / 100)),
    ("what percent of {a} is {b}", lambda a, b: b / a * 100),
    ("what's {a} take away {b}", lambda a, b: a - b),
    ("what's the product of {a} and {b}", lambda a, b: a * b),
    ("the quotient of {a} and {b}", lambda a, b: a / b),
    ("what is the difference between {a} and {b}", lambda a, b: a - b),
    ("what's {b} into {a}", lambda a, b: a / b),
    ("split {a} into {b} parts", lambda a, b: a / b),
]


@settings(max_examples=200, deadline=None)
@given(
    template=st.sampled_from(BINARY),
    a=st.integers(1, 999_999),
    b=st.integers(1, 9_999),
    words_a=st.booleans(),
    words_b=st.booleans(),
)
def test_claimed_calculations_are_answered_right(template, a, b, words_a, words_b) -> None:
    phrase, compute = template
    # "the product of nine hundred and one" is 901 in words ("and" joins after a scale word)
    assume(not ("{a} and {b}" in phrase and words_a and words_b and a % 100 == 0))
    text = phrase.format(a=said(a, words_a), b=said(b, words_b))
    assert calculator_claim(text) == CERTAIN, text
    reply = CalculatorAgent().handle(turn(text, "calculator"))
    assert reply.data["result"] == pytest.approx(compute(a, b), rel=1e-9), text


@settings(max_examples=100, deadline=None)
@given(
    whole=st.integers(0, 999),
    digits=st.from_regex(r"[0-9]{1,2}", fullmatch=True),
    k=st.integers(2, 9),
)
def test_decimals_in_words(whole: int, digits: str, k: int) -> None:
    text = f"{spoken_decimal(whole, digits)} times {spoken(k)}"
    assert calculator_claim(text) == CERTAIN
    value = float(f"{whole}.{digits}") * k
    assert CalculatorAgent().handle(turn(text, "")).data["result"] == pytest.approx(value)


# --- units -------------------------------------------------------------------------

_BY_DIMENSION: dict[str, list[str]] = {}
for _name, (_unit, _) in _UNITS.items():
    _BY_DIMENSION.setdefault(_unit.dimension, []).append(_name)
PAIRS = sorted((a, b) for names in _BY_DIMENSION.values() for a in names for b in names if a != b)
UNIT_TEMPLATES = [
    "{v} {src} to {dst}",
    "convert {v} {src} into {dst}",
    "what's {v} {src} in {dst}",
    "how many {dst} are in {v} {src}",
    "{v} {src} is how many {dst}",
]


@settings(max_examples=200, deadline=None)
@given(
    pair=st.sampled_from(PAIRS),
    template=st.sampled_from(UNIT_TEMPLATES),
    value=st.integers(1, 5000),
    tenths=st.integers(0, 9),
)
def test_claimed_conversions_are_answered_right(pair, template, value, tenths) -> None:
    source, target = pair
    amount = value + tenths / 10
    text = template.format(
        v=f"{amount:g}", src=_UNITS[source][0].plural, dst=_UNITS[target][0].plural
    )
    assert units_claim(text) == CERTAIN, text
    reply = UnitsAgent().handle(turn(text, "measurement_conversion"))
    assert (reply.data["source"], reply.data["target"]) == (source, target), text
    assert reply.data["result"] == pytest.approx(convert(amount, source, target)), text


# --- clock -------------------------------------------------------------------------

PLACES = {
    "Tokyo": "Asia/Tokyo", "Paris": "Europe/Paris", "London": "Europe/London",
    "New York": "America/New_York", "Los Angeles": "America/Los_Angeles",
    "Sydney": "Australia/Sydney", "Mumbai": "Asia/Kolkata", "Denver": "America/Denver",
    "Berlin": "Europe/Berlin", "Sao Paulo": "America/Sao_Paulo", "Kathmandu": "Asia/Kathmandu",
    "Honolulu": "Pacific/Honolulu", "Dubai": "Asia/Dubai", "Toronto": "America/Toronto",
    "Johannesburg": "Africa/Johannesburg", "Auckland": "Pacific/Auckland",
}  # fmt: skip
OFFSET_TEMPLATES = [
    "how many hours ahead is {a} from {b}",
    "what's the time difference between {a} and {b}",
    "how far behind is {a} from {b}",
    "is {a} ahead of {b}",
]


def hours(zone: str) -> float:
    return (NOW.astimezone(ZoneInfo(zone)).utcoffset() or timedelta()).total_seconds() / 3600


@settings(max_examples=100, deadline=None)
@given(
    a=st.sampled_from(sorted(PLACES)),
    b=st.sampled_from(sorted(PLACES)),
    template=st.sampled_from(OFFSET_TEMPLATES),
)
def test_claimed_offsets_are_todays_offsets(a: str, b: str, template: str) -> None:
    assume(a != b)
    text = template.format(a=a, b=b)
    assert clock_claim(text) == CERTAIN, text
    reply = ClockAgent(now=lambda: NOW).handle(turn(text, ""))
    assert reply.data["offset_hours"] == pytest.approx(hours(PLACES[a]) - hours(PLACES[b]))


@settings(max_examples=100, deadline=None)
@given(
    a=st.sampled_from(sorted(PLACES)),
    b=st.sampled_from(sorted(PLACES)),
    hour=st.integers(1, 12),
    pm=st.booleans(),
    minute=st.sampled_from([0, 15, 30, 45]),
)
def test_claimed_clock_times_convert_right(a: str, b: str, hour: int, pm: bool, minute: int):
    assume(a != b)
    at = (
        f"{hour}:{minute:02d} {'pm' if pm else 'am'}"
        if minute
        else f"{hour} {'pm' if pm else 'am'}"
    )
    text = f"when it's {at} in {a} what time is it in {b}"
    assert clock_claim(text) == CERTAIN, text
    reply = ClockAgent(now=lambda: NOW).handle(turn(text, ""))
    day = NOW.astimezone(ZoneInfo(PLACES[a])).date()
    source = datetime(
        day.year, day.month, day.day, hour % 12 + 12 * pm, minute, tzinfo=ZoneInfo(PLACES[a])
    )
    expected = source.astimezone(ZoneInfo(PLACES[b]))
    assert reply.data["target_time"] == expected.isoformat(), text


# --- reminders ---------------------------------------------------------------------

ITEMS = ["milk", "eggs", "tent", "sunscreen", "call the bank", "fix the gate", "dish soap",
         "Dune", "oat milk", "two lemons", "pay rent", "phone charger"]  # fmt: skip
LIST_NAMES = {"shopping": "shopping", "grocery": "shopping", "to do": "todo", "to-do": "todo",
              "packing": "packing", "camping gear": "camping gear",
              "films to watch": "films to watch"}  # fmt: skip


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    item=st.sampled_from(ITEMS),
    named=st.sampled_from(sorted(LIST_NAMES)),
    verb=st.sampled_from(["add {i} to my {l} list", "put {i} on the {l} list"]),
)
def test_claimed_list_changes_happen(tmp_path: Path, item: str, named: str, verb: str) -> None:
    agent = RemindersAgent(data_dir=tmp_path / f"{abs(hash((item, named, verb)))}")
    key = LIST_NAMES[named]
    add = verb.format(i=item, l=named)
    assert reminders_claim(add) == CERTAIN, add
    agent.handle(turn(add, ""))
    assert [i["text"] for i in agent.store.items(key)] == [item]
    read = f"what's on my {named} list"
    assert reminders_claim(read) == CERTAIN
    assert item in agent.handle(turn(read, "")).reply
    remove = f"remove {item} from my {named} list"
    assert reminders_claim(remove) == CERTAIN
    agent.handle(turn(remove, ""))
    assert agent.store.items(key) == []
    agent.close()


# --- courtesy at the edges ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "core"),
    [
        ("Um, what is 7 x 7, thanks!", "what is 7 x 7"),
        ("hey there what time is it please?", "what time is it"),
        ("hello how many ounces in a cup", "how many ounces in a cup"),
        ("well, what time is it in Tokyo", "what time is it in Tokyo"),
        ("so what is 2 + 2", "what is 2 + 2"),
        ("i wonder what time it is in paris", "what time it is in paris"),
        ("add Milk to my shopping list for me please", "add Milk to my shopping list"),
        ("convert 20 c to f, thank you very much", "convert 20 c to f"),
        ("what time is it??", "what time is it"),
        ("do you know what is today", "what is today"),
        ("can u tell me what 30% off 279 is", "what 30% off 279 is"),
        ("hey, could you tell me when is it right now?", "when is it right now"),
        ("tell me what's on my shopping list", "what's on my shopping list"),
        # a frame before no question asks for something else
        ("can you tell me a joke", "can you tell me a joke"),
        ("do you know my name", "do you know my name"),
        ("tell me about tokyo", "tell me about tokyo"),
        # an assistant's name said first
        ("alexa, what's nine times seven", "what's nine times seven"),
        ("hey siri add milk to my shopping list", "add milk to my shopping list"),
        ("siri", "siri"),
        # what the request is about, not courtesy
        ("remind me to say thanks", "remind me to say thanks"),
        ("text her thank you", "text her thank you"),
        ("add a thank you card to my list", "add a thank you card to my list"),
        ("well water test kit", "well water test kit"),
        ("so much to do", "so much to do"),
        ("what is 5!", "what is 5!"),
        # nothing but courtesy stays what it is
        ("thanks", "thanks"),
        ("hello", "hello"),
        ("please", "please"),
    ],
)
def test_without_courtesy_keeps_the_request(text: str, core: str) -> None:
    assert base.without_courtesy(text) == core


LEADS = ["um", "umm", "uh", "erm", "hmm", "hey", "hey there", "hi", "hello", "yo", "ok",
         "okay", "alright", "so", "well,", "oh,", "right,", "i wonder", "do you know",
         "did u know", "can you tell me", "could u tell me", "would you tell me",
         "will you tell me", "tell me", "alexa", "alexa,", "hey siri", "ok google",
         "cortana", "bixby", "jarvis", "olly"]  # fmt: skip
TAILS = ["please", "pls", "plz", "thanks", "thanks a lot", "thanks so much", "thanks in advance",
         "thank you", "thank u", "thank you very much", "thank you so much", "thx", "asap",
         "real quick", "for me", "if you can", "if you could", "if possible"]  # fmt: skip


@pytest.mark.parametrize("lead", LEADS)
def test_every_filler_is_stripped(lead: str) -> None:
    assert base.without_courtesy(f"{lead} what time is it") == "what time is it"


@pytest.mark.parametrize("tail", TAILS)
def test_every_courtesy_is_stripped(tail: str) -> None:
    assert base.without_courtesy(f"what time is it {tail}") == "what time is it"


@settings(max_examples=500, deadline=None)
@given(
    lead=st.sampled_from(["", *(f"{w} " for w in LEADS)]),
    text=st.text(max_size=60),
    tail=st.sampled_from(["", *(f" {w}" for w in TAILS), "?", "!", " ?!.", "?\u2028", " \u00a0"]),
)
def test_without_courtesy_only_cuts_at_the_edges(lead: str, text: str, tail: str) -> None:
    """What is left is a piece of the text, and reading it again changes nothing."""
    said_ = lead + text + tail
    core = base.without_courtesy(said_)
    assert core in said_
    assert base.without_courtesy(core) == core
    # The claims' cheap look (``words``) never misses what the searches would strip.
    lowered = said_.lower().replace("’", "'")
    assert base.words(said_).text.strip() == base.as_parsed(lowered)


@pytest.mark.parametrize(
    ("name", "said_", "bare"),
    [
        ("calculator", "what  is   7 x 7", "what is 7 x 7"),
        ("clock", "what time is it\t\tin tokyo", "what time is it in tokyo"),
        ("units", "convert 20 c \n to f", "convert 20 c to f"),
        ("reminders", "add milk\u00a0 to my shopping list", "add milk to my shopping list"),
    ],
)
def test_runs_of_spaces_read_as_one(name: str, said_: str, bare: str) -> None:
    """Typed runs of spaces, tabs, line breaks and non-breaking spaces are one space to
    the parsers: the claim is the bare request's. A single one stays (a line separator in
    an item is the user's: the daemon tests stream one back)."""
    assert base.as_parsed("add oat\u2028milk") == "add oat\u2028milk"
    assert base.as_parsed(said_) == bare
    assert CLAIMS[name](said_) == CLAIMS[name](bare) == CERTAIN


CERTAIN_REQUESTS = [
    ("calculator", "what's nine times seven"),
    ("calculator", "what is 15% of 80"),
    ("units", "convert 20 c to f"),
    ("units", "how many ounces in a cup"),
    ("clock", "what time is it in tokyo"),
    ("clock", "how many hours ahead is tokyo from paris"),
    ("reminders", "add milk to my shopping list"),
    ("reminders", "remind me to call mom"),
]


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    request=st.sampled_from(CERTAIN_REQUESTS),
    lead=st.sampled_from(
        [
            "",
            "um ",
            "uh, ",
            "hey ",
            "hey there, ",
            "hello ",
            "ok ",
            "yo ",
            "  ",
            "alexa, ",
            "ok google ",
            "olly ",
        ]
    ),
    tail=st.sampled_from(
        ["", " please", " thanks", ", thank you!", " thx", " for me please", "?", " asap", "\t"]
    ),
)
def test_courtesy_changes_neither_claim_nor_answer(
    tmp_path: Path, request: tuple[str, str], lead: str, tail: str
) -> None:
    """Fillers before a request and courtesy after it: every agent claims and answers it as
    it does the bare request ("um what's nine times seven thanks" is 63, and "remind me to
    call mom thanks" puts "call mom" on the list)."""
    name, bare = request
    said_ = lead + bare + tail
    claim = CLAIMS[name]
    assert claim(said_) == claim(bare) == CERTAIN, said_
    for other, other_claim in CLAIMS.items():
        assert other_claim(said_) == other_claim(bare), (other, said_)

    def answer(text: str, where: Path) -> tuple[str, list[str]]:
        agent = {
            "calculator": CalculatorAgent,
            "units": UnitsAgent,
            "clock": lambda: ClockAgent(now=lambda: NOW),
            "reminders": lambda: RemindersAgent(data_dir=where),
        }[name]()
        reply = agent.handle(turn(text, "")).reply
        items = []
        if name == "reminders":
            items = [i["text"] for key in ("shopping", "reminders") for i in agent.store.items(key)]
            agent.close()
        return reply, items

    run = tmp_path / f"{abs(hash((bare, lead, tail)))}"
    assert answer(said_, run / "said") == answer(bare, run / "bare")


@pytest.mark.parametrize(
    "frame", ["do you know", "do u know", "can you tell me", "could u tell me", "tell me"]
)
@pytest.mark.parametrize(
    ("name", "bare"), [(n, t) for n, t in CERTAIN_REQUESTS if t.startswith(("what", "how"))]
)
def test_a_question_frame_changes_no_claim(frame: str, name: str, bare: str) -> None:
    """A question frame: "do you know what time it is in tokyo" is claimed as "what time is
    it in tokyo" is, by every agent."""
    said_ = f"{frame} {bare}"
    assert CLAIMS[name](said_) == CERTAIN
    for other, other_claim in CLAIMS.items():
        assert other_claim(said_) == other_claim(bare), (other, said_)


# --- any text ----------------------------------------------------------------------

VOCABULARY = [
    "what's", "is", "the", "time", "in", "tokyo", "paris", "hours", "ahead", "from", "nine",
    "times", "seven", "over", "two", "percent", "of", "20", "c", "to", "f", "how", "many",
    "ounces", "a", "cup", "add", "milk", "my", "shopping", "list", "remind", "me", "call",
    "mom", "remove", "make", "films", "watch", "kilos", "pounds", "divided", "by", "0",
    "square", "root", "-4", "days", "until", "christmas", "at", "9", "am", "date", "and",
    "um", "hey", "please", "thanks", "thank", "you", "for", "?",
    # what later rounds taught the agents to read: another moment's time, how long until,
    # weeks, feet and inches, remainders, algebra, names and frames, lists of things
    "ago", "weeks", "long", "much", "minutes", "6", "foot", "2", "cm", "remainder", "x",
    "bigger", "or", "alexa", "do", "know", "eggs,", "bread", "5", "pm",
]  # fmt: skip


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(words=st.lists(st.sampled_from(VOCABULARY), min_size=1, max_size=9))
@example(words=["the", "what's", "list", "remove", "what's"])  # found by this test
def test_a_certain_claim_is_answered_not_an_error(tmp_path: Path, words: list[str]) -> None:
    text = " ".join(words)
    agents = {
        "calculator": CalculatorAgent(),
        "units": UnitsAgent(),
        "clock": ClockAgent(now=lambda: NOW),
        "reminders": RemindersAgent(data_dir=tmp_path),
    }
    for name, claim in CLAIMS.items():
        value = claim(text)
        assert value in (CANNOT, POSSIBLE, CERTAIN)
        if value == CERTAIN:
            reply = agents[name].handle(turn(text, ""))
            # Removing an item the list lacks is read and answered ("I can't find ..."):
            # the state's answer, not a request the parser failed on.
            state_answer = reply.data.get("action") == "remove" and reply.data.get("error") == (
                "not found"
            )
            assert "error" not in reply.data or state_answer, (name, text, reply.reply)
            if name in ("calculator", "units"):
                assert math.isfinite(reply.data["result"]), (name, text)
    agents["reminders"].close()


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=200))
def test_any_text_gets_a_claim_and_never_an_exception(text: str) -> None:
    for claim in CLAIMS.values():
        assert 0.0 <= claim(text) <= 1.0


@settings(max_examples=200, deadline=None)
@given(
    words=st.lists(st.sampled_from(VOCABULARY), min_size=1, max_size=9),
    ask=st.sampled_from(["tell me a joke about", "write a poem about", "a short story about"]),
)
def test_writing_about_a_subject_is_no_agent_command(words: list[str], ask: str) -> None:
    """Whatever an agent would read in the subject, a request to write about it is declined."""
    text = f"{ask} {' '.join(words)}"
    assert {name: claim(text) for name, claim in CLAIMS.items()} == dict.fromkeys(CLAIMS, CANNOT)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("the latest on the time change", True),
        ("any news on?", True),  # "on" at the end, then punctuation
        ("jokes on, time zones", True),
        ("news\ton timers", True),  # after a tab
        ("put onions on the list", False),
        ("a song about", True),
    ],
)
def test_writes_about_reads_as_its_pattern(text: str, expected: bool) -> None:
    """The quick word test before the search never hides a match of the pattern."""
    assert writes_about(text) is expected
    assert (base._WRITE_ABOUT.search(text) is not None) is expected


NOT_A_COMMAND = [
    # questions about words
    "translate {} into German",
    "how do you say {} in French",
    "what does {} mean",
    "how do you spell {}",
    "what's another word for {}",
    # questions for a reason or a person, and settings
    "why is {}",
    "why can't you {}",
    "who invented {}",
    "so who decided {}",
    "how come {}",
    "do you know why {}",
    "turn off notifications for {}",
    "open the settings for {}",
    "change the ringtone of {}",
]


@settings(max_examples=400, deadline=None)
@given(
    words=st.lists(st.sampled_from(VOCABULARY), min_size=1, max_size=9),
    frame=st.sampled_from(NOT_A_COMMAND),
)
def test_no_agent_takes_a_question_about_words_or_for_a_reason_or_settings(
    words: list[str], frame: str
) -> None:
    """Whatever an agent would read in the rest, a question about words, a "why"/"who"
    question or a request about settings is declined by every built-in agent."""
    text = frame.format(" ".join(words))
    assert {name: claim(text) for name, claim in CLAIMS.items()} == dict.fromkeys(CLAIMS, CANNOT)


@pytest.mark.parametrize(
    "text",
    [
        "why is 7 times 8 so hard to remember",
        "why can't you divide by zero",
        "who invented time zones",
        "who decided a day has 24 hours",
        "how come a mile is 1760 yards",
        "can you tell me why my shopping list app keeps crashing",
        "turn off reminder notifications",
        "change the clock settings to 24 hours",
        "set the calculator ringtone to loud",
    ],
)
def test_reasons_people_and_settings_are_declined_by_every_agent(text: str) -> None:
    assert {name: claim(text) for name, claim in CLAIMS.items()} == dict.fromkeys(CLAIMS, CANNOT)


@pytest.mark.parametrize(
    ("text", "agent"),
    [  # a "who" or "why" inside a command is not a question for a reason or a person
        ("remind me to call the man who fixed the sink", "reminders"),
        ("add a card for grandma who turns 90 to my shopping list", "reminders"),
        ("what's 12 times 12", "calculator"),
        ("what time is it in Tokyo", "clock"),
        ("how many grams in a pound", "units"),
    ],
)
def test_commands_that_mention_who_or_why_are_still_claimed(text: str, agent: str) -> None:
    assert CLAIMS[agent](text) == CERTAIN


# --- the claims' literal prefilters -------------------------------------------------------
# A pattern searched only when one of its keys is in the text must be unable to match without
# them: every top-level branch spells out one of the keys. The property tests compare the gated
# reading with the plain search of all the branches on texts that mix the trigger words.


def _branches(pattern: str) -> list[str]:
    """The top-level alternatives of a regular expression's source."""
    out, depth, in_class, current, i = [], 0, False, "", 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            current += pattern[i : i + 2]
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
        elif c in "()":
            depth += 1 if c == "(" else -1
        elif c == "|" and depth == 0:
            out.append(current)
            current, i = "", i + 1
            continue
        current += c
        i += 1
    return [*out, current]


_LIST_WORDS = [
    "list", "lists", "my", "the", "a", "of", "give", "me", "make", "netflix", "on", "in",
    "remind", "reminder", "what", "which", "can", "you", "do", "robot", "vacuum", "things",
    "to", "see", "app", "apps", "for", "order", "buy", "everything", "tell", "sam", "how",
    "send", "share", "bestseller", "top", "10", "add", "calendar", "should", "be", "have",
    "tasks", "todo", "milk", "please", "let", "know", "ideas", "website", "what's",
]  # fmt: skip
_CLOCK_WORDS = [
    "what", "what's", "which", "time", "date", "day", "today", "today's", "tomorrow", "is",
    "it", "the", "in", "paris", "now", "current", "local", "exact", "tell", "me", "give",
    "got", "have", "how", "late", "long", "when", "does", "do", "of", "week", "month", "year",
    "monday", "15th", "and", "will", "be", "good", "for", "to", "go", "please", "are", "we",
    "on", "again", "so", "hour", "kickoff", "my",
]  # fmt: skip
_SEPARATORS = st.sampled_from([" ", " ", " ", "  ", ", ", "\n", "? "])
# The gated patterns: (module, table name, words to mix).
_GATED = [
    ("reminders", "_NOT_MINE", _LIST_WORDS),
    ("clock", "_EVENT", _CLOCK_WORDS),
    ("clock", "_TIME_Q", _CLOCK_WORDS),
    ("clock", "_DATE_Q", _CLOCK_WORDS),
]


def _gated(module: str, name: str) -> Gated:
    return getattr(importlib.import_module(f"edge_moma.targets.agents.{module}"), name)


@st.composite
def _mixed_text(draw: st.DrawFn, vocabulary: list[str]) -> str:
    words = draw(st.lists(st.sampled_from(vocabulary), min_size=1, max_size=12))
    return "".join(w + draw(_SEPARATORS) for w in words).strip(" ")


@pytest.mark.parametrize(("module", "name", "vocabulary"), _GATED)
def test_gated_keys_are_spelled_by_every_branch(
    module: str, name: str, vocabulary: list[str]
) -> None:
    for keys, pattern in _gated(module, name):
        for branch in _branches(pattern.pattern):
            if keys:
                assert any(k in branch for k in keys), (keys, branch)
            else:
                assert branch.startswith("^"), branch  # tried at the start alone


@pytest.mark.parametrize(("module", "name", "vocabulary"), _GATED)
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_gated_patterns_read_as_the_plain_search(
    module: str, name: str, vocabulary: list[str], data: st.DataObject
) -> None:
    gated = _gated(module, name)
    plain = re.compile("|".join(pattern.pattern for _, pattern in gated))
    text = data.draw(_mixed_text(vocabulary))
    assert search_gated(gated, text) == (plain.search(text) is not None)


@pytest.mark.parametrize(
    ("module", "name", "text"),
    [
        ("reminders", "_NOT_MINE", "what should i put on a to do list for a new puppy"),
        ("reminders", "_NOT_MINE", "what's on my netflix list"),
        ("reminders", "_NOT_MINE", "ask sam to add milk to the list"),
        ("clock", "_EVENT", "what time is kickoff"),
        ("clock", "_EVENT", "how long is the flight"),
        ("clock", "_TIME_Q", "the time please"),
        ("clock", "_TIME_Q", "tell me the time in paris"),
        ("clock", "_DATE_Q", "is it monday"),
        ("clock", "_DATE_Q", "so what is today again"),
        ("clock", "_DATE_Q", "tell me the date"),
    ],
)
def test_gated_patterns_still_match(module: str, name: str, text: str) -> None:
    assert search_gated(_gated(module, name), text)
