"""The one message validator, the text routing judges, and the generation options."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge_moma.errors import RequestError
from edge_moma.messages import (
    ROLES,
    GenerationOptions,
    check_fields,
    normalize_messages,
    query_text,
)

FIELDS = {"role", "content", "name"}


@pytest.mark.parametrize(
    ("messages", "param", "code"),
    [
        ("   ", "messages", None),
        ([], "messages", None),
        (["hi"], "messages[0]", "invalid_type"),
        ([{"role": 7, "content": "x"}], "messages[0].role", "invalid_type"),
        ([{"role": "robot", "content": "x"}], "messages[0].role", None),
        ([{"role": "user", "content": 5}], "messages[0].content", "invalid_type"),
        ([{"role": "user", "content": [{"type": "image_url"}]}], "messages[0].content", None),
        ([{"role": "user", "content": [{"type": "text", "text": 3}]}], "messages[0].content[0].text", "invalid_type"),  # noqa: E501
        ([{"role": "system", "content": "be brief"}], "messages", None),
    ],
)  # fmt: skip
def test_a_bad_message_names_its_field(messages, param: str, code: str | None) -> None:
    with pytest.raises(RequestError) as info:
        normalize_messages(messages)
    assert (info.value.param, info.value.code) == (param, code)
    assert str(info.value)


def test_text_parts_join_and_other_keys_are_ignored_unless_fields_are_given() -> None:
    parts = [
        {
            "role": "user",
            "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
            "name": "x",
        }
    ]  # noqa: E501
    assert normalize_messages(parts) == ({"role": "user", "content": "ab"},)
    assert normalize_messages(parts, fields=FIELDS) == ({"role": "user", "content": "ab"},)
    mood = [{"role": "user", "content": "hi", "mood": 1}]
    assert normalize_messages(mood) == ({"role": "user", "content": "hi"},)
    with pytest.raises(RequestError) as info:
        normalize_messages(mood, fields=FIELDS)
    assert (info.value.param, info.value.code) == ("messages[0].mood", "unknown_parameter")


def test_query_text_is_the_last_user_message() -> None:
    messages = normalize_messages(
        [
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "second"},
            {"role": "assistant", "content": "ok"},
        ]
    )
    assert query_text(messages) == "second"
    assert query_text(()) == ""


def test_check_fields_names_the_unknown_key() -> None:
    check_fields({"a": 1}, {"a", "b"})
    with pytest.raises(RequestError, match=r"opts\.c") as info:
        check_fields({"a": 1, "c": 2}, {"a"}, "opts.")
    assert info.value.code == "unknown_parameter"


@pytest.mark.parametrize(
    ("kwargs", "param", "code"),
    [
        ({"max_tokens": 0}, "max_tokens", None),
        ({"max_tokens": True}, "max_tokens", "invalid_type"),
        ({"max_tokens": "5"}, "max_tokens", "invalid_type"),
        ({"temperature": 2.5}, "temperature", None),
        ({"temperature": float("nan")}, "temperature", None),
        ({"temperature": None}, "temperature", "invalid_type"),
        ({"stop": 7}, "stop", "invalid_type"),
        ({"stop": ["a", 1]}, "stop", "invalid_type"),
    ],
)
def test_generation_options_are_checked_once_for_every_face(kwargs, param, code) -> None:
    with pytest.raises(RequestError) as info:
        GenerationOptions(**kwargs)
    assert (info.value.param, info.value.code) == (param, code)


def test_generation_options_normalise_stop_and_temperature() -> None:
    assert GenerationOptions(stop="\n", temperature=1).stop == ("\n",)
    assert GenerationOptions(temperature=1).temperature == 1.0
    assert GenerationOptions(stop=["a", "b"]).stop == ("a", "b")


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
MESSAGE = st.fixed_dictionaries(
    {"role": st.sampled_from(ROLES) | JSON, "content": st.text(max_size=20) | JSON},
    optional={"name": st.text(max_size=5), "extra": JSON},
)


@given(st.lists(MESSAGE, max_size=4) | JSON)
def test_any_json_is_validated_or_refused_with_a_request_error(value) -> None:
    try:
        out = normalize_messages(value, fields=FIELDS)
    except RequestError as exc:
        assert str(exc) and exc.param is not None and exc.param.startswith("messages")
        return
    assert out and all(set(m) == {"role", "content"} for m in out)
    assert all(m["role"] in ROLES and isinstance(m["content"], str) for m in out)
    assert query_text(out).strip()  # routing always has a user text to judge


def test_routing_judges_the_last_user_message_with_text() -> None:
    """Found by the property test above: an empty last user message after one with
    text was accepted, and routing then judged an empty query."""
    out = normalize_messages(
        [{"role": "user", "content": "0"}, {"role": "user", "content": " \n"}], fields=FIELDS
    )
    assert query_text(out) == "0"
    assert (
        query_text([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]) == "a"
    )
