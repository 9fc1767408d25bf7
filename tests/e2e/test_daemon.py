"""The daemon end to end: real ``python -m edge_moma serve`` processes on temporary Unix
sockets, the real SmolLM2 model, the real ``openai`` SDK, the real SQLite decision log."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from daemons import KEY, KEY_ENV, SAY_HI, Daemon, accepts

from edge_moma.errors import DaemonError
from edge_moma.serve.client import AsyncClient, Client


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """One daemon shared by the endpoint tests; stopped (and checked) at the end."""
    d = Daemon(tmp_path_factory.mktemp("daemon")).start()
    yield d
    code = d.terminate()
    d.kill()
    assert code == 0, d.stderr()


@pytest.fixture
def http(daemon: Daemon) -> Iterator[httpx.Client]:
    with daemon.http() as client:
        yield client


# --- the socket, its permissions, one daemon at a time -----------------------------------


def test_socket_is_private_and_names_its_pid(daemon: Daemon) -> None:
    assert stat.S_ISSOCK(daemon.socket.lstat().st_mode)
    assert stat.S_IMODE(daemon.socket.stat().st_mode) == 0o600
    assert stat.S_IMODE(daemon.socket.parent.stat().st_mode) == 0o700
    assert daemon.socket.parent.stat().st_uid == os.geteuid()
    pid_file = daemon.socket.with_name("d.sock.pid")
    assert daemon.proc is not None
    assert pid_file.read_text().strip() == str(daemon.proc.pid)


def test_a_second_daemon_on_the_same_socket_is_refused(daemon: Daemon) -> None:
    assert daemon.proc is not None
    second = subprocess.run(daemon.command(), env=daemon.env, capture_output=True, timeout=60)
    assert second.returncode == 2  # cannot start: a usage error
    assert f"already running, pid {daemon.proc.pid}" in second.stderr.decode()
    with daemon.http() as http:  # the first one is untouched
        assert http.get("/healthz").json()["pid"] == daemon.proc.pid


def test_a_stale_socket_is_replaced(tmp_path: Path) -> None:
    first = Daemon(tmp_path / "a").start()
    first.kill()  # SIGKILL: the socket file stays behind, nobody listens on it
    assert stat.S_ISSOCK(first.socket.lstat().st_mode)
    second = Daemon(tmp_path / "a").start()
    try:
        assert second.proc is not None
        with second.http() as http:
            assert http.get("/healthz").json()["pid"] == second.proc.pid
        assert "replacing the stale socket" in second.stderr()
    finally:
        assert second.terminate() == 0
    assert not second.socket.exists()


def test_a_socket_directory_others_can_enter_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    d = Daemon(tmp_path / "d", sock=shared / "d.sock")
    run = subprocess.run(d.command(), env=d.env, capture_output=True, timeout=60)
    assert run.returncode == 2
    assert "is mode 0755" in run.stderr.decode()
    assert not (shared / "d.sock").exists()


# httpcore leaves the socket of a failed Unix-socket exchange unclosed (a ResourceWarning,
# an unraisable-exception warning); gc.collect() keeps it in this test.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_peer_whose_uid_is_not_allowed_is_cut_off(tmp_path: Path) -> None:
    other = os.geteuid() + 4242
    d = Daemon(tmp_path / "d", server=f"allowed_uids = [{other}]").start(wait=False)
    try:
        deadline = time.monotonic() + 90
        while "Application startup complete" not in d.stderr():
            assert d.proc is not None and d.proc.poll() is None, d.stderr()
            assert time.monotonic() < deadline, d.stderr()
            time.sleep(0.1)
        with pytest.raises(DaemonError) as info, Client(d.socket) as client:
            client.health()
        assert info.value.status == 0
        del info
        assert f"refused a connection from uid {os.geteuid()}" in d.stderr()
        assert d.proc is not None and d.proc.poll() is None  # still serving
        gc.collect()
    finally:
        assert d.terminate() == 0, d.stderr()


# --- endpoints ----------------------------------------------------------------------


def test_healthz_and_models(http: httpx.Client, daemon: Daemon) -> None:
    health = http.get("/healthz").json()
    assert health["status"] == "ok" and health["router_version"].startswith("intent:")
    models = http.get("/v1/models").json()
    assert models["object"] == "list"
    by_id = {m["id"]: m for m in models["data"]}
    assert {"auto", "smollm2-135m", "calculator", "units", "clock", "reminders"} <= set(by_id)
    local = by_id["smollm2-135m"]["edge_moma"]
    assert local["kind"] == "local" and local["available"] is True
    assert by_id["calculator"]["edge_moma"]["kind"] == "agent"


def test_route_refuses_a_session_id_that_is_not_utf8(http: httpx.Client) -> None:
    # JSON may escape a lone surrogate; like such a query, it is a 400 naming the key (it
    # once reached the persisted sessions, whose SQLite encoder failed on it).
    raw = (
        b'{"messages": [{"role": "user", "content": "hi"}], '
        b'"edge_moma": {"session_id": "s\\ud83d"}}'
    )
    r = http.post("/v1/route", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == "edge_moma.session_id"
    assert "lone surrogate" in r.json()["error"]["message"]


def test_route_returns_what_the_cli_prints(http: httpx.Client, daemon: Daemon) -> None:
    text = "convert 5 miles to kilometers"
    body = {"model": "auto", "messages": [{"role": "user", "content": text}]}
    served = http.post("/v1/route", json=body).json()
    cli = subprocess.run(
        [
            sys.executable,
            "-m",
            "edge_moma",
            "route",
            "--json",
            "--config",
            str(daemon.config),
            text,
        ],
        env=daemon.env,
        capture_output=True,
        timeout=120,
        check=True,
    )
    printed = json.loads(cli.stdout)

    def shape(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: shape(v) for k, v in value.items()}
        if isinstance(value, list):
            return [shape(v) for v in value]
        return type(value).__name__

    assert shape(served) == shape(printed)
    for key in ("target", "stage", "fallbacks", "understanding", "router_version"):
        assert served[key] == printed[key], key
    assert served["target"] == "units"
    assert [c["target"] for c in served["candidates"]] == [
        c["target"] for c in printed["candidates"]
    ]


def test_route_pins_a_concrete_model(http: httpx.Client) -> None:
    body = {"model": "smollm2-135m", "messages": [{"role": "user", "content": "what is 2+2"}]}
    decision = http.post("/v1/route", json=body).json()
    assert decision["target"] == "smollm2-135m"
    assert "pinned" in decision["reason"]


def test_chat_auto_goes_to_an_agent_first(http: httpx.Client) -> None:
    body = {"model": "auto", "messages": [{"role": "user", "content": "what is 12*7"}]}
    r = http.post("/v1/chat/completions", json=body)
    assert r.status_code == 200
    answer = r.json()
    assert answer["object"] == "chat.completion"
    assert answer["model"] == "calculator" == r.headers["x-edge-moma-target"]
    assert "84" in answer["choices"][0]["message"]["content"]
    assert answer["edge_moma"]["decision_id"] == r.headers["x-edge-moma-decision-id"]
    assert answer["id"] == f"chatcmpl-{answer['edge_moma']['decision_id']}"


def test_chat_pinned_to_the_local_model(http: httpx.Client) -> None:
    body = {"model": "smollm2-135m", "messages": SAY_HI, "max_tokens": 4, "temperature": 0}
    r = http.post("/v1/chat/completions", json=body)
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["model"] == "smollm2-135m" == r.headers["x-edge-moma-target"]
    assert answer["choices"][0]["message"]["content"]
    assert 1 <= answer["usage"]["completion_tokens"] <= 4
    assert answer["choices"][0]["finish_reason"] in ("stop", "length")
    assert answer["edge_moma"]["attempts"][0]["target"] == "smollm2-135m"


def test_streaming_sends_openai_chunks(http: httpx.Client) -> None:
    body = {
        "model": "smollm2-135m",
        "messages": SAY_HI,
        "max_tokens": 5,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    with http.stream("POST", "/v1/chat/completions", json=body) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        decision_id = r.headers["x-edge-moma-decision-id"]
        events = [line[6:] for line in r.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert {c["id"] for c in chunks} == {f"chatcmpl-{decision_id}"}
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[0]["edge_moma"]["target"] == "smollm2-135m"
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text
    finals = [c for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
    assert [f["choices"][0]["finish_reason"] for f in finals] in (["stop"], ["length"])
    assert chunks[-1]["choices"] == [] and 1 <= chunks[-1]["usage"]["completion_tokens"] <= 5


def test_feedback_reaches_the_decision_log(http: httpx.Client, daemon: Daemon) -> None:
    body = {"model": "auto", "messages": [{"role": "user", "content": "what is 3+4"}]}
    decision_id = http.post("/v1/chat/completions", json=body).json()["edge_moma"]["decision_id"]
    r = http.post("/v1/feedback", json={"decision_id": decision_id, "score": 0.9, "note": "ok"})
    assert r.status_code == 200 and r.json()["decision_id"] == decision_id
    deadline = time.monotonic() + 10
    while True:
        try:
            row = daemon.log().show(decision_id)
            if row["feedback"]:
                break
        except Exception:
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise AssertionError("feedback not written within 10 s")
        time.sleep(0.2)
    assert row["feedback"][0]["score"] == 0.9 and row["target"] == "calculator"


def test_concurrent_routes_each_get_their_own_decision(daemon: Daemon) -> None:
    """Requests decided in one batch (``batching.py``) are answered as if alone."""
    texts = [
        "what is 15% of 80",
        "set an alarm for 7 am",
        "convert 5 miles to kilometers",
        "what time is it in tokyo",
        "Write a Python function that reverses a linked list.",
        "remind me to call mum at 6pm",
    ] * 4

    def body(text: str) -> dict[str, Any]:
        return {"model": "auto", "messages": [{"role": "user", "content": text}]}

    with daemon.http() as http:
        alone = {t: http.post("/v1/route", json=body(t)).json() for t in set(texts)}

    async def all_at_once() -> list[dict[str, Any]]:
        async def one(text: str) -> dict[str, Any]:
            transport = httpx.AsyncHTTPTransport(uds=str(daemon.socket))
            async with httpx.AsyncClient(transport=transport, base_url="http://d") as client:
                r = await client.post("/v1/route", json=body(text))
                assert r.status_code == 200, r.text
                return r.json()  # type: ignore[no-any-return]

        return await asyncio.gather(*(one(t) for t in texts))

    for text, got in zip(texts, asyncio.run(all_at_once()), strict=True):
        want = alone[text]
        for key in ("target", "stage", "understanding", "candidates"):
            assert got[key] == want[key], (text, key)
    with daemon.http() as http:
        metrics = http.get("/metrics").text
    counts = dict(
        re.findall(r"^edge_moma_route_(batches|batched_requests)_total (\d+)$", metrics, re.M)
    )
    assert 0 < int(counts["batches"]) <= int(counts["batched_requests"])


def test_metrics_in_prometheus_text(http: httpx.Client) -> None:
    http.post("/v1/route", json={"messages": [{"role": "user", "content": "what time is it"}]})
    r = http.get("/metrics")
    assert r.headers["content-type"].startswith("text/plain")
    text = r.text
    for family in (
        "edge_moma_requests_total",
        "edge_moma_decisions_total",
        "edge_moma_request_seconds",
        "edge_moma_fallbacks_total",
        "edge_moma_log_dropped_total",
        "edge_moma_models_loaded",
    ):
        assert f"# TYPE {family} " in text, family
    assert 'edge_moma_requests_total{endpoint="/v1/route",status="200"}' in text
    assert 'edge_moma_request_seconds_bucket{endpoint="/v1/route",le="+Inf"}' in text
    assert 'edge_moma_decisions_total{target="clock",stage="agent"}' in text
    assert "edge_moma_log_dropped_total 0" in text


def test_reload_rereads_the_config(http: httpx.Client, daemon: Daemon) -> None:
    version = http.get("/healthz").json()["router_version"]
    same = http.post("/admin/reload").json()
    assert same["config_changed"] is False and same["router_version"] == version
    original = daemon.config.read_text()
    daemon.config.write_text(original.replace("tradeoff = 0.5", "tradeoff = 0.6"))
    try:
        changed = http.post("/admin/reload").json()
        assert changed["config_changed"] is True
        body = {"messages": [{"role": "user", "content": "what is 9*9"}]}
        assert http.post("/v1/route", json=body).json()["target"] == "calculator"
    finally:
        daemon.config.write_text(original)
        assert http.post("/admin/reload").json()["config_changed"] is True
    daemon.config.write_text(original.replace("tradeoff = 0.5", "tradeoff = 7"))
    try:
        bad = http.post("/admin/reload")
        assert bad.status_code == 400 and "policy.tradeoff" in bad.json()["error"]["message"]
        assert http.get("/healthz").status_code == 200  # the old runtime keeps serving
    finally:
        daemon.config.write_text(original)


# --- bad requests: OpenAI-style 4xx, the daemon keeps serving ------------------------

CHAT = "/v1/chat/completions"
HI = [{"role": "user", "content": "hi"}]
BAD = [
    ("malformed JSON", "POST", CHAT, b'{"messages": [', 400, "invalid_json"),
    ("not UTF-8", "POST", CHAT, b"\xff\xfe{}", 400, "invalid_json"),
    ("empty body", "POST", CHAT, b"", 400, "invalid_body"),
    ("a JSON array", "POST", CHAT, [1, 2], 400, "invalid_body"),
    ("no messages", "POST", CHAT, {"model": "auto"}, 400, None),
    ("messages not a list", "POST", CHAT, {"messages": "hi"}, 400, None),
    ("empty messages", "POST", CHAT, {"messages": []}, 400, None),
    ("message not an object", "POST", CHAT, {"messages": ["hi"]}, 400, "invalid_type"),
    ("bad role", "POST", CHAT, {"messages": [{"role": "robot", "content": "x"}]}, 400, None),
    ("content a number", "POST", CHAT, {"messages": [{"role": "user", "content": 5}]}, 400, "invalid_type"),  # noqa: E501
    ("image part", "POST", CHAT, {"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}, 400, None),  # noqa: E501
    ("unknown message field", "POST", CHAT, {"messages": [{**HI[0], "mood": 1}]}, 400, "unknown_parameter"),  # noqa: E501
    ("unknown field", "POST", CHAT, {"messages": HI, "tools": []}, 400, "unknown_parameter"),
    ("model a number", "POST", CHAT, {"messages": HI, "model": 3}, 400, "invalid_type"),
    ("unknown model", "POST", CHAT, {"messages": HI, "model": "gpt-9"}, 404, "model_not_found"),
    ("max_tokens a string", "POST", CHAT, {"messages": HI, "max_tokens": "5"}, 400, "invalid_type"),
    ("max_tokens zero", "POST", CHAT, {"messages": HI, "max_tokens": 0}, 400, None),
    ("max_tokens a bool", "POST", CHAT, {"messages": HI, "max_tokens": True}, 400, "invalid_type"),
    ("temperature too high", "POST", CHAT, {"messages": HI, "temperature": 9}, 400, None),
    ("stream a string", "POST", CHAT, {"messages": HI, "stream": "yes"}, 400, "invalid_type"),
    ("stop a number", "POST", CHAT, {"messages": HI, "stop": 7}, 400, "invalid_type"),
    ("n = 2", "POST", CHAT, {"messages": HI, "n": 2}, 400, None),
    ("unknown context key", "POST", CHAT, {"messages": HI, "edge_moma": {"x": 1}}, 400, None),
    ("only a system message", "POST", "/v1/route", {"messages": [{"role": "system", "content": "x"}]}, 400, None),  # noqa: E501
    ("oversized body", "POST", "/v1/route", b'{"messages": "' + b"x" * 2_000_000 + b'"}', 413, "request_too_large"),  # noqa: E501
    ("feedback without id", "POST", "/v1/feedback", {"score": 1}, 400, "invalid_type"),
    ("feedback score out of range", "POST", "/v1/feedback", {"decision_id": "ab", "score": 3}, 400, None),  # noqa: E501
    ("feedback with neither", "POST", "/v1/feedback", {"decision_id": "ab"}, 400, None),
    ("feedback unknown field", "POST", "/v1/feedback", {"decision_id": "ab", "stars": 5}, 400, "unknown_parameter"),  # noqa: E501
    ("unknown path", "GET", "/v1/nothing", None, 404, "not_found"),
    ("wrong method", "GET", "/v1/route", None, 405, "method_not_allowed"),
    ("reload with a body", "POST", "/admin/reload", {"x": 1}, 400, "invalid_body"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [b[1:] for b in BAD],
    ids=[b[0] for b in BAD],
)
def test_bad_requests_get_openai_errors(
    http: httpx.Client, method: str, path: str, body: Any, status: int, code: str | None
) -> None:
    if isinstance(body, bytes):
        r = http.request(method, path, content=body, headers={"content-type": "application/json"})
    else:
        r = http.request(method, path, json=body)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"] and error["type"] == "invalid_request_error"
    if code is not None:
        assert error["code"] == code
    assert http.get("/healthz").status_code == 200


def test_an_oversized_body_is_refused_before_it_is_read(daemon: Daemon) -> None:
    """A body declared larger than the limit is answered without waiting for its bytes."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(10)
        s.connect(str(daemon.socket))
        s.sendall(
            b"POST /v1/route HTTP/1.1\r\nhost: d\r\ncontent-type: application/json\r\n"
            b"content-length: 50000000\r\n\r\n{"
        )
        head = s.recv(65536).decode()
    assert head.startswith("HTTP/1.1 413")


