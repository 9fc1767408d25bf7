#!/usr/bin/env python3
"""Does the router learn from its own traffic? A fleet loop over the real code paths.

    python scripts/bench_fleet_loop.py --data FILE.jsonl [--test FILE.jsonl | --test-frac 0.5]
        --rounds 5 --per-round 2000 --feedback-rate 0.25 --seed 0 --report OUT.json [--plot OUT.png]

The pool is the file's models, as remote models priced from its ``costs``
(a least-squares fit of the file's per-call costs to input and output prices:
routing reads prices, not the file) and named like the file's models, so a
model the shipped bundle knows is scored by its head and the others by the
default prior. Each round:

1. the device (``Runtime`` with the config's exploration, a real SQLite log)
   routes ``--per-round`` queries of the traffic part, in batches
   (``route_many``, the daemon's path); no model is called: for a random
   ``--feedback-rate`` share of decisions the app reports the chosen model's
   score from the file (``Runtime.feedback``), and nothing else is revealed;
2. ``sync export`` writes the log's new rows as a batch, the fleet collects
   it, retrains the routing predictor from every outcome collected so far
   (``retrain-routing``, no base file) and gates it on routing value;
3. a promoted candidate is published as a release and installed on the
   device (``model install``), which routes the next round with it; a refused
   one is published as an exploration hint and installed as such (the device
   keeps its router and leans its exploration toward the hint's choices;
   ``--no-hint`` skips this).

Figures (all on the test part, which never routes): ``start`` (the shipped
router), per round the installed router's ``test`` curve figures and the
candidate's, what the device served (mean score and cost of its choices, and
of its greedy choices: what exploration cost), the gate's decision and
whether the test part agrees with it; ``task_lookup`` (the per-task mean of
every logged outcome, by the file's task labels; ``task_lookup_weighted``: each
outcome weighted 1 / propensity, as the router's table is), ``full_information``
(the same trainer given every model's score for the queries that got
feedback) and ``uniform_logging`` (the lookup, and the same trainer as
``router``, given the score of a uniformly drawn model for each feedback row:
what exploration spread as evenly as it can be would teach). ``--split task``
holds out whole task families instead of random rows (with ``--test-frac``):
generalisation to kinds of query never routed.

The gate's own figures are checked against the truth, which the simulation
knows (the file has every model's score for each prompt). Each round's
``gate`` has ``true_difference``: on the decisions the gate judged, the mean
utility of the candidate's choices less the installed router's (the choices
the gate made, scored with the file's scores and the gate's cost term);
``interval_covers_truth``: whether the gate's interval holds it; and
``candidate_support``: the gate's ``value.support``, how many of the judged
decisions the device answered with the candidate's choice where it differs
from the installed router's (the only decisions that observe the candidate's
side of a disagreement).
``gate_calibration`` counts the rounds judged, how often the interval held
the truth and how often the truth fell below (or above) it, over every round
and over the promoted ones.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edge_moma.bundle_dirs import bundle_dir  # noqa: E402
from edge_moma.jsonl import read_records  # noqa: E402
from edge_moma.log.store import LogStore  # noqa: E402
from edge_moma.log.sync import export_batch  # noqa: E402
from edge_moma.messages import estimate_tokens  # noqa: E402
from edge_moma.routing.policy import tradeoff_lambda  # noqa: E402
from edge_moma.routing.quality import QualityPredictor  # noqa: E402
from edge_moma.routing.utility import order  # noqa: E402
from edge_moma.runtime import Runtime  # noqa: E402
from edge_moma.training.fleet import (  # noqa: E402
    collect,
    fleet_train_config,
    gate_routing,
    logged_prompts,
    publish,
    retrain_routing,
)
from edge_moma.training.quality import train_quality  # noqa: E402
from edge_moma.training.rollout import install  # noqa: E402
from edge_moma.training.routing_data import RoutingSet, load_routing_set  # noqa: E402
from edge_moma.training.routing_eval import curve_metrics, router_predictions, sweep, task_lookup  # noqa: E402

DEVICE = "sim-device"
OUTPUT_TOKENS = 200  # llmrouter prices every call at 200 output tokens
VALUE_AT_BIGGEST = 0.1  # auto tradeoff: the dearest model's mean cost is worth 0.1 quality
FIGURES = ("aiq", "apgr", "cost_fraction_at_best_single_quality", "quality_at_25pct_cost")
CHUNK = 64  # queries per route_many call


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="routing file: the traffic part")
    test = ap.add_mutually_exclusive_group()
    test.add_argument("--test", type=Path, help="routing file of the test part")
    test.add_argument("--test-frac", type=float, help="hold this share of --data out as the test")
    ap.add_argument("--split", choices=("random", "task"), default="random")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--per-round", type=int, default=2000)
    ap.add_argument("--feedback-rate", type=float, default=0.25)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--explore", type=float, help="[policy] explore (default: the config's)")
    ap.add_argument("--explore-margin", type=float, help="[policy] explore_margin")
    ap.add_argument("--tradeoff", type=float, help="[policy] tradeoff (default: auto, see code)")
    ap.add_argument(
        "--no-hint", action="store_true", help="do not install refused candidates as hints"
    )
    ap.add_argument("--report", type=Path, default=ROOT / "reports" / "bench_fleet_loop.json")
    ap.add_argument("--plot", type=Path)
    ap.add_argument("--work", type=Path, help="keep the device, fleet and releases here")
    args = ap.parse_args(argv)
    if args.test is None and args.test_frac is None:
        ap.error("pass --test FILE or --test-frac F")
    began = time.perf_counter()
    traffic, test = _parts(args)
    work = Path(args.work or tempfile.mkdtemp(prefix="edge-moma-fleet-loop-"))
    if args.work is not None and work.exists():
        shutil.rmtree(work)  # a fresh device and fleet every run
    work.mkdir(parents=True, exist_ok=True)
    try:
        report = run(args, traffic, test, work)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    report["seconds"] = round(time.perf_counter() - began, 1)
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if args.plot:
        plot(report, args.plot)
    print(json.dumps(summary(report), indent=2))
    return 0


# --- data -------------------------------------------------------------------------------


def _parts(args: argparse.Namespace) -> tuple[RoutingSet, RoutingSet]:
    data = load_routing_set(args.data)
    if args.test is not None:
        test = load_routing_set(args.test)
        if set(test.models) != set(data.models):
            raise SystemExit(f"{args.test}: its models differ from {args.data}'s")
        return data, _reorder(test, data.models)
    rng = np.random.default_rng(args.seed)
    if args.split == "task":
        if not data.has_tasks:
            raise SystemExit(f"{args.data}: --split task needs a task on every row")
        tasks = sorted(set(data.tasks))
        held: set[str] = set()
        for t in rng.permutation(tasks):
            if sum(x in held for x in data.tasks) >= args.test_frac * len(data):
                break
            held.add(str(t))
        is_test = np.array([t in held for t in data.tasks])
    else:
        is_test = np.zeros(len(data), dtype=bool)
        is_test[rng.permutation(len(data))[: int(round(args.test_frac * len(data)))]] = True
    return data.subset(np.flatnonzero(~is_test)), data.subset(np.flatnonzero(is_test))


def _reorder(data: RoutingSet, models: tuple[str, ...]) -> RoutingSet:
    idx = [data.models.index(m) for m in models]
    return RoutingSet(
        data.path, data.ids, data.prompts, data.tasks, models,
        data.scores[:, idx], data.costs[:, idx], data.sha256,
    )  # fmt: skip


def prices(data: RoutingSet) -> dict[str, tuple[float, float]]:
    """(price_in, price_out) in USD per 1k tokens per model: the least-squares fit of the
    file's costs to the runtime's token estimates (prompt ~ chars / 4, OUTPUT_TOKENS out)."""
    tokens = np.array([estimate_tokens(p) for p in data.prompts], dtype=np.float64)
    design = np.c_[tokens, np.full(len(tokens), float(OUTPUT_TOKENS))] / 1000.0
    out = {}
    for j, m in enumerate(data.models):
        coef, *_ = np.linalg.lstsq(design, data.costs[:, j], rcond=None)
        if coef.min() < 0:  # not a per-token price list: charge the mean per output token
            coef = np.array([0.0, data.costs[:, j].mean() / (OUTPUT_TOKENS / 1000.0)])
        out[m] = (float(coef[0]), float(coef[1]))
    return out


def write_config(path: Path, data: RoutingSet, tradeoff: float, args: argparse.Namespace) -> Path:
    """The device's config: every file model as a remote model at a host under .example
    (never called: the benchmark only routes), a big budget, a long deadline."""
    lines = [
        "[runtime]",
        f'data_dir = "{path.parent / "device"}"',
        'log_text = "store"',
        f'device_id = "{DEVICE}"',
        "log_retention_days = 0",
        "log_max_mb = 0",
        "[budgets]",
        "daily_usd = 1000000.0",
        "monthly_usd = 1000000.0",
        "deadline_s = 3600.0",
        "[policy]",
        f"tradeoff = {tradeoff!r}",
        f"expected_output_tokens = {OUTPUT_TOKENS}",
    ]
    if args.explore is not None:
        lines.append(f"explore = {args.explore!r}")
    if args.explore_margin is not None:
        lines.append(f"explore_margin = {args.explore_margin!r}")
    for i, (m, (p_in, p_out)) in enumerate(prices(data).items()):
        lines += [
            "[[models]]",
            f"name = {json.dumps(m)}",
            'kind = "remote"',
            f'base_url = "https://model-{i}.example/v1"',
            f"model = {json.dumps(m)}",
            f"price_in = {p_in!r}",
            f"price_out = {p_out!r}",
            "latency_s = 0.5",
        ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def auto_tradeoff(data: RoutingSet) -> float:
    """The knob at which the dearest model's mean cost is worth VALUE_AT_BIGGEST quality."""
    lam = VALUE_AT_BIGGEST / float(data.costs.mean(axis=0).max())
    return float(np.clip(1.0 - math.log10(1.0 + lam) / 3.0, 0.0, 1.0))


