"""``Session``: who owns a conversation right now (the dialog state the agent stage reads).

A value: ``targets/sessions.py`` keeps one per session id (in memory, optionally
in SQLite) and moves it through its state machine; routing only reads it.

::

    idle ──agent answers need_input──> agent_active(agent, pending slots)
      ^                                   │
      └── agent done / user cancels / confident subject change / agent down / expiry
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

SessionStateName = Literal["idle", "agent_active"]


@dataclass(frozen=True)
class Session:
    """One session's dialog state; ``agent``/``slots`` are set while ``agent_active``."""

    id: str
    state: SessionStateName = "idle"
    agent: str | None = None
    intent: str | None = None
    slots: Mapping[str, Any] = field(default_factory=dict)
    updated: float = 0.0
    last_agent: str | None = None  # the agent that finished last, for follow-ups
    last_slots: Mapping[str, Any] = field(default_factory=dict)
    last_done: float = 0.0
    ended: str = ""  # why the last dialog ended: done, cancel, subject_change, agent_down...

    @property
    def active(self) -> bool:
        return self.state == "agent_active"

    def follow_up_agent(self, now: float, follow_up_s: float) -> str | None:
        """The agent a follow-up may return to: the active one, or the one that finished
        within ``follow_up_s`` of ``now``."""
        if self.active:
            return self.agent
        if self.last_agent and now - self.last_done <= follow_up_s:
            return self.last_agent
        return None