# --- clients ------------------------------------------------------------------------


def test_the_official_openai_sdk_works_unchanged(daemon: Daemon) -> None:
    import openai

    client = openai.OpenAI(
        base_url="http://edge-moma/v1",
        api_key="unused-on-a-unix-socket",
        http_client=httpx.Client(transport=httpx.HTTPTransport(uds=str(daemon.socket))),
    )
    with client:
        answer = client.chat.completions.create(
            model="auto", messages=[{"role": "user", "content": "what is 6*7"}]
        )
        assert answer.model == "calculator" and "42" in (answer.choices[0].message.content or "")
        assert answer.model_extra and answer.model_extra["edge_moma"]["decision_id"]
        pinned = client.chat.completions.create(
            model="smollm2-135m", messages=SAY_HI, max_tokens=3, temperature=0
        )
        assert pinned.choices[0].message.content and pinned.usage is not None
        pieces = [
            c.choices[0].delta.content or ""
            for c in client.chat.completions.create(
                model="smollm2-135m", messages=SAY_HI, max_tokens=4, stream=True
            )
            if c.choices
        ]
        assert "".join(pieces)
        assert "smollm2-135m" in [m.id for m in client.models.list()]
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(model="gpt-9", messages=SAY_HI)
        with pytest.raises(openai.BadRequestError) as info:
            client.chat.completions.create(model="auto", messages=SAY_HI, extra_body={"foo": 1})
        assert info.value.code == "unknown_parameter"


