"""Optional extras: a clear error, not an ImportError traceback, when one is missing.

Training needs ``onnx`` (extra ``train``), the routing benchmark scikit-learn and
matplotlib (extra ``bench``); the runtime itself needs none of them.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import MissingDependency


def require(module: str, extra: str) -> ModuleType:
    """Import ``module`` or say which extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependency(
            f"this needs the {module!r} package; install it with: pip install 'edge-moma[{extra}]'"
        ) from exc
