from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from agent_turns import turn

from edge_moma.agents.base import CANNOT, CERTAIN, POSSIBLE
from edge_moma.targets.agents.clock import ClockAgent, claim, parse_dates
from edge_moma.targets.agents.places import ALIASES, find_places, iana_keys

NOW = datetime(2024, 3, 1, 15, 30, tzinfo=timezone.utc)  # a Friday


@pytest.fixture
def clock() -> ClockAgent:
    return ClockAgent(now=lambda: NOW)


@pytest.mark.parametrize(
    ("text", "intent", "expected"),
    [
        ("what time is it in new york", "time", "It's 10:30 AM on Friday in New York (EST)."),
        ("what time is it in adelaide, australia", "time", "It's 2:00 AM on Saturday in Adelaide"),
        ("tell me the time in la", "time", "It's 7:30 AM on Friday in LA (PST)."),
        ("what time is it in Asia/Tokyo", "time", "It's 12:30 AM on Saturday in Asia/Tokyo"),
        ("what time is it in reykjavik", "time", "It's 3:30 PM on Friday in Reykjavik (GMT)."),
        ("what's the current time", "time", "It's 3:30 PM on Friday, March 1, 2024."),
        ("what's the timezone for britain", "timezone", "Britain is on Europe/London (GMT"),
        ("what is texas's timezone", "timezone", "Texas is on America/Chicago (CST, UTC-06:00"),
        ("what's the date today", "date", "Today is Friday, March 1, 2024."),
        ("what's tomorrow's date", "date", "Tomorrow is Saturday, March 2, 2024."),
        ("what is the date in 5 days", "date", "That is Wednesday, March 6, 2024."),
        ("what day was 3 days ago", "date", "That was Tuesday, February 27, 2024."),
        ("what's the date in two weeks", "date", "That is Friday, March 15, 2024."),
        (
            "how many days between 2024-01-01 and 2024-03-01",
            "date",
            "There are 60 days between Monday, January 1, 2024 and Friday, March 1, 2024.",
        ),
        ("days between march 1 and june 1, 2024", "date", "There are 92 days between"),
        ("how many days until christmas", "date", "There are 299 days between"),
        ("how many weeks until christmas", "", "There are 42 weeks and 5 days (299 days) between"),
        # another moment's time, and how long until a clock time
        ("what time will it be in 3 hours", "", "In 3 hours it will be 6:30 PM on Friday"),
        ("what time will it be in tokyo in half an hour", "", "In 30 minutes it will be 1:00 AM"),
        ("what time was it 2 hours ago", "", "2 hours ago it was 1:30 PM on Friday"),
        ("how much time until 5 pm", "", "1 hour 30 minutes until 5:00 PM (it's 3:30 PM now)."),
        ("how long until midnight", "", "8 hours 30 minutes until 12:00 AM"),
        ("weeks left until new year", "", "There are 43 weeks and 5 days (306 days) between"),
        ("what month is it", "date", "Today is Friday, March 1, 2024."),
        ("what month are we in", "", "Today is Friday, March 1, 2024."),
        ("is today the 15th", "", "Today is Friday, March 1, 2024."),
        ("i need to know the date in 256 days", "", "That is Tuesday, November 12, 2024."),
        ("tell me the date it will be 5 days from now", "", "That is Wednesday, March 6, 2024."),
        ("let me know what date it will be in 3 days", "", "That is Monday, March 4, 2024."),
        ("what is the date in a week", "", "That is Friday, March 8, 2024."),
        ("i need the full date for today", "", "Today is Friday, March 1, 2024."),
        ("what is the month and day tomorrow", "", "Tomorrow is Saturday, March 2, 2024."),
        ("what date are we on", "", "Today is Friday, March 1, 2024."),
        ("date and time please", "", "It's 3:30 PM on Friday, March 1, 2024."),
        ("what time of day is it", "", "It's 3:30 PM on Friday, March 1, 2024."),
    ],
)
def test_answers(clock: ClockAgent, text: str, intent: str, expected: str) -> None:
    assert clock.handle(turn(text, intent)).reply.startswith(expected)


