"""Benchmark the agent stage on CLINC150's test split (+ oos_test) and on the second-style set.

    python scripts/bench_agents.py [--config FILE] [--intent-model DIR] [--out FILE.json]
                                   [--style FILE.jsonl [--show-requests]] [--no-claims]

Reports, for the agents enabled in the config:

- ``agent_recall``: of the CLINC150 test queries whose gold intent belongs to an
  agent, the share the agent stage routes to exactly that agent (target >= 97.6%);
- ``oos_to_agent``: of the out-of-scope queries, the share routed to any agent
  (target <= 1.9%); also ``in_scope_other_to_agent`` for in-scope queries of
  intents no agent serves;
- ``style``: the same on ``tests/data/agent_style_test.jsonl``, requests written
  in the way people talk to an assistant (never trained or tuned on): ``recall``
  of the requests for a built-in agent (target >= 95%), ``wrongly_taken`` share
  of the near misses an agent took (target <= 1%), per category, and
  ``answers_right``: of the calculator and units requests routed to their agent,
  the share whose reply holds the expected number; with ``--show-requests``
  also the requests routed wrongly (for the development set
  ``tests/data/agent_style_dev.jsonl``: the test set's stay unread);
- ``edges``: the split's figures again with words that ask nothing added at a
  query's edges (``EDGES``: "thanks", "please", "um", "hello", a question mark, an
  assistant's name...), one addition at a time, and with every space doubled:
  ``recall`` of the agent queries and ``others_taken``, the share of the other
  queries an agent takes;
- ``slips``: the split's agent recall and others taken with one typing slip in a
  word of every query (``slipped``: a letter dropped, doubled, changed or swapped,
  seeded), with the claims and on the evidence alone;
- ``stage_latency_us``: p50/p99 of the agent stage alone per query (session
  lookup, claims, masks and selection, as ``Runtime.route`` runs it), target
  p50 <= 50 µs; ``stage_latency_no_claims_us`` measures the same stage without
  claims in interleaved passes, so the claims' cost reads as a difference on a
  noisy machine. ``--no-claims`` routes every figure on the intent router's
  evidence alone (the agents' claims unused), to show what the claims add.

A query is "routed to an agent" exactly when ``Runtime.route`` would return a
``stage="agent"`` decision: the agent stage decides before the LLM stage and
the LLM stage cannot overrule it. Prints the figures and writes them as JSON.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edge_moma.agents import AgentTurn  # noqa: E402
from edge_moma.bundle_dirs import bundle_dir  # noqa: E402
from edge_moma.config import Config, load_config  # noqa: E402
from edge_moma.routing.agent_stage import AgentStage  # noqa: E402
from edge_moma.routing.constraints import Situation  # noqa: E402
from edge_moma.routing.intent import IntentRouter  # noqa: E402
from edge_moma.targets.agents import AgentRegistry  # noqa: E402
from edge_moma.targets.sessions import SessionManager  # noqa: E402

DATA = ROOT / "scripts" / "data" / "clinc150" / "data_full.json"
STYLE = ROOT / "tests" / "data" / "agent_style_test.jsonl"


def agent_stage(
    config: Config, router: IntentRouter, registry: AgentRegistry, claims: bool = True
) -> AgentStage:
    """The config's agent stage over ``router``, with the agents' claims or without them."""
    st = config.agent_stage
    return AgentStage(
        config.agents,
        threshold=st.threshold,
        switch_confidence=st.switch_confidence,
        domains=router.card.get("domains") or {},
        claims=registry.claims() if claims else {},
        budgets=config.budgets,
    )


def unconstrained(config: Config) -> Situation:
    """Online, on mains, nothing spent: the agents' own masks decide."""
    return Situation(
        battery_percent=None,
        charging=True,
        online=True,
        deadline_s=config.budgets.deadline_s,
        prompt_tokens=16,
        output_tokens=config.policy.expected_output_tokens,
    )


