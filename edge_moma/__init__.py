"""edge-moma: an offline-first, on-device router for LLMs and agents.

The promised surface is small; everything else is importable but may change::

    from edge_moma import Runtime
    with Runtime.from_config() as rt:
        print(rt.route("what's 15% of 80").target)

Names are imported on first use (PEP 562), so ``import edge_moma.routing.features``
in a training script does not load ONNX Runtime or llama.cpp. The layers and
where each part lives are described in ARCHITECTURE.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .config import Config, load_config
    from .context import RouteContext
    from .decision import Candidate, Decision, DecisionContext, Understanding
    from .errors import EdgeMomaError
    from .messages import GenerationOptions
    from .runtime import Runtime
    from .targets.executor import Response, ResponseStream

_EXPORTS = {
    "Candidate": ".decision",
    "Config": ".config",
    "Decision": ".decision",
    "DecisionContext": ".decision",
    "EdgeMomaError": ".errors",
    "GenerationOptions": ".messages",
    "Response": ".targets.executor",
    "ResponseStream": ".targets.executor",
    "RouteContext": ".context",
    "Runtime": ".runtime",
    "Understanding": ".decision",
    "load_config": ".config",
}

__all__ = sorted(_EXPORTS)
__getattr__ = lazy(__name__, _EXPORTS)