def test_structured_data_and_follow_up(clock: ClockAgent) -> None:
    first = clock.handle(turn("what time is it in dallas", "time"))
    assert first.data["zone"] == "America/Chicago" and first.data["utc_offset"] == "UTC-06:00"
    again = clock.handle(turn("and in tokyo?", "", first.slots))
    assert again.data["zone"] == "Asia/Tokyo"


def test_bad_input_gets_a_clear_reply(clock: ClockAgent) -> None:
    one = clock.handle(turn("how many days between march 1", "date"))
    assert one.state == "need_input" and "Which two dates" in one.reply
    nowhere = clock.handle(turn("what's the timezone there", "timezone"))
    assert nowhere.state == "need_input" and "Which place" in nowhere.reply


def test_parse_dates_and_places() -> None:
    today = NOW.date()
    assert [d.isoformat() for d in parse_dates("from 12/25/2023 to 1 march", today)] == [
        "2023-12-25",
        "2024-03-01",
    ]
    assert parse_dates("february 30", today) == []  # not a date: skipped, not a crash
    found = find_places("what time is it in the mountain timezone")
    assert [(p.label, p.zone) for p in found] == [("mountain", "America/Denver")]
    assert find_places("what time is it") == []


def test_without_tzdata_local_time_still_works_and_the_reply_says_why(tmp_path: Path) -> None:
    """A real interpreter with no time zone database: no site-packages, empty TZPATH."""
    root = Path(__file__).resolve().parents[1]
    code = (
        "from edge_moma.targets.agents.clock import ClockAgent\n"
        "from edge_moma.agents.base import AgentTurn\n"
        "t = lambda s: AgentTurn('s', ({'role': 'user', 'content': s},), 'time')\n"
        "a = ClockAgent()\n"
        "print(a.handle(t('what time is it in new york')).reply)\n"
        "print(a.handle(t('what time is it')).reply)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(root), "PYTHONTZPATH": ""}
    out = subprocess.run(
        [sys.executable, "-S", "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    first, second = out.stdout.splitlines()
    assert "no time zone database" in first and "tzdata" in first
    assert second.startswith("It's ")


SUMMER = datetime(2024, 7, 1, 12, 0, tzinfo=timezone.utc)  # Paris on CEST, Tokyo JST


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("how many hours ahead is Tokyo from Paris", "Tokyo is 7 hours ahead of Paris"),
        ("how far ahead is London from New York", "London is 5 hours ahead of New York"),
        ("how many hours behind Tokyo is Berlin", "Berlin is 7 hours behind Tokyo"),
        ("how many hours ahead of New York is Seoul", "Seoul is 13 hours ahead of New York"),
        ("time difference between Mumbai and London", "Mumbai is 4 hours 30 minutes ahead"),
        ("is Dubai ahead of Moscow", "Dubai is 1 hour ahead of Moscow"),
        ("what's 3 pm London time in Tokyo", "3:00 PM in London is 11:00 PM in Tokyo"),
        (
            "when it's 9 am in New York what time is it in Sydney",
            "9:00 AM in New York is 11:00 PM in Sydney",
        ),
        ("what is 14:00 UTC in Los Angeles", "2:00 PM in UTC is 7:00 AM in Los Angeles"),
        ("what's midnight in Seoul in Paris time", "12:00 AM in Seoul is 5:00 PM the day before"),
        ("what time is it in Buenos Aires", "It's 9:00 AM on Monday in Buenos Aires"),
        ("what's my time zone", "This device is on UTC"),
        ("what day of the week is Christmas", "That is Wednesday, December 25, 2024."),
        ("how many days since March 1", "There are 122 days between Friday, March 1, 2024"),
        ("what's the date on Friday", "That is Friday, July 5, 2024."),
    ],
)
def test_answers_spoken_phrasings(text: str, expected: str) -> None:
    reply = ClockAgent(now=lambda: SUMMER).handle(turn(text, ""))
    assert reply.reply.startswith(expected), reply.reply


def test_offsets_follow_daylight_saving() -> None:
    winter = ClockAgent(now=lambda: NOW).handle(turn("how many hours ahead is Tokyo from Paris"))
    summer = ClockAgent(now=lambda: SUMMER).handle(turn("how many hours ahead is Tokyo from Paris"))
    assert (winter.data["offset_hours"], summer.data["offset_hours"]) == (8, 7)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("what time is it", CERTAIN),
        ("what time is it in Tokyo", CERTAIN),
        ("how many hours ahead is Tokyo from Paris", CERTAIN),
        ("what time zone is Denver in", CERTAIN),
        ("what's today's date", CERTAIN),
        ("how many days until christmas", CERTAIN),
        ("how many weeks until christmas", CERTAIN),
        ("what time is it in Springfield", POSSIBLE),  # a place it does not know
        ("how many days since my birthday", POSSIBLE),  # a date it cannot read
        ("what time does the pharmacy close", CANNOT),  # when something happens
        ("when is Easter this year", CANNOT),
        ("how far is Tokyo from Paris", CANNOT),  # a distance
        ("what's in the news today", CANNOT),
        ("set a timer for 10 minutes", CANNOT),
        ("what's the time difference between Sydney and Berlin", CERTAIN),
        ("what's the time difference between a cold and the flu", CANNOT),  # not places
        ("tell me a joke about time zones", CANNOT),  # writing about a subject
        ("how many time zones does Russia have", CANNOT),  # a fact about a place
        ("number of time zones in canada", CANNOT),
        ("what time zone is Russia in", CERTAIN),  # its zone is read
        ("can you tell me the date", CERTAIN),
        ("what is the date for tomorrow", CERTAIN),
        ("tell me the date of my appointment", CANNOT),  # when something happens
        ("what's the time of the match tonight", CANNOT),  # an event's time
        ("is the train on time", CANNOT),  # punctual, not the time
        ("good day", CANNOT),  # a greeting
        ("give me the 7 day forecast", CANNOT),  # the weather's
        ("give me the time left before i get to the hotel", CANNOT),  # a journey's
        ("what's a good use of my time in toronto", CANNOT),  # time spent
        ("what does the clock say", CERTAIN),
        ("what does it say on the clock", CERTAIN),
        ("can you tell me what the next day is", CERTAIN),  # tomorrow
        ("what date is the next day i get paid", CANNOT),  # an event's day
        ("how long until my flight at 5 pm", CANNOT),  # when something happens
        ("how many hours until 5 pm", CERTAIN),
        ("what time will it be in 3 hours", CERTAIN),
        ("will i be on time", CANNOT),
        ("what is the time of the day", POSSIBLE),
        ("what time do shops close in Madrid on Sunday", CANNOT),
        ("how far ahead is the exit", CANNOT),  # no places, no time
        ("what month is it", CERTAIN),
        ("what is the current month", CERTAIN),
        ("is today the 15th", CERTAIN),
        ("what month is Thanksgiving in", CANNOT),  # a holiday it cannot date
        ("what's the time set to in florida right now", CERTAIN),
        ("what's the time, please", CERTAIN),
        ("what's the time limit for returning shoes", POSSIBLE),  # "time" in a compound
        ("tell me the time frame for the refund", POSSIBLE),
        ("what day of the week was I born on", CANNOT),  # when something happened
        ("what day of the week is christmas", CERTAIN),
        ("translate what time is it into German", CANNOT),  # a question about words
        ("i need to know the date in 256 days", CERTAIN),
        ("what is the date in a week", CERTAIN),
        ("what is the date in Tokyo", POSSIBLE),  # a place's date: the words leave it open
        ("what is the date in 3 months", POSSIBLE),  # it counts days and weeks
        ("what is the date it was released", POSSIBLE),  # when something happened
        ("what's today's day and date", CERTAIN),
        ("what is the exact date today", CERTAIN),
        ("on what date are we", CERTAIN),
        ("what day are we meeting", CANNOT),  # when something happens
        ("what time is kickoff for the Madrid game", CANNOT),  # an event's time
        ("what time is check in at the hotel in Paris", CANNOT),
        ("what time is sunrise tomorrow", CANNOT),  # an event's time, a date named or not
        ("what time is the game on friday", CANNOT),
        ("what time is my flight on christmas eve", CANNOT),
        ("what time is it in Tokyo tomorrow", CERTAIN),
        ("what time is noon in London in New York", CERTAIN),  # a clock time converted
        # a clock time and two places in a command or a travel question: no conversion
        ("book a flight from Boston to Denver at 7 am", CANNOT),
        ("set a meeting at 10 am London time with the Paris office", CANNOT),
        ("call the Berlin office at 9 am Chicago time", CANNOT),
        ("text Joe that 3 pm New York is 8 pm London", CANNOT),
        ("if I leave Paris at 9 am what time do I arrive in London", CANNOT),
        ("my flight leaves New York at 6 pm, when do I land in London", POSSIBLE),
        ("what's 4 pm Paris time in New York", CERTAIN),  # a conversion asked as one
        ("convert 9 am Paris time to New York time", CERTAIN),
        ("when it's midnight in Berlin what time is it in Seattle", CERTAIN),
        ("3 pm London time in Tokyo", CERTAIN),
        ("3 pm London time in Tokyo?", CERTAIN),
        ("what's the date on the receipt", CANNOT),  # a date written on a thing
        ("tell me the date on the letter", CANNOT),
        ("what's the expiry date on the milk", CANNOT),
        ("what's the date today on the Mayan calendar", CANNOT),  # another calendar's
        ("what time is it on Mars", CANNOT),  # somewhere it keeps no clock for
        ("what time is it on the space station", CANNOT),
        ("what time is it on the east coast", CERTAIN),  # a zone's name
        ("what's the date on friday", CERTAIN),
        ("what's the date on the first", CERTAIN),
        ("what day is Christmas on this year", CERTAIN),
        ("what time do you have on your watch", CERTAIN),
        ("what time is it now in Paris", CERTAIN),
        ("how long is the time difference going to last", CANNOT),  # a duration
        ("how long until christmas", POSSIBLE),  # days until a date it reads: the router decides
        ("what's the latest on the time change debate", CANNOT),  # news about a subject
        ("the time please", CERTAIN),
        ("what time and date is the concert", POSSIBLE),  # not the whole request
        ("what is the full date after today", POSSIBLE),  # a date it does not count
    ],
)
def test_claim(text: str, expected: float) -> None:
    assert claim(text) == expected