def test_edge_moma_client_sync(daemon: Daemon) -> None:
    with Client(daemon.socket) as client:
        assert client.health()["status"] == "ok"
        assert client.route("what is 5+5")["target"] == "calculator"
        offline = client.route("Write a haiku about rain.", context={"online": False})
        assert offline["context"]["online"] is False
        answer = client.chat("what is 8*8")
        assert "64" in answer["choices"][0]["message"]["content"]
        decision_id = answer["edge_moma"]["decision_id"]
        assert client.feedback(decision_id, correct=True)["correct"] is True
        text = "".join(client.stream(SAY_HI, model="smollm2-135m", max_tokens=4))
        assert text
        assert any(m["id"] == "auto" for m in client.models())
        assert "edge_moma_requests_total" in client.metrics()
        with pytest.raises(DaemonError) as info:
            client.chat("hi", model="gpt-9")
        assert info.value.status == 404 and info.value.code == "model_not_found"


def test_the_client_keeps_line_separators_inside_a_streamed_answer(daemon: Daemon) -> None:
    """The daemon writes U+2028 raw in its JSON; a reader splitting like ``str.splitlines``
    (httpx's ``iter_lines``) cut that event in two and failed on half a JSON object."""
    ask = [{"role": "user", "content": "add oat\u2028milk to my shopping list"}]

    async def pieces() -> str:
        async with AsyncClient(daemon.socket) as client:
            return "".join([p async for p in client.stream(ask, model="reminders")])

    with Client(daemon.socket) as client:
        text = "".join(client.stream(ask, model="reminders"))
    assert "oat\u2028milk" in text
    assert "oat\u2028milk" in asyncio.run(pieces())


