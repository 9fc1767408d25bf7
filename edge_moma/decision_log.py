"""Deprecated alias of ``edge_moma.log.writer`` (``from edge_moma.log import exit_on_sigterm``)."""

from __future__ import annotations

from ._lazy import moved
from .log.writer import LOG_FILE, DecisionLog, LogSettings, device_id, exit_on_sigterm

moved("edge_moma.decision_log", "edge_moma.log.writer")

__all__ = ["LOG_FILE", "DecisionLog", "LogSettings", "device_id", "exit_on_sigterm"]
