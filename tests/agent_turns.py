"""Helpers to build agent turns in tests."""

from __future__ import annotations

from typing import Any

from edge_moma.agents.base import AgentTurn


def turn(text: str, intent: str = "", slots: dict[str, Any] | None = None) -> AgentTurn:
    return AgentTurn("test", ({"role": "user", "content": text},), intent, slots or {})