def test_edge_moma_client_async(daemon: Daemon) -> None:
    async def main() -> tuple[list[dict[str, Any]], str]:
        async with AsyncClient(daemon.socket) as client:
            decisions = await asyncio.gather(*(client.route(f"what is {i}+{i}") for i in range(8)))
            pieces = [p async for p in client.stream(SAY_HI, model="smollm2-135m", max_tokens=3)]
            return list(decisions), "".join(pieces)

    decisions, text = asyncio.run(main())
    assert {d["target"] for d in decisions} == {"calculator"}
    assert len({d["id"] for d in decisions}) == 8
    assert text


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # as above
def test_a_client_without_a_daemon_says_how_to_start_one(tmp_path: Path) -> None:
    with pytest.raises(DaemonError) as info, Client(tmp_path / "none.sock") as client:
        client.health()
    assert "edge-moma serve" in str(info.value) and info.value.status == 0
    del info
    gc.collect()


# --- backpressure, secrets, shutdown ---------------------------------------------------

CLOUD = f"""
[[models]]
name = "cloud"
kind = "remote"
base_url = "http://127.0.0.1:9/v1"
model = "gpt-4o-mini"
api_key_env = "{KEY_ENV}"
connect_timeout_s = 1
max_retries = 0
"""


def test_a_full_local_queue_answers_429_and_keys_never_leak(tmp_path: Path) -> None:
    d = Daemon(tmp_path / "d", server="max_queue = 1", extra=CLOUD).start()
    try:
        body = {"model": "smollm2-135m", "messages": SAY_HI, "max_tokens": 24}
        results: list[httpx.Response] = []

        def ask() -> None:
            with d.http() as http:
                results.append(http.post("/v1/chat/completions", json=body))

        threads = [threading.Thread(target=ask) for _ in range(5)]
        for t in threads:
            t.start()
            time.sleep(0.05)
        for t in threads:
            t.join(120)
        statuses = sorted(r.status_code for r in results)
        assert statuses.count(200) >= 2 and 429 in statuses, statuses
        busy = next(r for r in results if r.status_code == 429)
        assert int(busy.headers["retry-after"]) >= 1
        assert busy.json()["error"]["code"] == "queue_full"
        with d.http() as http:
            # the busy requests fell back to the cloud, which failed (nothing listens) until
            # its circuit opened; pinned now, it is masked (a pin lifts no rule) and the local
            # model answers: the key stays secret throughout
            pinned = {**body, "model": "cloud", "edge_moma": {"online": True}}
            cloud = http.post("/v1/chat/completions", json=pinned)
            routed = http.post("/v1/route", json=pinned).json()
            models = http.get("/v1/models").text
            metrics = http.get("/metrics").text
        assert cloud.status_code == 200 and cloud.json()["model"] == "smollm2-135m"
        assert "cloud is masked by unavailable (circuit open" in routed["reason"]
        seen = [cloud.text, models, metrics, *(r.text for r in results)]
        assert all(KEY not in text for text in seen)
    finally:
        assert d.terminate() == 0, d.stderr()
    assert KEY not in d.stderr()
    assert KEY.encode() not in (d.data / "decisions.db").read_bytes()


