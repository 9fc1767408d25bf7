"""Latency of one LLM-routing decision with the shipped quality predictor; print and write JSON.

    python scripts/bench_routing.py [--model models/routing] [--data FILE.jsonl]
                                    [--report reports/bench_routing.json]

One decision = featurize the prompt + run the int8 ONNX predictor (every known
model's quality and cost) + map it onto the pool + the argmax-utility choice
(``utility.select``: the ranking rule the runtime's policy uses), on one
thread, one prompt at a time, over the prompts of a routing file. The pool is
the bundle's known models (11 for the shipped one). Also: the share of prompts
whose decision is identical when repeated (determinism), model size and load
time, and the decisions' CPU time on this thread (wall-clock minus what a busy
machine's other processes take). The targets, on wall-clock figures, are
printed next to them.

``router_*``: the whole request path as the runtime and the daemon run it,
``Router.decide_many`` (intent and task, quality, the default config's agent
stage, masks and policy over the same 11 models), one prompt at a time and in
batches of 8 (per prompt). With ``--explore R``: what exploration adds, and what an
installed exploration hint adds on top (``router_hint_*``: the whole path with and
without a hint bundle of the same size, interleaved per prompt).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edge_moma.bundle_dirs import shipped_bundle_dir  # noqa: E402
from edge_moma.config import RemoteModel, load_config  # noqa: E402
from edge_moma.device import DeviceState  # noqa: E402
from edge_moma.routing.exploration import choose_explored  # noqa: E402
from edge_moma.routing.intent import IntentRouter  # noqa: E402
from edge_moma.routing.quality import QualityPredictor  # noqa: E402
from edge_moma.routing.router import Environment, Router  # noqa: E402
from edge_moma.routing.utility import select  # noqa: E402
from edge_moma.targets.agents import AgentRegistry  # noqa: E402
from edge_moma.training.routing_data import load_routing_set  # noqa: E402

TARGETS = {"decision_p50_us": 150.0, "decision_p99_us": 500.0}
LAMBDA = 1.0  # on costs in units of the pool's largest expected cost, as in the benchmark


class _Entry:
    def __init__(self, name: str):
        self.name, self.profile, self.priors = name, None, None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "routing")
    parser.add_argument("--data", type=Path, default=ROOT / "scripts/data/routerbench/train.jsonl")
    parser.add_argument("--report", type=Path, default=ROOT / "reports" / "bench_routing.json")
    parser.add_argument("--repeat", type=int, default=3, help="Passes over the prompts.")
    parser.add_argument("--max-chars", type=int, default=0, help="Cut prompts to their last N.")
    parser.add_argument(
        "--explore", type=float, default=0.0, help="Also time what [policy] explore adds."
    )
    args = parser.parse_args(argv)

    began = time.perf_counter()
    predictor = QualityPredictor.load(args.model)
    load_ms = (time.perf_counter() - began) * 1e3
    pool = [_Entry(m) for m in predictor.models]
    prompts = list(load_routing_set(args.data).prompts)
    if args.max_chars:  # e.g. 200: the question of a few-shot prompt, like a chat turn
        prompts = [t[-args.max_chars :] for t in prompts]
    c_ref = max(predictor.card["data"]["mean_cost_usd"].values())

    def decide(text: str) -> int:
        indices = predictor.featurizer.indices(text)
        known_q, known_c = predictor.known(indices)
        quality = predictor.score_pool(known_q, pool)
        return select(quality, known_c / c_ref, LAMBDA)

    for text in prompts[:200]:  # warm-up
        decide(text)
    times, cpu, first = [], [], [decide(t) for t in prompts]
    for _ in range(args.repeat):
        for text in prompts:
            c0, t0 = time.thread_time_ns(), time.perf_counter_ns()
            decide(text)
            times.append((time.perf_counter_ns() - t0) / 1e3)
            cpu.append((time.thread_time_ns() - c0) / 1e3)
    # The same decisions split in two: featurizing (shared with the intent router at
    # run time) and the routing proper (predict + pool mapping + choice).
    feat_us, route_us = [], []
    for text in prompts:
        t0 = time.perf_counter_ns()
        indices = predictor.featurizer.indices(text)
        t1 = time.perf_counter_ns()
        known_q, known_c = predictor.known(indices)
        select(predictor.score_pool(known_q, pool), known_c / c_ref, LAMBDA)
        feat_us.append((t1 - t0) / 1e3)
        route_us.append((time.perf_counter_ns() - t1) / 1e3)
    same = float(np.mean([decide(t) == c for t, c in zip(prompts, first, strict=True)]))
    router_us, batch8_us = _router_figures(predictor, prompts, args.repeat)
    explore_us = (
        {
            **_exploration_cost(predictor, pool, prompts, args.explore),
            **_hint_cost(args.model, predictor, prompts, args.explore, args.repeat),
        }
        if args.explore
        else {}
    )
    q = statistics.quantiles(times, n=100)
    q_cpu = statistics.quantiles(cpu, n=100)
    size = sum(p.stat().st_size for p in args.model.iterdir() if p.suffix == ".onnx")
    report = {
        "model": str(args.model),
        "version": predictor.version,
        "pool_size": len(pool),
        "prompts": len(prompts),
        "decisions_timed": len(times),
        "decision_p50_us": round(q[49], 1),
        "decision_p99_us": round(q[98], 1),
        "decision_mean_us": round(statistics.fmean(times), 1),
        # This thread's CPU time: the same decisions without the time other
        # processes on a shared machine take the core away (the wall-clock tail).
        "decision_cpu_p50_us": round(q_cpu[49], 1),
        "decision_cpu_p99_us": round(q_cpu[98], 1),
        "featurize_p50_us": round(statistics.median(feat_us), 1),
        "predict_and_select_p50_us": round(statistics.median(route_us), 1),
        "router_decision_p50_us": round(statistics.median(router_us), 1),
        "router_decision_p99_us": round(statistics.quantiles(router_us, n=100)[98], 1),
        "router_batch8_per_query_p50_us": round(statistics.median(batch8_us), 1),
        "prompt_chars_p50": statistics.median(len(t) for t in prompts),
        "deterministic_share": same,
        "model_mb": round(size / 1e6, 2),
        "load_ms": round(load_ms, 1),
        **explore_us,
        "targets": {k: f"<= {v}" for k, v in TARGETS.items()},
    }
    report["met"] = {k: report[k] <= v for k, v in TARGETS.items()}
    print(json.dumps(report, indent=2))
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


def _router(
    predictor: QualityPredictor, explore: float = 0.0, hint: QualityPredictor | None = None
) -> Router:
    """The default config's router over the predictor's known models as remote models."""
    config = load_config(ROOT / "configs" / "default.toml", check_files=False)
    pool = [
        RemoteModel(name=m, base_url="https://api.example/v1", model=m, profile=m)
        for m in predictor.models
    ]
    policy = dataclasses.replace(config.policy, explore=explore)
    config = dataclasses.replace(config, models=pool, policy=policy)
    claims = AgentRegistry(config.agents, data_dir=ROOT / "build").claims()
    intent = IntentRouter.load(shipped_bundle_dir("intent"))
    return Router(config, intent, predictor, claims=claims, explore_seed=0, hint=hint)


def _router_figures(
    predictor: QualityPredictor, prompts: list[str], repeat: int
) -> tuple[list[float], list[float]]:
    """Microseconds of ``Router.decide_many`` a prompt: alone, and in batches of 8."""
    router = _router(predictor)
    env = Environment(DeviceState(), now=time.time())
    requests = [router.check(text) for text in prompts]
    for request in requests[:200]:  # warm-up
        router.decide_many([request], env)
    alone, batched = [], []
    for _ in range(repeat):
        for request in requests:
            t0 = time.perf_counter_ns()
            router.decide_many([request], env)
            alone.append((time.perf_counter_ns() - t0) / 1e3)
        for i in range(0, len(requests) - 7, 8):
            t0 = time.perf_counter_ns()
            router.decide_many(requests[i : i + 8], env)
            batched.append((time.perf_counter_ns() - t0) / 8e3)
    return alone, batched


def _exploration_cost(
    predictor: QualityPredictor, pool: list[_Entry], prompts: list[str], rate: float
) -> dict[str, float]:
    """What exploration adds to a decision: the model run that also reads the table's
    counts (``assess_many`` instead of ``known_quality_many``), the pool's uncertainty,
    the propensities and one draw. Interleaved per prompt, medians of the differences."""
    draw = random.Random(0).random
    extra = []
    for text in prompts:
        rows = [predictor.featurizer.indices(text)]
        t0 = time.perf_counter_ns()
        predictor.score_pool(predictor.known_quality_many(rows)[0], pool)
        t1 = time.perf_counter_ns()
        known, unsure = predictor.assess_many(rows)
        quality = predictor.score_pool(known[0], pool)
        u = quality.tolist()
        best = max(range(len(u)), key=u.__getitem__)
        unsure_pool = predictor.pool_uncertainty(unsure[0], pool)
        choose_explored(u, [True] * len(u), best, rate, 0.3, unsure_pool, draw())
        t2 = time.perf_counter_ns()
        plain = t1 - t0
        extra.append(((t2 - t1) - plain) / 1e3)
    return {"explore": rate, "explore_extra_p50_us": round(statistics.median(extra), 1)}


def _hint_cost(
    model: Path, predictor: QualityPredictor, prompts: list[str], rate: float, repeat: int
) -> dict[str, float]:
    """``Router.decide_many`` a prompt with exploration, without and with a hint (a second
    load of the same bundle: the same model run), alternating per prompt."""
    plain = _router(predictor, rate)
    hinted = _router(predictor, rate, hint=QualityPredictor.load(model))
    env = Environment(DeviceState(), now=time.time())
    requests = [plain.check(text) for text in prompts]
    for request in requests[:200]:  # warm-up
        plain.decide_many([request], env)
        hinted.decide_many([request], env)
    without, with_hint = [], []
    for _ in range(repeat):
        for request in requests:
            t0 = time.perf_counter_ns()
            plain.decide_many([request], env)
            t1 = time.perf_counter_ns()
            hinted.decide_many([request], env)
            with_hint.append((time.perf_counter_ns() - t1) / 1e3)
            without.append((t1 - t0) / 1e3)
    a, b = statistics.median(without), statistics.median(with_hint)
    return {
        "router_explore_p50_us": round(a, 1),
        "router_hint_p50_us": round(b, 1),
        "router_hint_ratio": round(b / a, 3),
    }


if __name__ == "__main__":
    sys.exit(main())
