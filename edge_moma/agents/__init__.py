"""The agent plug-in API: what a Python or built-in agent implements (``base``).

The built-in agents and the registry that creates agents live in
``edge_moma.targets.agents``; this package is the small, stable surface a
plug-in author imports::

    from edge_moma.agents.base import AgentReply, AgentTurn
"""

from __future__ import annotations

from .base import Agent, AgentReply, AgentTurn

__all__ = ["Agent", "AgentReply", "AgentTurn"]
