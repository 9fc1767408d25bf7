"""A short fleet loop through the real code paths: device routing and log, sync, collect,
retrain-routing, gate, publish, install; the benchmark's report is complete and consistent."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from edge_moma.jsonl import read_records

ROOT = Path(__file__).resolve().parents[2]


def _script(name: str):  # noqa: ANN202 - a script module
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_two_rounds_on_small_two_model_files(tmp_path: Path) -> None:
    pair = _script("make_two_model_set")
    data = ROOT / "scripts" / "data" / "llmrouter"
    files = [str(data / "train.jsonl"), str(data / "test.jsonl")]
    assert pair.main([*files, "--out-dir", str(tmp_path / "pair"), "--rows", "150"]) == 0
    lines = (tmp_path / "pair" / "train.jsonl").read_bytes().split(b"\n")
    first = json.loads(lines[0])
    assert len([x for x in lines if x.strip()]) == 150 and len(first["scores"]) == 2

    loop = _script("bench_fleet_loop")
    report_path, plot_path = tmp_path / "loop.json", tmp_path / "loop.png"
    args = ["--data", str(tmp_path / "pair" / "train.jsonl"),
            "--test", str(tmp_path / "pair" / "test.jsonl"),
            "--rounds", "2", "--per-round", "120", "--feedback-rate", "0.5", "--seed", "3",
            "--report", str(report_path), "--plot", str(plot_path),
            "--work", str(tmp_path / "work")]  # fmt: skip
    assert loop.main(args) == 0
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert set(report) >= {"start", "rounds", "full_information", "task_lookup", "gate", "closure"}
    rounds = report["rounds"]
    assert [r["decisions"] for r in rounds] == [120, 120]
    assert 60 < rounds[-1]["feedback_rows"] < 180  # about half of 240 decisions
    assert rounds[0]["explored"] > 0  # the start router knows neither model: it explores
    for r in rounds:
        assert set(r["test"]) >= {"aiq", "apgr", "quality_at_25pct_cost", "value"}
        assert 0 <= r["served_quality"] <= 1 and r["served_cost"] > 0
        assert isinstance(r["promoted"], bool) and len(r["gate"]["interval"]) == 2
    gate = report["gate"]
    assert gate["promoted"] + gate["refused"] == 2
    # The gate checked against the truth: on the decisions it judged, the true difference
    # of the two routers' choices, whether its interval holds it, and the candidate's support.
    for r in rounds:
        g = r["gate"]
        assert {"true_difference", "candidate_support", "interval_covers_truth"} <= set(g)
        assert g["true_difference"] is not None  # the test pair's rounds all judge decisions
        low, high = g["interval"]
        assert g["interval_covers_truth"] == (low <= g["true_difference"] <= high)
        assert 0 <= g["candidate_support"] <= g["disagree"] <= g["decisions"]
        assert -1.0 <= g["true_difference"] <= 1.0
        work_dir = tmp_path / "work" / "candidates" / f"round-{r['round']}.work"
        choices = list(read_records(work_dir / "gate.choices.jsonl"))
        assert len(choices) == g["decisions"]
    calibration = report["gate_calibration"]
    judged, promoted = calibration["judged"], calibration["promoted"]
    assert judged["rounds"] == 2 and promoted["rounds"] == gate["promoted"]
    for c in (judged, promoted):
        assert c["covered"] + c["truth_below_interval"] + c["truth_above_interval"] == c["rounds"]
    assert judged["covered"] == sum(r["gate"]["interval_covers_truth"] for r in rounds)
    # A promoted candidate is what the device routes with next: the report's test
    # figures follow the installed router.
    state = tmp_path / "work" / "device" / "routers" / "state.json"
    active = json.loads(state.read_text())["active"] if state.is_file() else {}
    assert ("routing" in active) == (gate["promoted"] > 0)
    # A refused candidate is installed as the device's exploration hint, never as its router.
    hint = json.loads(state.read_text()).get("hint") if state.is_file() else None
    last = json.loads((tmp_path / "work" / "candidates" / "round-2" / "card.json").read_text())
    if rounds[-1]["promoted"]:
        assert hint is None and active["routing"] == last["version"]
    else:
        assert hint == {"routing": last["version"]} and active.get("routing") != last["version"]
    # Full information is an upper reference for the same trainer; a two-model pool has APGR.
    assert report["closure"]["figure"] == "apgr"
    assert report["full_information"]["apgr"] > report["start"]["apgr"]
    # The uniform-logging reference: its figures on the test part, what it would have
    # served, and the share of the gap it closes, as the closure reports it.
    assert set(report["uniform_logging"]) >= {"apgr", "served_quality"}
    c = report["closure"]
    assert c["uniform_logging"] == report["uniform_logging"]["apgr"]
    span = c["full_information"] - c["start"]
    assert c["uniform_logging_gap_closed"] == round((c["uniform_logging"] - c["start"]) / span, 4)
    # The router's own trainer on those uniform outcomes: a row per feedback row, each
    # with one score, and the gap share it closes.
    router = report["uniform_logging"]["router"]
    assert c["uniform_logging_router"] == router["apgr"] and "value" in router
    share = round((router["apgr"] - c["start"]) / span, 4)
    assert c["uniform_logging_router_gap_closed"] == share
    card = json.loads((tmp_path / "work" / "uniform-logging" / "card.json").read_text())
    assert card["data"]["n"] == rounds[-1]["feedback_rows"]
    assert sum(card["data"]["observed"].values()) == rounds[-1]["feedback_rows"]
    greedy = sum(r["greedy_quality"] for r in rounds) / len(rounds)
    served = report["uniform_logging"]["served_quality"]
    assert abs(c["uniform_logging_served_minus_greedy"] - (served - greedy)) < 1e-6
    assert plot_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # One seed is one run: decision ids are random, but neither the rows' order nor the
    # cross-fitting folds hang on them, so a rerun trains and gates the same candidates.
    again_path = tmp_path / "again.json"
    again_args = [*args[: args.index("--report")], "--report", str(again_path),
                  "--work", str(tmp_path / "work-again")]  # fmt: skip
    assert loop.main(again_args) == 0
    again = json.loads(again_path.read_text(encoding="utf-8"))
    for r in [report, again, *report["rounds"], *again["rounds"]]:
        r.pop("seconds")
    assert again == report


def test_the_weighted_lookup_undoes_the_policys_choice_of_queries() -> None:
    """A policy that tried model 0 mostly on the easy queries of a task flatters it in the
    plain per-task mean; weighting each outcome by 1 / propensity does not."""
    import numpy as np

    from edge_moma.training.routing_data import RoutingSet

    loop = _script("bench_fleet_loop")
    rng = np.random.default_rng(0)
    n = 4000
    easy = rng.random(n) < 0.5
    truth = np.c_[easy.astype(float), np.full(n, 0.6)]  # model 0: right on easy queries only
    p0 = np.where(easy, 0.9, 0.1)  # ... and the policy knew which queries were easy
    chose0 = rng.random(n) < p0
    observed = [
        (i, 0, truth[i, 0], p0[i]) if c else (i, 1, truth[i, 1], 1 - p0[i])
        for i, c in enumerate(chose0)
    ]
    data = RoutingSet(
        "x", tuple(map(str, range(n))), ("q",) * n, ("t",) * n, ("a", "b"),
        truth, np.ones((n, 2)), "0",
    )  # fmt: skip
    plain = loop.lookup_quality(data, data.subset(np.arange(1)), observed)
    weighted = loop.lookup_quality(data, data.subset(np.arange(1)), observed, weighted=True)
    assert plain[0, 0] > 0.85 > 0.61 > plain[0, 1]  # model 0 looks best
    assert abs(weighted[0, 0] - 0.5) < 0.03 and abs(weighted[0, 1] - 0.6) < 1e-9


def test_uniform_logging_reveals_a_uniform_model_on_the_same_feedback_rows() -> None:
    """The reference ignores which model the device chose: each feedback row reveals a
    uniformly drawn model's score, so every model's per-task mean is learnt, even one the
    device never tried; what it serves is the pool's mean score over the routed rows."""
    import numpy as np

    from edge_moma.training.routing_data import RoutingSet

    loop = _script("bench_fleet_loop")
    rng = np.random.default_rng(1)
    n = 6000
    tasks = tuple("ab"[i % 2] for i in range(n))
    truth = np.c_[
        [float(rng.random() < (0.8 if t == "a" else 0.2)) for t in tasks],
        [float(rng.random() < (0.3 if t == "a" else 0.7)) for t in tasks],
        np.full(n, 0.5),
    ]
    data = RoutingSet(
        "x", tuple(map(str, range(n))), ("q",) * n, tasks, ("m0", "m1", "m2"),
        truth, np.linspace(1, 2, 3 * n).reshape(n, 3), "0",
    )  # fmt: skip
    observed = [(i, 0, truth[i, 0], 0.9) for i in range(0, n, 3)]  # the device chose m0 only
    revealed = loop.uniform_outcomes(data, observed, seed=0)
    assert [r[0] for r in revealed] == [o[0] for o in observed]  # the same feedback rows
    assert all(s == truth[i, j] and p == 1.0 for i, j, s, p in revealed)
    shares = np.bincount([j for _, j, _, _ in revealed], minlength=3) / len(revealed)
    assert np.all(np.abs(shares - 1 / 3) < 0.03)
    test = data.subset(np.array([0, 1]))  # one query of task a, one of task b
    table = loop.lookup_quality(data, test, revealed)
    assert abs(table[0, 1] - 0.3) < 0.06 and abs(table[1, 1] - 0.7) < 0.06  # m1, never chosen
    # What the device would have served, and what the router's trainer learns from (the
    # reference given here only counts the rows it gets).
    out = loop.uniform_logging(data, test, observed, np.arange(100), 0, lambda d, _: len(d))
    assert out["served_quality"] == round(float(truth[:100].mean()), 6)
    assert out["router"] == len(revealed)
    rows = loop.revealed_set(data, revealed)
    assert len(rows) == len(revealed) and len(set(rows.ids)) == len(rows)
    assert rows.prompts == tuple(data.prompts[i] for i, _, _, _ in revealed)
    assert (np.isfinite(rows.scores).sum(axis=1) == 1).all()
    assert [float(rows.scores[n, j]) for n, (_, j, _, _) in enumerate(revealed)] == [
        s for _, _, s, _ in revealed
    ]
    assert loop.uniform_outcomes(data, observed, seed=0) == revealed  # one seed, one draw
    assert loop.uniform_outcomes(data, observed, seed=1) != revealed
