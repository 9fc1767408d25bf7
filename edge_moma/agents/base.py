"""The agent protocol: one turn of a dialog in, one ``AgentReply`` out.

An agent is the smallest useful thing: ``handle(turn) -> AgentReply``. The
runtime wraps it in ``AgentBackend`` so that the executor sees one more
``Backend`` (``complete(ChatRequest) -> Completion``) and never learns which
kind of target it talks to; the reply's state, slots and data travel in
``Completion.extra``.

Example::

    class Echo:
        name = "echo"

        def handle(self, turn: AgentTurn) -> AgentReply:
            return AgentReply(reply=turn.text, state="done")
"""

from __future__ import annotations

import time
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from ..errors import TargetError
from ..messages import query_text
from ..targets.backends.base import ChatRequest, Completion

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


class AgentBackend:
    """An agent bound to one turn, seen by the executor as a ``Backend``."""

    def __init__(self, agent: Agent, turn: AgentTurn, *, cost_usd: float = 0.0):
        self.name = agent.name
        self._agent = agent
        self._turn = turn
        self._cost_usd = cost_usd

    def complete(self, request: ChatRequest) -> Completion:
        start = time.perf_counter()
        turn = self._turn
        if request.messages != turn.messages:
            turn = AgentTurn(turn.session_id, request.messages, turn.intent, turn.slots)
        reply = self._agent.handle(turn)
        if not isinstance(reply, AgentReply) or reply.state not in AGENT_STATES:
            raise TargetError(
                f"answered {reply!r}; an agent must return an AgentReply with state "
                f"in {list(AGENT_STATES)}",
                target=self.name,
            )
        return Completion(
            text=reply.reply,
            target=self.name,
            cost_usd=self._cost_usd,
            latency_s=time.perf_counter() - start,
            extra={
                "agent": self.name,
                "intent": turn.intent,
                "state": reply.state,
                "slots": dict(reply.slots),
                "data": dict(reply.data),
            },
        )

    def stream(self, request: ChatRequest) -> Generator[str, None, Completion]:
        completion = self.complete(request)
        yield completion.text
        return completion

    def close(self) -> None:
        """Nothing to free: the agent outlives the turn."""
