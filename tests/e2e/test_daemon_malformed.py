"""The daemon with remotes that answer malformed JSON: every chat completion, whole or
streamed, falls back and answers 200, never 500, and each failed attempt is logged with
its problem named. A real ``edge-moma serve`` process, real loopback HTTP remotes."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from http_servers import FaultServer
from test_daemon import Daemon

from edge_moma.errors import RequestError

ASK = [{"role": "user", "content": "Name the capital of France."}]
ONLINE = {"online": True}


@pytest.fixture(scope="module")
def remotes() -> Iterator[FaultServer]:
    srv = FaultServer().start()
    yield srv
    srv.stop()


def remote(name: str, url: str, quality: float) -> str:
    return (
        f'\n[[models]]\nname = "{name}"\nkind = "remote"\nbase_url = "{url}"\nmodel = "m"\n'
        f"max_retries = 0\npriors = {{ overall = {quality} }}\n"
    )


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory, remotes: FaultServer) -> Iterator[Daemon]:
    extra = (
        remote("bad-usage", remotes.url("bad-tokens-str"), 0.9)
        + remote("bad-choices", remotes.url("bad-choices-items-str"), 0.9)
        + remote("bad-stream", remotes.url("badsse-choices-items-str"), 0.9)
        + remote("bad-delta", remotes.url("badsse-content-int"), 0.9)
        + remote("good", remotes.url("ok"), 0.99)
        + remote("good-stream", remotes.url("sse"), 0.98)
    )
    d = Daemon(tmp_path_factory.mktemp("daemon-malformed"), extra=extra).start()
    yield d
    code = d.terminate()
    d.kill()
    assert code == 0, d.stderr()


@pytest.mark.parametrize(
    ("model", "problem"),
    [("bad-usage", "usage.prompt_tokens is 'abc'"), ("bad-choices", "choices[0] is 'Paris.'")],
)
def test_a_malformed_answer_falls_back_with_200_and_is_logged(
    daemon: Daemon, model: str, problem: str
) -> None:
    body = {"model": model, "messages": ASK, "max_tokens": 8, "edge_moma": ONLINE}
    with daemon.http() as http:
        r = http.post("/v1/chat/completions", json=body)
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["choices"][0]["message"]["content"] == "Paris."
    assert r.headers["x-edge-moma-target"] == "good"
    attempts = logged_attempts(daemon, answer["edge_moma"]["decision_id"])
    assert [a["target"] for a in attempts] == [model, "good"]
    assert problem in attempts[0]["error"]


@pytest.mark.parametrize(
    ("model", "problem"),
    [("bad-stream", "choices[0] is 'x'"), ("bad-delta", "delta.content is 5")],
)
def test_a_malformed_stream_falls_back_with_200_and_is_logged(
    daemon: Daemon, model: str, problem: str
) -> None:
    body = {"model": model, "messages": ASK, "stream": True, "edge_moma": ONLINE}
    with daemon.http() as http, http.stream("POST", "/v1/chat/completions", json=body) as r:
        assert r.status_code == 200
        events = [line[6:] for line in r.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == "Paris." and r.headers["x-edge-moma-target"] == "good-stream"
    attempts = logged_attempts(daemon, chunks[0]["edge_moma"]["decision_id"])
    assert [a["target"] for a in attempts][:1] == [model] and problem in attempts[0]["error"]
    assert attempts[-1]["target"] == "good-stream" and attempts[-1]["error"] is None


def logged_attempts(daemon: Daemon, decision_id: str) -> list[dict]:
    """The decision's attempts, once the daemon's log writer has stored them."""
    deadline = time.monotonic() + 10
    while True:
        store = daemon.log()
        try:
            return list(store.show(decision_id)["attempts"])
        except RequestError:  # not flushed yet (the writer flushes every log_flush_ms)
            if time.monotonic() > deadline:
                raise
        finally:
            store.close()
        time.sleep(0.2)


def test_the_daemon_log_holds_no_traceback(daemon: Daemon) -> None:
    assert "Traceback" not in daemon.stderr(), daemon.stderr()[-3000:]
    assert Path(daemon.data / "decisions.db").is_file()
