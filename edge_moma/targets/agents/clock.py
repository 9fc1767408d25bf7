"""Date and time agent: the time here or in a named place, the date, days between dates.

Places are found in a small table of common names ("new york", "britain",
"eastern time") and then in the IANA database's city names, through the
standard library's ``zoneinfo``. A device without a time zone database (no
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

import functools
import re
import zoneinfo
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from typing import Any

from ...agents.base import CANCEL_INTENT, AgentReply, AgentTurn, cancelled
from .calculator import words_to_numbers

_PLACES: dict[str, str] = {
    "new york": "America/New_York", "nyc": "America/New_York", "boston": "America/New_York",
    "miami": "America/New_York", "washington": "America/New_York", "dc": "America/New_York",
    "atlanta": "America/New_York", "eastern": "America/New_York", "est": "America/New_York",
    "edt": "America/New_York", "chicago": "America/Chicago", "dallas": "America/Chicago",
    "houston": "America/Chicago", "texas": "America/Chicago", "missouri": "America/Chicago",
    "central": "America/Chicago", "cst": "America/Chicago", "denver": "America/Denver",
    "salt lake city": "America/Denver", "mountain": "America/Denver", "mst": "America/Denver",
    "phoenix": "America/Phoenix", "arizona": "America/Phoenix",
    "los angeles": "America/Los_Angeles", "la": "America/Los_Angeles",
    "san francisco": "America/Los_Angeles", "california": "America/Los_Angeles",
    "las vegas": "America/Los_Angeles", "seattle": "America/Los_Angeles",
    "pacific": "America/Los_Angeles", "pst": "America/Los_Angeles",
    "hawaii": "Pacific/Honolulu", "alaska": "America/Anchorage", "jamaica": "America/Jamaica",
    "london": "Europe/London", "britain": "Europe/London", "uk": "Europe/London",
    "england": "Europe/London", "greenwich": "Etc/GMT", "gmt": "Etc/GMT", "utc": "UTC",
    "paris": "Europe/Paris", "france": "Europe/Paris", "berlin": "Europe/Berlin",
    "germany": "Europe/Berlin", "madrid": "Europe/Madrid", "spain": "Europe/Madrid",
    "valencia": "Europe/Madrid", "rome": "Europe/Rome", "italy": "Europe/Rome",
    "moscow": "Europe/Moscow", "india": "Asia/Kolkata", "delhi": "Asia/Kolkata",
    "mumbai": "Asia/Kolkata", "beijing": "Asia/Shanghai", "china": "Asia/Shanghai",
    "tokyo": "Asia/Tokyo", "japan": "Asia/Tokyo", "seoul": "Asia/Seoul",
    "sydney": "Australia/Sydney", "adelaide": "Australia/Adelaide",
    "tanzania": "Africa/Dar_es_Salaam", "nairobi": "Africa/Nairobi", "cairo": "Africa/Cairo",
}  # fmt: skip
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
_HOLIDAYS = {"christmas": (12, 25), "new year": (1, 1), "halloween": (10, 31)}
NO_TZDATA = (
    "this device has no time zone database; install the tzdata package "
    "(pip install tzdata) to ask about other time zones"
)


class TimeZoneDataMissing(LookupError):
    """zoneinfo has neither a system database nor the tzdata package."""


@functools.lru_cache(maxsize=1)
def _iana_keys() -> dict[str, str]:
    """'asia/tokyo' -> 'Asia/Tokyo' (built once)."""
    return {key.lower(): key for key in zoneinfo.available_timezones()}


@functools.lru_cache(maxsize=1)
def _iana_cities() -> dict[str, str]:
    """'new york' -> 'America/New_York' for every zone the device knows (built once)."""
    out: dict[str, str] = {}
    for key in zoneinfo.available_timezones():
        city = key.rsplit("/", 1)[-1].replace("_", " ").lower()
        if "/" in key and not key.startswith(("Etc/", "SystemV/")):
            out.setdefault(city, key)
    return out


def find_place(text: str) -> tuple[str, str] | None:
    """The place named in ``text`` and its IANA zone, or None."""
    t = text.lower()
    m = re.search(r"\b([a-z]+/[a-z_]+(?:/[a-z_]+)?)\b", t)
    if m and m.group(1) in _iana_keys():
        key = _iana_keys()[m.group(1)]
        return key, key
    for place in sorted(_PLACES, key=len, reverse=True):
        if re.search(rf"\b{re.escape(place)}\b", t):
            return place, _PLACES[place]
    cities = _iana_cities()
    words = re.findall(r"[a-z]+", t)
    for n in (3, 2, 1):
        for i in range(len(words) - n + 1):
            name = " ".join(words[i : i + n])
            if name in cities and len(name) > 3:
                return name, cities[name]
    return None


def zone(key: str) -> zoneinfo.ZoneInfo:
    """The zone ``key``; ``TimeZoneDataMissing`` when the device has no database."""
    try:
        return zoneinfo.ZoneInfo(key)
    except zoneinfo.ZoneInfoNotFoundError:
        raise TimeZoneDataMissing(NO_TZDATA) from None


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
        if hit:
            d = date(today.year, month, day)
            found.append((hit.start(), d if d >= today else date(today.year + 1, month, day)))
    for word, delta in (("today", 0), ("tomorrow", 1), ("yesterday", -1)):
        hit = re.search(rf"\b{word}\b", t)
        if hit:
            found.append((hit.start(), today + timedelta(days=delta)))
    return [d for _, d in sorted(found)]


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

    def __init__(self, name: str = "clock", *, now: Callable[[], datetime] | None = None, **_: Any):
        self.name = name
        self._now = now or (lambda: datetime.now(timezone.utc).astimezone())

    def handle(self, turn: AgentTurn) -> AgentReply:
        if turn.intent == CANCEL_INTENT:
            return cancelled(self.name)
        text = words_to_numbers(turn.text.lower())
        now = self._now()
        kind = _kind(text, turn.intent, turn.slots.get("kind"))
        try:
            if kind == "between":
                return self._between(text, now)
            if kind == "date":
                return self._date(text, now)
            return self._time(text, now, kind)
        except TimeZoneDataMissing as exc:
            return AgentReply(
                reply=f"I can only tell the local time and date: {exc}.",
                data={"error": "tzdata_missing", "local_time": now.isoformat()},
            )

    def _time(self, text: str, now: datetime, kind: str) -> AgentReply:
        place = find_place(text)
        if place is None:
            if kind == "timezone":
                name = now.tzname() or _offset(now)
                return AgentReply(
                    reply=f"This device is on {name} ({_offset(now)}). Which place do you mean?",
                    state="need_input",
                    slots={"kind": "timezone"},
                    data={"tzname": name, "utc_offset": _offset(now)},
                )
            return AgentReply(
                reply=f"It's {_clock(now)} on {_day(now.date())}.",
                slots={"kind": "time"},
                data={"time": now.isoformat(), "zone": "local"},
            )
        label, key = place
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
            reply = f"It's {_clock(there)} on {there:%A} in {_place(label)} ({there.tzname()})."
        return AgentReply(reply=reply, slots={"kind": kind}, data=data)

    def _date(self, text: str, now: datetime) -> AgentReply:
        today = now.date()
        m = re.search(r"\b(\d+)\s+(day|week)s?\s+(from\s+(?:now|today)|ago)\b", text) or re.search(
            r"\bin\s+(\d+)\s+(day|week)s?\b", text
        )
        if m:
            n = int(m.group(1)) * (7 if m.group(2) == "week" else 1)
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
        dates = parse_dates(text, now.date())
        if re.search(r"\b(?:until|till|to go before)\b", text) and len(dates) == 1:
            dates = [now.date(), dates[0]]
        if len(dates) < 2:
            return AgentReply(
                reply="Which two dates? For example: days between 2024-01-01 and March 1, 2024.",
                state="need_input",
                slots={"kind": "between"},
                data={"error": "need two dates"},
            )
        a, b = dates[0], dates[1]
        days = abs((b - a).days)
        return AgentReply(
            reply=f"There are {days} days between {_day(a)} and {_day(b)}.",
            slots={"kind": "between"},
            data={"from": a.isoformat(), "to": b.isoformat(), "days": days},
        )


def _kind(text: str, intent: str, last: Any) -> str:
    """Which question: time, timezone, date, or days between two dates."""
    if re.search(r"\bdays?\s+(?:between|until|till|before|since)\b|\bhow many days\b", text):
        return "between"
    if intent in ("time", "timezone", "date"):
        return intent
    if re.search(r"\btime ?zone\b", text):
        return "timezone"
    if re.search(r"\b(?:date|day|tomorrow|yesterday)\b", text):
        return "date"
    return str(last) if last in ("time", "timezone", "date", "between") else "time"
