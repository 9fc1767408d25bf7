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


def _folds():  # noqa: ANN202 - a script module
    _bench()  # the folds benchmark imports it by name
    spec = importlib.util.spec_from_file_location(
        "bench_agents_folds", ROOT / "scripts" / "bench_agents_folds.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_folds_partition_the_training_queries_the_same_way_every_run() -> None:
    import json

    folds = _folds()
    texts = [
        t
        for t, _ in json.loads((ROOT / "scripts/data/clinc150/data_full.json").read_bytes())[
            "train"
        ]
    ]
    first = [folds.fold_of(t, 5) for t in texts]
    assert first == [folds.fold_of(t, 5) for t in texts]
    sizes = [first.count(k) for k in range(5)]
    assert all(0.18 * len(texts) < n < 0.22 * len(texts) for n in sizes), sizes


def test_folds_count_agent_queries_reached_and_others_taken(tmp_path: Path) -> None:
    import shutil

    from edge_moma.routing.intent import IntentExample, write_intent_file

    folds = _folds()
    config = ROOT / "configs" / "default.toml"
    fold = tmp_path / "fold0"
    shutil.copytree(bundle_dir(load_config(config, check_files=False), "intent"), fold / "twin")
    rows = [
        IntentExample("what's nine times seven", "calculator", "chat"),  # reached
        IntentExample("add eggs to my shopping list", "shopping_list_update", "chat"),  # reached
        IntentExample("book a flight to paris", "book_flight", "chat"),  # not taken
        IntentExample("what is the meaning of love", "oos", "chat"),  # not taken
    ]
    write_intent_file(fold / "held.jsonl", rows)
    wrong: list[str] = []
    figures = folds.route_folds(tmp_path, [0], str(config), True, wrong)
    assert figures["agent_queries"] == 2 and figures["agent_recall"] == 1.0, wrong
    assert (figures["oos_queries"], figures["other_queries"]) == (1, 1)
    assert figures["oos_to_agent"] == figures["other_to_agent"] == 0.0
    write_intent_file(
        fold / "held.jsonl", [IntentExample("what's nine times seven", "timer", "chat")]
    )
    figures = folds.route_folds(tmp_path, [0], str(config), True, wrong)
    assert figures["other_to_agent"] == 1.0 and wrong[-1].startswith("[timer] what's nine")
