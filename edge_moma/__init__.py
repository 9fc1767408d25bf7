"""edge-moma: an offline-first, on-device router for LLMs and agents.

The promised surface is small; everything else is importable but may change::

    from edge_moma import Runtime
    with Runtime.from_config() as rt:
        print(rt.route("what's 15% of 80").target)

Names are imported on first use (PEP 562), so ``import edge_moma.routing.features`` in
a training script does not load ONNX Runtime or llama.cpp.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import Config, load_config
    from .context import RouteContext
    from .decision import Candidate, Decision, Understanding
    from .errors import EdgeMomaError
    from .runtime import Runtime
    from .targets.executor import Response, ResponseStream

_EXPORTS = {
    "Candidate": "decision",
    "Config": "config",
    "Decision": "decision",
    "EdgeMomaError": "errors",
    "Response": "targets.executor",
    "ResponseStream": "targets.executor",
    "RouteContext": "context",
    "Runtime": "runtime",
    "Understanding": "decision",
    "load_config": "config",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'edge_moma' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)
