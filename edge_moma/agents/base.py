"""The agent protocol: one turn of a dialog in, one ``AgentReply`` out.

An agent is the smallest useful thing: ``handle(turn) -> AgentReply``. The
runtime wraps it in ``targets.agents.backend.AgentBackend`` so that the
executor sees one more ``Backend`` and never learns which kind of target it
talks to; the reply's state, slots and data travel in ``Completion.extra``.
This module is the plug-in API: values and a protocol, nothing else to import.

Example::

    class Echo:
        name = "echo"

        def handle(self, turn: AgentTurn) -> AgentReply:
            return AgentReply(reply=turn.text, state="done")
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from ..messages import query_text

AgentState = Literal["done", "need_input"]
AGENT_STATES: tuple[str, ...] = ("done", "need_input")
CANCEL_INTENT = "cancel"


@dataclass(frozen=True)
class AgentTurn:
    """What an agent sees of one turn.

    ``intent`` is the intent the stage routed on (``"cancel"`` when the user
    called the dialog off); ``slots`` are what the agent returned last turn in
    this session (empty at the start of a dialog).
    """

    session_id: str
    messages: tuple[dict[str, str], ...]
    intent: str
    slots: Mapping[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The last user message: the text the agent answers."""
        return query_text(self.messages)


@dataclass(frozen=True)
class AgentReply:
    """An agent's answer in plain text, whether it needs more input, and structured data.

    ``slots`` are kept by the session and handed back on the next turn (pending
    values while ``state == "need_input"``, context for follow-ups after
    ``"done"``); ``data`` is the structured result for apps.
    """

    reply: str
    state: AgentState = "done"
    slots: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)


class Agent(Protocol):
    """Anything with a name that answers a turn."""

    name: str

    def handle(self, turn: AgentTurn) -> AgentReply:
        """Answer one turn; raise ``TargetError`` if the agent itself failed."""
        ...


def cancelled(agent: str) -> AgentReply:
    """The reply every built-in agent gives when the user calls a dialog off."""
    return AgentReply(reply="Okay, cancelled.", state="done", data={"cancelled": True})