def test_sigterm_finishes_requests_in_flight_and_loses_no_decision(tmp_path: Path) -> None:
    d = Daemon(tmp_path / "d", server="grace_s = 60").start()
    body = {"model": "smollm2-135m", "messages": SAY_HI, "max_tokens": 12}
    results: list[httpx.Response] = []

    def ask(payload: dict[str, Any]) -> None:
        with d.http() as http:
            results.append(http.post("/v1/chat/completions", json=payload))

    threads = [threading.Thread(target=ask, args=(body,)) for _ in range(3)]
    threads.append(threading.Thread(target=ask, args=({**body, "stream": True},)))
    for t in threads:
        t.start()
    d.wait_in_flight(4)  # the generations are really in flight
    assert d.proc is not None
    d.proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    assert not accepts(d.socket)  # no longer accepting
    for t in threads:
        t.join(120)
    assert d.proc.wait(60) == 0, d.stderr()
    assert sorted(r.status_code for r in results) == [200, 200, 200, 200], [r.text for r in results]
    assert not d.socket.exists() and not d.socket.with_name("d.sock.pid").exists()
    ids = [r.headers["x-edge-moma-decision-id"] for r in results]
    store = d.log()
    for decision_id in ids:
        row = store.show(decision_id)
        assert row["attempts"] and row["attempts"][0]["target"] == "smollm2-135m"
        assert row["attempts"][-1]["error"] is None


