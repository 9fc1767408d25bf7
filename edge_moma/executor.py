"""Deprecated alias of ``edge_moma.targets.executor``; its errors are in ``edge_moma.errors``."""

from __future__ import annotations

from ._lazy import moved
from .attempt import Attempt
from .errors import AllTargetsFailed, StreamInterrupted
from .targets.executor import Response, ResponseStream, execute

moved("edge_moma.executor", "edge_moma.targets.executor (errors: edge_moma.errors)")

__all__ = [
    "AllTargetsFailed",
    "Attempt",
    "Response",
    "ResponseStream",
    "StreamInterrupted",
    "execute",
]
