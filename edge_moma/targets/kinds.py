"""The registry of model kinds: ``kind`` in a ``[[models]]`` table -> config dataclass + backend.

A kind of model target is three things: a frozen config dataclass (the
table's keys, validated by the config loader, with ``traits()`` telling
routing where it runs and what it costs), a backend class implementing
``backends.base.Backend``, and one ``ModelKind`` entry here. Nothing else in
edge-moma names a kind: routing reads traits, execution creates backends
through ``create_backend``, ``edge-moma doctor`` lists whatever is configured.

Example (a kind of your own, before loading a config that uses it)::

    register(ModelKind("echo", EchoModel, "my_pkg.echo:EchoBackend"))
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from ..config import LocalModel, ModelConfig, RemoteModel
from ..errors import TargetUnavailable
from .backends.base import Backend, BackendOptions


@dataclass(frozen=True)
class ModelKind:
    """One kind of model: its config dataclass and its backend (``module:Class``, imported
    when the first request needs it, so routing never pays for it)."""

    name: str
    config: type
    backend: str


_KINDS: dict[str, ModelKind] = {}


def register(kind: ModelKind) -> None:
    """Make ``kind.name`` a valid ``kind`` of ``[[models]]`` tables."""
    _KINDS[kind.name] = kind


def unregister(name: str) -> None:
    """Forget a registered kind (tests; a config that uses it no longer loads)."""
    _KINDS.pop(name, None)


def model_kind(name: str) -> ModelKind | None:
    return _KINDS.get(name)


def model_kinds() -> tuple[str, ...]:
    return tuple(_KINDS)


def create_backend(model: ModelConfig, options: BackendOptions | None = None) -> Backend:
    """The backend for one configured model, by its ``kind``; ``options`` are shared."""
    kind = _KINDS.get(model.kind)
    if kind is None:
        raise TargetUnavailable(
            f"no backend for kind {model.kind!r}; known kinds: {sorted(_KINDS)}",
            target=model.name,
        )
    module_name, _, class_name = kind.backend.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    backend: Backend = cls(model, options or BackendOptions())
    return backend


register(ModelKind("local", LocalModel, "edge_moma.targets.backends.local:LocalBackend"))
register(ModelKind("remote", RemoteModel, "edge_moma.targets.backends.remote:RemoteBackend"))
