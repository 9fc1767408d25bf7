"""An agent bound to one turn, seen by the executor as one more ``Backend``."""

from __future__ import annotations

import time
from collections.abc import Generator

from ...agents.base import AGENT_STATES, Agent, AgentReply, AgentTurn
from ...errors import TargetError
from ..backends.base import ChatRequest, Completion


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