def test_every_alias_names_a_zone_the_database_knows() -> None:
    known = set(iana_keys().values())
    assert [(name, z) for name, z in ALIASES.items() if z not in known] == []


def test_places_are_found_in_order_and_everyday_words_are_not_places() -> None:
    found = find_places("when it's 9 am in new york what time is it in texas's capital")
    assert [(p.label, p.zone) for p in found] == [
        ("new york", "America/New_York"),
        ("texas", "America/Chicago"),
    ]
    assert find_places("wake me up at 7 in the west center for christmas") == []


def test_the_registry_builds_the_place_table_before_the_first_turn(tmp_path: Path) -> None:
    from edge_moma.config import AgentConfig
    from edge_moma.targets.agents import AgentRegistry, places

    places._table.cache_clear()
    clock = AgentConfig(name="clock", kind="builtin", intents=["time"])
    AgentRegistry([clock], data_dir=tmp_path).claims()
    assert places._table.cache_info().currsize == 1  # no zone database scan on a turn


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("what zone is denver in", "Denver is on America/Denver (MDT, UTC-06:00"),
        ("which zone is tokyo in", "Tokyo is on Asia/Tokyo (JST, UTC+09:00"),
        ("what is the utc offset of tokyo", "Tokyo is on Asia/Tokyo (JST, UTC+09:00"),
        ("what's the gmt offset for london", "London is on Europe/London (BST, UTC+01:00"),
        ("utc offset for chicago", "Chicago is on America/Chicago (CDT, UTC-05:00"),
        ("paris offset from gmt", "Paris is on Europe/Paris (CEST, UTC+02:00"),
    ],
)
def test_a_zone_or_offset_named_without_time_is_a_time_zone_question(
    text: str, expected: str
) -> None:
    assert claim(text) == CERTAIN
    reply = ClockAgent(now=lambda: SUMMER).handle(turn(text, ""))
    assert reply.reply.startswith(expected), reply.reply