def test_systemd_socket_activation(tmp_path: Path) -> None:
    """As under edge-moma.socket: the daemon serves on the listening fd 3 it is handed
    (LISTEN_PID / LISTEN_FDS) and leaves that socket in place when it stops."""
    d = Daemon(tmp_path / "d")
    run_dir = tmp_path / "systemd-run"
    run_dir.mkdir(mode=0o700)
    path = run_dir / "edge-moma.sock"
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(path))
    listener.listen(16)
    cmd = ["sh", "-c", 'LISTEN_PID=$$ LISTEN_FDS=1 exec "$@"', "sh", *d.command()[:-2]]
    fd = listener.fileno()

    def as_fd_3() -> None:
        os.dup2(fd, 3)

    with open(d.stderr_path, "ab") as err:
        d.proc = subprocess.Popen(cmd, env=d.env, stderr=err, preexec_fn=as_fd_3, close_fds=False)
    listener.close()
    try:
        d.socket = path
        d.wait_ready()
        with Client(path) as client:
            assert client.route("what is 2+3")["target"] == "calculator"
        assert f"serving on {path}" in d.stderr()
    finally:
        assert d.terminate() == 0, d.stderr()
    assert path.exists()  # systemd's socket: not ours to remove


def test_sigterm_past_the_grace_period_cancels_and_still_logs(tmp_path: Path) -> None:
    """Generations still running when grace_s is up are cancelled between two tokens; the
    daemon exits promptly and their decisions (with the cut-short attempt) are in the log."""
    d = Daemon(tmp_path / "d", server="grace_s = 1").start()
    body = {"model": "smollm2-135m", "messages": SAY_HI, "max_tokens": 400, "temperature": 1.0}
    outcomes: list[object] = []

    def ask(payload: dict[str, Any]) -> None:
        try:
            with d.http() as http:
                outcomes.append(http.post("/v1/chat/completions", json=payload).status_code)
        except httpx.TransportError as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=ask, args=(p,)) for p in (body, {**body, "stream": True})]
    for t in threads:
        t.start()
    d.wait_in_flight(2)
    assert d.proc is not None
    t0 = time.monotonic()
    d.proc.send_signal(signal.SIGTERM)
    assert d.proc.wait(60) == 0, d.stderr()
    assert time.monotonic() - t0 < 20  # 400 tokens each would take far longer on this box
    for t in threads:
        t.join(60)
    assert len(outcomes) == 2
    stats = d.log().stats()
    assert stats["decisions"] == 2, stats
    rows = d.log().tail(2)
    assert all(r["attempts"] and r["attempts"][0]["target"] == "smollm2-135m" for r in rows)


