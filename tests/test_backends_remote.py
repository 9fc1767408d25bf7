"""The OpenAI-compatible remote backend against real HTTP servers on 127.0.0.1:
answers, SSE streams, retries on 429/5xx, timeouts, dead ports, missing keys, and
an API key that never shows up in logs or errors."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest
from http_servers import Blackhole, FaultServer, free_port

from edge_moma.config import RemoteModel
from edge_moma.errors import TargetError, TargetUnavailable
from edge_moma.targets.backends import ChatRequest
from edge_moma.targets.backends.base import drain
from edge_moma.targets.backends.remote import RemoteBackend
from edge_moma.targets.kinds import create_backend

KEY = "sk-test-7f3a9c1e5b"
ENV = "EDGE_MOMA_TEST_KEY"
ASK = ({"role": "user", "content": "Name the capital of France."},)


@pytest.fixture(scope="module")
def server() -> Iterator[FaultServer]:
    srv = FaultServer().start()
    yield srv
    srv.stop()


@pytest.fixture(autouse=True)
def api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, KEY)


_OPEN: list[RemoteBackend] = []


@pytest.fixture(autouse=True)
def close_backends() -> Iterator[None]:
    yield
    while _OPEN:
        _OPEN.pop().close()


def remote(base_url: str, **kw: object) -> RemoteBackend:
    """A remote backend (closed after the test) on ``base_url`` with a key and prices."""
    options: dict[str, object] = {
        "api_key_env": ENV,
        "price_in": 0.5,
        "price_out": 1.5,
        "retry_backoff_s": 0.05,
        **kw,
    }
    backend = create_backend(RemoteModel(name="cloud", base_url=base_url, model="m", **options))
    assert isinstance(backend, RemoteBackend)
    _OPEN.append(backend)
    return backend


def test_complete_sends_the_key_and_prices_the_usage(server: FaultServer) -> None:
    c = remote(server.url("ok")).complete(ChatRequest(ASK, max_tokens=7, stop=("\n",)))
    assert c.text == "Paris." and c.finish_reason == "stop"
    assert (c.prompt_tokens, c.completion_tokens) == (1000, 500)
    assert c.cost_usd == pytest.approx(1000 * 0.5 / 1000 + 500 * 1.5 / 1000)
    assert server.auth[-1] == f"Bearer {KEY}"
    body = server.bodies[-1]
    assert body["model"] == "m" and body["max_tokens"] == 7 and body["stop"] == ["\n"]
    assert body["messages"] == list(ASK) and body["stream"] is False


def test_no_key_variable_sends_no_authorization(server: FaultServer) -> None:
    remote(server.url("ok"), api_key_env="").complete(ChatRequest(ASK))
    assert server.auth[-1] == ""


def test_stream_yields_sse_pieces_and_usage(server: FaultServer) -> None:
    gen = remote(server.url("sse")).stream(ChatRequest(ASK))
    pieces = [next(gen) for _ in range(3)]
    c = drain(gen)
    assert pieces == ["Par", "is", "."] and c.text == "Paris."
    assert c.ttft_s is not None and c.ttft_s <= c.latency_s
    assert (c.prompt_tokens, c.completion_tokens) == (1000, 3)
    assert server.bodies[-1]["stream"] is True


def test_429_is_retried_after_the_servers_retry_after(server: FaultServer) -> None:
    t0 = time.monotonic()
    c = remote(server.url("429"), max_retries=2).complete(ChatRequest(ASK, timeout_s=10))
    assert c.text == "Paris." and server.hits["429"] == 3
    assert time.monotonic() - t0 >= 0.4  # two waits of Retry-After: 0.2, not the 0.05 backoff


def test_a_retry_after_past_the_deadline_fails_at_once(server: FaultServer) -> None:
    t0 = time.monotonic()
    with pytest.raises(TargetError, match=r"HTTP 429 .*slow down.*would pass the deadline"):
        remote(server.url("429long")).complete(ChatRequest(ASK, timeout_s=5))
    assert time.monotonic() - t0 < 2


def test_500_is_retried_then_reported(server: FaultServer) -> None:
    before = server.hits["500"]
    with pytest.raises(
        TargetError, match=r"^cloud: HTTP 500 .* after 3 tries \(the model crashed\)"
    ):
        remote(server.url("500"), max_retries=2).complete(ChatRequest(ASK, timeout_s=10))
    assert server.hits["500"] - before == 3


def test_a_slow_endpoint_gives_up_at_the_deadline(server: FaultServer) -> None:
    t0 = time.monotonic()
    with pytest.raises(TargetError, match="no answer from .* within the read timeout"):
        remote(server.url("slow"), timeout_s=30).complete(ChatRequest(ASK, timeout_s=0.5))
    assert 0.4 < time.monotonic() - t0 < 2.5


def test_nothing_listening_fails_fast() -> None:
    t0 = time.monotonic()
    backend = remote(f"http://127.0.0.1:{free_port()}/v1", connect_timeout_s=2)
    with pytest.raises(TargetError, match=r"^cloud: cannot connect to http://127\.0\.0\.1:\d+/v1"):
        backend.complete(ChatRequest(ASK, timeout_s=10))
    assert time.monotonic() - t0 < 2


def test_a_host_that_never_answers_the_handshake_ends_at_the_connect_timeout() -> None:
    hole = Blackhole()
    try:
        t0 = time.monotonic()
        with pytest.raises(TargetError, match="cannot connect to .* within the connect timeout"):
            remote(hole.url, connect_timeout_s=0.5).complete(ChatRequest(ASK, timeout_s=10))
        assert 0.4 < time.monotonic() - t0 < 2
    finally:
        hole.close()


def test_a_stream_dropped_mid_answer_is_an_error_after_its_pieces(server: FaultServer) -> None:
    gen = remote(server.url("drop")).stream(ChatRequest(ASK, timeout_s=10))
    assert next(gen) + next(gen) == "Hello"
    with pytest.raises(TargetError, match="dropped|ended before the answer was finished"):
        next(gen)


def test_a_stream_dropped_before_any_text_is_an_error(server: FaultServer) -> None:
    with pytest.raises(TargetError, match="dropped|ended before the answer was finished"):
        drain(remote(server.url("drop0")).stream(ChatRequest(ASK, timeout_s=10)))


def test_missing_key_variable_makes_the_target_unavailable(
    server: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV)
    hits = sum(server.hits.values())
    with pytest.raises(
        TargetUnavailable, match=rf"^cloud: the API key variable \${ENV} is not set"
    ):
        remote(server.url("ok")).complete(ChatRequest(ASK))
    assert sum(server.hits.values()) == hits  # nothing was sent without the key


def test_the_key_never_appears_in_errors_or_logs(
    server: FaultServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    errors = []
    for scenario in ("echo", "500", "429long", "drop0"):
        with pytest.raises(TargetError) as info:
            drain(remote(server.url(scenario)).stream(ChatRequest(ASK, timeout_s=5)))
        errors.append(str(info.value))
    assert "bad key Bearer ***" in errors[0]  # the server echoed it; we redacted it
    assert isinstance(info.value, TargetError)
    assert caplog.records  # httpx and our retries did log
    for text in (*errors, caplog.text, *(repr(r.__dict__) for r in caplog.records)):
        assert KEY not in text


def test_401_makes_the_target_unavailable(server: FaultServer) -> None:
    with pytest.raises(TargetUnavailable, match=rf"HTTP 401 .*check \${ENV}"):
        remote(server.url("echo")).complete(ChatRequest(ASK))
