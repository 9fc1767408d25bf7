"""Backends by config kind, imported lazily so that routing never pays for them.

A registry, not an if/elif chain: a new kind of target is one entry here and
one module implementing ``backends.base.Backend``.
"""

from __future__ import annotations

import importlib
from typing import Any

from .base import Backend, BackendOptions, ChatRequest, Completion

__all__ = [
    "Backend",
    "BackendOptions",
    "ChatRequest",
    "Completion",
    "create_backend",
    "BACKEND_KINDS",
]

BACKEND_KINDS: dict[str, str] = {
    "local": "edge_moma.targets.backends.local:LocalBackend",
    "remote": "edge_moma.targets.backends.remote:RemoteBackend",
}


def create_backend(model: Any, options: BackendOptions | None = None) -> Backend:
    """The backend for one configured model, by its ``kind``; ``options`` are shared."""
    try:
        module_name, _, class_name = BACKEND_KINDS[model.kind].partition(":")
    except KeyError:
        from ...errors import TargetUnavailable

        raise TargetUnavailable(
            f"no backend for kind {model.kind!r}; known kinds: {sorted(BACKEND_KINDS)}",
            target=model.name,
        ) from None
    cls = getattr(importlib.import_module(module_name), class_name)
    backend: Backend = cls(model, options or BackendOptions())
    return backend
