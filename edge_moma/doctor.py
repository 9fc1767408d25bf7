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
    Config,
    LocalModel,
    RemoteModel,
    default_config_path,
    dir_problem,
    load_config,
    user_config_path,
)
from .device import probe
from .errors import BundleError, ConfigError, ModelFileError
from .log.writer import log_report
from .model_files import resolve_model_path
from .routing.agent_stage import check_intents
from .routing.bundle import read_card
from .serve.daemon import default_socket_path, running_daemon
from .targets.agents import AgentRegistry


def diagnose(config_path: str | None = None) -> dict[str, Any]:
    """A JSON-ready report; raises ``ConfigError`` only when the config itself is invalid.

    ``problems`` lists what keeps the config from working as written (a missing
    model file or bundle, an unusable data dir, an unset API key variable, an
    agent the intent bundle cannot route to); ``edge-moma doctor`` exits 2 if any.
    """
    config = load_config(config_path, check_files=False)
    problems: list[str] = []
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
                problems.append(f"model {m.name}: {exc}")
        elif isinstance(m, RemoteModel):
            entry["base_url"] = m.base_url
            missing = m.missing_key()
            entry["found"] = True
            if not m.api_key_env:
                entry["api_key"] = "none sent (no api_key_env)"
            elif missing:
                entry["api_key"] = f"${m.api_key_env} is not set: masked until it is"
                problems.append(f"model {m.name}: {missing}")
            else:
                entry["api_key"] = f"${m.api_key_env} is set"
        else:  # a kind registered by a plug-in: what its config entry says of itself
            problem = m.unavailable()
            entry["found"] = problem is None
            if problem:
                entry["problem"] = problem
                problems.append(f"model {m.name}: {problem}")
        models.append(entry)
    data_dir_problem = dir_problem(config.data_dir, writable=True)
    if data_dir_problem:
        problems.append(f"data_dir: {data_dir_problem}")
    bundles = {}
    for name in KINDS:
        path = bundle_dir(config, name)
        found = (path / "card.json").is_file()
        bundles[name] = {"path": str(path), "found": found}
        if not found:
            problems.append(f"the {name} router bundle is missing at {path}")
        if name == "intent":
            problems += _agent_problems(config, found)
    return {
        "config_path": str(config.path),
        "search_order": [
            "--config",
            f"${ENV_CONFIG} ({os.environ.get(ENV_CONFIG) or 'not set'})",
            str(user_config_path()),
            str(default_config_path()),
        ],
        "data_dir": str(config.data_dir),
        "data_dir_problem": data_dir_problem,
        "socket": str(default_socket_path()),
        "models_dir": str(packaged_path("models")),
        "models": models,
        "agents": [{"name": a.name, "kind": a.kind, "enabled": a.enabled} for a in config.agents],
        "bundles": bundles,
        "log": log_report(config),
        "daemon": running_daemon(config),
        "device": asdict(probe()),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "problems": problems,
    }


def _agent_problems(config: Config, intent_found: bool) -> list[str]:
    """What the runtime would refuse about the agents at start (names, intents)."""
    try:
        AgentRegistry(config.agents, data_dir=config.data_dir, source=str(config.path))
        if intent_found:
            card = read_card(bundle_dir(config, "intent"))
            check_intents(
                config.agents,
                card.get("labels") or [],
                card.get("domains") or {},
                bundle=str(card.get("version")),
                source=str(config.path),
            )
    except (ConfigError, BundleError) as exc:
        return [str(exc)]
    return []


def format_diagnosis(report: dict[str, Any]) -> str:
    lines = [
        f"config:    {report['config_path']}",
        "  search order: " + " -> ".join(report["search_order"]),
        f"data dir:  {report['data_dir']}  ({report['data_dir_problem'] or 'ok'})",
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
    log = report["log"]
    lines.append(f"log:       {log['status']}  {log['path']}")
    lines.extend(f"  {problem}" for problem in log["problems"])
    daemon = report["daemon"]
    if daemon["running"]:
        state = daemon["log"]
        why = f" ({state['reason']})" if state.get("reason") else ""
        lines.append(f"daemon:    pid {daemon['pid']}, log {state['status']}{why}")
    else:
        lines.append(f"daemon:    not running on {daemon['socket']}")
    d = report["device"]
    battery = "none" if d["battery_percent"] is None else f"{d['battery_percent']:.0f}%"
    lines.append(
        f"device:    battery {battery}, {'charging' if d['charging'] else 'on battery'}, "
        f"{'online' if d['online'] else 'offline'}"
    )
    problems = report["problems"]
    lines.append(f"problems:  {len(problems) or 'none'}")
    lines += [f"  - {p}" for p in problems]
    return "\n".join(lines)