def _pct(values: list[int], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] / 1000.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=str(ROOT / "configs" / "default.toml"))
    parser.add_argument("--intent-model", default="", help="intent bundle dir (default: config's)")
    parser.add_argument("--out", default=str(ROOT / "reports" / "bench_agents.json"))
    parser.add_argument("--repeats", type=int, default=3, help="latency passes (median kept)")
    parser.add_argument(
        "--split", choices=["test", "val", "train"], default="test", help="+ oos_<split>"
    )
    parser.add_argument("--style", default=str(STYLE), help="second-style set (JSON lines)")
    parser.add_argument(
        "--show-requests",
        action="store_true",
        help="print and keep the style set's requests routed wrongly: for a development set "
        "(tests/data/agent_style_dev.jsonl), never the test set, which nothing may be tuned on",
    )
    parser.add_argument(
        "--no-claims",
        action="store_true",
        help="route on the intent router's evidence alone (what the claims add, by difference)",
    )
    args = parser.parse_args()

    config = load_config(args.config, check_files=False)
    router = IntentRouter.load(args.intent_model or bundle_dir(config, "intent"))
    st = config.agent_stage
    workdir = tempfile.TemporaryDirectory()  # the reminders agent's SQLite file
    registry = AgentRegistry(config.agents, data_dir=workdir.name)

    stage = agent_stage(config, router, registry, claims=not args.no_claims)
    plain = agent_stage(config, router, registry, claims=False)
    sessions = SessionManager(ttl_s=st.session_ttl_s, follow_up_s=st.follow_up_s)
    situation = unconstrained(config)
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

    style = _style(Path(args.style), router, stage, registry, situation, args.show_requests)
    edges = _edges(rows, owner, router, stage, situation)
    slips = {
        "claims": _slips(rows, owner, router, stage, situation),
        "no_claims": _slips(rows, owner, router, plain, situation),
    }
    workdir.cleanup()

    def timed(s: AgentStage) -> list[int]:
        times = []
        for text, u in understood:
            t0 = time.perf_counter_ns()
            session = sessions.get("bench")
            s.select(u, text, situation, session, sessions.follow_up_agent(session))
            times.append(time.perf_counter_ns() - t0)
        return times

    passes, plain_passes = [], []
    for _ in range(args.repeats):  # interleaved, so both see the same machine load
        passes.append(timed(stage))
        plain_passes.append(timed(plain))
    best, plain_best = _median_pass(passes), _median_pass(plain_passes)

    result = {
        "command": "python scripts/bench_agents.py"
        + f" --split {args.split}" * (args.split != "test")
        + " --no-claims" * args.no_claims,
        "claims": not args.no_claims,
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
        "style": style,
        "edges": edges,
        "slips": slips,
        "stage_latency_us": {"p50": _pct(best, 0.5), "p99": _pct(best, 0.99)},
        "stage_latency_no_claims_us": {"p50": _pct(plain_best, 0.5), "p99": _pct(plain_best, 0.99)},
        "targets": {
            "agent_recall": ">= 0.976",
            "oos_to_agent": "<= 0.019",
            "style_recall": ">= 0.95",
            "style_wrongly_taken": "<= 0.01",
            "p50_us": "<= 50",
        },
    }
    print(f"agents: {result['agents']}")
    print(
        f"agent recall    {result['agent_recall']:.2%} of {counts['agent_queries']} queries "
        f"(target >= 97.6%)"
    )
    for a, r in result["agent_recall_by_agent"].items():
        print(f"  {a:12s} {r:.2%} of {per_agent[a]}")
    print(f"oos -> agent    {result['oos_to_agent']:.2%} of {counts['oos']} (target <= 1.9%)")
    print(f"other -> agent  {result['in_scope_other_to_agent']:.2%} of {counts['other']}")
    if misses:
        print("top misses:", dict(misses.most_common(5)))
    print(
        f"second style    recall {style['recall']:.2%} of {style['agent_requests']} "
        f"(target >= 95%), wrongly taken {style['wrongly_taken']:.2%} of "
        f"{style['near_misses']} (target <= 1%), answers right {style['answers_right']:.2%} "
        f"of {style['answers_checked']}"
    )
    for name, r in style["recall_by_agent"].items():
        print(f"  {name:12s} {r:.2%}")
    worst = min(edges.items(), key=lambda kv: kv[1]["recall"])
    print(
        f"edge words      recall {min(e['recall'] for e in edges.values()):.2%}-"
        f"{max(e['recall'] for e in edges.values()):.2%} over {len(edges)} changes "
        f"(lowest: {worst[0]!r}), others taken at most "
        f"{max(e['others_taken'] for e in edges.values()):.2%}"
    )
    slip, plain_slip = slips["claims"], slips["no_claims"]
    print(
        f"typing slips    recall {slip['recall']:.2%} ({plain_slip['recall']:.2%} on the "
        f"evidence alone), others taken {slip['others_taken']:.2%} "
        f"({plain_slip['others_taken']:.2%})"
    )
    if style.get("missed") or style.get("taken"):
        print("  missed:", style["missed"][:8])
        print("  taken:", style["taken"][:8])
    print(
        f"stage latency   p50 {result['stage_latency_us']['p50']:.1f} us, "
        f"p99 {result['stage_latency_us']['p99']:.1f} us (target p50 <= 50 us); without "
        f"claims p50 {result['stage_latency_no_claims_us']['p50']:.1f} us"
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    return 0


def _median_pass(passes: list[list[int]]) -> list[int]:
    p50s = [_pct(t, 0.5) for t in passes]
    return passes[p50s.index(statistics.median(p50s))]


# Words that ask nothing, at a request's edges: each is added to every CLINC150 query
# of the split in turn ("{}" is the query); and, as typed, every space doubled.
EDGES = (
    "{} please", "{} thanks", "{}, thank you!", "{} thx", "{} pls", "{} for me", "{} asap",
    "{}?", "um {}", "hey {}", "hello {}", "hey there, {}", "ok {}", "well, {}", "alexa {}",
)  # fmt: skip
DOUBLED = "every space doubled"


def _edges(
    rows: list[tuple[str, str]],
    owner: dict[str, str | None],
    router: IntentRouter,
    stage: AgentStage,
    situation: Situation,
) -> dict[str, dict[str, float]]:
    """Per edge of ``EDGES`` (and ``DOUBLED``): the agent recall of the split's queries with
    it added, and the share of its other queries (out of scope or no agent's) an agent then
    takes."""
    return {
        edge: _reach(
            [
                (text.replace(" ", "  ") if edge == DOUBLED else edge.format(text), label)
                for text, label in rows
            ],
            owner,
            router,
            stage,
            situation,
        )
        for edge in (*EDGES, DOUBLED)
    }


def _reach(
    said: list[tuple[str, str]],
    owner: dict[str, str | None],
    router: IntentRouter,
    stage: AgentStage,
    situation: Situation,
) -> dict[str, float]:
    """Of the requests ``said`` (text, gold intent): the share of the agent ones routed to
    their agent (``recall``) and of the others that an agent takes (``others_taken``)."""
    hits = wanted = taken = others = 0
    for text, label in said:
        target = stage.select(router.understand(text), text, situation).target
        want = owner[label]  # None for oos, which is no agent's (the config refuses it)
        if want is None:
            others += 1
            taken += target is not None
        else:
            wanted += 1
            hits += target == want
    return {"recall": hits / max(1, wanted), "others_taken": taken / max(1, others)}


def slipped(text: str, rng: random.Random) -> str:
    """``text`` with one typing slip in one of its words of four letters or more (chosen by
    ``rng``): a letter dropped, doubled, changed, or swapped with its neighbour."""
    words = text.split(" ")
    long = [i for i, w in enumerate(words) if len(w) >= 4 and w.isalpha()]
    if not long:
        return text
    i = rng.choice(long)
    w, j = words[i], rng.randrange(1, len(words[i]) - 1)
    words[i] = rng.choice(
        [
            w[:j] + w[j + 1 :],
            w[:j] + w[j] + w[j:],
            w[:j] + rng.choice("abcdefghijklmnopqrstuvwxyz".replace(w[j], "")) + w[j + 1 :],
            w[: j - 1] + w[j] + w[j - 1] + w[j + 1 :] if w[j] != w[j - 1] else w[:j] + w[j + 1 :],
        ]
    )
    return " ".join(words)


def _slips(
    rows: list[tuple[str, str]],
    owner: dict[str, str | None],
    router: IntentRouter,
    stage: AgentStage,
    situation: Situation,
) -> dict[str, float]:
    """The split's agent recall and others taken with one typing slip in every query
    (``slipped``, seeded: the same slips for every stage measured)."""
    rng = random.Random(0)
    return _reach([(slipped(t, rng), label) for t, label in rows], owner, router, stage, situation)


def _style(
    path: Path,
    router: IntentRouter,
    stage: AgentStage,
    registry: AgentRegistry,
    situation: Situation,
    show_requests: bool,
) -> dict[str, object]:
    """Routing and answers on the second-style set (one JSON object a line); the requests
    routed wrongly only with ``show_requests`` (counts always)."""
    rows = [json.loads(line) for line in path.read_bytes().split(b"\n") if line.strip()]
    wanted: Counter[str] = Counter()
    hits: Counter[str] = Counter()
    near: Counter[str] = Counter()
    taken: Counter[str] = Counter()
    checked = right = 0
    missed, wrongly = [], []
    for row in rows:
        text, agent, category = row["text"], row["agent"], row["category"]
        choice = stage.select(router.understand(text), text, situation)
        if agent is None:
            near[category] += 1
            if choice.target is not None:
                taken[category] += 1
                wrongly.append(f"{text} -> {choice.target}")
            continue
        wanted[agent] += 1
        if choice.target != agent:
            missed.append(f"{text} -> {choice.target or 'llm'}")
            continue
        hits[agent] += 1
        if "answer" in row:
            messages = ({"role": "user", "content": text},)
            reply = registry.agent(agent).handle(AgentTurn("bench", messages, choice.intent))
            got = reply.data.get("result")
            checked += 1
            right += isinstance(got, (int, float)) and abs(got - row["answer"]) <= 1e-3 * max(
                1.0, abs(row["answer"])
            )
    total, total_near = sum(wanted.values()), sum(near.values())
    return {
        "file": str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path),
        "agent_requests": total,
        "recall": sum(hits.values()) / max(1, total),
        "recall_by_agent": {a: hits[a] / wanted[a] for a in sorted(wanted)},
        "near_misses": total_near,
        "wrongly_taken": sum(taken.values()) / max(1, total_near),
        "wrongly_taken_by_category": {c: taken[c] / near[c] for c in sorted(taken)},
        "answers_checked": checked,
        "answers_right": right / max(1, checked),
        **({"missed": missed, "taken": wrongly} if show_requests else {}),
    }


if __name__ == "__main__":
    raise SystemExit(main())
