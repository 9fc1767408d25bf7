"""A pin never lifts a rule (``pinning.py``): routing decisions for pinned targets that
privacy, network, budget, battery or availability mask, for models and agents.

Routing only: the remote models and the HTTP agent here are never called (the
end-to-end proof that a remote receives nothing is ``tests/e2e/test_privacy_pins.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pin_pools import HAIKU, POOL, PRIVATE, make_runtime

from edge_moma import Runtime
from edge_moma.errors import AllTargetsFailed, RequestError, TargetMasked
from edge_moma.routing.constraints import ON_DEVICE_MASKS
from edge_moma.routing.pinning import LIFTED_BY_A_PIN


@pytest.fixture(scope="module")
def rt(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    runtime = make_runtime(tmp_path_factory.mktemp("pins"))
    yield runtime
    runtime.close()


def test_an_unmasked_pin_is_the_target_and_the_ranking_stays(rt: Runtime) -> None:
    d = rt.route(HAIKU, context={"target": "smol"})
    assert (d.target, d.fallbacks) == ("smol", ("gpt-4",)) and d.reason.startswith("pinned")
    only = rt.route(HAIKU, context={"target": "gpt-4", "target_only": True})
    assert (only.target, only.fallbacks) == ("gpt-4", ())


@pytest.mark.parametrize(
    ("query", "context", "rule"),
    [
        (PRIVATE, {}, "privacy"),  # the privacy rule matches
        (HAIKU, {"sensitive": True}, "privacy"),  # the caller says so (--sensitive)
        (HAIKU, {"online": False}, "network"),
    ],
)
def test_a_pinned_remote_a_rule_masks_goes_to_the_best_on_device_target(
    rt: Runtime, query: str, context: dict[str, Any], rule: str
) -> None:
    d = rt.route(query, context={**context, "target": "gpt-4"})
    assert d.candidate("gpt-4").masked_by == rule  # type: ignore[union-attr]
    assert d.target == "smol" and "gpt-4" not in d.ranking
    assert f"pinned to gpt-4 by the caller, but gpt-4 is masked by {rule}" in d.reason
    assert "best eligible on-device target, smol" in d.reason
    with pytest.raises(TargetMasked) as info:
        rt.route(query, context={**context, "target": "gpt-4", "target_only": True})
    assert info.value.masked_by == rule and info.value.target == "gpt-4"
    assert isinstance(info.value, RequestError) and "nothing was sent" in str(info.value)


def test_a_masked_pin_goes_to_an_on_device_agent_when_one_takes_the_turn(rt: Runtime) -> None:
    # The caller marks it sensitive: the shipped intent bundle calls "... for jane@example.com"
    # out of scope, and the calculator's parser cannot read all of it.
    d = rt.route("what's 15% of 80", context={"target": "gpt-4", "sensitive": True})
    assert d.candidate("gpt-4").masked_by == "privacy"  # type: ignore[union-attr]
    assert d.target == "calculator" and d.stage == "agent" and "gpt-4" not in d.ranking


def test_the_latency_prediction_gives_way_to_a_pin(rt: Runtime) -> None:
    d = rt.route(HAIKU, context={"target": "smol", "deadline_s": 0.5})
    assert d.candidate("smol").masked_by == "latency"  # type: ignore[union-attr]
    assert d.target == "smol" and d.reason.startswith("pinned to smol by the caller; policy")
    assert "latency" in LIFTED_BY_A_PIN


def test_an_unavailable_pin_is_not_tried(rt: Runtime) -> None:
    rt._targets._mark_unavailable("gpt-4", "$OPENAI_API_KEY is not set")
    try:
        d = rt.route(HAIKU, context={"target": "gpt-4"})
    finally:
        rt._targets._unavailable.pop("gpt-4")
    assert d.target == "smol" and d.ranking == ("smol",)
    assert "masked by unavailable ($OPENAI_API_KEY is not set)" in d.reason


def test_the_budget_holds_for_a_pin(tmp_path: Path) -> None:
    with make_runtime(tmp_path, daily=0.000001) as rt:
        d = rt.route(HAIKU, context={"target": "gpt-4"})
    assert d.candidate("gpt-4").masked_by == "budget"  # type: ignore[union-attr]
    assert d.target == "smol" and "masked by budget" in d.reason


def test_battery_critical_pin_never_moves_to_the_cloud(rt: Runtime) -> None:
    """The caller named the local model; at 2% it stays the least-bad on-device choice."""
    d = rt.route(HAIKU, context={"target": "smol", "battery_percent": 2, "charging": False})
    assert d.candidate("smol").masked_by == "battery"  # type: ignore[union-attr]
    assert d.target == "smol" and "gpt-4" not in d.ranking
    assert "the least-bad one, smol, takes it" in d.reason


@pytest.mark.parametrize(
    ("agent", "why"),
    [("booker", "may only run locally"), ("units", "sensitive_ok = false")],
)
def test_a_pinned_agent_never_sees_sensitive_text_it_may_not(
    rt: Runtime, agent: str, why: str
) -> None:
    d = rt.route(f"book a table, mail me at jane@example.com ({agent})", context={"target": agent})
    masked = d.candidate(agent)
    assert masked is not None and masked.masked_by == "privacy" and why in (masked.reason or "")
    assert agent not in d.ranking and d.target == "smol"
    assert f"pinned to {agent} by the caller, but {agent} is masked by privacy" in d.reason
    with pytest.raises(TargetMasked):
        rt.route(PRIVATE, context={"target": agent, "target_only": True})


def test_a_pin_overrides_the_agent_stage_but_not_a_disabled_agent(rt: Runtime) -> None:
    d = rt.route(HAIKU, context={"target": "calculator"})  # not a calculation: pinned anyway
    assert d.target == "calculator" and d.stage == "agent"
    off = rt.route(HAIKU, context={"target": "clock"})
    assert off.target == "gpt-4" or off.target == "smol"
    assert off.target != "clock" and "clock is masked by disabled" in off.reason


def test_every_message_is_judged_not_only_the_last(rt: Runtime) -> None:
    messages = [
        {"role": "user", "content": "my address is jane@example.com"},
        {"role": "assistant", "content": "Noted."},
        {"role": "user", "content": HAIKU},
    ]
    d = rt.route(messages, context={"target": "gpt-4"})
    assert d.context.sensitive == ("email",) and d.target == "smol"
    assert "gpt-4" not in d.ranking


def test_no_remote_is_the_least_bad_fallback_for_private_text(tmp_path: Path) -> None:
    text = (
        POOL.split("[[models]]")[0]
        + "[[models]]"
        + POOL.split("[[models]]")[2].split("[[agents]]")[0]
    )
    (tmp_path / "config.toml").write_text(text.format(data=tmp_path / "data", daily=1, log="false"))
    with Runtime.from_config(tmp_path / "config.toml") as rt:  # one remote model, no local
        rt.device.set(online=True)
        d = rt.route(PRIVATE)
        assert d.all_masked and d.target is None and d.ranking == ()
        assert "no other may see this request" in d.reason
        with pytest.raises(AllTargetsFailed, match="no target to try"):
            rt.complete(PRIVATE, max_tokens=4)  # nothing was sent: there was no one to try
        assert rt.route(HAIKU).target == "gpt-4"


def test_route_many_names_the_request_whose_pin_is_masked(rt: Runtime) -> None:
    contexts = [None, {"target": "gpt-4", "target_only": True}]
    with pytest.raises(TargetMasked, match="^query 1: gpt-4 is masked by privacy"):
        rt.route_many([HAIKU, PRIVATE], contexts=contexts)


@pytest.mark.parametrize("where", [16, 17, 20])  # past the models' first batch of 16
def test_route_many_numbers_a_masked_pin_across_model_batches(rt: Runtime, where: int) -> None:
    queries = [HAIKU] * 21
    queries[where] = PRIVATE
    contexts: list[dict[str, object] | None] = [None] * 21
    contexts[where] = {"target": "gpt-4", "target_only": True}
    with pytest.raises(TargetMasked, match=f"^query {where}: gpt-4 is masked by privacy"):
        rt.route_many(queries, contexts=contexts)


TARGETS = ["smol", "gpt-4", "calculator", "units", "booker", "clock"]
CONTEXTS = st.fixed_dictionaries(
    {"target": st.sampled_from(TARGETS)},
    optional={
        "online": st.booleans(),
        "sensitive": st.booleans(),
        "battery_percent": st.floats(0, 100),
        "charging": st.booleans(),
        "deadline_s": st.floats(0, 40),
        "expected_output_tokens": st.integers(1, 4000),
        "target_only": st.booleans(),
    },
)
QUERIES = st.sampled_from(
    [HAIKU, PRIVATE, "what's 15% of 80", "convert 5 miles to km", "book a table for two"]
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(context=CONTEXTS, query=QUERIES)
def test_a_pin_never_puts_a_target_a_rule_removed_in_the_ranking(
    rt: Runtime, context: dict[str, Any], query: str
) -> None:
    pin = context["target"]
    try:
        d = rt.route(query, context=context)
    except TargetMasked as exc:
        assert context.get("target_only") and exc.target == pin
        return
    barred = {c.target for c in d.candidates if c.masked_by in ON_DEVICE_MASKS}
    assert not barred.intersection(d.ranking), d.reason
    pinned = d.candidate(pin)
    assert pinned is not None
    if pinned.masked_by is None or pinned.masked_by in LIFTED_BY_A_PIN:
        assert d.target == pin
        if context.get("target_only"):
            assert d.fallbacks == ()
    else:
        assert not context.get("target_only")
        assert all(t in ("smol", "calculator", "units", "clock") for t in d.ranking), d.reason
        assert pin not in d.ranking or pin == "smol"  # as the least-bad local model only