@pytest.mark.parametrize(
    "text",
    [
        "what planting zone is denver in",  # another kind of zone
        "what flood zone is my address in",
        "which zone is my parking spot in",  # no place: not a time zone
        "what zone is my house in for the school district",
        "what is the offset on my car's wheels",
        "what zip code is denver in",
    ],
)
def test_other_zones_and_offsets_are_not_time_zones(text: str) -> None:
    assert claim(text) == CANNOT


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("is it morning in tokyo", "No, it's night in Tokyo: 12:30 AM on Saturday"),
        ("is it night in sydney", "Yes, it's night in Sydney: 2:30 AM on Saturday"),
        ("is it nighttime in london right now", "No, it's afternoon in London: 3:30 PM"),
        ("is it still morning in new york", "Yes, it's morning in New York: 10:30 AM"),
        ("is it daytime in london", "Yes, it's afternoon in London: 3:30 PM"),
        ("is it late in tokyo", "It's 12:30 AM on Saturday in Tokyo"),
        ("is it morning or night in tokyo", "It's 12:30 AM on Saturday in Tokyo"),
        ("is it day or night in new york right now", "It's 10:30 AM on Friday in New York"),
    ],
)
def test_a_part_of_the_day_in_a_place_is_a_time_question(
    clock: ClockAgent, text: str, expected: str
) -> None:
    assert claim(text) == CERTAIN
    assert clock.handle(turn(text, "")).reply.startswith(expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("when is it right now", "time"),
        ("when is it now", "time"),
        ("when is it at the moment", "time"),
        ("tell me what today is", "date"),
        ("do you know what today is", "date"),
        ("what is today again", "date"),
        ("what's today again", "date"),
        ("so what is today", "date"),
        ("today is what", "date"),
    ],
)
def test_when_is_it_now_and_what_today_is(clock: ClockAgent, text: str, expected: str) -> None:
    assert claim(text) == CERTAIN
    reply = clock.handle(turn(text, ""))
    assert reply.slots["kind"] == expected
    assert "Friday, March 1, 2024" in reply.reply, reply.reply


