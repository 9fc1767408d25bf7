"""``Decision.to_json`` / ``to_dict`` are the JSON contract of the CLI and the daemon."""

from __future__ import annotations

import dataclasses
import json

import pytest

from edge_moma.decision import Candidate, Decision, DecisionContext, IntentScore, Understanding


def reference(decision: Decision) -> dict:
    """The original ``asdict``-based rendering: the shape ``to_dict`` must keep, key order too."""
    d = dataclasses.asdict(decision)
    d["fallbacks"] = list(decision.fallbacks)
    d["context"]["sensitive"] = list(decision.context.sensitive)
    d["candidates"] = [dataclasses.asdict(c) for c in decision.candidates]
    if decision.understanding is not None:
        d["understanding"]["intents"] = [
            dataclasses.asdict(i) for i in decision.understanding.intents
        ]
    return d


CANDIDATES = (
    Candidate("calculator", "agent", 0.99, 0.0, 0.001, 0.0, 0.99),
    Candidate("cloud", "remote", 0.8, 0.002, 1.5, 0.0, 0.4, "network", "offline"),
)
UNDERSTANDING = Understanding(
    (IntentScore("calculator", 0.97), IntentScore("oos", 0.01)), False, "math", 0.9, "intent:x"
)


@pytest.mark.parametrize("understanding", [UNDERSTANDING, None])
def test_to_dict_matches_asdict_and_copies_nested_context(
    understanding: Understanding | None,
) -> None:
    context = DecisionContext(online=False, sensitive=("email",), deadline_s=30.0, session_id="s")
    decision = Decision(
        id="d1",
        created=1.5,
        stage="agent",
        target="calculator",
        fallbacks=("cloud",),
        reason="agent stage: ...",
        candidates=CANDIDATES,
        understanding=understanding,
        context=context,
        router_version="intent:x+routing:y",
    )
    out = decision.to_dict()
    assert out == reference(decision)
    assert list(out) == list(reference(decision))
    assert list(out["candidates"][1]) == [f.name for f in dataclasses.fields(Candidate)]
    assert list(out["context"]) == [f.name for f in dataclasses.fields(DecisionContext)]
    out["context"]["sensitive"].append("phone")  # a copy: the frozen decision is untouched
    assert decision.to_dict()["context"]["sensitive"] == ["email"]
    json.dumps(out)


def test_the_dict_access_of_earlier_versions_still_reads_the_context() -> None:
    context = DecisionContext(online=False, sensitive=("email",), deadline_s=2.5)
    with pytest.deprecated_call():
        assert context["online"] is False and context["sensitive"] == ["email"]
    with pytest.deprecated_call(), pytest.raises(KeyError):
        context["nested"]


def test_text_that_is_not_utf8_is_written_escaped() -> None:
    # A lone surrogate (valid in a Python str, e.g. from a JSON "\\ud83d" escape in a
    # daemon request's session id) must not make the decision unserializable.
    decision = Decision(
        id="d2",
        created=2.0,
        stage="llm",
        target="cloud",
        fallbacks=(),
        reason="best utility",
        candidates=CANDIDATES,
        understanding=UNDERSTANDING,
        context=DecisionContext(session_id="abc\ud83d"),
    )
    raw = decision.to_json()
    assert b"\\ud83d" in raw  # escaped, so the bytes are valid UTF-8
    assert json.loads(raw) == reference(decision)
    assert decision.to_dict()["context"]["session_id"] == "abc\ud83d"
