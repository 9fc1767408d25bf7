from __future__ import annotations

import pytest
from situations import situation as sit

from edge_moma.config import AgentConfig
from edge_moma.decision import IntentScore, Understanding
from edge_moma.routing.agent_stage import AgentStage, is_cancel
from edge_moma.targets.sessions import SessionManager

AGENTS = [
    AgentConfig(name="calculator", kind="builtin", intents=["calculator"]),
    AgentConfig(name="clock", kind="builtin", intents=["time", "date", "timezone"]),
    AgentConfig(
        name="reminders",
        kind="builtin",
        intents=["reminder", "reminder_update"],
        threshold=0.7,
        sensitive_ok=False,
    ),
    AgentConfig(name="booker", kind="http", url="http://127.0.0.1:9/", domains=["dining"]),
    AgentConfig(
        name="dialer", kind="builtin", intents=["make_call"], requires=["permission:calls"]
    ),
    AgentConfig(name="pricey", kind="builtin", intents=["translate"], cost_usd=0.5),
    AgentConfig(name="off", kind="builtin", intents=["weather"], enabled=False),
]
DOMAINS = {"dining": ["restaurant_reservation", "restaurant_reviews"]}


def u(*scores: tuple[str, float], oos: bool = False) -> Understanding:
    return Understanding(tuple(IntentScore(label, p) for label, p in scores), oos, "chat", 1.0, "t")


@pytest.fixture
def stage() -> AgentStage:
    return AgentStage(AGENTS, threshold=0.5, switch_confidence=0.8, domains=DOMAINS)


def masks(choice) -> dict[str, str | None]:
    return {c.target: c.masked_by for c in choice.candidates}


def test_takes_the_confident_agent_and_sums_its_intents(stage: AgentStage) -> None:
    choice = stage.select(u(("time", 0.3), ("timezone", 0.3), ("weather", 0.2)), "time?", sit())
    assert (choice.target, choice.intent, choice.session_action) == ("clock", "time", "start")
    assert choice.confidence == pytest.approx(0.6)
    assert masks(choice)["calculator"] == "confidence" and masks(choice)["off"] == "disabled"


@pytest.mark.parametrize(
    ("understanding", "situation", "agent", "mask"),
    [
        (u(("time", 0.4)), sit(), "clock", "confidence"),
        (u(("reminder", 0.65)), sit(), "reminders", "confidence"),  # own threshold 0.7
        (u(("time", 0.9), oos=True), sit(), "clock", "out_of_scope"),
        (u(("time", 0.9)), sit(unavailable={"clock": "open"}), "clock", "unavailable"),
        (u(("restaurant_reservation", 0.9)), sit(online=False), "booker", "network"),
        (u(("restaurant_reviews", 0.9)), sit(sensitive_classes=("email",)), "booker", "privacy"),
        (u(("reminder", 0.9)), sit(sensitive_classes=("health",)), "reminders", "privacy"),
        (u(("make_call", 0.9)), sit(), "dialer", "permission"),
        (u(("translate", 0.9)), sit(spent_today_usd=0.9), "pricey", "budget"),
    ],
)  # fmt: skip
def test_masks_say_why(stage, understanding, situation, agent, mask) -> None:
    choice = stage.select(understanding, "text", situation)
    assert choice.target is None
    candidate = next(c for c in choice.candidates if c.target == agent)
    assert candidate.masked_by == mask and candidate.reason


def test_unmasked_by_what_the_request_grants(stage: AgentStage) -> None:
    granted = sit(permissions=frozenset({"calls"}))
    assert stage.select(u(("make_call", 0.9)), "call mom", granted).target == "dialer"
    sensitive_ok = stage.select(u(("time", 0.9)), "x", sit(sensitive_classes=("health",)))
    assert sensitive_ok.target == "clock"  # a local agent that may see sensitive text
    domain = stage.select(u(("restaurant_reviews", 0.9)), "x", sit())
    assert (domain.target, domain.intent) == ("booker", "restaurant_reviews")


