"""The loopback "cloud": llama-cpp-python's OpenAI-compatible server on a free port."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from http_servers import LlamaServer


@pytest.fixture(scope="session")
def cloud(smollm_path: Path) -> Iterator[LlamaServer]:
    """One server for the whole session, serving the SmolLM2 GGUF; stopped after."""
    server = LlamaServer(smollm_path).start()
    yield server
    server.stop()


@pytest.fixture
def doomed_cloud(smollm_path: Path) -> Iterator[LlamaServer]:
    """A server of its own for a test that kills it."""
    server = LlamaServer(smollm_path).start()
    yield server
    server.stop()
