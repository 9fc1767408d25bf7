"""Runtime and the decision log: every route and complete is logged through the sink hook."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from http_servers import FaultServer

from edge_moma import Runtime
from edge_moma.config import load_config
from edge_moma.errors import DecisionNotFound, LogError, RequestError, TargetError
from edge_moma.log.store import LogStore

POOL = """
[runtime]
data_dir = "{data}"
log = {log}
log_text = "{mode}"

[[policy.privacy]]
name = "email"
regex = '[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\\.[A-Za-z]{{2,}}'

[[models]]
name = "dead-cloud"
kind = "remote"
base_url = "http://127.0.0.1:9/v1"
model = "gpt-4-1106-preview"
price_in = 0.01
price_out = 0.03
connect_timeout_s = 1
max_retries = 0
"""


@pytest.fixture
def make_rt(write_config: Callable[..., Path], tmp_path: Path) -> Callable[..., Runtime]:
    def make(log: bool = True, mode: str = "redact") -> Runtime:
        text = POOL.format(data=tmp_path / "data", log=str(log).lower(), mode=mode)
        return Runtime(load_config(write_config(text)))

    return make


def test_route_and_complete_are_logged_with_attempts(make_rt, tmp_path: Path) -> None:
    seen = []
    with make_rt() as rt:
        rt.add_sink(seen.append)
        routed = rt.route("my email is a.b@example.com, what's 2+2?", context={"online": True})
        with pytest.raises(TargetError):
            rt.complete("tell me a joke", context={"online": True})
        rt.feedback(routed.id, score=0.5, correct=False)
        assert rt.decision_log is not None
        rt.decision_log.flush()
    store = LogStore.open(tmp_path / "data" / "decisions.db", readonly=True)
    assert store.stats()["decisions"] == 2
    shown = store.show(routed.id)
    assert shown["router_version"] == routed.router_version
    assert "[email]" in shown["query_text"] and "example.com" not in shown["query_text"]
    assert shown["feedback"][0]["correct"] is False
    failed = store.tail(1)[0]
    assert failed["attempts"][0]["target"] == "dead-cloud" and failed["attempts"][0]["error"]
    assert [r.decision.id for r in seen] == [routed.id, failed["id"]]
    assert seen[1].attempts and not seen[0].attempts


def test_logging_off_writes_nothing(make_rt, tmp_path: Path) -> None:
    with make_rt(log=False) as rt:
        rt.route("hello there")
        with pytest.raises(LogError, match="logging is off"):
            rt.feedback("x", score=1.0)
        assert rt.reload_router() is False
    assert not (tmp_path / "data" / "decisions.db").exists()


def test_broken_sink_never_breaks_routing(make_rt) -> None:
    def broken(record: object) -> None:
        raise RuntimeError("sink down")

    with make_rt(mode="hash") as rt:
        rt.add_sink(broken)
        assert rt.route("what's 15% of 80").target == "dead-cloud"


def test_spend_survives_a_restart(make_rt) -> None:
    with make_rt() as rt:
        rt.ledger.add("dead-cloud", 0.25)
    with make_rt() as rt:
        assert rt.ledger.spent_since(0) == pytest.approx(0.25)


def test_close_logs_a_request_whose_target_never_answers_as_cancelled(
    write_config: Callable[..., Path], tmp_path: Path
) -> None:
    """A thread stuck in a remote call that cannot be interrupted: closing the runtime
    (the daemon's shutdown) logs its decision rather than losing it."""
    hung = FaultServer().start()
    hung.mode = "hang"
    try:
        text = POOL.format(data=tmp_path / "data", log="true", mode="redact").replace(
            "http://127.0.0.1:9/v1", hung.url("any")
        )
        rt = Runtime(load_config(write_config(text)))
        ended: list[BaseException] = []

        def complete() -> None:
            try:
                rt.complete("Summarise the French revolution.", target="dead-cloud")
            except TargetError as exc:  # closing the runtime ends the call too
                ended.append(exc)

        ask = threading.Thread(target=complete, daemon=True)
        ask.start()
        time.sleep(1.0)  # the request is in the remote's hands
        rt.close()
    finally:
        hung.stop()
    ask.join(30)
    store = LogStore.open(tmp_path / "data" / "decisions.db", readonly=True)
    rows = store.tail(5)
    assert len(rows) == 1
    attempt = rows[0]["attempts"][-1]
    assert attempt["target"] == "dead-cloud"
    assert attempt["error"] == "cancelled: the runtime closed before the end"


def test_feedback_resolves_an_id_or_prefix_even_while_the_decision_is_queued(
    write_config: Callable[..., Path], tmp_path: Path
) -> None:
    """Issue 14, item 5: unknown ids were stored as orphans and prefixes unresolved."""
    slow = POOL.format(data=tmp_path / "data", log="true", mode="redact")
    slow = slow.replace("[runtime]", "[runtime]\nlog_flush_ms = 60000")  # no flush on its own
    db = tmp_path / "data" / "decisions.db"
    with Runtime(load_config(write_config(slow))) as rt:
        d = rt.route("hello there")
        store = LogStore.open(db, readonly=True)
        assert store.stats()["decisions"] == 0  # still in the writer's queue
        store.close()
        assert rt.feedback(d.id[:8], score=1.0) == d.id  # found: the log was flushed first
        with pytest.raises(DecisionNotFound, match="no logged decision with id '0{32}'"):
            rt.feedback("0" * 32, score=1.0)
        with pytest.raises(DecisionNotFound, match="'nope' is not a decision id"):
            rt.feedback("nope", score=1.0)
        many = rt.route_many([f"hello {i}" for i in range(17)])  # 17 ids, 16 first characters
        firsts = [m.id[0] for m in many]
        shared = next(c for c in firsts if firsts.count(c) > 1)
        with pytest.raises(
            DecisionNotFound, match=f"the id prefix '{shared}' is ambiguous"
        ) as info:
            rt.feedback(shared.upper(), correct=True)
        assert len(info.value.matches) >= 2
        assert all(m.startswith(shared) for m in info.value.matches)
        assert isinstance(info.value, RequestError)
    store = LogStore.open(db, readonly=True)
    assert store.stats()["feedback"] == 1  # nothing orphaned, nothing unresolved
    assert store.show(d.id)["feedback"][0]["score"] == 1.0
    store.close()


@pytest.mark.parametrize(
    ("kw", "words"),
    [
        ({"score": "high"}, "score must be from 0 to 1"),
        ({"score": True}, "score must be from 0 to 1"),
        ({"score": float("nan")}, "score must be from 0 to 1"),
        ({"correct": "yes"}, "correct must be true or false"),
        ({"score": 1.0, "note": "\ud800"}, "note must be text"),
        ({"score": 1.0, "note": 5}, "note must be text"),
    ],
)
def test_feedback_a_writer_could_not_store_is_refused_and_loses_nothing(
    make_rt, tmp_path: Path, kw: dict, words: str
) -> None:
    with make_rt() as rt:
        first = rt.route("hello there")
        with pytest.raises(RequestError, match=words):
            rt.feedback(first.id, **kw)
        second = rt.route("what time is it")
    store = LogStore.open(tmp_path / "data" / "decisions.db", readonly=True)
    assert store.stats()["decisions"] == 2 and store.stats()["feedback"] == 0
    assert store.show(second.id)["id"] == second.id
    store.close()
