from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from situations import situation as sit

from edge_moma.config import AgentConfig
from edge_moma.decision import IntentScore, Understanding
from edge_moma.routing.agent_stage import MAX_CLAIM_CHARS, AgentStage, is_cancel
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


CLAIMS = {  # claims as the built-in agents give them, keyed by text, for the rule's tests
    "calculator": lambda t: {"nine times seven": 1.0, "help with maths": 0.1}.get(t, 0.0),
    "clock": lambda t: {"what time is it": 1.0, "time for a break": 0.1}.get(t, 0.0),
    "reminders": lambda t: {"add milk to my list": 1.0}.get(t, 0.0),
}


@pytest.fixture
def claiming() -> AgentStage:
    return AgentStage(AGENTS, threshold=0.5, domains=DOMAINS, claims=CLAIMS)


def test_a_certain_claim_takes_what_the_router_is_unsure_of(claiming: AgentStage) -> None:
    for understanding in (u(("timer", 0.68), ("calculator", 0.1)), u(("timer", 0.3), oos=True)):
        choice = claiming.select(understanding, "nine times seven", sit())
        assert (choice.target, choice.confidence) == ("calculator", 1.0)
    own = claiming.select(u(("calculator", 0.1)), "nine times seven", sit())
    assert own.intent == "calculator"  # its own intent, however weak, names the turn


def test_a_claim_of_zero_declines_however_sure_the_router_is(claiming: AgentStage) -> None:
    choice = claiming.select(u(("calculator", 0.99)), "book a table for 4", sit())
    assert choice.target is None
    declined = next(c for c in choice.candidates if c.target == "calculator")
    assert declined.masked_by == "declined" and "cannot read" in (declined.reason or "")


def test_a_weak_claim_leaves_the_decision_to_the_router(claiming: AgentStage) -> None:
    sure = claiming.select(u(("time", 0.9)), "time for a break", sit())
    assert (sure.target, sure.confidence) == ("clock", 0.9)
    unsure = claiming.select(u(("time", 0.3)), "time for a break", sit())
    assert unsure.target is None and masks(unsure)["clock"] == "confidence"
    oos = claiming.select(u(("time", 0.9), oos=True), "time for a break", sit())
    assert oos.target is None and masks(oos)["clock"] == "out_of_scope"


@pytest.mark.parametrize(
    ("understanding", "text", "taken"),
    [
        # a weak claim: the router must prefer the agent to every intent no agent serves
        (u(("weather", 0.62), ("date", 0.55)), "time for a break", False),
        (u(("smart_home", 0.56), ("time", 0.55), ("calculator", 0.3)), "time for a break", False),
        (u(("time", 0.6), ("weather", 0.3)), "time for a break", True),
        (u(("time", 0.3), ("date", 0.3), ("weather", 0.5)), "time for a break", True),  # summed
        (u(("time", 0.55), ("weather", 0.55)), "time for a break", True),  # a tie: the agent
        # a certain claim, or none (evidence alone), is not overruled by other intents
        (u(("weather", 0.9), ("time", 0.05)), "what time is it", True),
        (u(("weather", 0.6), ("restaurant_reviews", 0.3)), "anything", False),  # below 0.5
        (u(("weather", 0.3), ("restaurant_reviews", 0.55)), "anything", True),
    ],
)  # fmt: skip
def test_a_weak_claim_needs_the_router_to_prefer_the_agent(
    claiming: AgentStage, understanding: Understanding, text: str, taken: bool
) -> None:
    choice = claiming.select(understanding, text, sit())
    assert (choice.target is not None) == taken
    if not taken and "time" in text:
        clock = next(c for c in choice.candidates if c.target == "clock")
        assert clock.masked_by == "confidence" and "prefers" in (clock.reason or "")


def test_masks_hold_whatever_the_claim(claiming: AgentStage) -> None:
    private = claiming.select(
        u(("reminder", 0.9)), "add milk to my list", sit(sensitive_classes=("health",))
    )
    assert private.target is None and masks(private)["reminders"] == "privacy"
    no_claim = claiming.select(u(("restaurant_reviews", 0.9)), "anything", sit())
    assert no_claim.target == "booker"  # an HTTP agent has no claim: evidence alone


