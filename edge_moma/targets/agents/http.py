"""Remote agents over HTTP: one JSON turn in, one JSON reply out.

The protocol, small enough to implement in any language in an afternoon::

    POST <url>   {"session_id": "...", "messages": [{"role": "user", "content": "..."}],
                  "intent": "book_flight", "slots": {...}}
    200          {"reply": "Where to?", "state": "need_input", "slots": {"from": "SFO"},
                  "data": {...}}                       # "data" is optional

``state`` is ``"done"`` or ``"need_input"``; ``slots`` come back on the next
turn of the same session. Failures are handled as for remote LLMs: a refused
connection, a timeout, a non-2xx status or a malformed body is a
``TargetError``: the executor falls back to LLM routing and the circuit
breaker masks the agent after ``[runtime] circuit_failures`` failures in a row.
"""

from __future__ import annotations

from typing import Any

import httpx

from ...agents.base import AGENT_STATES, AgentReply, AgentTurn
from ...config import AgentConfig
from ...errors import TargetError


class HttpAgent:
    """An agent behind an HTTP endpoint (a remote target: masked offline and for sensitive text)."""

    def __init__(self, config: AgentConfig, **_: Any):
        self.name = config.name
        self.url = config.url
        self._client = httpx.Client(
            timeout=httpx.Timeout(config.timeout_s, connect=min(config.timeout_s, 3.0)),
            follow_redirects=False,
        )

    def handle(self, turn: AgentTurn) -> AgentReply:
        body = {
            "session_id": turn.session_id,
            "messages": list(turn.messages),
            "intent": turn.intent,
            "slots": dict(turn.slots),
        }
        try:
            resp = self._client.post(self.url, json=body)
        except httpx.ConnectError as exc:  # transient: the circuit breaker decides when to mask
            why = f"cannot connect to {self.url}: {exc}"
            raise TargetError(why, target=self.name) from exc
        except httpx.TimeoutException as exc:
            raise TargetError(
                f"no answer from {self.url} in time: {exc!r}", target=self.name
            ) from exc
        except httpx.HTTPError as exc:
            raise TargetError(f"request to {self.url} failed: {exc}", target=self.name) from exc
        if resp.status_code != 200:
            raise TargetError(
                f"{self.url} answered HTTP {resp.status_code}: {resp.text[:200]}", target=self.name
            )
        try:
            obj = resp.json()
        except ValueError:
            obj = None
        return parse_reply(obj, self.name)

    def close(self) -> None:
        self._client.close()


def parse_reply(obj: Any, name: str) -> AgentReply:
    """Validate a remote agent's JSON reply; ``TargetError`` says what is wrong."""
    expected = 'expected {"reply": str, "state": "done" | "need_input", "slots": {...}}'
    if not isinstance(obj, dict):
        raise TargetError(f"answered something that is not a JSON object; {expected}", target=name)
    reply, state = obj.get("reply"), obj.get("state", "done")
    slots, data = obj.get("slots", {}), obj.get("data", {})
    if not isinstance(reply, str):
        raise TargetError(f"answered without a string 'reply'; {expected}", target=name)
    if state not in AGENT_STATES:
        raise TargetError(f"answered state {state!r}; {expected}", target=name)
    if not isinstance(slots, dict) or not isinstance(data, dict):
        raise TargetError(
            f"answered 'slots' or 'data' that is not an object; {expected}", target=name
        )
    return AgentReply(reply=reply, state=state, slots=slots, data=data)
