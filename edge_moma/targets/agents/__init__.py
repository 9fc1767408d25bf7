"""Agents by config kind, built lazily: a registry, not an if/elif chain.

``builtin`` agents are named in ``BUILTIN_AGENTS`` (the ``[[agents]]`` entry's
``name``, or its ``entry_point`` to run a built-in under another name);
``http`` and ``python`` agents are ``http.HttpAgent`` and
``plugins.PluginAgent``. An agent is created on its first turn, so routing
never pays for an import, a database or an HTTP pool.
"""

from __future__ import annotations

import contextlib
import importlib
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...agents.base import Agent, AgentReply, AgentTurn
from ...errors import ConfigError, TargetUnavailable
from .backend import AgentBackend

if TYPE_CHECKING:
    from ...config import AgentConfig

__all__ = ["Agent", "AgentBackend", "AgentRegistry", "AgentReply", "AgentTurn", "BUILTIN_AGENTS"]

BUILTIN_AGENTS: dict[str, str] = {
    "calculator": "edge_moma.targets.agents.calculator:CalculatorAgent",
    "units": "edge_moma.targets.agents.units:UnitsAgent",
    "clock": "edge_moma.targets.agents.clock:ClockAgent",
    "reminders": "edge_moma.targets.agents.reminders:RemindersAgent",
}
AGENT_KINDS: dict[str, str] = {
    "http": "edge_moma.targets.agents.http:HttpAgent",
    "python": "edge_moma.targets.agents.plugins:PluginAgent",
}


def _load(spec: str) -> Any:
    module_name, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module_name), attr)


# A request that reaches every built-in agent's parser, places included.
_WARM_UP = "what's 2 plus 2 in c to f, the time in paris, and add milk to my list"


class AgentRegistry:
    """The configured agents, created on first use and closed with the runtime."""

    def __init__(self, agents: Sequence[AgentConfig], *, data_dir: str | Path, source: str = ""):
        self.configs = {a.name: a for a in agents}
        self.data_dir = Path(data_dir)
        for i, a in enumerate(agents):
            if a.kind == "builtin" and (a.entry_point or a.name) not in BUILTIN_AGENTS:
                key = "entry_point" if a.entry_point else "name"
                raise ConfigError(
                    f"found builtin agent {a.entry_point or a.name!r}, expected one of "
                    f"{sorted(BUILTIN_AGENTS)}",
                    path=source or None,
                    key_path=f"agents[{i}].{key}",
                )
        self._agents: dict[str, Agent] = {}
        self._lock = threading.Lock()

    def __contains__(self, name: object) -> bool:
        return name in self.configs

    def agent(self, name: str) -> Agent:
        """The agent ``name``, created on first use; ``TargetUnavailable`` if it cannot be."""
        with self._lock:
            agent = self._agents.get(name)
            if agent is None:
                config = self.configs.get(name)
                if config is None:
                    raise TargetUnavailable("not a configured agent", target=name)
                if config.kind == "builtin":
                    cls = _load(BUILTIN_AGENTS[config.entry_point or config.name])
                    agent = cls(name=config.name, data_dir=self.data_dir)
                else:
                    agent = _load(AGENT_KINDS[config.kind])(config, data_dir=self.data_dir)
                self._agents[name] = agent
            return agent

    def claims(self) -> dict[str, Callable[[str], float]]:
        """Each agent's claim function, for the agent stage's claim rule (``agent_stage``):
        a built-in agent's ``claim``, a Python plug-in's from the ``edge_moma.claims`` entry
        points (``plugins.load_claim``); HTTP agents have none. Loaded at start-up and asked
        once there, so that tables they build on first use (the clock's places) are ready
        before the first turn: routing asks them on every turn."""
        out: dict[str, Callable[[str], float]] = {}
        for name, config in self.configs.items():
            claim: Callable[[str], float] | None = None
            if config.kind == "builtin":
                claim = getattr(_load(BUILTIN_AGENTS[config.entry_point or name]), "claim", None)
            elif config.kind == "python":
                from .plugins import load_claim  # only when plug-ins are configured

                claim = load_claim(config.entry_point or name, name)
            if claim is not None:
                out[name] = claim
        for claim in out.values():
            with contextlib.suppress(Exception):  # a plug-in's bug shows on its turns
                claim(_WARM_UP)
        return out

    def backend(self, name: str, turn: AgentTurn) -> AgentBackend:
        """The agent bound to one turn, as a ``Backend`` for the executor."""
        return AgentBackend(self.agent(name), turn, cost_usd=self.configs[name].cost_usd)

    def close(self) -> None:
        with self._lock:
            for agent in self._agents.values():
                close = getattr(agent, "close", None)
                if close is not None:
                    close()
            self._agents.clear()
