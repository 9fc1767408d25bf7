#!/usr/bin/env python3
"""Fleet side of the loop, on one machine: collect batches, retrain, gate, publish.

    python scripts/fleet.py collect inbox/ --db fleet/fleet.db
    python scripts/fleet.py retrain --db fleet/fleet.db --base intent_train.jsonl \\
        --current models/intent --holdout intent_test.jsonl --out fleet/candidate
    python scripts/fleet.py retrain-routing --db fleet/fleet.db \\
        --current models/routing --out fleet/routing-candidate
    python scripts/fleet.py publish --intent fleet/candidate --gate fleet/candidate/gate.json \\
        --release router-2 --out releases/

Every command prints JSON. Exit codes: 0 ok; 1 a runtime failure; 2 a usage,
config or data error (a missing file, a bad data line); 3 not promoted:
``retrain`` or ``retrain-routing`` wrote the gate report (``gate.json`` in
``<out>.work``) and the candidate is not promoted, or ``publish`` was given a
gate that did not promote it; 4 ``collect`` rejected at least one batch (the
others were collected; the report and stderr say why), so a cron job notices.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from edge_moma.cli import exit_code
from edge_moma.errors import DataError, EdgeMomaError
from edge_moma.training.fleet import (
    collect,
    gate,
    gate_routing,
    publish,
    retrain_intent,
    retrain_routing,
)

EXIT_NOT_PROMOTED = 3
EXIT_REJECTED = 4


def out(obj: object) -> None:
    click.echo(json.dumps(obj, indent=2, default=str))


@click.group()
def main() -> None:
    """edge-moma fleet tools: collect -> retrain (+ gate) -> publish."""


@main.command(name="collect")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--db", required=True, type=click.Path(dir_okay=False), help="Fleet database.")
def collect_cmd(inputs: tuple[str, ...], db: str) -> None:
    """Verify and ingest device batches (dedupe by decision id; unknown schemas rejected)."""
    report = collect(inputs, db)
    out(report)
    for r in report["rejected"]:
        click.echo(f"rejected {r['batch']}: {r['error']}", err=True)
    if report["rejected"]:
        sys.exit(EXIT_REJECTED)


@main.command(name="retrain")
@click.option("--db", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--base",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="Base intent training file (JSON Lines text/label/task).",
)
@click.option(
    "--current",
    required=True,
    type=click.Path(exists=True, file_okay=False),
    help="The intent bundle the devices run now.",
)
@click.option(
    "--holdout",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    help="Held-out intent file(s) for the gate (the logged holdout is added).",
)
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Candidate bundle.")
@click.option("--epochs", default=10, show_default=True, type=click.IntRange(min=1))
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--tolerance", default=0.0, show_default=True, type=float)
def retrain_cmd(
    db: str,
    base: str,
    current: str,
    holdout: tuple[str, ...],
    out: str,
    epochs: int,
    seed: int,
    tolerance: float,
) -> None:
    """Retrain the intent router from logged feedback + base data, then gate it.

    The current bundle teaches the candidate when the labels match (warm start,
    soft targets, its out-of-scope rule): the build-time encoder's lessons carry over.
    """
    out_dir = Path(out)
    work = out_dir.parent / f"{out_dir.name}.work"
    result = retrain_intent(db, base, out_dir, work, epochs=epochs, seed=seed, teacher=current)
    files = [*holdout, result["holdout_file"]]
    report = gate(out_dir, current, files, work / "gate.json", tolerance=tolerance)
    result["gate"] = report
    result["gate_report"] = str(work / "gate.json")
    result.pop("card")
    out_json = {**result, "candidate": str(out_dir)}
    click.echo(json.dumps(out_json, indent=2, default=str))
    if not report["promote"]:
        click.echo("candidate is worse than the current router: not promoted", err=True)
        sys.exit(EXIT_NOT_PROMOTED)


@main.command(name="retrain-routing")
@click.option("--db", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--base",
    type=click.Path(exists=True, dir_okay=False),
    help="A base routing file (JSON Lines: prompt, scores and costs per model) to learn "
    "from besides the logged outcomes; default: the logged outcomes alone.",
)
@click.option(
    "--current",
    required=True,
    type=click.Path(exists=True, file_okay=False),
    help="The routing bundle the devices run now.",
)
@click.option(
    "--holdout",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    help="Held-out routing file(s) for the gate (the logged holdout is added).",
)
@click.option(
    "--alias",
    multiple=True,
    metavar="TARGET=MODEL",
    help="Train a device target's outcomes into another model's column (repeatable).",
)
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Candidate bundle.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option(
    "--tolerance",
    default=0.0,
    show_default=True,
    type=float,
    help="Routing value (utility points) the candidate may lose at the interval's lower end "
    "(negative: it must win by that much).",
)
def retrain_routing_cmd(
    db: str,
    base: str | None,
    current: str,
    holdout: tuple[str, ...],
    alias: tuple[str, ...],
    out: str,
    seed: int,
    tolerance: float,
) -> None:
    """Retrain the quality predictor from logged outcomes (+ a base file), then gate it.

    The gate estimates off-policy, on the logged decisions (each checked by a
    candidate trained without it), the utility the candidate would have
    achieved against the current predictor and promotes only if its one-sided
    95% lower bound is not below -tolerance.
    """
    aliases = {}
    for item in alias:
        name, sep, model = item.partition("=")
        if not sep or not name or not model:
            raise click.BadParameter(f"{item!r}: expected TARGET=MODEL", param_hint="--alias")
        aliases[name] = model
    out_dir = Path(out)
    work = out_dir.parent / f"{out_dir.name}.work"
    result = retrain_routing(db, base, current, out_dir, work, aliases=aliases, seed=seed)
    report = gate_routing(
        out_dir, current, holdout, result["outcomes_file"], work / "gate.json", tolerance=tolerance
    )
    result["gate"] = report
    result["gate_report"] = str(work / "gate.json")
    result.pop("card")
    click.echo(json.dumps({**result, "candidate": str(out_dir)}, indent=2, default=str))
    if not report["promote"]:
        click.echo("candidate is worse than the current predictor: not promoted", err=True)
        sys.exit(EXIT_NOT_PROMOTED)


@main.command(name="publish")
@click.option("--intent", "intent_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--routing", "routing_dir", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--gate",
    "gate_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="The gate report of this candidate.",
)
@click.option("--release", required=True, help="Release version, e.g. router-2026.11.29.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Releases dir.")
@click.option(
    "--hint",
    is_flag=True,
    help="Publish a routing candidate the gate refused as an exploration hint.",
)
def publish_cmd(
    intent_dir: str | None,
    routing_dir: str | None,
    gate_path: str,
    release: str,
    out: str,
    hint: bool,
) -> None:
    """Publish a gated candidate as a versioned release that devices install (with
    --hint: a refused routing candidate, which devices use to steer exploration only)."""
    try:
        report = json.loads(Path(gate_path).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        raise DataError(f"not a gate report ({exc})", path=gate_path) from None
    if not isinstance(report, dict) or not (hint or report.get("promote")):
        click.echo(f"error: {gate_path}: the gate did not promote this candidate", err=True)
        sys.exit(EXIT_NOT_PROMOTED)
    components = {k: v for k, v in (("intent", intent_dir), ("routing", routing_dir)) if v}
    if not components:
        raise click.UsageError("pass --intent and/or --routing")
    path = publish(components, out, release=release, gate_report=report, hint=hint)
    out_obj = json.loads((path / "release.json").read_text(encoding="utf-8"))
    out_obj["path"] = str(path)
    click.echo(json.dumps(out_obj, indent=2))


if __name__ == "__main__":
    try:
        main()
    except EdgeMomaError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exit_code(exc))
