"""Which router bundles to load: the ``[router]`` setting, else the installed one, else the shipped.

Installed bundles (``edge-moma model install``) live in the data dir::

    <data_dir>/routers/state.json          {"active": {"intent": "<version>"}, "history": [...],
                                            "hint": {"routing": "<version>"}}
    <data_dir>/routers/<kind>/<version>/   a verified copy of one bundle (card.json + ONNX)

Reading ``state.json`` is all it takes to know which bundle is in use, so this
module imports nothing but the standard library: the config, the CLI and
``edge-moma doctor`` resolve bundle directories without loading a model (the
rollout that writes the state is ``training/rollout.py``).

Example::

    bundle_dir(config, "intent")     # Path('.../routers/intent/intent-v7') after an install
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ._resources import packaged_path

if TYPE_CHECKING:
    from .config import Config

BundleKind = Literal["intent", "routing"]
KINDS: tuple[BundleKind, ...] = ("intent", "routing")
CARD_NAME = "card.json"
STATE_NAME = "state.json"


def routers_dir(data_dir: str | Path) -> Path:
    return Path(data_dir) / "routers"


def read_state(data_dir: str | Path) -> dict[str, Any]:
    """The rollout state; an unreadable file counts as "nothing installed" (shipped routers)."""
    path = routers_dir(data_dir) / STATE_NAME
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"active": {}, "history": []}
    if not isinstance(state, dict) or not isinstance(state.get("active"), dict):
        return {"active": {}, "history": []}
    state.setdefault("history", [])
    return state


def active_bundle_dir(data_dir: str | Path, kind: str) -> Path | None:
    """The installed bundle of ``kind`` in use, or ``None`` for the shipped one."""
    version = read_state(data_dir)["active"].get(kind)
    if not version:
        return None
    path = routers_dir(data_dir) / kind / version
    return path if (path / CARD_NAME).is_file() else None


def shipped_bundle_dir(kind: str) -> Path:
    """The bundle of ``kind`` this edge-moma ships (``models/<kind>``)."""
    return packaged_path("models") / kind


def bundle_dir(config: Config, kind: BundleKind) -> Path:
    """The bundle to load: ``[router]`` setting (relative to the config file), else the
    installed one, else the shipped one."""
    setting = config.router.intent_model if kind == "intent" else config.router.routing_model
    if not setting:
        return active_bundle_dir(config.data_dir, kind) or shipped_bundle_dir(kind)
    path = Path(setting).expanduser()
    return path if path.is_absolute() else config.path.parent / path


def hint_bundle_dir(config: Config) -> Path | None:
    """The installed exploration hint (a routing bundle used only to steer exploration), or
    ``None``: none installed, or ``[router] routing_model`` names the routing bundle."""
    if config.router.routing_model:
        return None
    hint = read_state(config.data_dir).get("hint")
    version = hint.get("routing") if isinstance(hint, dict) else None
    if not version:
        return None
    path = routers_dir(config.data_dir) / "routing" / str(version)
    return path if (path / CARD_NAME).is_file() else None