def test_active_dialog_keeps_follow_ups_masks_others_and_ends_on_subject_change(stage) -> None:
    sm = SessionManager()
    sm.agent_replied("s", "reminders", "reminder_update", "need_input", {"pending": "item"})
    session = sm.get("s")
    follow = stage.select(u(("calculator", 0.3), oos=True), "buy milk", sit(), session, "reminders")
    assert (follow.target, follow.session_action, follow.intent) == (
        "reminders",
        "continue",
        "reminder_update",
    )
    assert masks(follow)["calculator"] == "session"
    switch = stage.select(u(("time", 0.95)), "what time is it", sit(), session, "reminders")
    assert (switch.target, switch.session_action) == ("clock", "subject_change")
    unsure = stage.select(u(("time", 0.6)), "what time", sit(), session, "reminders")
    assert unsure.target == "reminders"  # not confident enough to leave the dialog
    short = stage.select(u(("time", 0.99)), "Lisbon", sit(), session, "reminders")
    assert (short.target, short.session_action) == ("reminders", "continue")  # an answer
    cancel = stage.select(u(("cancel", 0.4)), "never mind", sit(), session, "reminders")
    assert (cancel.target, cancel.intent, cancel.session_action) == (
        "reminders",
        "cancel",
        "cancel",
    )


@pytest.mark.parametrize("intent", ["book_flight", "weather"])  # no agent / a disabled one
def test_a_waiting_agent_takes_an_answer_no_other_agent_could(stage, intent: str) -> None:
    sm = SessionManager()
    sm.agent_replied("s", "reminders", "reminder_update", "need_input", {"pending": "item"})
    answer = stage.select(u((intent, 0.99)), "call the plumber", sit(), sm.get("s"), "reminders")
    assert (answer.target, answer.session_action) == ("reminders", "continue")


def test_a_masked_dialog_holder_sends_the_turn_to_llm_routing(stage) -> None:
    sm = SessionManager()
    sm.agent_replied("s", "booker", "restaurant_reservation", "need_input", {"city": None})
    down = stage.select(
        u(("restaurant_reservation", 0.2), oos=True),
        "Lisbon",
        sit(unavailable={"booker": "circuit open after 3 failures"}),
        sm.get("s"),
        "booker",
    )
    assert (down.target, down.session_action) == (None, "agent_down")
    assert "circuit open" in down.reason and masks(down)["booker"] == "unavailable"


def test_follow_up_after_done_needs_a_cue(stage) -> None:
    sm = SessionManager()
    sm.agent_replied("s", "clock", "time", "done", {"kind": "time"})
    session = sm.get("s")
    cued = stage.select(u(("translate", 0.2), oos=True), "and in tokyo?", sit(), session, "clock")
    assert (cued.target, cued.session_action) == ("clock", "follow_up")
    plain = stage.select(
        u(("translate", 0.2), oos=True), "tell me a story", sit(), session, "clock"
    )
    assert plain.target is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [("never mind", True), ("Stop!", True), ("cancel that please", True), ("forget it", True),
     ("stop the timer at 5", False), ("cancel my flight", False), ("what's 2+2", False)],
)  # fmt: skip
def test_is_cancel(text: str, expected: bool) -> None:
    assert is_cancel(text) is expected


def test_a_claim_lifts_an_agent_the_intent_router_was_unsure_of() -> None:
    from edge_moma.targets.agents.calculator import claims

    stage = AgentStage(AGENTS, threshold=0.5, claims={"calculator": claims})
    unsure = u(("calculator", 0.2), ("time", 0.1), oos=True)
    choice = stage.select(unsure, "what is 100 multiplied by 55", sit())
    assert (choice.target, choice.intent, choice.confidence) == ("calculator", "calculator", 0.5)
    plain = stage.select(unsure, "what is a multiplier", sit())
    assert plain.target is None and masks(plain)["calculator"] == "out_of_scope"
    confident = stage.select(u(("time", 0.9), ("calculator", 0.05)), "time 2+2", sit())
    assert confident.target == "clock"  # a claim never outranks a confident intent


def test_follow_up_with_its_own_intent_weakly_on_top(stage: AgentStage) -> None:
    sm = SessionManager()
    sm.agent_replied("s", "calculator", "calculator", "done", {"result": 12.0})
    weak = u(("calculator", 0.01), ("timer", 0.0), oos=True)
    choice = stage.select(weak, "and times 2?", sit(), sm.get("s"), "calculator")
    assert (choice.target, choice.session_action) == ("calculator", "follow_up")