def test_an_oversized_chunked_body_is_counted_and_refused(http: httpx.Client) -> None:
    """No Content-Length (chunked): the limit is enforced on the bytes as they arrive."""
    chunks = iter([b'{"messages": "'] + [b"x" * 300_000] * 5 + [b'"}'])
    r = http.post("/v1/route", content=chunks, headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"
    assert http.get("/healthz").status_code == 200


def test_a_reader_that_disconnects_mid_stream_stops_the_generation(daemon: Daemon) -> None:
    body = {"model": "smollm2-135m", "messages": SAY_HI, "max_tokens": 400, "stream": True}
    body["temperature"] = 1.0
    with daemon.http() as http:
        with http.stream("POST", "/v1/chat/completions", json=body) as r:
            decision_id = r.headers["x-edge-moma-decision-id"]
            for i, _ in enumerate(r.iter_lines()):
                if i >= 4:
                    break  # leave after a few pieces: the connection closes
        deadline = time.monotonic() + 3  # 400 tokens take far longer; one token does not
        while "edge_moma_generations_in_flight 0" not in http.get("/metrics").text:
            assert time.monotonic() < deadline, "the generation kept running"
            time.sleep(0.05)
    deadline = time.monotonic() + 10
    while True:
        try:
            row = daemon.log().show(decision_id)
            break
        except Exception:
            assert time.monotonic() < deadline, "the cut-short decision was not logged"
            time.sleep(0.2)
    attempt = row["attempts"][-1]
    assert attempt["target"] == "smollm2-135m" and attempt["completion_tokens"] < 400