# --- the loop -----------------------------------------------------------------------------


def run(args: argparse.Namespace, traffic: RoutingSet, test: RoutingSet, work: Path) -> dict:
    from edge_moma.config import load_config

    tradeoff = args.tradeoff if args.tradeoff is not None else auto_tradeoff(traffic)
    config_path = write_config(work / "config.toml", traffic, tradeoff, args)
    config = load_config(config_path)
    lam = tradeoff_lambda(tradeoff)
    fleet_db, inbox, releases = work / "fleet" / "fleet.db", work / "inbox", work / "releases"
    rng = np.random.default_rng(args.seed)
    total = args.rounds * args.per_round
    order_ = np.concatenate(
        [rng.permutation(len(traffic)) for _ in range(total // len(traffic) + 1)]
    )[:total]
    feedback_draw = np.random.default_rng(args.seed + 1)
    start_dir = bundle_dir(config, "routing")
    report: dict[str, Any] = {
        "data": str(args.data),
        "test": str(args.test) if args.test else f"{args.test_frac} of --data ({args.split})",
        "setup": {
            "models": list(traffic.models),
            "traffic_rows": len(traffic),
            "test_rows": len(test),
            "rounds": args.rounds,
            "per_round": args.per_round,
            "feedback_rate": args.feedback_rate,
            "seed": args.seed,
            "tradeoff": tradeoff,
            "lambda_per_usd": lam,
            "explore": config.policy.explore,
            "explore_margin": config.policy.explore_margin,
            "start_bundle": QualityPredictor.load(start_dir).version,
            "hint": not args.no_hint,
        },
        "start": test_figures(start_dir, test, lam, config),
        "rounds": [],
    }
    # (traffic row, model, score, propensity) of all feedback
    observed: list[tuple[int, int, float, float]] = []
    row_of: dict[str, int] = {}  # decision id -> traffic row
    col = {m: j for j, m in enumerate(traffic.models)}
    for r in range(args.rounds):
        t0 = time.perf_counter()
        rows = order_[r * args.per_round : (r + 1) * args.per_round]
        served = route_round(
            config_path, traffic, rows, args, r, col, feedback_draw, observed, lam, row_of
        )
        store = LogStore.open(config.data_dir / "decisions.db")
        try:
            export_batch(store, inbox, DEVICE)
        finally:
            store.close()
        collect([inbox], fleet_db)
        current = bundle_dir(config, "routing")
        cand = work / "candidates" / f"round-{r + 1}"
        out = retrain_routing(
            fleet_db, None, current, cand, cand.with_suffix(".work"), seed=args.seed
        )
        gate = gate_routing(
            cand, current, [], out["outcomes_file"], cand.with_suffix(".work") / "gate.json"
        )
        cand_test = test_figures(cand, test, lam, config)
        cur_test = test_figures(current, test, lam, config)
        if gate["promote"]:
            release = publish(
                {"routing": cand}, releases, release=f"round-{r + 1}", gate_report=gate
            )
            install(config.data_dir, release, required_labels={"intent": set()})
        elif not args.no_hint:  # the device explores toward the refused candidate's choices
            hint = publish(
                {"routing": cand}, releases, release=f"hint-{r + 1}", gate_report=gate, hint=True
            )
            install(config.data_dir, hint)
        installed = cand_test if gate["promote"] else cur_test
        report["rounds"].append(
            {
                "round": r + 1,
                **served,
                "feedback_rows": len(observed),
                "promoted": bool(gate["promote"]),
                "gate": {
                    "decisions": gate["value"]["decisions"],
                    "delta": gate["value"].get("delta"),
                    "interval": gate["value"]["delta_interval"],
                    "disagree": gate["value"].get("disagree", 0),
                    **gate_truth(gate, traffic, row_of),
                    "brier_delta": gate["brier"]["delta"],
                },
                "candidate_test": cand_test,
                "current_test": cur_test,
                "candidate_better_on_test": cand_test["value"] > cur_test["value"],
                "candidate_worse_on_test": cand_test["value"] < cur_test["value"],
                "test": installed,
                "seconds": round(time.perf_counter() - t0, 1),
            }
        )
        print(
            f"round {r + 1}: test aiq {installed['aiq']} (candidate {cand_test['aiq']}, "
            f"promoted {gate['promote']}), served {served['served_quality']:.4f} "
            f"(greedy {served['greedy_quality']:.4f}), {report['rounds'][-1]['seconds']} s",
            file=sys.stderr,
        )
    report["task_lookup"] = lookup_figures(traffic, test, observed)
    report["task_lookup_weighted"] = lookup_figures(traffic, test, observed, weighted=True)
    reference = partial(
        reference_router,
        test=test, fleet_db=fleet_db, work=work, lam=lam, config=config, seed=args.seed,
    )  # fmt: skip
    report["uniform_logging"] = uniform_logging(
        traffic, test, observed, order_, args.seed, reference
    )
    report["full_information"] = full_information(traffic, observed, reference)
    report["gate"] = gate_summary(report["rounds"])
    report["gate_calibration"] = gate_calibration(report["rounds"])
    report["closure"] = closure(report, "apgr" if len(traffic.models) == 2 else "aiq")
    return report


def route_round(
    config_path: Path,
    traffic: RoutingSet,
    rows: np.ndarray,
    args: argparse.Namespace,
    r: int,
    col: dict[str, int],
    feedback_draw: np.random.Generator,
    observed: list[tuple[int, int, float, float]],
    lam: float,
    row_of: dict[str, int],
) -> dict[str, Any]:
    """Route one round on the device; report what it served, explored and fed back
    (``row_of``: each decision's traffic row, by decision id)."""
    quality, cost, greedy_q, greedy_c, explored = [], [], [], [], 0
    ctx = {"online": True, "charging": True, "battery_percent": 100.0}
    with Runtime.from_config(config_path, explore_seed=args.seed * 1000 + r) as rt:
        for lo in range(0, len(rows), CHUNK):
            chunk = rows[lo : lo + CHUNK]
            decisions = rt.route_many(
                [traffic.prompts[i] for i in chunk], contexts=[ctx] * len(chunk)
            )
            for i, d in zip(chunk, decisions, strict=True):
                row_of[d.id] = int(i)
                j = col[d.target]
                quality.append(traffic.scores[i, j])
                cost.append(traffic.costs[i, j])
                explored += d.explored
                g = col[_greedy(d)]
                greedy_q.append(traffic.scores[i, g])
                greedy_c.append(traffic.costs[i, g])
                if feedback_draw.random() < args.feedback_rate:
                    rt.feedback(d.id, score=float(traffic.scores[i, j]))
                    p = float(d.propensity or 1.0)  # none logged (pinned, say): weight 1
                    observed.append((int(i), j, float(traffic.scores[i, j]), p))
    return {
        "decisions": len(rows),
        "explored": explored,
        "served_quality": round(float(np.mean(quality)), 6),
        "served_cost": float(np.mean(cost)),
        "greedy_quality": round(float(np.mean(greedy_q)), 6),
        "greedy_cost": float(np.mean(greedy_c)),
    }


def _greedy(decision: Any) -> str:
    """The candidate the policy ranks first (what it serves without exploration)."""
    cands = [c for c in decision.candidates if c.kind != "agent"]
    ranked = order(
        [c.utility for c in cands], [c.cost_usd for c in cands], [c.quality for c in cands]
    )
    return next(cands[i].target for i in ranked if cands[i].eligible)


# --- figures --------------------------------------------------------------------------------


def test_figures(bundle: Path, test: RoutingSet, lam: float, config: Any) -> dict[str, Any]:
    """The bundle's curve figures on the test part, plus ``value``: the mean utility
    (score - lambda x cost, the device's rule and prices) of its greedy choices."""
    quality, est = router_predictions(Path(bundle), test)
    out = {
        k: v
        for k, v in curve_metrics(sweep(quality, est, test.scores, test.costs), test).items()
        if k in FIGURES
    }
    priced = device_costs(test, config)
    util = quality - lam * priced
    rows = np.arange(len(test))
    choice = np.array(
        [
            order(u.tolist(), c.tolist(), q.tolist())[0]
            for u, c, q in zip(util, priced, quality, strict=True)
        ]
    )
    out["value"] = round(float((test.scores[rows, choice] - lam * priced[rows, choice]).mean()), 6)
    return out


def device_costs(data: RoutingSet, config: Any) -> np.ndarray:
    """What the device estimates each call costs (its price list, as ``policy.estimate``)."""
    tokens = np.array([estimate_tokens(p) for p in data.prompts], dtype=np.float64)
    out = np.zeros(data.costs.shape)
    for j, m in enumerate(data.models):
        model = config.model(m)
        out[:, j] = (model.price_in * tokens + model.price_out * OUTPUT_TOKENS) / 1000.0
    return out


def lookup_figures(
    traffic: RoutingSet, test: RoutingSet, observed: list, *, weighted: bool = False
) -> dict[str, Any]:
    """The per-task lookup trained on the same feedback (``lookup_quality``), on the test part."""
    if not traffic.has_tasks or not test.has_tasks:
        return {"why": "the files name no tasks"}
    quality = lookup_quality(traffic, test, observed, weighted=weighted)
    cost = task_lookup(traffic, test, traffic.costs)
    metrics = curve_metrics(sweep(quality, cost, test.scores, test.costs), test)
    return {k: v for k, v in metrics.items() if k in FIGURES}


def lookup_quality(
    traffic: RoutingSet, test: RoutingSet, observed: list, *, weighted: bool = False
) -> np.ndarray:
    """(test rows, models): each test task's mean logged score per model (a model never
    observed on a task: its mean over all tasks; never observed at all: 0.5).

    ``weighted``: each outcome counts 1 / propensity (a self-normalised mean, as the
    router's table): the plain mean believes a model the policy tried mostly where it
    expected it to do well; the weighted one is the fair baseline for a router that
    corrects for that.
    """
    scores = np.full((len(observed), len(traffic.models)), np.nan)
    weight = np.zeros(scores.shape)
    for n, (_, j, s, p) in enumerate(observed):
        scores[n, j], weight[n, j] = s, 1.0 / p if weighted else 1.0
    tasks = [traffic.tasks[i] for i, _, _, _ in observed]

    def means(rows: np.ndarray, fallback: np.ndarray) -> np.ndarray:
        total = np.where(weight[rows] > 0, scores[rows] * weight[rows], 0.0).sum(axis=0)
        count = weight[rows].sum(axis=0)
        return np.where(count > 0, total / np.where(count > 0, count, 1.0), fallback)

    overall = means(np.ones(len(tasks), dtype=bool), np.full(scores.shape[1], 0.5))
    table = {t: means(np.array([x == t for x in tasks]), overall) for t in set(tasks)}
    return np.stack([table.get(t, overall) for t in test.tasks])


def uniform_logging(
    traffic: RoutingSet,
    test: RoutingSet,
    observed: list,
    routed: np.ndarray,
    seed: int,
    reference: Callable[[RoutingSet, str], dict[str, Any]],
) -> dict[str, Any]:
    """A reference for what one outcome per feedback row can teach, learnt from
    ``uniform_outcomes``: the per-task lookup with the file's true task labels, and
    ``router``: the fleet's trainer (``reference``), on the test part.
    ``served_quality``: what a device serves when it answers every routed query with a
    uniformly drawn model (it cannot know in advance which decisions will get feedback),
    to set against the rounds' ``greedy_quality``."""
    outcomes = uniform_outcomes(traffic, observed, seed)
    return {
        "served_quality": round(float(traffic.scores[routed].mean()), 6),
        **lookup_figures(traffic, test, outcomes),
        "router": reference(revealed_set(traffic, outcomes), "uniform-logging"),
    }


def revealed_set(traffic: RoutingSet, outcomes: list) -> RoutingSet:
    """A row per outcome (a prompt that got feedback twice is two rows) with its one
    revealed score, the others unknown: what the fleet's trainer learns from."""
    rows = traffic.subset(np.array([i for i, _, _, _ in outcomes], dtype=np.int64))
    scores = np.full(rows.scores.shape, np.nan)
    for n, (_, j, score, _) in enumerate(outcomes):
        scores[n, j] = score
    return replace(rows, ids=tuple(f"{i}#{n}" for n, i in enumerate(rows.ids)), scores=scores)


def uniform_outcomes(traffic: RoutingSet, observed: list, seed: int) -> list:
    """The same feedback rows, each revealing the score of a model drawn uniformly at
    random instead of the one the device chose: the most even spread of outcomes over the
    pool. Drawn from a generator of its own, so the loop's figures do not change."""
    picks = np.random.default_rng(seed + 2).integers(0, len(traffic.models), len(observed))
    return [
        (i, int(j), float(traffic.scores[i, j]), 1.0)
        for (i, _, _, _), j in zip(observed, picks, strict=True)
    ]


def full_information(
    traffic: RoutingSet,
    observed: list,
    reference: Callable[[RoutingSet, str], dict[str, Any]],
) -> dict[str, Any]:
    """The same trainer given every model's score for the queries that got feedback (and the
    same logged prompts without feedback), scored on the test part."""
    rows = sorted({i for i, _, _, _ in observed})
    return {
        "queries": len(rows),
        **reference(traffic.subset(np.array(rows)), "full-information"),
    }


def reference_router(
    data: RoutingSet,
    name: str,
    *,
    test: RoutingSet,
    fleet_db: Path,
    work: Path,
    lam: float,
    config: Any,
    seed: int,
) -> dict[str, Any]:
    """The fleet's trainer on ``data`` (without task labels: logged rows have none) and
    every logged prompt not in it, as ``work / name``, scored on the test part."""
    data = replace(data, tasks=(None,) * len(data))
    trained = set(data.prompts)
    extra = [t for t in logged_prompts(fleet_db) if t not in trained]
    train_quality(data, work / name, fleet_train_config(seed), extra_prompts=extra)
    return test_figures(work / name, test, lam, config)


def gate_summary(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    promoted = [r for r in rounds if r["promoted"]]
    refused = [r for r in rounds if not r["promoted"]]
    return {
        "promoted": len(promoted),
        "refused": len(refused),
        "promoted_worse_on_test_value": sum(r["candidate_worse_on_test"] for r in promoted),
        "refused_better_on_test_value": sum(r["candidate_better_on_test"] for r in refused),
    }


def gate_truth(gate: dict[str, Any], traffic: RoutingSet, row_of: dict[str, int]) -> dict:
    """The gate's estimate against the truth on the decisions it judged (its
    ``choices_file``): each router's choice scored with the file's score of its
    traffic row plus the gate's cost term for that choice."""
    value = gate["value"]
    path = value.get("choices_file")
    choices = [c for _, c in read_records(path)] if path else []
    low, high = value["delta_interval"]
    if not choices or low is None:
        return {"true_difference": None, "candidate_support": 0, "interval_covers_truth": None}
    col = {m: j for j, m in enumerate(traffic.models)}
    diff = []
    for c in choices:
        true = traffic.scores[row_of[c["id"]]]
        diff.append(
            (true[col[c["candidate"]]] + c["candidate_cost_term"])
            - (true[col[c["current"]]] + c["current_cost_term"])
        )
    truth = round(float(np.mean(diff)), 6)
    return {
        "true_difference": truth,
        "candidate_support": int(value["support"]),
        "interval_covers_truth": bool(low <= truth <= high),
    }


def gate_calibration(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """How often the gate's interval held the true difference, over the rounds it judged
    and over the promoted ones."""

    def counts(chosen: list[dict[str, Any]]) -> dict[str, int]:
        judged = [r["gate"] for r in chosen if r["gate"]["true_difference"] is not None]
        return {
            "rounds": len(judged),
            "covered": sum(g["interval_covers_truth"] for g in judged),
            "truth_below_interval": sum(g["true_difference"] < g["interval"][0] for g in judged),
            "truth_above_interval": sum(g["true_difference"] > g["interval"][1] for g in judged),
        }

    return {"judged": counts(rounds), "promoted": counts([r for r in rounds if r["promoted"]])}


def closure(report: dict[str, Any], key: str) -> dict[str, Any]:
    start, full = report["start"][key], report["full_information"][key]
    final = report["rounds"][-1]["test"][key] if report["rounds"] else start
    lookup = report["task_lookup"].get(key)
    weighted = report["task_lookup_weighted"].get(key)
    uniform = report["uniform_logging"].get(key)
    uniform_router = report["uniform_logging"]["router"][key]
    greedy = [r["greedy_quality"] for r in report["rounds"]]

    def closed(x: float | None) -> float | None:
        return None if x is None or full == start else round((x - start) / (full - start), 4)

    return {
        "figure": key,
        "start": start,
        "final": final,
        "full_information": full,
        "task_lookup": lookup,
        "task_lookup_weighted": weighted,
        "gap_closed": closed(final),
        "beats_task_lookup": None if lookup is None else final > lookup,
        "beats_task_lookup_weighted": None if weighted is None else final > weighted,
        "served_minus_greedy": [
            round(r["served_quality"] - r["greedy_quality"], 6) for r in report["rounds"]
        ],
        "uniform_logging": uniform,
        "uniform_logging_gap_closed": closed(uniform),
        "uniform_logging_router": uniform_router,
        "uniform_logging_router_gap_closed": closed(uniform_router),
        "uniform_logging_served_minus_greedy": round(
            report["uniform_logging"]["served_quality"] - float(np.mean(greedy)), 6
        )
        if greedy
        else None,
    }


def summary(report: dict[str, Any]) -> dict[str, Any]:
    return {
        "setup": report["setup"],
        "start": report["start"],
        "rounds": [
            {
                k: r[k]
                for k in (
                    "round",
                    "explored",
                    "feedback_rows",
                    "promoted",
                    "served_quality",
                    "greedy_quality",
                    "served_cost",
                    "test",
                )
            }
            for r in report["rounds"]
        ],
        "task_lookup": report["task_lookup"],
        "task_lookup_weighted": report["task_lookup_weighted"],
        "uniform_logging": report["uniform_logging"],
        "full_information": report["full_information"],
        "gate": report["gate"],
        "gate_calibration": report["gate_calibration"],
        "closure": report["closure"],
        "seconds": report["seconds"],
    }


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    key = report["closure"]["figure"]
    xs = [0] + [r["round"] for r in report["rounds"]]
    ys = [report["start"][key]] + [r["test"][key] for r in report["rounds"]]
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    ax.plot(xs, ys, marker="o", label="installed router (test part)")
    cand = [r["candidate_test"][key] for r in report["rounds"]]
    ax.plot(xs[1:], cand, marker="x", linestyle=":", label="candidate of the round")
    ax.axhline(
        report["full_information"][key], color="tab:green", linestyle="--", label="full information"
    )
    if report["task_lookup"].get(key) is not None:
        ax.axhline(
            report["task_lookup"][key],
            color="tab:brown",
            linestyle="--",
            label="per-task lookup, same feedback",
        )
    ax.set_xlabel("round")
    ax.set_ylabel(key.upper())
    ax.set_title(f"Fleet loop: {Path(report['data']).name}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
