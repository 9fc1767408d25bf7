"""Python plug-in agents, registered through the ``edge_moma.targets.agents`` entry-point group.

A plug-in is a callable that takes an ``AgentTurn`` and returns an
``AgentReply`` (or, for the simplest agents, a plain string: a finished
answer). Register it in the plug-in package's ``pyproject.toml``::

    [project.entry-points."edge_moma.agents"]
    weather = "my_agents.weather:answer"

and enable it in the config with ``kind = "python"`` and ``entry_point =
"weather"`` (the entry point's name; empty means the agent's own name). The
callable is loaded on first use, never at start-up.

A plug-in may also declare a claim, ``claim(text) -> float`` in 0..1 (how
surely it can read a request; the agent stage's claim rule), under the same
name in the ``edge_moma.claims`` group::

    [project.entry-points."edge_moma.claims"]
    weather = "my_agents.weather_claim:claim"

A claim is loaded at start-up (routing asks it every turn), so keep its module
light. One that cannot be loaded is skipped with a warning: the agent then
routes on the intent router's evidence alone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from ...agents.base import AgentReply, AgentTurn
from ...config import AgentConfig
from ...errors import TargetError, TargetUnavailable

GROUP = "edge_moma.agents"
CLAIM_GROUP = "edge_moma.claims"
logger = logging.getLogger(__name__)


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


def load_claim(name: str, agent: str) -> Callable[[str], float] | None:
    """The claim registered under ``name`` in ``edge_moma.claims``; ``None`` if there is none
    or it cannot be loaded (logged: the agent still routes on the intent router's evidence)."""
    found = [ep for ep in entry_points(group=CLAIM_GROUP) if ep.name == name]
    if not found:
        return None
    try:
        claim = found[0].load()
    except Exception as exc:  # a plug-in's import error is its own
        logger.warning("agent %s: cannot load claim %r: %r", agent, found[0].value, exc)
        return None
    if not callable(claim):
        logger.warning("agent %s: claim %r is not callable", agent, found[0].value)
        return None
    return claim


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
