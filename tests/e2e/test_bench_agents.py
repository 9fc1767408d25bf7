"""The agent benchmark's ``edges``: the shipped intent router and the built-in agents, with
words that ask nothing added to a query, count an agent's query as reached and another's
as not taken, as the bare queries are."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from edge_moma.bundle_dirs import bundle_dir
from edge_moma.config import load_config
from edge_moma.routing.intent import IntentRouter
from edge_moma.targets.agents import AgentRegistry

ROOT = Path(__file__).resolve().parents[2]


def _bench():  # noqa: ANN202 - a script module
    spec = importlib.util.spec_from_file_location(
        "bench_agents", ROOT / "scripts" / "bench_agents.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_agents"] = module
    spec.loader.exec_module(module)
    return module


def test_edges_count_each_addition_and_doubled_spaces(tmp_path: Path) -> None:
    bench = _bench()
    config = load_config(ROOT / "configs" / "default.toml", check_files=False)
    router = IntentRouter.load(bundle_dir(config, "intent"))
    registry = AgentRegistry(config.agents, data_dir=tmp_path)
    stage = bench.agent_stage(config, router, registry)
    situation = bench.unconstrained(config)
    rows = [
        ("what is 7 x 7", "calculator"),
        ("convert 20 c to f", "measurement_conversion"),
        ("what time is it in tokyo", "time"),
        ("add milk to my shopping list", "shopping_list_update"),
        ("tell me a story about a dragon", "oos"),
        ("what's the weather like in paris", "weather"),
    ]
    owner = {label: stage.owner_of(label) for _, label in rows}
    assert owner["oos"] is None and owner["weather"] is None
    edges = bench._edges(rows, owner, router, stage, situation)
    assert list(edges) == [*bench.EDGES, bench.DOUBLED]
    for edge, figures in edges.items():
        assert figures == {"recall": 1.0, "others_taken": 0.0}, edge