@pytest.mark.parametrize(
    "text",
    [
        "is it safe in tokyo",
        "is it sunny in paris",
        "is it morning sickness or the flu",
        "is it evening wear at the gala in paris",
        "is it morning in springfield",  # no place the clock knows: the router decides
        "what is today's special",
        "what is today in history",
        "what today is the deadline for",
        "when is it going to rain",
        "when is it my turn",
        "we're out of time",
        "i'm running out of time on this test",
    ],
)
def test_look_alikes_of_part_of_day_and_today_are_not_certain(text: str) -> None:
    assert claim(text) < CERTAIN


@pytest.mark.parametrize(
    ("text", "days"),
    [
        ("what day is the day after tomorrow", 2),  # not tomorrow
        ("what day was the day before yesterday", -2),  # not days between two dates
        ("what's the next day", 1),
        ("what day is the next day after christmas", 19),  # December 26 from December 7
        ("what day is the day after christmas", 19),
        ("what day is the day before new year's day", 24),  # December 31
    ],
)
def test_a_day_next_to_another_is_one_day_from_it(text: str, days: int) -> None:
    clock = ClockAgent(now=lambda: datetime(2026, 12, 7, 15, 30, tzinfo=timezone.utc))
    assert claim(text) == CERTAIN
    reply = clock.handle(turn(text, ""))
    assert reply.slots["kind"] == "date" and reply.data["days_from_today"] == days, reply.reply
