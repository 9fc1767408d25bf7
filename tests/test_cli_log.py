"""The log, feedback, sync and model commands, each with --json, on a real log and bundle."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from log_samples import make_record
from rollout_samples import derive

from edge_moma.cli import main
from edge_moma.log.writer import DecisionLog, LogSettings


@pytest.fixture
def setup(tmp_path: Path, write_config, isolated_dirs: Path) -> tuple[str, list[str]]:
    data = tmp_path / "data"
    config = write_config(f'[runtime]\ndata_dir = "{data}"\ndevice_id = "dev-cli"\n')
    log = DecisionLog(LogSettings(data / "decisions.db", "dev-cli"))
    records = [make_record(i, attempts=i == 1) for i in range(4)]
    for r in records:
        log(r)
    log.close()
    return str(config), [r.decision.id for r in records]


def run(*args: str) -> dict | list:
    result = CliRunner().invoke(main, [*args, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_log_commands_and_feedback(setup: tuple[str, list[str]], tmp_path: Path) -> None:
    config, ids = setup
    stats = run("log", "stats", "--config", config)
    assert stats["decisions"] == 4 and stats["unsynced"] == 4 and stats["failed_attempts"] == 1
    tail = run("log", "tail", "-n", "2", "--config", config)
    assert [r["id"] for r in tail] == ids[2:]
    shown = run("log", "show", ids[1][:10], "--config", config)
    assert shown["id"] == ids[1] and shown["attempts"][1]["error"] == "offline"
    fb = run("feedback", ids[1][:10], "--score", "0.9", "--config", config)
    assert fb == {"decision_id": ids[1], "score": 0.9, "correct": None}
    assert run("log", "show", ids[1], "--config", config)["feedback"][0]["score"] == 0.9
    out = tmp_path / "all.jsonl"
    assert run("log", "export", "--out", str(out), "--config", config)["decisions"] == 4
    assert len(out.read_text().splitlines()) == 4


def test_feedback_errors_are_clear(setup: tuple[str, list[str]]) -> None:
    config, _ = setup
    result = CliRunner().invoke(main, ["feedback", "nope", "--score", "1", "--config", config])
    assert result.exit_code == 2 and "'nope' is not a decision id" in result.output
    result = CliRunner().invoke(main, ["feedback", "0" * 32, "--score", "1", "--config", config])
    assert result.exit_code == 2 and f"no logged decision with id '{'0' * 32}'" in result.output
    result = CliRunner().invoke(main, ["feedback", "", "--score", "1", "--config", config])
    assert result.exit_code == 2 and "feedback needs a decision id" in result.output
    result = CliRunner().invoke(main, ["feedback", "nope", "--score", "7", "--config", config])
    assert result.exit_code == 2 and "0<=x<=1" in result.output


def test_sync_export_is_idempotent(setup: tuple[str, list[str]], tmp_path: Path) -> None:
    config, ids = setup
    out = str(tmp_path / "outbox")
    first = run("sync", "export", "--out", out, "--config", config)
    assert first["batches"][0]["files"]["decisions"]["rows"] == 4
    assert first["batches"][0]["device_id"] == "dev-cli"
    assert run("sync", "export", "--out", out, "--config", config)["batches"] == []
    assert run("log", "stats", "--config", config)["unsynced"] == 0


def test_model_install_list_rollback(
    setup: tuple[str, list[str]], tiny_intent: Path, tmp_path: Path
) -> None:
    config, _ = setup
    result = CliRunner().invoke(main, ["model", "rollback", "--config", config])
    assert result.exit_code == 2 and "nothing to roll back" in result.output
    bundle = derive(tiny_intent, tmp_path / "b", version="intent-cli-1")
    state = run("model", "install", str(bundle), "--config", config)
    assert state["active"] == {"intent": "intent-cli-1"}
    installed = [r for r in run("model", "list", "--config", config) if r["source"] == "installed"]
    assert [(r["version"], r["active"]) for r in installed] == [("intent-cli-1", True)]
    assert run("model", "rollback", "--config", config)["active"] == {}
    (bundle / "card.json").write_text("{ not json")
    result = CliRunner().invoke(main, ["model", "install", str(bundle), "--config", config])
    assert result.exit_code == 2 and "unreadable model card" in result.output
