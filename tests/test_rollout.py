"""Router rollout: install verifies and swaps atomically, rollback restores, crashes are safe."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rollout_samples import as_old_export, derive

from edge_moma.bundle_dirs import active_bundle_dir, bundle_dir, read_state, shipped_bundle_dir
from edge_moma.config import load_config
from edge_moma.errors import BundleError
from edge_moma.routing.bundle import read_card, verify_bundle
from edge_moma.runtime import Runtime
from edge_moma.training.rollout import install, list_versions, rollback


@pytest.fixture
def versions(tiny_intent: Path, tmp_path: Path) -> tuple[Path, Path]:
    v1 = derive(tiny_intent, tmp_path / "v1", version="intent-v1")
    v2 = derive(tiny_intent, tmp_path / "v2", version="intent-v2")
    return v1, v2


def test_install_then_rollback_to_previous_and_shipped(
    versions: tuple[Path, Path], tmp_path: Path, write_config
) -> None:
    data = tmp_path / "data"
    v1, v2 = versions
    assert active_bundle_dir(data, "intent") is None
    install(data, v1)
    assert read_card(active_bundle_dir(data, "intent"))["version"] == "intent-v1"  # type: ignore[arg-type]
    install(data, v2)
    active = active_bundle_dir(data, "intent")
    assert active is not None and verify_bundle(active)["version"] == "intent-v2"
    config = load_config(write_config(f'[runtime]\ndata_dir = "{data}"\n'))
    assert bundle_dir(config, "intent") == active
    rows = list_versions(data, {"intent": v1})
    assert [(r["version"], r["source"], r["active"]) for r in rows] == [
        ("intent-v1", "shipped", False),
        ("intent-v1", "installed", False),
        ("intent-v2", "installed", True),
    ]
    rollback(data)
    assert active_bundle_dir(data, "intent") == data / "routers" / "intent" / "intent-v1"
    rollback(data)
    assert active_bundle_dir(data, "intent") is None  # back to the shipped bundle
    with pytest.raises(BundleError, match="nothing to roll back"):
        rollback(data)


def test_corrupted_bundle_is_refused_and_nothing_changes(
    versions: tuple[Path, Path], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    v1, v2 = versions
    install(data, v1)
    before = read_state(data)
    model = v2 / "intent.int8.onnx"
    blob = bytearray(model.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    model.write_bytes(bytes(blob))
    with pytest.raises(BundleError, match="sha256"):
        install(data, v2)
    assert read_state(data) == before
    assert not (data / "routers" / "intent" / "intent-v2").exists()


def test_incompatible_bundles_are_refused(tiny_intent: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    card = read_card(tiny_intent)
    old_featurizer = {**card["featurizer"], "version": card["featurizer"]["version"] - 1}
    with pytest.raises(BundleError, match="featurizer version"):
        install(data, derive(tiny_intent, tmp_path / "oldfeat", featurizer=old_featurizer))
    install(data, derive(tiny_intent, tmp_path / "v1", version="intent-v1"))
    fewer = derive(tiny_intent, tmp_path / "fewer", version="intent-v3", labels=card["labels"][1:])
    with pytest.raises(BundleError, match="lacks labels the current router has"):
        install(data, fewer)
    with pytest.raises(BundleError, match="lacks labels this device's config uses"):
        install(data, fewer, required_labels={"intent": ["timer", card["labels"][0]]})
    assert install(data, fewer, required_labels={"intent": ["timer"]})["active"] == {
        "intent": "intent-v3"
    }
    with pytest.raises(BundleError, match="neither a router release"):
        install(data, tmp_path)
    same_name = derive(tiny_intent, tmp_path / "again", version="intent-v1", note="different")
    with pytest.raises(BundleError, match="already installed with different files"):
        install(data, same_name)


def test_a_bundle_this_version_cannot_run_is_refused_at_install(
    tiny_intent: Path, tmp_path: Path
) -> None:
    old = as_old_export(derive(tiny_intent, tmp_path / "old", version="intent-old"))
    with pytest.raises(BundleError, match=r"takes \['indices'\].*older edge-moma"):
        install(tmp_path / "data", old)
    assert active_bundle_dir(tmp_path / "data", "intent") is None


def test_an_installed_router_from_an_older_version_gives_way_to_the_shipped_one(
    tiny_intent: Path, tmp_path: Path, write_config, caplog: pytest.LogCaptureFixture
) -> None:
    """An upgrade must not stop routing; a bundle named in [router] still fails loudly."""
    data = tmp_path / "data"
    install(data, derive(tiny_intent, tmp_path / "v1", version="intent-v1"))
    installed = active_bundle_dir(data, "intent")
    assert installed is not None
    as_old_export(installed)  # as if installed by the previous edge-moma
    with Runtime.from_config(write_config(f'[runtime]\ndata_dir = "{data}"\n')) as rt:
        assert rt.router.intent.version == read_card(shipped_bundle_dir("intent"))["version"]
        assert rt.route("set a timer for 5 minutes").understanding is not None
    assert "installed intent router cannot be used" in caplog.text
    explicit = write_config(f'[router]\nintent_model = "{installed}"\n', name="explicit.toml")
    with pytest.raises(BundleError, match="older edge-moma"):
        Runtime.from_config(explicit)


def test_crash_mid_install_leaves_a_working_router(
    versions: tuple[Path, Path], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    v1, v2 = versions
    install(data, v1)
    script = (
        "import sys; from edge_moma.training.rollout import install; "
        f"install({str(data)!r}, {str(v2)!r}); print('done')"
    )
    outcomes = set()
    for delay in (0.05, 0.2, 0.4, 0.7, 1.0):
        with subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE) as proc:
            time.sleep(delay)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        active = active_bundle_dir(data, "intent")
        assert active is not None
        version = verify_bundle(active, "intent")["version"]  # a complete, verified bundle
        outcomes.add(version)
        if version == "intent-v2":
            rollback(data)
    assert outcomes <= {"intent-v1", "intent-v2"}
    install(data, v2)  # a later install succeeds and cleans up partial copies
    assert verify_bundle(active_bundle_dir(data, "intent"))["version"] == "intent-v2"  # type: ignore[arg-type]
    assert not [p for p in (data / "routers" / "intent").iterdir() if p.name.startswith(".")]
