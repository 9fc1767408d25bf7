"""Public names of a package, imported on first use (PEP 562).

A package's ``__init__`` lists its public names and the module each lives in;
importing the package then costs nothing (``import edge_moma.targets`` does not
load llama.cpp, ``import edge_moma`` does not load ONNX Runtime), and the
first ``edge_moma.targets.Targets`` imports what it needs.

Example (in a package's ``__init__.py``)::

    __getattr__ = lazy(__name__, {"Router": ".router"})
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy(package: str, exports: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports ``exports[name]`` (relative to ``package``)."""

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(module, package), name)

    return __getattr__


def moved(old: str, new: str) -> None:
    """Warn that module ``old`` is an alias of ``new`` kept for one release (at its import)."""
    import warnings

    warnings.warn(
        f"{old} moved to {new}; import it from there (the old path will be removed)",
        DeprecationWarning,
        stacklevel=3,
    )
