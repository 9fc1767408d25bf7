"""Date and time agent: the time here or in a named place, time zones, the offset between
two places, a clock time from one place in another, the date, days between dates.

Places come from ``places`` (common names, then the IANA database's city names,
through the standard library's ``zoneinfo``). The request is read from its
words first ("how many hours ahead is Tokyo from Paris" is an offset whatever
the intent router called it); the routed intent only settles a request the
words leave open. Offsets and conversions are computed for today's date, so
they follow daylight saving time. A device without a time zone database (no
system zoneinfo and no ``tzdata`` package) still answers the local time and
date, and says clearly how to get named time zones instead of failing.

Example::

    >>> from datetime import datetime, timezone
    >>> agent = ClockAgent(now=lambda: datetime(2024, 3, 1, 12, 0, tzinfo=timezone.utc))
    >>> agent.handle(AgentTurn("s", ({"role": "user", "content": "days between 2024-01-01 "
    ...   "and 2024-03-01"},), "date")).reply
    'There are 60 days between Monday, January 1, 2024 and Friday, March 1, 2024.'
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from typing import Any, NamedTuple

from ...agents.base import (
    CANCEL_INTENT,
    CANNOT,
    CERTAIN,
    POSSIBLE,
    AgentReply,
    AgentTurn,
    Gated,
    cancelled,
    not_a_command,
    search_gated,
    words,
)
from .numbers import words_to_numbers
from .places import Place, find_places

_MONTHS = {
    m: i + 1
    for i, m in enumerate(
        (
            "january",
            "february",
            "march",
            "april",
            "may",
            "june",
            "july",
            "august",
            "september",
            "october",
            "november",
            "december",
        )  # fmt: skip
    )
}
_MONTHS.update({m[:3]: i for m, i in list(_MONTHS.items())})
_MONTH = "|".join(sorted(_MONTHS, key=len, reverse=True))
_DATE_PATTERNS = [
    re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b"),  # 2024-03-01
    re.compile(r"\b(\d{1,2})/(\d{1,2})/(\d{4})\b"),  # 03/01/2024 (month first)
    re.compile(rf"\b({_MONTH})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?(?:,?\s+(\d{{4}}))?\b"),
    re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?({_MONTH})\.?(?:,?\s+(\d{{4}}))?\b"),
]
_HOLIDAYS = {  # fixed-date days only; a moveable feast (Easter) is not a date the clock knows
    "christmas eve": (12, 24), "christmas": (12, 25), "boxing day": (12, 26),
    "new year's eve": (12, 31), "new years eve": (12, 31), "new year": (1, 1),
    "valentine's day": (2, 14), "valentines day": (2, 14), "st patrick's day": (3, 17),
    "independence day": (7, 4), "fourth of july": (7, 4), "halloween": (10, 31),
}  # fmt: skip
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
NO_TZDATA = (
    "this device has no time zone database; install the tzdata package "
    "(pip install tzdata) to ask about other time zones"
)


class TimeZoneDataMissing(LookupError):
    """zoneinfo has neither a system database nor the tzdata package."""


def zone(key: str) -> zoneinfo.ZoneInfo:
    """The zone ``key``; ``TimeZoneDataMissing`` when the device has no database."""
    try:
        return zoneinfo.ZoneInfo(key)
    except zoneinfo.ZoneInfoNotFoundError:
        raise TimeZoneDataMissing(NO_TZDATA) from None


_RELATIVE_DAYS = tuple(
    (re.compile(rf"\b{words}\b"), delta)
    for words, delta in (
        (r"the\s+next\s+day(?=\s+is\W*$|\W*$)", 1),  # "what the next day is"
        ("today", 0),
        ("tomorrow", 1),
        ("yesterday", -1),
    )
)


# "the day after tomorrow", "the day before christmas": one day from the date that follows.
_DAY_NEXT_TO = re.compile(r"\bday\s+(after|before)\s+$")


def parse_dates(text: str, today: date) -> list[date]:
    """Dates written in ``text``, in order (a date without a year is in ``today``'s year)."""
    t = text.lower()
    found: list[tuple[int, date]] = []
    taken: list[range] = []
    for i, pattern in enumerate(_DATE_PATTERNS):
        for m in pattern.finditer(t):
            if any(m.start() in r for r in taken):
                continue
            g = m.groups()
            try:
                if i == 0:
                    d = date(int(g[0]), int(g[1]), int(g[2]))
                elif i == 1:
                    d = date(int(g[2]), int(g[0]), int(g[1]))
                elif i == 2:
                    d = date(int(g[2] or today.year), _MONTHS[g[0]], int(g[1]))
                else:
                    d = date(int(g[2] or today.year), _MONTHS[g[1]], int(g[0]))
            except ValueError:
                continue
            found.append((m.start(), d))
            taken.append(range(m.start(), m.end()))
    for name, (month, day) in _HOLIDAYS.items():
        hit = re.search(rf"\b{name}\b", t)
        if hit and not any(hit.start() in r for r in taken):
            d = date(today.year, month, day)
            found.append((hit.start(), d if d >= today else date(today.year + 1, month, day)))
            taken.append(range(hit.start(), hit.end()))
    for i, name in enumerate(_WEEKDAYS):  # "on friday": the next one (today if it is one)
        hit = re.search(rf"\b(?:on|next|this|coming)\s+{name}\b", t)
        if hit:
            found.append((hit.start(), today + timedelta(days=(i - today.weekday()) % 7)))
    for pattern, delta in _RELATIVE_DAYS:
        hit = next((h for h in pattern.finditer(t) if not any(h.start() in r for r in taken)), None)
        if hit:
            found.append((hit.start(), today + timedelta(days=delta)))
            taken.append(range(hit.start(), hit.end()))
    return [_next_to(t, start, d) for start, d in sorted(found)]


def _next_to(t: str, start: int, d: date) -> date:
    """``d``, or the day after or before it that the words before it name."""
    said = _DAY_NEXT_TO.search(t, 0, start)
    return d if said is None else d + timedelta(days=1 if said.group(1) == "after" else -1)


# --- reading a request -------------------------------------------------------------

Kind = str  # "time" | "timezone" | "date" | "between" | "offset" | "convert" | "until"
_WEEKDAY = "|".join(_WEEKDAYS)
# The clock's own words ("today" or "this week" alone do not make a clock question).
_VOCABULARY = re.compile(
    r"\b(?:times?|time ?zones?|clock|o'clock|dates?|days?|hours?|ahead|behind|noon|midnight|"
    r"[ap]\.?m\.?|christmas|halloween|new\s+year|calendar|calender|how\s+late\s+is\s+it)\b"
    r"|\d:\d\d"
)
# What may follow "the time" in a question for the time now: the end, a place or "now"
# ("what's the time in Rome", "tell me the time please"). Any other word makes "time" part
# of something else: "the time limit for returning shoes", "the time frame", "the time it
# takes", and "the time difference/gap" asks for an offset between two places.
_NOW = (
    r"(?=\W*$|\W+(?:in|at|over|there|here|now|right|please|currently|like|where|then|exactly|"
    r"precisely|today|tonight|again|back|according|by|set|mate|buddy|pal)\b)"
)
# A question about when something happens is not a question for the clock (split by the
# words its branches spell out: ``search_gated``).
_EVENT: Gated = (
    (
        ("what", "which"),
        re.compile(
            r"\b(?:what|which)\s+(?:time|day|date)\s+(?:do|does|did|should|will|would|can|could|"
            r"am|are|were|has|have|must|shall)\s+(?!(?:it|today|tomorrow|yesterday)\b)"
            r"(?!you\s+(?:have|got)\b)(?!we(?:\s+(?:on|in|at))?\W*$)"
            r"|\b(?:what|which)\s+(?:time|day|date)(?:\s+of\s+the\s+(?:week|month))?\s+(?:is|was)\s+"
            r"(?:my|the|our|your|his|her|their|this|that|a|an|sunrise|sunset|dawn|dusk|[a-z]+'s|"
            r"i|we|you|he|she|they)\b"
            r"|\b(?:what|which)\s+(?:day|date)\s+(?:is|was)\s+it\s+that\b"
            # "what time is kickoff", "what time is check in at the hotel": an event's time
            r"|\b(?:what|which)\s+time\s+(?:is|was)\s+(?!(?:it|in|now|today|tomorrow|yesterday|"
            r"there|here|over|right|currently)\b)[a-z]"
        ),
    ),
    (
        (),
        re.compile(
            # a duration ("how long is the time difference going to last"), not a time or a date
            r"^\W*how\s+long\b(?!.*\b(?:until|till|til|since|ago|between|before)\b)"
            r"|^\W*when\s+(?:does|do|is|was|did|will|are|were|should|can)\s+(?!it\b)"
        ),
    ),
    (("date",), re.compile(r"\bdate\s+of\s+(?:the|my|our|your|a|an)\b")),
    (
        ("time",),
        re.compile(
            r"\b(?:good|best|right|bad|better)\s+time\b|\btime\s+(?:for|to)\s+(?!go\b)"
            # "the time of the match": an event's, as "the date of the party" is
            r"|\btime\s+of\s+(?:the|my|our|your|his|her|their|this|that|a|an)\s+"
            r"(?!(?:day|night|morning|afternoon|evening|week|month|year)\b)"
        ),
    ),
)
# An event's time, a date named or not ("what time does the ferry leave tomorrow", "what
# time is sunrise tomorrow"): a date in the words makes "what day is christmas" a date
# question, never "what time is ..." one.
_EVENT_TIME = re.compile(
    r"\b(?:what|which)\s+time\s+(?:do|does|did|should|will|would|can|could|are|were|must)\s+"
    r"(?!(?:it|you\s+(?:have|got))\b)"
    r"|\b(?:what|which)\s+time\s+(?:is|was)\s+(?!(?:it|in|now|today|tomorrow|yesterday|there|"
    r"here|over|right|currently|noon|midday|midnight)\b)[a-z]"
)
_CLOCK_TIME = re.compile(
    r"\b(\d{1,2})(?::(\d{2}))?\s*([ap])\.?\s?m\b\.?|\b(\d{1,2}):(\d{2})\b|\b(noon|midday|midnight)\b"
    r"|\b(\d{1,2})\s+o'clock\b"
)
_HAS_CLOCK_TIME = re.compile(r"\d|noon|midday|midnight")
# A clock time and two places are a conversion only when asked as one ("what's 4 pm Paris
# time in New York", "convert 9 am London to Tokyo"), not in a command that holds them: "book
# a flight from Boston to Denver at 7 am", "set a meeting at 10 am London time with Paris".
_CONVERT_Q = re.compile(
    r"\bwhat\b|\bwhat's\b|\bconvert|\bwhen\s+it(?:'s|\s+is)\b|\?|^\W*(?:\d|noon|midday|midnight)"
)
# A command to do something at a time, not to tell one.
_COMMAND = re.compile(
    r"^\W*(?:please\s+)?(?:call|ring|phone|text|message|e-?mail|book|reserve|schedule|set|move|"
    r"reschedule|cancel|order|send|remind|invite|plan|arrange|organi[sz]e|put|add|buy|drive|"
    r"navigate|take|pick)\b"
)
_OFFSET_WORDS = re.compile(
    r"\btime\s+(?:difference|gap)|\bdifference\s+in\s+time|"
    r"\bhours?\s+(?:ahead|behind|difference|between|apart|of\s+difference|later|earlier)\b"
)
_AHEAD = re.compile(r"\b(?:ahead|behind)\b")
_HERE = re.compile(r"\b(?:here|local(?:ly)?|where i am|my time)\b")
# A question for the time now (split by the words its branches spell out: ``search_gated``).
_TIME_Q: Gated = (
    (
        ("what",),
        re.compile(
            r"\bwhat\s+time\s+(?:is\s+it|it\s+is|have\s+you\s+got|do\s+you\s+have|is\s+it\s+now|"
            r"(?:would|will)\s+it\s+be)\b|\bwhat\s+hour\b"
            rf"|\bwhat(?:'s|s|\s+is)\s+(?:the\s+)?(?:current\s+|exact\s+|local\s+)?time\b{_NOW}"
            r"|\bwhat\s+time\s*(?:now|please|right\s+now)?\W*$|\bwhat\s+time\s+will\s+it\s+be\b"
            r"|\bwhat\s+time\s+of\s+(?:the\s+)?day\s+is\s+it\b"
        ),
    ),
    (("late",), re.compile(r"\bhow\s+late\s+is\s+it\b")),
    (  # "what does the clock say", "what does it say on the clock"
        ("clock",),
        re.compile(
            r"^\W*what\s+(?:does|do)\s+(?:it\s+say\s+on\s+(?:the|my|your)\s+clock|"
            r"(?:the|my|your)\s+clock\s+say)\W*$"
        ),
    ),
    (("current", "local", "exact"), re.compile(rf"\b(?:current|local|exact)\s+time\b{_NOW}")),
    (
        ("tell", "give", "got", "know", "have"),
        re.compile(
            rf"\b(?:tell|telling|give|got|know|have)\s+(?:me\s+|us\s+|you\s+)?the\s+time\b{_NOW}"
        ),
    ),
    (
        ("time",),
        re.compile(
            r"(?:^\W*|\bthe\s+|\bwhat\s+)time\s+(?:right\s+now\s+|now\s+)?(?:in|at|over\s+in|there)\b"
        ),
    ),
    (
        (),
        re.compile(
            rf"^\W*time\b{_NOW}"
            # the whole request asks the time and the date, or the time of day: the time
            # answers both
            r"|^\W*(?:what(?:'s|s|\s+is|\s+are)\s+)?(?:the\s+)?(?:current\s+)?(?:time\s+and\s+"
            r"(?:the\s+)?date|date\s+and\s+(?:the\s+)?time)(?:\s+(?:now|please|right\s+now))?\W*$"
            r"|^\W*the\s+time(?:\s+please|\s+now)?\W*$"
        ),
    ),
)
_ZONE_Q = re.compile(r"\btime\s*-?\s*zones?\b")
# How many zones a place spans is a fact about it, not a zone to read: "how many time
# zones does Russia have" is the LLM's (the clock said Moscow's).
_ZONE_COUNT = re.compile(r"\b(?:how\s+many|number\s+of)\s+(?:different\s+)?time\s*-?\s*zones\b")
# A time zone asked in other words: "what zone is Denver in", "the UTC offset of Tokyo",
# "Paris offset from GMT" (group "ref": the UTC or GMT named, which is no place asked about).
# Only a known place makes it one ("which zone is my parking spot in" is not).
_ZONE_OTHER = re.compile(
    r"\b(?:what|which)\s+zone\b|\b(?P<ref>utc|gmt)\s*-?\s*offsets?\b"
    r"|\boffsets?\s+(?:from|to|of|against|relative\s+to)\s+(?P<ref2>utc|gmt)\b"
)
_MINE = re.compile(r"\b(?:am\s+i|are\s+we|my|our|this\s+device|here|local)\b")
_BETWEEN_Q = re.compile(
    r"\b(?:days?|weeks?)\s+(?:are\s+)?(?:left\s+)?(?:between|until|till|til|since|"
    r"to\s+go|from(?!\s+(?:now|today)))\b"
    # "days before christmas" counts them; "the day before christmas" is a date
    r"|\b(?:days|weeks?)\s+(?:are\s+)?(?:left\s+)?before\b"
    r"|\bhow\s+many\s+(?:more\s+)?(?:days|weeks)\b|\bcount\s+(?:the\s+)?days\b"
)
# "the date on the receipt", "the date today on the Mayan calendar": a date written on a
# thing or kept by something else, not today's.
_ON_A_THING = (
    r"on\s+(?:the|this|that|these|those|my|his|her|their|our|a|an)\s+"
    r"(?!(?:year|month|week|weekend|day|date|morning|afternoon|evening|night|\d|first|second|"
    r"third|last|next|coming)\b)[a-z]+"
)
_DATE_ON_A_THING = re.compile(rf"\bdates?\s+(?:today\s+|now\s+)?{_ON_A_THING}\b")
# "what time is it on Mars", "on the space station" (but "on the dot", "on your watch")
_ON_ELSEWHERE = re.compile(
    r"\bon\s+(?!(?:the\s+)?(?:moment|dot)\b|(?:your|my|the)\s+(?:watch|phone|clock)\b)[a-z]"
)
# "the date it was released" asks when something happened ("the date it will be in 3 days"
# does not).
_IT_HAPPENED = r"it(?!\s+(?:will|would|is|'ll)\b)"
# A question for the date (split by the words its branches spell out: ``search_gated``).
_DATE_Q: Gated = (
    (
        ("what", "which"),
        re.compile(
            r"\bwhat(?:'s|s|\s+is|\s+was|\s+will\s+be)\s+(?:the\s+)?(?:today's\s+|tomorrow's\s+|"
            rf"yesterday's\s+|exact\s+|full\s+)?date\b(?!\s+(?:of|when|that|{_IT_HAPPENED}|i|we|you|"
            rf"my|on\s+which|{_ON_A_THING}|for|after|before)\b)"
            r"|\b(?:what|which)\s+(?:day|date)\s+(?:is|was|will)\s+(?:it|today|tomorrow|yesterday)\b"
            r"|\b(?:what|which)\s+(?:day|date)\s+(?:will\s+it\s+be|is\s+it|it\s+(?:is|will\s+be))\b"
            r"|\bwhat\s+(?:will|would)\s+(?:the\s+)?(?:date|day|it)\s+be\b|\bwhat\s+year\s+is\s+it\b"
            r"|\bwhat(?:'s|s|\s+is)\s+(?:the\s+)?day\b(?!\s+(?:of\s+(?!the\s+(?:week|month))|when|that"
            r"|i|we|you|my)\b)"
            r"|\b(?:what|which)\s+day\s+of\s+the\s+(?:week|month)\b"
            # "what month is it", "what's the current month"
            r"|\b(?:what|which)\s+month\s+(?:is\s+it|is\s+this|it\s+is|are\s+we\s+in)\b"
            r"|\bwhat(?:'s|s|\s+is)\s+(?:the\s+|this\s+)?(?:current\s+)?month\W*(?:now|today)?\W*$"
            # "tell me what today is", "what date are we on", "what the date is today"
            r"|\bwhat\s+today\s+is\W*$"
            r"|\b(?:what|which)\s+(?:day|date)\s+are\s+we(?:\s+(?:on|in|at))?\W*$"
            r"|\bwhat\s+the\s+date\s+(?:is|will\s+be)\b"
            # "what's the next day", "tell me what the next day is": tomorrow
            r"|\bwhat(?:'s|s|\s+is)?\s+the\s+next\s+day(?:\s+is)?\W*$"
        ),
    ),
    (
        ("date",),
        re.compile(
            r"\b(?:today's|tomorrow's|yesterday's|current)\s+date\b"
            r"|\bthe\s+date\s+(?:today|tomorrow)\b"
            # "tell me the date", "the date for tomorrow"
            r"|\b(?:tell|give|show|get|know|have)\s+(?:me\s+|us\s+)?(?:what\s+)?the\s+"
            r"(?:full\s+|current\s+)?date\b(?:\s+(?:is|will\s+be))?(?!\s+(?:of\s+(?!today)|when|that|"
            rf"i|we|you|my|on\s+which|{_ON_A_THING}|{_IT_HAPPENED}|for\s+(?!today|tomorrow))\b)"
            r"|\bthe\s+(?:full\s+|current\s+)?date\s+(?:for|of)\s+(?:today|tomorrow|yesterday)\b"
        ),
    ),
    (
        ("is",),
        re.compile(
            rf"\bis\s+(?:it|today)\s+(?:a\s+)?(?:{_WEEKDAY})\b"
            # "is today the 15th"
            r"|\bis\s+(?:it|today)\s+the\s+\d{1,2}(?:st|nd|rd|th)\b"
        ),
    ),
    (
        (),
        re.compile(
            r"^\W*(?:the\s+)?date\W*$"
            # "what's today again", "so what is today", "today is what" (not "today's special",
            # "what is today in history")
            r"|^\W*(?:so|ok|okay|and|hey)?\W*what(?:'s|s|\s+is)\s+today(?:\s+again)?\W*$"
            r"|^\W*today\s+is\s+what\W*$"
            # "what's today's day and date", "the month and day tomorrow"
            r"|^\W*(?:what(?:'s|s|\s+is|\s+are)\s+)?(?:the\s+|today's\s+)?"
            r"(?:current\s+|exact\s+|full\s+)?(?:(?:day|month|year|date)(?:\s*,\s*|\s+and\s+))+"
            r"(?:day|month|year|date)(?:\s+(?:now|today|tomorrow|please))?\W*$"
        ),
    ),
)
# A date the words leave open: a place's ("the date in Tokyo") or months or years away
# ("the date in 3 months"; the agent counts days and weeks).
_DATE_ELSEWHERE = re.compile(
    r"\b(?:in|at)\s+(?!\d|an?\s+(?:day|week)\b|the\s+(?:morning|moment)\b)[a-z]"
    rf"|\b{_ON_A_THING}\b"
    r"|\b\d+\s+(?:months?|years?|decades?|centur(?:y|ies))\b"
)
# "what day is christmas", "what date is july 4": a date question about a date it can read.
_DATE_OF = re.compile(r"\b(?:what|which)\s+(?:day|date)\b")


# A part of the day in a place ("is it morning in Tokyo", "is it still night in Sydney"): the
# time there answers it, and a known place makes it certain. Group "part": the part asked.
# "Is it day or night in Tokyo" asks which: the time alone answers it (group "or").
_PART = (
    r"(?:morning|afternoon|evening|night|nighttime|night\s+time|daytime|day\s+time|day|late|early)"
)
_PART_OF_DAY_Q = re.compile(
    rf"^\W*(?:so\s+)?is\s+it\s+(?:still\s+|already\s+|now\s+)?(?P<part>{_PART})"
    rf"(?P<or>\s+or\s+{_PART})?(?:\s+(?:yet|already|now|right\s+now))?\s+(?:over\s+)?(?:in|at)\s+"
    r"(?P<where>[a-z].*?)(?:\s+(?:yet|now|right\s+now|at\s+the\s+moment))?\W*$"
)
# Asked as "when": "when is it right now", "when is it at the moment" (the time now).
_WHEN_NOW = re.compile(
    r"^\W*when\s+is\s+it\s+(?:right\s+)?(?:now|currently|at\s+the\s+moment|presently)\W*$"
)
# The time some hours or minutes from now or ago: "what time will it be in 3 hours", "in
# an hour", "2 hours from now", "what time was it 2 hours ago" (group "ago").
_LATER = re.compile(
    r"\b(?:in|after)\s+(\d+(?:\.\d+)?|an?)\s+(hours?|minutes?|mins?)\b(?!\s+ago)"
    r"|\b(\d+(?:\.\d+)?|an?)\s+(hours?|minutes?|mins?)\s+(?:from\s+now|(?P<ago>ago))\b"
)
# "how long until my flight": when something happens, not a clock time or a date.
_HOW_LONG_UNTIL = re.compile(r"\bhow\s+(?:long|much\s+(?:longer|time))\s+(?:\w+\s+)*?until\b")
# How long until a clock time: "how long until 5 pm", "how much time until midnight".
_UNTIL = re.compile(
    r"\bhow\s+(?:long|much\s+(?:longer|time)|many\s+(?:more\s+)?(?:hours|minutes))\b.*?"
    r"\b(?:until|till|til|before)\s+(?:it'?s\s+|it\s+is\s+)?(?:\d|noon|midday|midnight)"
)
# Not the clock's, whatever its time words: "we're out of time", "is the train on time"
# (punctual), a greeting ("good day"), the weather ("the 7 day forecast"), a journey's time
# ("the time left before i get to the hotel"), time as something spent ("a good use of my
# time").
_NOT_THE_CLOCKS = re.compile(
    r"\bout\s+of\s+time\b|\bon\s+time\b"
    r"|^\W*(?:good|g'?day)\s+(?:day|morning|afternoon|evening|night)(?:\s+to\s+you)?\W*$"
    r"|^\W*have\s+a\s+(?:good|nice|great|lovely)\s+(?:day|night|evening|weekend)\W*$"
    r"|\b(?:forecast|weather)\b"
    r"|\b(?:use|waste)\s+of\s+(?:(?:my|your|our|the|his|her|their)\s+)?time\b"
    r"|\bspend\s+(?:my|our|your|the|his|her|their)\s+time\b"
    r"|\b(?:i|we)\s+(?:get|arrive|reach)\s+(?:to|at|in|there|home)\b"
)
# The hours each part of the day spans (from, to), to say yes or no: "late" and "early"
# are left to the time alone.
_PARTS = {
    "morning": (5, 12), "afternoon": (12, 17), "evening": (17, 21), "night": (21, 5),
    "daytime": (6, 18),
}  # fmt: skip


def _part_of_day(hour: int) -> str:
    for part, (start, end) in _PARTS.items():
        if part != "daytime" and (start <= hour < end or (start > end and not end <= hour < start)):
            return part
    return "night"


class Query(NamedTuple):
    """What a request asks the clock (``parse``)."""

    kind: Kind
    places: tuple[Place, ...] = ()
    at: tuple[int, int] | None = None  # the clock time to convert (hour, minute)
    certain: bool = False  # the words alone settle it (the claim is CERTAIN)
    part: str = ""  # a part of the day asked about ("is it morning in Tokyo")


def parse(text: str, intent: str = "", last: Any = None) -> Query | None:
    """Read a request; ``None`` when it is not one for the clock (no time words, or a
    question about when something happens: "what time does the pharmacy close")."""
    t = words_to_numbers(text.lower().replace("’", "'"))
    # Plain substring tests first: most texts skip most of the patterns below.
    timeish, dayish = (
        "time" in t or "hour" in t or "late" in t or "clock" in t,
        "da" in t or "year" in t or "month" in t,
    )
    if "is it" in t:
        m = _PART_OF_DAY_Q.match(t)
        if m:
            places = tuple(find_places(m.group("where")))
            part = "" if m.group("or") else re.sub(r"\s+", "", m.group("part"))
            part = "daytime" if part == "day" else part
            return Query("time", places, None, bool(places), part)
    if "when" in t and _WHEN_NOW.match(t):
        return Query("time", (), None, True)
    if _NOT_THE_CLOCKS.search(t):
        return None
    date_q = dayish and search_gated(_DATE_Q, t)
    zone_other = ("zone" in t or "offset" in t) and _ZONE_OTHER.search(t)
    if zone_other and "time" not in t:  # with "time", the patterns below read it
        ref = max(zone_other.start("ref"), zone_other.start("ref2"))  # -1 without UTC/GMT
        places = tuple(p for p in find_places(t) if not p.start <= ref < p.end)
        if places or (ref >= 0 and _MINE.search(t)):  # "what's my UTC offset": this device's
            return Query("timezone", places, None, True)
        return None
    if not date_q and not _VOCABULARY.search(t):
        return None
    at = _clock_time(t)
    if "how" in t and ("until" in t or "till" in t or "before" in t):
        if at is not None and _UNTIL.search(t):
            places = tuple(find_places(t))
            return Query("until", places[:1], at, len(places) <= 1)
        if _HOW_LONG_UNTIL.search(t) and not parse_dates(t, date(2000, 1, 1)):
            return None  # "how long until my flight" (but "how long until christmas")
    zone_q = "zone" in t and _ZONE_Q.search(t)
    if zone_q and ("many" in t or "number" in t) and _ZONE_COUNT.search(t):
        return None
    time_q = timeish and search_gated(_TIME_Q, t)
    ahead = ("ahead" in t or "behind" in t) and _AHEAD.search(t)
    wants_places = (
        at is not None or zone_q or time_q or ahead or (timeish and _OFFSET_WORDS.search(t))
    )
    places = tuple(find_places(t)) if wants_places else ()
    if at is not None and len(places) >= 2:
        if _EVENT_TIME.search(t):
            return None  # "if I leave Paris at 9 am what time do I arrive in London"
        if _CONVERT_Q.search(t):
            return Query("convert", places, at, True)
        if _COMMAND.match(t):
            return None  # "call the Berlin office at 9 am Chicago time": another agent's task
    if places and _offset_asked(t, places):
        return Query("offset", places, None, True)
    if not places and "between" in t and timeish and _OFFSET_WORDS.search(t):
        return None  # "the time difference between a cold and the flu": not places
    if search_gated(_EVENT, t) and (_EVENT_TIME.search(t) or not parse_dates(t, date(2000, 1, 1))):
        return None  # "what time do shops close on Sunday" (but "what day is christmas")
    if ahead and not places and not timeish:
        return None  # "how far ahead is the exit": no places, no time
    if ("day" in t or "week" in t) and _BETWEEN_Q.search(t):
        dates = parse_dates(t, date(2000, 1, 1))
        need = 1 if re.search(r"\b(?:until|till|til|before|since|to go|left)\b", t) else 2
        return Query("between", places, None, len(dates) >= need)
    if time_q:
        if not places and "on " in t and _ON_ELSEWHERE.search(t):
            return None  # "what time is it on Mars": no clock it keeps
        unknown_place = re.search(r"\b(?:in|at)\s+(?!the\s+(?:moment|morning))[a-z]", t)
        return Query("time", places, None, bool(places) or not unknown_place)
    if zone_q:
        return Query("timezone", places, None, bool(places) or bool(_MINE.search(t)))
    if "on " in t and _DATE_ON_A_THING.search(t):
        return None  # "what's the date on the receipt": a date written on a thing
    if date_q or (dayish and _DATE_OF.search(t) and parse_dates(t, date(2000, 1, 1))):
        return Query("date", places, None, not _DATE_ELSEWHERE.search(t))
    if not wants_places:  # read above when wanted (the same text, the same places)
        places = tuple(find_places(t))
    if intent in ("time", "timezone", "date"):
        return Query(intent, places)
    kind = str(last) if last in ("time", "timezone", "date", "between", "offset") else "time"
    return Query(kind, places)


def _clock_time(t: str) -> tuple[int, int] | None:
    m = _CLOCK_TIME.search(t) if _HAS_CLOCK_TIME.search(t) else None
    if m is None:
        return None
    if m.group(6):
        return (0, 0) if m.group(6) == "midnight" else (12, 0)
    if m.group(4):
        hour, minute = int(m.group(4)), int(m.group(5))
    elif m.group(1):
        hour, minute = int(m.group(1)) % 12, int(m.group(2) or 0)
        hour += 12 if m.group(3) == "p" else 0
    else:
        hour, minute = int(m.group(7)), 0
    return (hour, minute) if hour < 24 and minute < 60 else None


def _offset_asked(t: str, places: tuple[Place, ...]) -> bool:
    """An offset question: "time difference" or "hours ahead" and a place, or "ahead/behind"
    right beside a place ("how far ahead is London from New York", "is Dubai ahead of Moscow")."""
    if not places or (len(places) == 1 and not _HERE.search(t) and not _AHEAD.search(t)):
        return False
    if _OFFSET_WORDS.search(t):
        return True
    for p in places:
        before, after = t[: p.start], t[p.end :]
        if re.search(
            r"\b(?:ahead|behind)\s+(?:of\s+|from\s+)?(?:is\s+|are\s+)?$", before
        ) or re.match(
            r"\s+(?:is\s+|are\s+)?(?:\d+(?:\.\d+)?\s+hours?\s+)?(?:ahead|behind)\b", after
        ):
            return True
    return False


# Words without which no text is a question for the clock (the claim's cheap gate).
_GATE_WORDS = frozenset(
    ["time", "times", "timezone", "timezones", "zone", "zones", "clock", "date", "dates", "day",
     "days", "hour", "hours", "ahead", "behind", "noon", "midnight", "am", "pm", "christmas",
     "halloween", "year", "calendar", "calender", "late", "today", "tomorrow", "yesterday",
     "today's", "tomorrow's", "yesterday's", "monday", "tuesday", "wednesday", "thursday",
     "friday", "saturday", "sunday", "month", "offset", "offsets", "morning", "afternoon",
     "evening", "night", "nighttime", "daytime", "early", "now", "moment", "currently",
     "presently"]
)  # fmt: skip


def claim(text: str) -> float:
    """How surely the clock reads ``text`` (the agent stage's claim, see ``agent_stage``).

    ``CERTAIN`` when the words settle the question: the time here or in a known
    place, a place's time zone, the offset between two places, a clock time
    from one place in another, a date, or days until/between dates it can
    read; ``POSSIBLE`` for other requests in its vocabulary ("what time is it
    in Springfield": a place it does not know); ``CANNOT`` without time words,
    for questions about when something happens ("what time does the
    pharmacy close", "when is Easter", "what day of the week was I born
    on"), a time difference between things that are not places, a command
    that holds a clock time and two places ("call the Berlin office at 9 am
    Chicago time": a conversion is read only when asked as one), a date
    written on a thing ("the date on the receipt"), the time somewhere it
    keeps no clock for ("what time is it on Mars"), how many time zones a
    place spans, and what no
    built-in agent takes (``not_a_command``): writing about a subject ("a joke
    about time zones"), a question about words ("translate what time is it
    into German"), a question for a reason or a person ("who invented time
    zones") or settings.
    """
    t, words_in, digits = words(text)
    if _GATE_WORDS.isdisjoint(words_in) and not (digits and ":" in t) or not_a_command(t, words_in):
        return CANNOT
    query = parse(t)
    if query is None:
        return CANNOT
    return CERTAIN if query.certain else POSSIBLE


def _day(d: date) -> str:
    return f"{d:%A}, {d:%B} {d.day}, {d.year}"


def _place(label: str) -> str:
    if "/" in label:
        return label
    return label.upper() if len(label) <= 3 else label.title()


def _clock(dt: datetime) -> str:
    return f"{dt:%I:%M %p}".lstrip("0")


def _offset(dt: datetime) -> str:
    off = dt.utcoffset() or timedelta(0)
    sign = "-" if off < timedelta(0) else "+"
    minutes = abs(int(off.total_seconds())) // 60
    return f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"


class ClockAgent:
    """Answers the ``time``, ``date`` and ``timezone`` intents on the device."""

    name = "clock"
    claim = staticmethod(claim)

    def __init__(self, name: str = "clock", *, now: Callable[[], datetime] | None = None, **_: Any):
        self.name = name
        self._now = now or (lambda: datetime.now(timezone.utc).astimezone())

    def handle(self, turn: AgentTurn) -> AgentReply:
        if turn.intent == CANCEL_INTENT:
            return cancelled(self.name)
        text = words_to_numbers(turn.request.lower().replace("’", "'"))
        now = self._now()
        last = turn.slots.get("kind")
        query = parse(text, turn.intent, last) or Query(  # a follow-up: "and in tokyo?"
            turn.intent if turn.intent in ("time", "timezone", "date") else str(last or "time"),
            tuple(find_places(text)),
        )
        try:
            if query.kind == "between":
                return self._between(text, now)
            if query.kind == "date":
                return self._date(text, now)
            if query.kind == "offset":
                return self._offset(text, now, query.places, turn.slots)
            if query.kind == "convert":
                return self._convert(text, now, query)
            if query.kind == "until":
                return self._until(now, query)
            shift = _LATER.search(text) if query.kind == "time" else None
            if shift is not None:  # "what time will it be in 3 hours", "2 hours ago"
                amount, unit = shift.group(1) or shift.group(3), shift.group(2) or shift.group(4)
                count = 1.0 if amount in ("a", "an") else float(amount)
                minutes = count * (60 if unit.startswith("hour") else 1)
                said = _hours(minutes / 60)
                if shift.group("ago"):
                    return self._time(now - timedelta(minutes=minutes), query, f"{said} ago", "was")
                return self._time(now + timedelta(minutes=minutes), query, f"in {said}")
            return self._time(now, query)
        except TimeZoneDataMissing as exc:
            return AgentReply(
                reply=f"I can only tell the local time and date: {exc}.",
                data={"error": "tzdata_missing", "local_time": now.isoformat()},
            )

    def _time(
        self, now: datetime, query: Query, later: str = "", verb: str = "will be"
    ) -> AgentReply:
        """The time now, or ``later`` ("in 3 hours", "2 hours ago") when ``now`` has been
        moved by it."""
        kind = query.kind
        it_is = f"{later[0].upper()}{later[1:]} it {verb}" if later else "It's"
        if not query.places:
            if kind == "timezone":
                name = now.tzname() or _offset(now)
                if query.certain:  # "what's my time zone"
                    return AgentReply(
                        reply=f"This device is on {name} ({_offset(now)}).",
                        slots={"kind": "timezone"},
                        data={"tzname": name, "utc_offset": _offset(now)},
                    )
                return AgentReply(
                    reply=f"This device is on {name} ({_offset(now)}). Which place do you mean?",
                    state="need_input",
                    slots={"kind": "timezone"},
                    data={"tzname": name, "utc_offset": _offset(now)},
                )
            return AgentReply(
                reply=f"{it_is} {_clock(now)} on {_day(now.date())}.",
                slots={"kind": "time"},
                data={"time": now.isoformat(), "zone": "local"},
            )
        label, key = query.places[0].label, query.places[0].zone
        there = now.astimezone(zone(key))
        data = {
            "place": label,
            "zone": key,
            "time": there.isoformat(),
            "utc_offset": _offset(there),
        }
        if kind == "timezone":
            reply = f"{_place(label)} is on {key} ({there.tzname()}, {_offset(there)} now)."
        else:
            reply = f"{it_is} {_clock(there)} on {there:%A} in {_place(label)} ({there.tzname()})."
            kind = "time"
            asked = "night" if query.part == "nighttime" else query.part
            if asked in _PARTS and not later:  # "is it morning in Tokyo": yes or no, then the time
                part = _part_of_day(there.hour)
                start, end = _PARTS[asked]
                yes = part == asked or (asked == "daytime" and start <= there.hour < end)
                reply = (
                    f"{'Yes' if yes else 'No'}, it's {part} in {_place(label)}: "
                    f"{_clock(there)} on {there:%A} ({there.tzname()})."
                )
                data["part_of_day"] = part
        return AgentReply(reply=reply, slots={"kind": kind}, data=data)

    def _until(self, now: datetime, query: Query) -> AgentReply:
        """How long until the next time the clock (here, or in the place named) shows
        ``query.at``."""
        here = now.astimezone(zone(query.places[0].zone)) if query.places else now
        hour, minute = query.at or (0, 0)
        then = here.replace(hour=hour, minute=minute, second=0, microsecond=0)
        if then <= here:
            then += timedelta(days=1)
        minutes = round((then - here).total_seconds() / 60)
        where = f" in {_place(query.places[0].label)}" if query.places else ""
        return AgentReply(
            reply=f"{_hours(minutes / 60) or '0 minutes'} until {_clock(then)}{where} "
            f"(it's {_clock(here)} now).",
            slots={"kind": "until"},
            data={"until": then.isoformat(), "minutes": minutes, "time": here.isoformat()},
        )

    def _offset(
        self, text: str, now: datetime, places: tuple[Place, ...], slots: Any
    ) -> AgentReply:
        """How far ahead the first place is of the second (of here when only one is named)."""
        first, second = _subject_and_reference(text, places)
        if second is None and slots.get("kind") == "offset" and slots.get("reference"):
            ref_label, ref_zone = slots["reference"]
            second = Place(ref_label, ref_zone, 0, 0)
        a = now.astimezone(zone(first.zone))
        b = now.astimezone(zone(second.zone)) if second is not None else now
        b_name = _place(second.label) if second is not None else "here"
        hours = ((a.utcoffset() or timedelta(0)) - (b.utcoffset() or timedelta(0))).total_seconds()
        hours /= 3600
        if hours == 0:
            reply = f"{_place(first.label)} and {b_name} are on the same time right now"
        else:
            where = "ahead of" if hours > 0 else "behind"
            reply = f"{_place(first.label)} is {_hours(abs(hours))} {where} {b_name}"
        reply += (
            f" ({_clock(a)} {a:%A} in {_place(first.label)}, "
            f"{_clock(b)} {b:%A} {'here' if second is None else 'in ' + b_name})."
        )
        return AgentReply(
            reply=reply,
            slots={
                "kind": "offset",
                "reference": [second.label, second.zone] if second is not None else None,
            },
            data={
                "place": first.label,
                "zone": first.zone,
                "reference": second.label if second is not None else "local",
                "reference_zone": second.zone if second is not None else "local",
                "offset_hours": hours,
                "time": a.isoformat(),
                "reference_time": b.isoformat(),
            },
        )

    def _convert(self, text: str, now: datetime, query: Query) -> AgentReply:
        """A clock time in one place (the one named beside the time) in the other place."""
        source, target = _source_and_target(text, query.places)
        hour, minute = query.at or (0, 0)
        src_zone = zone(source.zone)
        day = now.astimezone(src_zone).date()
        at = datetime(day.year, day.month, day.day, hour, minute, tzinfo=src_zone)
        there = at.astimezone(zone(target.zone))
        moved = (there.date() - at.date()).days
        when = {0: "", 1: " the next day", -1: " the day before"}.get(moved, "")
        reply = (
            f"{_clock(at)} in {_place(source.label)} is {_clock(there)}{when} in "
            f"{_place(target.label)} ({there:%A}, {there.tzname()})."
        )
        return AgentReply(
            reply=reply,
            slots={"kind": "convert"},
            data={
                "place": source.label,
                "zone": source.zone,
                "time": at.isoformat(),
                "target": target.label,
                "target_zone": target.zone,
                "target_time": there.isoformat(),
            },
        )

    def _date(self, text: str, now: datetime) -> AgentReply:
        today = now.date()
        m = re.search(
            r"\b(\d+|an?)\s+(day|week)s?\s+(from\s+(?:now|today)|ago)\b", text
        ) or re.search(r"\bin\s+(\d+|an?)\s+(day|week)s?\b", text)
        if m:  # "in 3 days", "a week from now"
            n = (int(m.group(1)) if m.group(1)[0].isdigit() else 1) * (
                7 if m.group(2) == "week" else 1
            )
            ago = m.lastindex == 3 and m.group(3) == "ago"
            target = today + timedelta(days=-n if ago else n)
        else:
            dates = parse_dates(text, today)
            target = dates[0] if dates else today
        delta = (target - today).days
        when = {0: "Today is", 1: "Tomorrow is", -1: "Yesterday was"}.get(
            delta, "That is" if delta > 0 else "That was"
        )
        return AgentReply(
            reply=f"{when} {_day(target)}.",
            slots={"kind": "date"},
            data={"date": target.isoformat(), "weekday": f"{target:%A}", "days_from_today": delta},
        )

    def _between(self, text: str, now: datetime) -> AgentReply:
        today = now.date()
        dates = parse_dates(text, today)
        if len(dates) == 1:  # "until christmas", "since march 1": counted from today
            d, no_year = dates[0], not re.search(r"\b\d{4}\b", text)
            if re.search(r"\b(?:since|ago)\b", text):
                dates = [_shift_year(d, -1) if no_year and d > today else d, today]
            elif re.search(r"\b(?:until|till|til|before|left|to go)\b", text):
                dates = [today, _shift_year(d, 1) if no_year and d < today else d]
        if len(dates) < 2:
            return AgentReply(
                reply="Which two dates? For example: days between 2024-01-01 and March 1, 2024.",
                state="need_input",
                slots={"kind": "between"},
                data={"error": "need two dates"},
            )
        a, b = dates[0], dates[1]
        days = abs((b - a).days)
        data: dict[str, object] = {"from": a.isoformat(), "to": b.isoformat(), "days": days}
        count = f"{days} days"
        if re.search(r"\bweeks?\b", text):  # "how many weeks until christmas"
            weeks, rest = divmod(days, 7)
            data["weeks"] = round(days / 7, 2)
            count = f"{weeks} week{'s' * (weeks != 1)}"
            if rest:
                count += f" and {rest} day{'s' * (rest != 1)}"
            count += f" ({days} days)"
        return AgentReply(
            reply=f"There are {count} between {_day(a)} and {_day(b)}.",
            slots={"kind": "between"},
            data=data,
        )


def _shift_year(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # February 29
        return d.replace(year=d.year + years, day=28)


def _hours(hours: float) -> str:
    whole, minutes = int(hours), round((hours - int(hours)) * 60)
    text = f"{whole} hour{'s' * (whole != 1)}" if whole else ""
    if minutes:
        text += f"{' ' if text else ''}{minutes} minutes"
    return text


def _subject_and_reference(text: str, places: tuple[Place, ...]) -> tuple[Place, Place | None]:
    """Which place the question is about and which it compares with: the first and the
    second named, except in "how many hours ahead of Paris is Tokyo" (Tokyo vs Paris)."""
    if len(places) < 2:
        return places[0], None
    a, b = places[0], places[1]
    if re.search(r"\b(?:ahead|behind)\s+(?:of\s+)?$", text[: a.start]) and re.match(
        r"\s+(?:is|are)\s+$", text[a.end : b.start]
    ):
        return b, a
    return a, b


def _source_and_target(text: str, places: tuple[Place, ...]) -> tuple[Place, Place]:
    """In a conversion the source is the place named right beside the clock time
    ("9 am in New York", "3 pm London time", "14:00 UTC"); the target is another."""
    m = _CLOCK_TIME.search(text)
    at = m.start() if m else 0
    end = m.end() if m else 0

    def distance(p: Place) -> int:
        return p.start - end if p.start >= end else (at - p.end) + 1000

    source = min(places, key=distance)
    target = next(p for p in places if p is not source)
    return source, target
