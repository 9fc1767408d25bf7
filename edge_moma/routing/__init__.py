"""The request path, pure: checked requests and a snapshot of the world in, decisions out.

``router.Router`` composes the rest: ``features`` (hashed n-grams, the C
extension), ``bundle`` (loading and verifying router bundles), ``intent`` and
``quality`` (the two ONNX models), ``privacy`` (rules), ``constraints`` (the one
Situation and the masks both stages run), ``utility`` (the one ranking rule),
``policy`` (the LLM stage), ``exploration`` (its propensities and draws) and
``agent_stage``. No module here does I/O on the
routing path, starts a thread or imports a backend.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy

if TYPE_CHECKING:
    from .router import Environment, Router, RouteRequest

_EXPORTS = {"Environment": ".router", "RouteRequest": ".router", "Router": ".router"}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy(__name__, _EXPORTS)
