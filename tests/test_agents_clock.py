from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from agent_turns import turn

from edge_moma.targets.agents.clock import ClockAgent, find_place, parse_dates

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
    assert find_place("what time is it in the mountain timezone") == ("mountain", "America/Denver")
    assert find_place("what time is it") is None


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
