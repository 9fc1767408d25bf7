"""Python plug-in agents, registered through the ``edge_moma.targets.agents`` entry-point group.

A plug-in is a callable that takes an ``AgentTurn`` and returns an
``AgentReply`` (or, for the simplest agents, a plain string: a finished
answer). Register it in the plug-in package's ``pyproject.toml``::

    [project.entry-points."edge_moma.agents"]
    weather = "my_agents.weather:answer"

and enable it in the config with ``kind = "python"`` and ``entry_point =
"weather"`` (the entry point's name; empty means the agent's own name). The
callable is loaded on first use, never at start-up.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from ...agents.base import AgentReply, AgentTurn
from ...config import AgentConfig
from ...errors import TargetError, TargetUnavailable

GROUP = "edge_moma.agents"


def available() -> dict[str, str]:
    """Installed plug-ins: entry-point name -> ``module:attr``."""
    return {ep.name: ep.value for ep in entry_points(group=GROUP)}


def load_plugin(name: str, agent: str) -> Callable[[AgentTurn], Any]:
    """The callable registered under ``name``; ``TargetUnavailable`` names what is installed."""
    found = [ep for ep in entry_points(group=GROUP) if ep.name == name]
    if not found:
        raise TargetUnavailable(
            f"no entry point {name!r} in group {GROUP!r}; installed: {sorted(available())}. "
            "Install the plug-in package or fix entry_point in the config",
            target=agent,
        )
    try:
        func = found[0].load()
    except Exception as exc:  # a plug-in's import error is its own; report it as ours
        raise TargetUnavailable(
            f"cannot load plug-in {found[0].value!r}: {exc!r}", target=agent
        ) from exc
    if not callable(func):
        raise TargetUnavailable(f"plug-in {found[0].value!r} is not callable", target=agent)
    return func


class PluginAgent:
    """An in-process agent from an installed package (local: may see sensitive text if allowed)."""

    def __init__(self, config: AgentConfig, **_: Any):
        self.name = config.name
        self._func = load_plugin(config.entry_point or config.name, config.name)

    def handle(self, turn: AgentTurn) -> AgentReply:
        try:
            out = self._func(turn)
        except TargetError:
            raise
        except Exception as exc:  # the plug-in failed: fall back like any failed target
            raise TargetError(f"plug-in raised {exc!r}", target=self.name) from exc
        if isinstance(out, str):
            return AgentReply(reply=out)
        if isinstance(out, AgentReply):
            return out
        raise TargetError(
            f"plug-in returned {type(out).__name__}; return an AgentReply or a str",
            target=self.name,
        )

    def close(self) -> None:
        """Nothing to free."""