def test_equal_claims_go_to_the_agent_with_more_evidence() -> None:
    both = {"calculator": lambda t: 1.0, "clock": lambda t: 1.0}
    stage = AgentStage(AGENTS, threshold=0.5, claims=both)
    choice = stage.select(u(("time", 0.2), ("calculator", 0.1)), "x", sit())
    assert choice.target == "clock"
    first = stage.select(u(("weather", 0.9)), "x", sit())
    assert first.target == "calculator"  # no evidence either way: the first configured


def test_the_dialog_holder_needs_no_claim(claiming: AgentStage) -> None:
    sm = SessionManager()
    sm.agent_replied("s", "reminders", "reminder_update", "need_input", {"pending": "item"})
    answer = claiming.select(u(("time", 0.4)), "the plumber", sit(), sm.get("s"), "reminders")
    assert (answer.target, answer.session_action) == ("reminders", "continue")


@pytest.mark.parametrize("bad", [float("nan"), "high", None, ValueError("bug")])
def test_a_broken_claim_has_no_say(bad: object) -> None:
    def claim(text: str) -> float:
        if isinstance(bad, Exception):
            raise bad
        return bad  # type: ignore[return-value]

    stage = AgentStage(AGENTS, threshold=0.5, claims={"calculator": claim})
    assert stage.select(u(("calculator", 0.9)), "x", sit()).target == "calculator"
    assert stage.select(u(("calculator", 0.2)), "x", sit()).target is None


def test_long_turns_are_left_to_the_router_without_asking_the_claims() -> None:
    """A claim parser read a 2,000-character prompt in milliseconds; past 160 characters
    the router's evidence alone decides, and the parser is never called."""
    asked: list[str] = []

    def claim(text: str) -> float:
        asked.append(text)
        return 0.0

    stage = AgentStage(AGENTS, threshold=0.5, claims={"calculator": claim})
    short, long = "what is 2+2", "what is 2+2 " + "and some more words " * 8
    assert len(long) > MAX_CLAIM_CHARS >= len(short)
    assert masks(stage.select(u(("calculator", 0.9)), short, sit()))["calculator"] == "declined"
    assert stage.select(u(("calculator", 0.9)), long, sit()).target == "calculator"
    assert stage.select(u(("calculator", 0.2)), long, sit()).target is None
    assert asked == [short]


@settings(max_examples=300, deadline=None)
@given(
    evidence=st.floats(0, 1),
    claim=st.one_of(st.none(), st.floats(0, 1), st.sampled_from([0.0, 0.1, 1.0])),
    oos=st.booleans(),
    threshold=st.floats(0.01, 1),
)
def test_the_claim_rule(evidence: float, claim: float | None, oos: bool, threshold: float) -> None:
    """One rule: no claim -> evidence; claim 0 -> declined; else max(evidence, claim)."""
    claims = {} if claim is None else {"calculator": lambda t: claim}
    stage = AgentStage(
        [AgentConfig(name="calculator", kind="builtin", intents=["calculator"])],
        threshold=threshold,
        claims=claims,
    )
    choice = stage.select(u(("calculator", evidence), oos=oos), "text", sit())
    p = 0.0 if oos else evidence
    if claim is not None and claim == 0:
        assert choice.target is None and masks(choice)["calculator"] == "declined"
        return
    score = p if claim is None else max(p, claim)
    assert (choice.target == "calculator") == (score >= threshold)
    assert choice.candidates[0].quality == pytest.approx(score)


def test_follow_up_with_its_own_intent_weakly_on_top(stage: AgentStage) -> None:
    sm = SessionManager()
    sm.agent_replied("s", "calculator", "calculator", "done", {"result": 12.0})
    weak = u(("calculator", 0.01), ("timer", 0.0), oos=True)
    choice = stage.select(weak, "and times 2?", sit(), sm.get("s"), "calculator")
    assert (choice.target, choice.session_action) == ("calculator", "follow_up")


def test_shared_entries_still_say_each_turns_figures(stage: AgentStage) -> None:
    """Zero-score entries are shared between turns; reasons with figures are not."""
    reasons = []
    for left in (0.1, 0.2):
        choice = stage.select(u(("weather", 0.9)), "text", sit(spent_today_usd=1.0 - left))
        entry = {c.target: c for c in choice.candidates}
        reasons.append(entry["pricey"].reason)
        assert entry["calculator"].masked_by == "confidence" and entry["calculator"].quality == 0
    assert [r.split("(")[-1] for r in reasons] == ["$0.10000)", "$0.20000)"]
    taken = stage.select(u(("time", 0.9)), "text", sit())
    assert {c.target: c.quality for c in taken.candidates}["clock"] == pytest.approx(0.9)
