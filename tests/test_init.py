"""The promised public surface, and nothing heavy at import time."""

from __future__ import annotations

import importlib
import importlib.metadata
import subprocess
import sys

import pytest

import edge_moma

PACKAGES = [
    "edge_moma",
    *(f"edge_moma.{p}" for p in ("routing", "targets", "log", "serve", "training", "agents")),
]


@pytest.mark.parametrize("package", PACKAGES)
def test_every_public_name_resolves(package: str) -> None:
    module = importlib.import_module(package)
    assert module.__all__
    for name in module.__all__:
        assert getattr(module, name) is not None
    with pytest.raises(AttributeError):
        module.NotAName  # noqa: B018


def test_the_version_is_the_installed_distribution_s() -> None:
    assert edge_moma.__version__ == importlib.metadata.version("edge-moma")


def test_import_loads_no_inference_engine_or_http_client() -> None:
    code = (
        "import sys, edge_moma, edge_moma.routing.features\n"
        "heavy = {'onnxruntime', 'llama_cpp', 'httpx', 'numpy'} & set(sys.modules)\n"
        "print(sorted(heavy - {'numpy'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_bundle_dirs_resolve_without_loading_the_config_or_a_model() -> None:
    code = (
        "import sys, edge_moma.bundle_dirs\n"
        "heavy = ('edge_moma.config', 'edge_moma.routing', 'edge_moma.training')\n"
        "print(sorted(m for m in sys.modules if m in {'numpy', 'onnxruntime', 'platformdirs'}\n"
        "             or m.startswith(heavy)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
