"""Agent routing on CLINC150 queries the intent model never saw: twins trained without a fold.

    python scripts/bench_agents_folds.py [--folds 5] [--only K ...] [--reuse]
                                         [--show-requests] [--out FILE.json]

The shipped intent model trains on CLINC150 train + val, so routing those splits
says little about phrasings it has not seen, and nothing may be tuned on the test
split. This benchmark trains one twin per fold with the shipped recipe
(``scripts/build_models.py``: the same data, augmentation and teacher's lesson,
and the shipped model's oos weight), each without one fold of CLINC150's
training queries (chosen by a checksum of the text) and without the style copies
and the teacher's copies made of them. Each fold's queries are then routed
through the agent stage with their twin, with the agents' claims and without
them (``--no-claims`` of ``bench_agents.py``), for:

- ``agent_recall``: of the queries whose intent belongs to an agent, the share
  routed to exactly that agent;
- ``oos_to_agent`` and ``other_to_agent``: the shares of the out-of-scope
  queries and of the other intents' queries that an agent takes;
- ``slips_claims`` and ``slips_no_claims``: the same with one typing slip in a
  word of every query (``bench_agents.slipped``, seeded).

The folds are development data: ``--show-requests`` prints the queries routed
wrongly, with the twin's top intents and the agent's claim. A fold takes about 3
minutes on 2 cores once the teacher's embeddings are cached (``build/intent``);
``--reuse`` routes with the twins already trained, to measure a change to the
agents alone. Prints the figures and writes them as JSON.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import zlib
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from bench_agents import DATA, agent_stage, slipped, unconstrained  # noqa: E402

from edge_moma.config import load_config  # noqa: E402
from edge_moma.routing.bundle import read_card  # noqa: E402
from edge_moma.routing.intent import (  # noqa: E402
    OOS,
    IntentExample,
    IntentRouter,
    read_intent_file,
    write_intent_file,
)
from edge_moma.targets.agents import AgentRegistry  # noqa: E402


def fold_of(text: str, folds: int) -> int:
    """The fold a CLINC150 training query is held out in (a checksum: the same every run)."""
    return zlib.crc32(text.encode("utf-8")) % folds


def train_twins(work: Path, folds: int, only: list[int]) -> None:
    """Train a twin per fold in ``only`` under ``work/fold<K>/twin``."""
    import build_models as bm
    from intent_augment import styled_pairs
    from teacher import Lesson, Teacher

    from edge_moma.training.intent import train_intent, weigh_oos

    files = bm.make_intent_data(work / "data")
    rows = read_intent_file(files["train"])
    clinc = json.loads(DATA.read_text(encoding="utf-8"))
    clinc_rows = [
        IntentExample(t, label, bm.clinc_task(label))
        for t, label in clinc["train"] + clinc["oos_train"]
    ]
    origin = {r.text: r.text for r in clinc_rows}
    for source, copy in styled_pairs(clinc_rows, seed=bm.SEED):  # as augmented_rows draws them
        origin.setdefault(copy.text, source.text)
    prompts = {t for t, _ in bm.prompt_rows()} | {r.text for r in bm.everyday_rows("train")}
    teacher = Teacher(bm.BUILD / "intent" / "teacher", bm._say)
    lesson = Lesson(teacher, rows, [r for r in rows if r.text not in prompts], seed=bm.SEED)
    weight = read_card(bm.MODELS / "intent")["decision"].get("oos_weight", 1.0)
    for k in only:
        held = {t for t, o in origin.items() if fold_of(o, folds) == k}
        out = work / f"fold{k}"
        out.mkdir(parents=True, exist_ok=True)
        write_intent_file(out / "held.jsonl", [r for r in clinc_rows if r.text in held])
        write_intent_file(out / "train.jsonl", [r for r in rows if r.text not in held])
        bm._say(f"fold {k}: training a twin without {len(held)} texts")
        train_intent(
            out / "train.jsonl",
            out / "twin",
            files["val"],
            config=bm.INTENT_CONFIG,
            min_oos_recall=bm.MIN_OOS_RECALL,
            progress=bm._say,
            distillation=lesson.without(held).distillation(),
            card_extra={"held_out": f"fold {k} of {folds} of CLINC150 train"},
        )
        weigh_oos(out / "twin", weight, "the shipped model's", bm.MIN_OOS_RECALL)


def route_folds(
    work: Path,
    only: list[int],
    config_path: str,
    claims: bool,
    wrong: list[str] | None,
    slips: bool = False,
) -> dict[str, float | int]:
    """Route each fold's held-out queries with its twin; ``wrong`` collects the misroutes;
    ``slips``: each query with one typing slip (``bench_agents.slipped``, seeded)."""
    rng = random.Random(0)
    config = load_config(config_path, check_files=False)
    registry = AgentRegistry(config.agents, data_dir=tempfile.mkdtemp())
    situation = unconstrained(config)
    n: Counter[str] = Counter()
    for k in only:
        router = IntentRouter.load(work / f"fold{k}" / "twin")
        stage = agent_stage(config, router, registry, claims=claims)
        for row in read_intent_file(work / f"fold{k}" / "held.jsonl"):
            text = slipped(row.text, rng) if slips else row.text
            understood = router.understand(text)
            choice = stage.select(understood, text, situation)
            want = stage.owner_of(row.label) if row.label != OOS else None
            kind = "agent" if want else ("oos" if row.label == OOS else "other")
            n[kind] += 1
            n[f"{kind}_wrong"] += choice.target != want
            if wrong is not None and choice.target != want:
                top = ", ".join(f"{s.label} {s.confidence:.2f}" for s in understood.intents[:3])
                wrong.append(f"[{row.label}] {text} -> {choice.target} ({top}; {choice.reason})")
    return {
        "agent_queries": n["agent"],
        "agent_recall": round(1 - n["agent_wrong"] / max(1, n["agent"]), 4),
        "oos_queries": n["oos"],
        "oos_to_agent": round(n["oos_wrong"] / max(1, n["oos"]), 4),
        "other_queries": n["other"],
        "other_to_agent": round(n["other_wrong"] / max(1, n["other"]), 4),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=str(ROOT / "configs" / "default.toml"))
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--only", type=int, nargs="*", help="these folds (default: all)")
    parser.add_argument("--work", default=str(ROOT / "build" / "folds"))
    parser.add_argument("--reuse", action="store_true", help="route with the twins trained")
    parser.add_argument("--show-requests", action="store_true")
    parser.add_argument("--out", default=str(ROOT / "reports" / "bench_agents_folds.json"))
    args = parser.parse_args()
    if args.folds < 2:
        parser.error("--folds must be at least 2")
    only = sorted(set(args.only)) if args.only else list(range(args.folds))
    if any(not 0 <= k < args.folds for k in only):
        parser.error(f"--only takes folds 0 to {args.folds - 1}")
    work = Path(args.work)
    if not args.reuse:
        train_twins(work, args.folds, only)
    wrong: list[str] = []
    report = {
        "command": " ".join(["python", "scripts/bench_agents_folds.py", *sys.argv[1:]]),
        "folds": args.folds,
        "routed_folds": only,
        "twins": [read_card(work / f"fold{k}" / "twin")["version"] for k in only],
        "claims": route_folds(work, only, args.config, True, wrong),
        "no_claims": route_folds(work, only, args.config, False, None),
        "slips_claims": route_folds(work, only, args.config, True, None, slips=True),
        "slips_no_claims": route_folds(work, only, args.config, False, None, slips=True),
    }
    for name in ("claims", "no_claims", "slips_claims", "slips_no_claims"):
        r = report[name]
        print(
            f"{name:15s} agent recall {r['agent_recall']:.2%} of {r['agent_queries']}, "
            f"oos -> agent {r['oos_to_agent']:.2%} of {r['oos_queries']}, "
            f"other -> agent {r['other_to_agent']:.2%} of {r['other_queries']}"
        )
    if args.show_requests:
        report["routed_wrongly"] = wrong
        print("\n".join(f"  {w}" for w in wrong))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
