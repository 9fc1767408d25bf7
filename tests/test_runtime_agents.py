"""Scripted multi-turn dialogs through ``Runtime``: the expected owner of every turn.

Real parts throughout: the shipped intent router, the real SmolLM2 GGUF for
the turns the LLM stage takes, a real HTTP agent on 127.0.0.1, SQLite files in
tmp_path. Every dialog runs in its own session of one shared runtime.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from agent_servers import AgentServer

pytest.importorskip(
    "edge_moma.routing.quality", reason="Runtime needs the quality predictor (issue 4)"
)

from edge_moma.errors import RequestError  # noqa: E402
from edge_moma.runtime import Runtime  # noqa: E402
from edge_moma.targets.executor import Response  # noqa: E402

LLM = "smollm2-135m"


def config_text(data_dir: Path, smollm: Path, booker_url: str, extra: str = "") -> str:
    return f"""
        [runtime]
        data_dir = "{data_dir}"
        log = false
        circuit_failures = 1
        circuit_cooldown_s = 600

        [[policy.privacy]]
        name = "email"
        regex = '[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\\.[A-Za-z]{{2,}}'

        [[models]]
        name = "{LLM}"
        kind = "local"
        path = "{smollm}"
        context = 512

        [[agents]]
        name = "calculator"
        kind = "builtin"
        intents = ["calculator"]

        [[agents]]
        name = "units"
        kind = "builtin"
        intents = ["measurement_conversion"]

        [[agents]]
        name = "clock"
        kind = "builtin"
        intents = ["time", "date", "timezone"]

        [[agents]]
        name = "reminders"
        kind = "builtin"
        intents = ["reminder", "reminder_update", "todo_list", "todo_list_update",
                   "shopping_list", "shopping_list_update"]

        [[agents]]
        name = "booker"
        kind = "http"
        url = "{booker_url}"
        intents = ["restaurant_reservation"]
        timeout_s = 5
        {extra}
        """


@pytest.fixture(scope="module")
def booker() -> Iterator[AgentServer]:
    server = AgentServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def rt(
    tmp_path_factory: pytest.TempPathFactory, smollm_path: Path, booker: AgentServer
) -> Iterator[Runtime]:
    d = tmp_path_factory.mktemp("dialogs")
    (d / "config.toml").write_text(config_text(d / "data", smollm_path, booker.url + "/turn"))
    with Runtime.from_config(d / "config.toml") as runtime:
        yield runtime


Say = Callable[..., Response]


@pytest.fixture
def say(rt: Runtime) -> Say:
    session = uuid.uuid4().hex

    def turn(text: str, **context: object) -> Response:
        return rt.complete(text, max_tokens=4, context={"session_id": session, **context})

    return turn


def owner(response: Response) -> str:
    return "llm" if response.target == LLM else response.target


# (user text, expected owner, a fragment the reply must contain or None)
DIALOGS: dict[str, list[tuple[str, str, str | None]]] = {
    "calculator": [("what is 15% of 80", "calculator", "= 12")],
    "calculator_follow_up": [
        ("what's 47 times 83", "calculator", "3901"),
        ("and times 2?", "calculator", "7802"),
    ],
    "calculator_bad_input": [("what is 5 divided by 0", "calculator", "division by zero")],
    "units_follow_up": [
        ("how many pounds are in 10 kilos", "units", "22.0462 pounds"),
        ("and in ounces?", "units", "ounces"),
    ],
    "temperature": [("convert 100 degrees fahrenheit to celsius", "units", "37.7778")],
    "clock_follow_up": [
        ("what time is it in new york", "clock", "New York"),
        ("and in tokyo?", "clock", "Tokyo"),
    ],
    "date": [("what's tomorrow's date", "clock", "Tomorrow is")],
    "timezone": [("what is the timezone for denver", "clock", "America/Denver")],
    "reminder_needs_input": [
        ("please set up a reminder for me", "reminders", "What should I remind you about?"),
        ("water the plants", "reminders", 'Added "water the plants"'),
    ],
    "cancel": [
        ("please set up a reminder for me", "reminders", "What should I"),
        ("never mind", "reminders", "cancelled"),
        ("tell me a joke about penguins", "llm", None),
    ],
    "stop_cancels_too": [
        ("i need to set a reminder", "reminders", "What should I"),
        ("stop", "reminders", "cancelled"),
    ],
    "subject_change": [
        ("please set up a reminder for me", "reminders", "What should I"),
        ("what time is it in dallas", "clock", "Dallas"),
    ],
    "shopping_list_follow_up": [
        ("add eggs to my shopping list", "reminders", 'Added "eggs"'),
        ("add milk too", "reminders", 'Added "milk" to your shopping list'),
        ("what's on my shopping list", "reminders", "eggs; 2. milk"),
    ],
    "todo_then_llm": [
        ("put laundry on my to do list", "reminders", 'Added "laundry"'),
        ("write a haiku about the sea", "llm", None),
        ("and in ounces?", "llm", None),  # no intent of its own, and no dialog to follow
    ],
    "out_of_scope": [("tell me a story about a dragon and a knight", "llm", None)],
    "agent_then_out_of_scope": [
        ("what time is it in london", "clock", "London"),
        ("who wrote the odyssey", "llm", None),
    ],
    "http_agent_dialog": [
        ("book a table at a restaurant for tonight", "booker", "Which city?"),
        ("Lisbon", "booker", "Booked a table in Lisbon"),
    ],
    "sensitive_query_never_reaches_remote_agent": [
        ("book a table at a restaurant, confirm to bob@example.com", "llm", None),
    ],
    "offline_masks_remote_agent": [
        ("book a table at a restaurant for tonight", "llm", None),
    ],
    "http_then_local_agent": [
        ("book a table at a restaurant for tonight", "booker", "Which city?"),
        ("what is 2 plus 2", "calculator", "= 4"),
    ],
    # spoken style: the agent's claim decides where the intent router is unsure or wrong
    "spoken_arithmetic": [("nine times seven", "calculator", "= 63")],
    "spoken_percent": [("thirty percent of two hundred and forty", "calculator", "= 72")],
    "unit_shorthand": [("20 C to F", "units", "68 fahrenheit")],
    "offset_between_cities": [("how many hours ahead is Tokyo from Paris", "clock", "Tokyo is")],
    "named_list": [
        ("make a list of films to watch", "reminders", "Created your films to watch list"),
        ("add Alien to my films to watch list", "reminders", 'Added "Alien"'),
    ],
    "device_command_declined": [("tell the vacuum to clean the kitchen", "llm", None)],
}
CONTEXTS = {"offline_masks_remote_agent": {"online": False}}


@pytest.mark.parametrize("name", sorted(DIALOGS))
def test_dialog(rt: Runtime, say: Say, name: str) -> None:
    for text, expected, fragment in DIALOGS[name]:
        response = say(text, **CONTEXTS.get(name, {}))
        assert owner(response) == expected, (text, response.decision.reason)
        assert response.decision.stage == ("llm" if expected == "llm" else "agent")
        if fragment is not None:
            assert fragment in response.text, (text, response.text)
        assert {c.target for c in response.decision.candidates if c.kind == "agent"} == {
            a.name for a in rt.config.agents
        }  # every agent is in the decision, masked or not


def test_masks_explain_why_agents_were_excluded(rt: Runtime, say: Say) -> None:
    sensitive = say("book a table at a restaurant, confirm to bob@example.com").decision
    booker = sensitive.candidate("booker")
    assert booker is not None and booker.masked_by == "privacy" and "email" in (booker.reason or "")
    offline = say("book a table at a restaurant for tonight", online=False).decision
    assert offline.candidate("booker").masked_by == "network"  # type: ignore[union-attr]
    oos = say("tell me a story about a dragon and a knight").decision
    assert oos.understanding is not None and oos.understanding.out_of_scope
    masked = {c.target: c.masked_by for c in oos.candidates if c.kind == "agent"}
    assert masked["booker"] == "out_of_scope"  # an HTTP agent: the router's verdict alone
    assert set(masked.values()) == {"out_of_scope", "declined"}  # built-ins: their parsers
    assert "agent stage: no agent can take the turn" in oos.reason


def test_a_declined_agent_says_why(say: Say) -> None:
    decision = say("tell the vacuum to clean the kitchen").decision
    reminders = decision.candidate("reminders")
    assert reminders is not None and reminders.masked_by == "declined"
    assert "cannot read the request" in (reminders.reason or "")


def test_agent_answer_carries_structured_data(say: Say) -> None:
    response = say("how many pounds are in 10 kilos")
    assert response.completion is not None
    extra = response.completion.extra
    assert extra["state"] == "done" and extra["data"]["result"] == pytest.approx(22.0462262)


def test_agent_going_down_mid_dialog_falls_back_to_llm(tmp_path: Path, smollm_path: Path) -> None:
    server = AgentServer().start()
    path = tmp_path / "config.toml"
    path.write_text(config_text(tmp_path / "data", smollm_path, server.url + "/turn"))
    with Runtime.from_config(path) as rt:
        ctx = {"session_id": "down"}
        first = rt.complete("book a table at a restaurant for tonight", context=ctx)
        assert (first.target, first.text) == ("booker", "Which city?")
        server.stop()  # the agent goes away mid-dialog
        second = rt.complete("Lisbon", max_tokens=4, context=ctx)
        assert second.decision.target == "booker"  # routed to the dialog's owner ...
        assert second.target == LLM and second.attempts[0].error  # ... which failed over
        assert "cannot connect" in (second.attempts[0].error or "")
        third = rt.complete("book a table at a restaurant for tonight", max_tokens=4, context=ctx)
        assert third.target == LLM and third.decision.stage == "llm"
        booker = third.decision.candidate("booker")
        assert booker is not None and booker.masked_by == "unavailable"
        assert "circuit open" in (booker.reason or "")


def test_sessions_expire_after_inactivity(tmp_path: Path, smollm_path: Path) -> None:
    path = tmp_path / "config.toml"
    extra = "\n[agent_stage]\nsession_ttl_s = 0.3\nfollow_up_s = 0.3\n"
    path.write_text(config_text(tmp_path / "data", smollm_path, "http://127.0.0.1:9/", extra))
    with Runtime.from_config(path) as rt:
        ctx = {"session_id": "expiring"}
        assert rt.complete("please set up a reminder for me", context=ctx).target == "reminders"
        time.sleep(0.5)
        later = rt.complete("water the plants", max_tokens=4, context=ctx)
        assert later.target == LLM


def test_reminders_and_dialogs_survive_a_restart(tmp_path: Path, smollm_path: Path) -> None:
    path = tmp_path / "config.toml"
    extra = "\n[agent_stage]\npersist_sessions = true\n"
    path.write_text(config_text(tmp_path / "data", smollm_path, "http://127.0.0.1:9/", extra))
    ctx = {"session_id": "restart"}
    with Runtime.from_config(path) as rt:
        rt.complete("remind me to renew my passport", context=ctx)
        assert rt.complete("please set up a reminder for me", context=ctx).text.startswith("What")
    with Runtime.from_config(path) as rt:  # a new runtime: the open dialog goes on
        done = rt.complete("call the plumber", context=ctx)
        assert (done.target, done.text) == (
            "reminders",
            'Added "call the plumber" to your reminders.',
        )
    code = (
        "import sys\nfrom edge_moma.runtime import Runtime\n"
        "with Runtime.from_config(sys.argv[1]) as rt:\n"
        "    print(rt.complete('what are my reminders').text)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ("Your reminders: 1. renew my passport; 2. call the plumber.")


def test_lone_surrogates_never_reach_the_persisted_sessions(
    tmp_path: Path, smollm_path: Path
) -> None:
    """A session id with a lone surrogate once failed in SQLite's encoder; it is refused
    as a request error now, and the sessions store goes on working."""
    path = tmp_path / "config.toml"
    extra = "\n[agent_stage]\npersist_sessions = true\n"
    path.write_text(config_text(tmp_path / "data", smollm_path, "http://127.0.0.1:9/", extra))
    with Runtime.from_config(path) as rt:
        with pytest.raises(RequestError, match="session_id: found text with a lone surrogate"):
            rt.complete("remind me to call mum", context={"session_id": "a\ud800"})
        ctx = {"session_id": "surrogates"}
        added = rt.complete("remind me to call mum", context=ctx)
        assert added.target == "reminders" and "call mum" in added.text
    with Runtime.from_config(path) as rt:  # the good session was persisted, the bad one never
        listed = rt.complete("what are my reminders", context={"session_id": "surrogates"})
        assert "call mum" in listed.text


def test_a_streamed_turn_moves_the_dialog_on(tmp_path: Path, smollm_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(config_text(tmp_path / "data", smollm_path, "http://127.0.0.1:9/"))
    ctx = {"session_id": "streamed"}
    with Runtime.from_config(path) as rt:
        with rt.stream("please set up a reminder for me", context=ctx) as asked:
            assert "".join(asked).startswith("What should I")
        assert rt.session("streamed").agent == "reminders"
        with rt.stream("water the plants", context=ctx) as answered:
            assert "".join(answered) == 'Added "water the plants" to your reminders.'
        assert answered.response is not None and answered.response.target == "reminders"
        assert not rt.session("streamed").active
