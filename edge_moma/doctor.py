"""``edge-moma doctor``: what the runtime would use, where it lives, and what is missing."""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import asdict
from typing import Any

from ._resources import packaged_path
from .bundle_dirs import KINDS, bundle_dir
from .config import (
    ENV_CONFIG,
    LocalModel,
    RemoteModel,
    default_config_path,
    load_config,
    user_config_path,
)
from .device import probe
from .errors import ModelFileError
from .model_files import resolve_model_path
from .serve.daemon import default_socket_path


def diagnose(config_path: str | None = None) -> dict[str, Any]:
    """A JSON-ready report; raises ``ConfigError`` only when the config itself is invalid."""
    config = load_config(config_path, check_files=False)
    models = []
    for m in config.models:
        entry: dict[str, Any] = {"name": m.name, "kind": m.kind}
        if isinstance(m, LocalModel):
            entry["path"] = m.path
            try:
                entry["file"] = str(resolve_model_path(m.path, base_dir=config.path.parent))
                entry["found"] = True
            except ModelFileError as exc:
                entry["found"], entry["problem"] = False, str(exc)
        elif isinstance(m, RemoteModel):
            entry["base_url"] = m.base_url
            key_set = bool(m.api_key_env and os.environ.get(m.api_key_env))
            entry["found"] = True
            entry["api_key"] = (
                f"${m.api_key_env} is set" if key_set else f"${m.api_key_env or '(none)'} not set"
            )
        else:  # a kind registered by a plug-in: what its config entry says of itself
            problem = m.unavailable()
            entry["found"] = problem is None
            if problem:
                entry["problem"] = problem
        models.append(entry)
    bundles = {}
    for name in KINDS:
        path = bundle_dir(config, name)
        bundles[name] = {"path": str(path), "found": (path / "card.json").is_file()}
    return {
        "config_path": str(config.path),
        "search_order": [
            "--config",
            f"${ENV_CONFIG} ({os.environ.get(ENV_CONFIG) or 'not set'})",
            str(user_config_path()),
            str(default_config_path()),
        ],
        "data_dir": str(config.data_dir),
        "socket": str(default_socket_path()),
        "models_dir": str(packaged_path("models")),
        "models": models,
        "agents": [{"name": a.name, "kind": a.kind, "enabled": a.enabled} for a in config.agents],
        "bundles": bundles,
        "device": asdict(probe()),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }


def format_diagnosis(report: dict[str, Any]) -> str:
    lines = [
        f"config:    {report['config_path']}",
        "  search order: " + " -> ".join(report["search_order"]),
        f"data dir:  {report['data_dir']}",
        f"socket:    {report['socket']}  (edge-moma serve)",
        f"router:    {report['models_dir']}",
    ]
    for name, b in report["bundles"].items():
        lines.append(f"  {name:<8} {'ok' if b['found'] else 'MISSING'}  {b['path']}")
    lines.append("models:")
    for m in report["models"]:
        if "base_url" in m:
            status = f"{m['base_url']}  ({m['api_key']})"
        elif m["found"]:
            status = f"ok  {m.get('file', '')}".rstrip()
        else:
            status = f"MISSING  {m['problem']}"
        lines.append(f"  {m['name']:<24} {m['kind']:<6} {status}")
    d = report["device"]
    battery = "none" if d["battery_percent"] is None else f"{d['battery_percent']:.0f}%"
    lines.append(
        f"device:    battery {battery}, {'charging' if d['charging'] else 'on battery'}, "
        f"{'online' if d['online'] else 'offline'}"
    )
    return "\n".join(lines)
