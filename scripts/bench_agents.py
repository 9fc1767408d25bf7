"""Benchmark the agent stage on CLINC150's test split (+ oos_test) with the default agents.

    python scripts/bench_agents.py [--config FILE] [--intent-model DIR] [--out FILE.json]

Reports, for the agents enabled in the config:

- ``agent_recall``: of the test queries whose gold intent belongs to an agent,
  the share the agent stage routes to exactly that agent (target >= 95%);
- ``oos_to_agent``: of the out-of-scope queries, the share routed to any agent
  (target <= 5%); also ``in_scope_other_to_agent`` for in-scope queries of
  intents no agent serves;
- ``stage_latency_us``: p50/p99 of the agent stage alone per query (session
  lookup, masks and selection, as ``Runtime.route`` runs it), target p50 <= 30 µs.

A query is "routed to an agent" exactly when ``Runtime.route`` would return a
``stage="agent"`` decision: the agent stage decides before the LLM stage and
the LLM stage cannot overrule it. Prints the figures and writes them as JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edge_moma.bundle_dirs import bundle_dir  # noqa: E402
from edge_moma.config import load_config  # noqa: E402
from edge_moma.routing.agent_stage import AgentStage  # noqa: E402
from edge_moma.routing.constraints import Situation  # noqa: E402
from edge_moma.routing.intent import IntentRouter  # noqa: E402
from edge_moma.targets.agents import AgentRegistry  # noqa: E402
from edge_moma.targets.sessions import SessionManager  # noqa: E402

DATA = ROOT / "scripts" / "data" / "clinc150" / "data_full.json"


def _pct(values: list[int], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] / 1000.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=str(ROOT / "configs" / "default.toml"))
    parser.add_argument("--intent-model", default="", help="intent bundle dir (default: config's)")
    parser.add_argument("--out", default=str(ROOT / "reports" / "bench_agents.json"))
    parser.add_argument("--repeats", type=int, default=3, help="latency passes (median kept)")
    parser.add_argument("--split", choices=["test", "val"], default="test", help="+ oos_<split>")
    args = parser.parse_args()

    config = load_config(args.config, check_files=False)
    router = IntentRouter.load(args.intent_model or bundle_dir(config, "intent"))
    st = config.agent_stage
    stage = AgentStage(
        config.agents,
        threshold=st.threshold,
        switch_confidence=st.switch_confidence,
        domains=router.card.get("domains") or {},
        claims=AgentRegistry(config.agents, data_dir=ROOT / "build").claims(),
        budgets=config.budgets,
    )
    sessions = SessionManager(ttl_s=st.session_ttl_s, follow_up_s=st.follow_up_s)
    situation = Situation(  # online, on mains, nothing spent: the agents' own masks decide
        battery_percent=None,
        charging=True,
        online=True,
        deadline_s=config.budgets.deadline_s,
        prompt_tokens=16,
        output_tokens=config.policy.expected_output_tokens,
    )
    data = json.loads(DATA.read_text(encoding="utf-8"))
    rows = [(q, label) for q, label in data[args.split]]
    rows += [(q, "oos") for q, _ in data[f"oos_{args.split}"]]

    owner = {label: stage.owner_of(label) for _, label in rows}
    counts: Counter[str] = Counter()
    per_agent: Counter[str] = Counter()
    per_agent_hit: Counter[str] = Counter()
    misses: Counter[str] = Counter()
    understood = []
    for text, label in rows:
        u = router.understand(text)
        understood.append((text, u))
        choice = stage.select(u, text, situation)
        want = owner[label]
        if label == "oos":
            counts["oos"] += 1
            counts["oos_to_agent"] += choice.target is not None
        elif want is None:
            counts["other"] += 1
            counts["other_to_agent"] += choice.target is not None
        else:
            counts["agent_queries"] += 1
            per_agent[want] += 1
            hit = choice.target == want
            counts["agent_hits"] += hit
            per_agent_hit[want] += hit
            if not hit:
                misses[f"{label} -> {choice.target or 'llm'}"] += 1

    passes = []
    for _ in range(args.repeats):
        times = []
        for text, u in understood:
            t0 = time.perf_counter_ns()
            session = sessions.get("bench")
            stage.select(u, text, situation, session, sessions.follow_up_agent(session))
            times.append(time.perf_counter_ns() - t0)
        passes.append(times)
    p50s = [_pct(t, 0.5) for t in passes]
    best = passes[p50s.index(statistics.median(p50s))]

    result = {
        "command": "python scripts/bench_agents.py" + " --split val" * (args.split == "val"),
        "split": f"{args.split} + oos_{args.split}",
        "router_version": router.version,
        "agents": {a.name: a.intents for a in config.agents if a.enabled},
        "threshold": st.threshold,
        "n": len(rows),
        "agent_queries": counts["agent_queries"],
        "agent_recall": counts["agent_hits"] / max(1, counts["agent_queries"]),
        "agent_recall_by_agent": {a: per_agent_hit[a] / per_agent[a] for a in sorted(per_agent)},
        "oos_queries": counts["oos"],
        "oos_to_agent": counts["oos_to_agent"] / max(1, counts["oos"]),
        "in_scope_other_queries": counts["other"],
        "in_scope_other_to_agent": counts["other_to_agent"] / max(1, counts["other"]),
        "top_misses": dict(misses.most_common(10)),
        "stage_latency_us": {"p50": _pct(best, 0.5), "p99": _pct(best, 0.99)},
        "targets": {"agent_recall": ">= 0.95", "oos_to_agent": "<= 0.05", "p50_us": "<= 30"},
    }
    print(f"agents: {result['agents']}")
    print(
        f"agent recall    {result['agent_recall']:.2%} of {counts['agent_queries']} queries "
        f"(target >= 95%)"
    )
    for a, r in result["agent_recall_by_agent"].items():
        print(f"  {a:12s} {r:.2%} of {per_agent[a]}")
    print(f"oos -> agent    {result['oos_to_agent']:.2%} of {counts['oos']} (target <= 5%)")
    print(f"other -> agent  {result['in_scope_other_to_agent']:.2%} of {counts['other']}")
    print(
        f"stage latency   p50 {result['stage_latency_us']['p50']:.1f} us, "
        f"p99 {result['stage_latency_us']['p99']:.1f} us (target p50 <= 30 us)"
    )
    if misses:
        print("top misses:", dict(misses.most_common(5)))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
