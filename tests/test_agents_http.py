from __future__ import annotations

from collections.abc import Iterator

import pytest
from agent_servers import AgentServer
from agent_turns import turn

from edge_moma.config import AgentConfig
from edge_moma.errors import TargetError, TargetUnavailable
from edge_moma.targets.agents.http import HttpAgent, parse_reply


@pytest.fixture
def server() -> Iterator[AgentServer]:
    s = AgentServer().start()
    yield s
    s.stop()


def agent(url: str, timeout_s: float = 5.0) -> HttpAgent:
    return HttpAgent(AgentConfig(name="booker", kind="http", url=url, timeout_s=timeout_s))


def test_protocol_round_trip_keeps_slots(server: AgentServer) -> None:
    a = agent(server.url + "/turn")
    first = a.handle(turn("book a table", "restaurant_reservation"))
    assert (first.reply, first.state, first.slots) == ("Which city?", "need_input", {"city": None})
    second = a.handle(turn("Lisbon", "restaurant_reservation", first.slots))
    assert (second.state, second.data) == ("done", {"city": "Lisbon"})
    assert server.turns[0] == {
        "session_id": "test",
        "messages": [{"role": "user", "content": "book a table"}],
        "intent": "restaurant_reservation",
        "slots": {},
    }
    a.close()


def test_timeout_is_a_target_error(server: AgentServer) -> None:
    with pytest.raises(TargetError, match="no answer .* in time"):
        agent(server.url + "/slow", timeout_s=0.2).handle(turn("hi", "x"))


def test_malformed_reply_is_a_target_error(server: AgentServer) -> None:
    with pytest.raises(TargetError, match="not a JSON object"):
        agent(server.url + "/broken").handle(turn("hi", "x"))


def test_refused_connection_is_a_transient_target_error() -> None:
    s = AgentServer()
    url = s.url
    s.server_close()  # the port is free again: nothing listens
    with pytest.raises(TargetError, match="cannot connect") as info:
        agent(url).handle(turn("hi", "x"))
    assert not isinstance(info.value, TargetUnavailable)  # the breaker, not a permanent mask


@pytest.mark.parametrize(
    ("obj", "why"),
    [
        ({"state": "done"}, "string 'reply'"),
        ({"reply": "x", "state": "waiting"}, "state 'waiting'"),
        ({"reply": "x", "slots": []}, "not an object"),
    ],
)
def test_parse_reply_says_what_is_wrong(obj: object, why: str) -> None:
    with pytest.raises(TargetError, match=why):
        parse_reply(obj, "booker")
