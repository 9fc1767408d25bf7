from __future__ import annotations

from pathlib import Path

from edge_moma.targets.sessions import SessionManager, SessionStore


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_need_input_opens_a_dialog_and_done_closes_it() -> None:
    clock = Clock()
    sm = SessionManager(ttl_s=60, follow_up_s=10, clock=clock)
    assert sm.get("s").state == "idle"
    sm.agent_replied("s", "reminders", "reminder_update", "need_input", {"pending": "item"})
    s = sm.get("s")
    assert (s.state, s.agent, dict(s.slots)) == ("agent_active", "reminders", {"pending": "item"})
    assert sm.follow_up_agent(s) == "reminders"
    sm.agent_replied("s", "reminders", "reminder_update", "done", {"list": "reminders"})
    s = sm.get("s")
    assert (s.state, s.last_agent, s.ended) == ("idle", "reminders", "done")
    assert sm.follow_up_agent(s) == "reminders"
    clock.t += 11  # the follow-up window has passed
    assert sm.follow_up_agent(sm.get("s")) is None


def test_cancel_and_end_leave_nothing_to_follow_up() -> None:
    sm = SessionManager()
    sm.agent_replied("s", "units", "cancel", "done", {"value": 1})
    assert sm.follow_up_agent(sm.get("s")) is None and sm.get("s").ended == "cancel"
    sm.agent_replied("s", "units", "measurement_conversion", "need_input", {})
    sm.end("s", "agent_down")
    assert (sm.get("s").state, sm.get("s").ended) == ("idle", "agent_down")


def test_sessions_expire_after_inactivity() -> None:
    clock = Clock()
    sm = SessionManager(ttl_s=60, clock=clock)
    sm.agent_replied("s", "clock", "date", "need_input", {"kind": "between"})
    clock.t += 61
    s = sm.get("s")
    assert (s.state, s.ended) == ("idle", "expired")


def test_no_session_id_is_stateless() -> None:
    sm = SessionManager()
    sm.agent_replied(None, "clock", "time", "need_input", {})
    assert sm.get(None).state == "idle" and sm.get("").state == "idle"


def test_store_keeps_dialogs_across_restarts_and_drops_expired(tmp_path: Path) -> None:
    clock = Clock()
    path = tmp_path / "agents.db"
    first = SessionManager(ttl_s=60, store=SessionStore(path), clock=clock)
    first.agent_replied("a", "reminders", "reminder_update", "need_input", {"pending": "item"})
    clock.t += 30
    first.agent_replied("b", "units", "measurement_conversion", "need_input", {"source": "cup"})
    first.close()
    clock.t += 40  # "a" is 70 s old now, "b" 40 s
    second = SessionManager(ttl_s=60, store=SessionStore(path), clock=clock)
    assert second.get("a").state == "idle"
    b = second.get("b")
    assert (b.state, b.agent, dict(b.slots)) == ("agent_active", "units", {"source": "cup"})
    second.close()


def test_at_most_max_sessions_are_kept_the_least_recent_go_first() -> None:
    """A client that makes up a session id per request must not grow memory for good."""
    now = [1000.0]
    sessions = SessionManager(ttl_s=900, clock=lambda: now[0], max_sessions=100)
    for i in range(1000):
        now[0] += 0.01
        sessions.agent_replied(f"s{i}", "reminders", "reminder", "need_input", {})
    now[0] += 0.01
    sessions.end("s950", "llm")  # touched again: now the most recent
    assert len(sessions._sessions) == 100
    assert sessions.get("s899").state == "idle"  # forgotten
    assert sessions.get("s999").state == "agent_active"
    assert list(sessions._sessions)[-1] == "s950"
