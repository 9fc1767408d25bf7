"""The routing context checks every value: types as the config loader checks them, ranges
as the matching CLI flags; a wrong one is a ``RequestError`` naming the key, in every face."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pin_pools import make_runtime

from edge_moma import Runtime
from edge_moma.cli import main
from edge_moma.context import RouteContext
from edge_moma.decision import Decision
from edge_moma.errors import RequestError
from edge_moma.routing.constraints import ON_DEVICE_MASKS


@pytest.fixture(scope="module")
def rt(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    runtime = make_runtime(tmp_path_factory.mktemp("context"), log=True)  # a real SQLite log
    yield runtime
    runtime.close()


@pytest.fixture(scope="module")
def config_path(rt: Runtime) -> Path:
    return rt.config.path


# (context, the key the error names)
WRONG = [
    ({"online": "false"}, "online"),
    ({"online": 0}, "online"),
    ({"sensitive": "true"}, "sensitive"),
    ({"charging": None, "sensitive": 1}, "sensitive"),
    ({"deadline_s": "x"}, "deadline_s"),
    ({"battery_percent": "abc", "charging": False}, "battery_percent"),
    ({"battery_percent": True}, "battery_percent"),
    ({"expected_output_tokens": "12"}, "expected_output_tokens"),
    ({"expected_output_tokens": 1.5}, "expected_output_tokens"),
    ({"session_id": ["a"]}, "session_id"),
    ({"session_id": 7}, "session_id"),
    ({"permissions": "calendar"}, "permissions"),
    ({"permissions": ["calendar", 3]}, "permissions[1]"),
    ({"slots": ["city"]}, "slots"),
    ({"slots": "city=Lisbon"}, "slots"),
    ({"target": 5}, "target"),
    ({"target": ""}, "target"),
    ({"target_only": "yes", "target": "smol"}, "target_only"),
    ({"target_only": True}, "target_only"),  # only what? nothing is pinned
    # out of range, as --battery / --deadline refuse them
    ({"battery_percent": 500}, "battery_percent"),
    ({"battery_percent": -1}, "battery_percent"),
    ({"deadline_s": -3}, "deadline_s"),
    ({"deadline_s": math.nan}, "deadline_s"),
    ({"deadline_s": math.inf}, "deadline_s"),
    ({"deadline_s": 1e300}, "deadline_s"),
    ({"battery_percent": 10**400}, "battery_percent"),
    ({"expected_output_tokens": 0}, "expected_output_tokens"),
    ({"expected_output_tokens": 10**30}, "expected_output_tokens"),
]


@pytest.mark.parametrize(
    ("context", "key"), WRONG, ids=[json.dumps(c, default=str) for c, _ in WRONG]
)
def test_a_wrong_value_is_a_request_error_naming_its_key(
    rt: Runtime, context: dict[str, Any], key: str
) -> None:
    with pytest.raises(RequestError) as info:
        RouteContext.from_dict(context)
    assert key in str(info.value) and info.value.param == f"context.{key.split('[')[0]}"
    with pytest.raises(RequestError, match=key.replace("[", r"\[")):
        rt.route("Write a haiku about rain.", context=context)


def test_the_same_checks_hold_for_a_context_built_in_python() -> None:
    with pytest.raises(RequestError, match="online: found a string 'false'"):
        RouteContext(online="false")  # type: ignore[arg-type]
    with pytest.raises(RequestError, match="battery_percent: found 500.0"):
        RouteContext(battery_percent=500)
    ok = RouteContext(battery_percent=15, deadline_s=2, permissions=["calendar"])
    assert ok.battery_percent == 15.0 and isinstance(ok.battery_percent, float)


def test_unknown_keys_and_non_objects_are_refused(rt: Runtime) -> None:
    with pytest.raises(RequestError, match="unknown context key 'battery'"):
        rt.route("hi", context={"battery": 5})
    with pytest.raises(RequestError, match="unknown context key 1"):
        rt.route("hi", context={1: True, "online": True})  # type: ignore[dict-item]
    with pytest.raises(RequestError, match="must be an object"):
        rt.route("hi", context=[("online", False)])  # type: ignore[arg-type]


def test_slots_nested_too_deep_are_refused() -> None:
    deep: Any = "Lisbon"
    for _ in range(70):
        deep = {"city": deep}
    with pytest.raises(RequestError, match="nested at most 64"):
        RouteContext(slots=deep)
    assert RouteContext(slots={"city": {"name": "Lisbon"}}).slots == {"city": {"name": "Lisbon"}}


def test_wrongly_typed_flags_no_longer_weaken_the_masks(rt: Runtime) -> None:
    """Issue 14, item 2: "false" was read as online and "true" as not sensitive."""
    query = "Explain the difference between a list and a tuple in Python."
    assert rt.route(query, context={"online": False}).candidate("gpt-4").masked_by == "network"
    assert rt.route(query, context={"sensitive": True}).candidate("gpt-4").masked_by == "privacy"
    for context in ({"online": "false"}, {"sensitive": "true"}):
        with pytest.raises(RequestError):
            rt.route(query, context=context)


def test_sensitive_false_does_not_lift_the_privacy_rules(rt: Runtime) -> None:
    d = rt.route("email jane.doe@example.com my diagnosis", context={"sensitive": False})
    assert d.context.sensitive == ("email",) and d.target == "smol"
    assert d.candidate("gpt-4").masked_by == "privacy" and "gpt-4" not in d.ranking


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--context", '{"online": "false"}'], "online: found a string 'false'"),
        (["--context", '{"deadline_s": "x"}'], "deadline_s: found a string 'x'"),
        (["--context", '{"battery_percent": 500}'], "battery_percent: found 500.0"),
        (["--context", '{"deadline_s": NaN}'], "deadline_s: found nan"),
        (["--context", '{"session_id": [1]}'], "session_id: found an array"),
        (["--context", '{"slots": 3}'], "slots: found an integer"),
        (["--context", "[" * 300_000], "nests too deeply"),
        (["--context", '{"expected_output_tokens": 1' + "0" * 5000 + "}"], "not valid JSON"),
        (["--target-only"], "no target is pinned"),
        (["--deadline", "100000"], "deadline_s: found 100000.0"),
    ],
)
def test_cli_context_errors_exit_2_and_name_the_key(
    config_path: Path, args: list[str], words: str
) -> None:
    result = CliRunner().invoke(main, ["route", "hello", "--config", str(config_path), *args])
    assert result.exit_code == 2, result.output
    assert words in result.output
    assert "Traceback" not in result.output


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**400), max_value=10**400)
    | st.floats()
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)
PLAUSIBLE = {  # values a real caller sends, so that many examples are accepted
    "battery_percent": st.floats(0, 100),
    "charging": st.booleans(),
    "online": st.booleans(),
    "deadline_s": st.floats(0, 60),
    "sensitive": st.booleans(),
    "expected_output_tokens": st.integers(1, 2000),
    "target": st.sampled_from(["smol", "gpt-4", "calculator"]),
    "target_only": st.booleans(),
    "session_id": st.text(max_size=6),
    "permissions": st.lists(st.text(max_size=6), max_size=2),
    "slots": st.dictionaries(st.text(max_size=4), JSON, max_size=2),
}
KEYS = sorted(PLAUSIBLE)
VALID = st.fixed_dictionaries({}, optional=PLAUSIBLE)
ONE_ANY = st.tuples(VALID, st.sampled_from([*KEYS, "Online", ""]), JSON).map(
    lambda t: {**t[0], t[1]: t[2]}
)
CONTEXTS = st.one_of(VALID, ONE_ANY)
QUERIES = st.sampled_from(
    ["what's 15% of 80", "email jane@example.com my diagnosis", "Write a haiku about rain."]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(context=CONTEXTS, query=QUERIES)
def test_any_json_per_key_gives_a_decision_or_a_request_error(
    rt: Runtime, context: dict[str, Any], query: str
) -> None:
    try:
        decision = rt.route(query, context=context)
    except RequestError:
        return
    assert isinstance(decision, Decision)
    for key in ("online", "sensitive", "charging", "target_only"):
        assert context.get(key) is None or isinstance(context[key], bool)
    barred = {c.target for c in decision.candidates if c.masked_by in ON_DEVICE_MASKS}
    assert not barred.intersection(decision.ranking), decision.reason
    assert decision.to_json()  # what the CLI prints and the daemon answers
