from __future__ import annotations

import importlib
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from agent_turns import turn

from edge_moma.config import AgentConfig
from edge_moma.errors import TargetError, TargetUnavailable
from edge_moma.targets.agents import AgentRegistry
from edge_moma.targets.agents.plugins import available


@pytest.fixture
def plugin_path(tmp_path: Path) -> Iterator[Path]:
    """A real installed distribution (module + dist-info with entry points) on sys.path."""
    (tmp_path / "echo_agent.py").write_text(
        textwrap.dedent(
            """
            from edge_moma.agents.base import AgentReply

            def echo(turn):
                data = {"i": turn.intent}
                return AgentReply(reply="echo: " + turn.text, slots={"n": 1}, data=data)

            def shout(turn):
                return turn.text.upper()

            def broken(turn):
                raise RuntimeError("boom")

            def echo_claim(text):
                return 1.0 if text.startswith("echo ") else 0.0
            """
        )
    )
    info = tmp_path / "echo_agent-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: echo-agent\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[edge_moma.agents]\necho = echo_agent:echo\nshout = echo_agent:shout\n"
        "broken = echo_agent:broken\nmissing = echo_agent:nope\n"
        "[edge_moma.claims]\necho = echo_agent:echo_claim\nbroken = echo_agent:nope\n"
    )
    sys.path.insert(0, str(tmp_path))
    importlib.invalidate_caches()
    yield tmp_path
    sys.path.remove(str(tmp_path))
    sys.modules.pop("echo_agent", None)


def registry(tmp_path: Path, **entries: str) -> AgentRegistry:
    configs = [AgentConfig(name=n, kind="python", entry_point=ep) for n, ep in entries.items()]
    return AgentRegistry(configs, data_dir=tmp_path)


def test_entry_point_agents_answer(plugin_path: Path) -> None:
    assert available()["echo"] == "echo_agent:echo"
    reg = registry(plugin_path, echo="echo", loud="shout")
    reply = reg.agent("echo").handle(turn("hello", "greeting"))
    assert (reply.reply, reply.slots, reply.data) == ("echo: hello", {"n": 1}, {"i": "greeting"})
    assert reg.agent("loud").handle(turn("hello")).reply == "HELLO"


def test_plugin_failures_are_target_errors(plugin_path: Path) -> None:
    reg = registry(plugin_path, broken="broken", missing="missing", absent="not-installed")
    with pytest.raises(TargetError, match="boom"):
        reg.agent("broken").handle(turn("hi"))
    with pytest.raises(TargetUnavailable, match="cannot load plug-in"):
        reg.agent("missing")
    with pytest.raises(TargetUnavailable, match="no entry point 'not-installed'.*installed"):
        reg.agent("absent")


def test_a_plugin_may_declare_a_claim(plugin_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    claims = registry(plugin_path, echo="echo", loud="shout", broken="broken").claims()
    assert sorted(claims) == ["echo"]  # shout declares none; broken's cannot be loaded
    assert (claims["echo"]("echo hi"), claims["echo"]("hi")) == (1.0, 0.0)
    assert "cannot load claim 'echo_agent:nope'" in caplog.text
