"""Who answers: models and agents, and ``Targets``, which answers a decision with fallback.

``answering.Targets`` composes the rest: ``kinds`` (the registry of model kinds:
config class + backend), ``backends`` (the ``Backend`` protocol, llama.cpp,
OpenAI-compatible HTTP, the memory-budgeted pool), ``agents`` (the built-in,
HTTP and plug-in agents), ``sessions`` (dialog state), ``executor`` (fallback
down a decision's ranking), ``breaker`` and ``speed_meter``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy

if TYPE_CHECKING:
    from .answering import Targets
    from .kinds import ModelKind, register

_EXPORTS = {"ModelKind": ".kinds", "Targets": ".answering", "register": ".kinds"}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy(__name__, _EXPORTS)
