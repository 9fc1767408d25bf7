"""The ``edge-moma`` command: a thin face over the library.

Commands call the library and turn its errors into messages and exit codes
here, and nowhere else: 0 ok, 1 runtime failure, 2 usage or config error.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import click

from . import __version__
from .errors import (
    BundleError,
    ConfigError,
    DaemonError,
    DataError,
    EdgeMomaError,
    MissingDependency,
    ModelFileError,
    RequestError,
)

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
_USAGE_ERRORS = (
    ConfigError,
    ModelFileError,
    DataError,
    BundleError,
    RequestError,
    MissingDependency,
)


def exit_code(exc: EdgeMomaError) -> int:
    """The exit code an error ends a command with: 2 for usage, config and data, else 1."""
    return EXIT_USAGE if isinstance(exc, _USAGE_ERRORS) else EXIT_FAILURE


def handle_errors(func: F) -> F:
    """Print an ``EdgeMomaError`` as one paragraph and exit 2 (usage) or 1 (runtime);
    an ``OSError`` (an output file that cannot be written) is one line and exit 1."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except EdgeMomaError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(exit_code(exc))
        except OSError as exc:  # a file the command was told to write cannot be: no traceback
            where = f"{exc.filename}: " if exc.filename else ""
            click.echo(f"error: {where}{exc.strerror or exc}", err=True)
            sys.exit(EXIT_FAILURE)

    return wrapper  # type: ignore[return-value]


def echo_json(obj: Any) -> None:
    click.echo(json.dumps(obj, indent=2, ensure_ascii=False, default=str))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(version=__version__, prog_name="edge-moma")
def main() -> None:
    """edge-moma: route each request to an on-device agent, a local model or a cloud LLM."""


def config_option(func: F) -> F:
    return click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False),
        help="Config file (default: $EDGE_MOMA_CONFIG, the user config, the packaged default).",
    )(func)


def context_options(func: F) -> F:
    """Options that override the device state and budgets for one request."""
    options = [
        click.option("--battery", type=click.FloatRange(0, 100), help="Battery level in %."),
        click.option("--charging/--on-battery", default=None, help="Whether the device charges."),
        click.option("--online/--offline", default=None, help="Network reachable or not."),
        click.option("--deadline", type=click.FloatRange(min=0), help="Latency deadline (s)."),
        click.option(
            "--sensitive",
            is_flag=True,
            default=None,
            help="Keep it on the device even if no privacy rule matches.",
        ),
        click.option(
            "--context", "context_json", help="Context as JSON, e.g. '{\"online\": false}'."
        ),
        click.option(
            "--target",
            help="Pin the first choice to this model or agent (fallbacks stay). A rule that "
            "masks it (privacy, offline, budget...) sends the request to the best on-device "
            "target instead.",
        ),
        click.option(
            "--target-only",
            is_flag=True,
            default=None,
            help="Only the --target: no fallbacks, and an error (exit 2) if a rule masks it.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def build_context(
    battery: float | None,
    charging: bool | None,
    online: bool | None,
    deadline: float | None,
    sensitive: bool | None,
    context_json: str | None,
    target: str | None,
    target_only: bool | None,
) -> Any:
    """The flags and ``--context`` as one ``RouteContext`` (a flag wins over the same key)."""
    from .context import RouteContext

    data: dict[str, Any] = {}
    if context_json:
        try:
            data = json.loads(context_json)
        except RecursionError:
            raise click.UsageError("--context nests too deeply to be a routing context") from None
        except ValueError as exc:  # JSONDecodeError, too many digits
            raise click.UsageError(f"--context is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise click.UsageError("--context must be a JSON object")
    flags = {
        "battery_percent": battery,
        "charging": charging,
        "online": online,
        "deadline_s": deadline,
        "sensitive": sensitive or None,
        "target": target,
        "target_only": target_only or None,
    }
    data.update({k: v for k, v in flags.items() if v is not None})
    try:
        return RouteContext.from_dict(data)
    except RequestError as exc:  # names the key, whether a flag or --context set it
        raise click.UsageError(str(exc)) from None


@main.command()
@click.argument("text")
@config_option
@context_options
@click.option("--json", "as_json", is_flag=True, help="Print the decision as JSON.")
@handle_errors
def route(text: str, config_path: str | None, as_json: bool, **ctx: Any) -> None:
    """Decide who should answer TEXT, without running it."""
    from .report import format_decision
    from .runtime import Runtime

    context = build_context(**ctx)
    with Runtime.from_config(config_path) as rt:
        decision = rt.route(text, context=context)
    if as_json:
        echo_json(decision.to_dict())
    else:
        click.echo(format_decision(decision))


@main.command()
@click.argument("text")
@config_option
@context_options
@click.option(
    "--max-tokens",
    default=256,
    show_default=True,
    type=click.IntRange(min=1),
    help="Longest answer, in tokens.",
)
@click.option(
    "--temperature",
    default=0.2,
    show_default=True,
    type=click.FloatRange(0, 2),
    help="Sampling temperature (0: always the likeliest token).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the answer and decision as JSON.")
@click.option("--stream", is_flag=True, help="Print the answer as it is generated.")
@handle_errors
def run(
    text: str,
    config_path: str | None,
    max_tokens: int,
    temperature: float,
    as_json: bool,
    stream: bool,
    **ctx: Any,
) -> None:
    """Route TEXT and answer it with the chosen target, falling back if it fails.

    With --target NAME the first choice is pinned and the policy's ranking stays
    as fallback; with --stream a target that fails before its first token still
    falls back, one that fails mid-answer ends with an error.
    """
    from .report import format_answered_by, format_response, response_dict
    from .runtime import Runtime

    if stream and as_json:
        raise click.UsageError("--stream and --json cannot be combined")
    context = build_context(**ctx)
    with Runtime.from_config(config_path) as rt:
        if stream:
            with rt.stream(
                text, max_tokens=max_tokens, temperature=temperature, context=context
            ) as answer:
                for piece in answer:
                    click.echo(piece, nl=False)
            if answer.response is not None:
                click.echo(f"\n\n{format_answered_by(answer.response)}")
            return
        response = rt.complete(
            text, max_tokens=max_tokens, temperature=temperature, context=context
        )
    if as_json:
        echo_json(response_dict(response))
    else:
        click.echo(format_response(response))


@main.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@handle_errors
def doctor(config_path: str | None, as_json: bool) -> None:
    """Show the config in effect, where files live, which models were found, device state.

    Exits 2 when it found problems (listed under "problems"), 0 when none.
    """
    from .doctor import diagnose, format_diagnosis

    report = diagnose(config_path)
    if as_json:
        echo_json(report)
    else:
        click.echo(format_diagnosis(report))
    if report["problems"]:
        sys.exit(EXIT_USAGE)


@main.command()
@config_option
@click.option("--no-generate", is_flag=True, help="Only route; do not run the local model.")
@handle_errors
def demo(config_path: str | None, no_generate: bool) -> None:
    """Route a built-in set of real queries offline and answer some with the local model."""
    from .demo import run_demo
    from .runtime import Runtime

    with Runtime.from_config(config_path) as rt:
        run_demo(rt, click.echo, generate=not no_generate)


@main.command()
@config_option
@click.option(
    "--socket",
    "socket_path",
    type=click.Path(dir_okay=False),
    help="Unix socket to serve on [[server] socket, else edge-moma.sock in the runtime dir].",
)
@click.option("--log-level", default="info", show_default=True, help="debug, info, warning...")
@handle_errors
def serve(config_path: str | None, socket_path: str | None, log_level: str) -> None:
    """Serve the OpenAI-compatible API on a Unix socket only this user can reach.

    Endpoints: /v1/chat/completions, /v1/route, /v1/models, /v1/feedback,
    /healthz, /metrics, /admin/reload. Stops cleanly on SIGTERM. Exits 2 when
    it cannot start (already running, an unusable socket directory, a bad config).
    """
    import logging

    from .serve.daemon import serve as run_daemon

    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        run_daemon(config_path, socket_path)
    except DaemonError as exc:  # raised only before serving: the daemon could not start
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)


@main.group()
def train() -> None:
    """Train a router bundle from a data file."""


@main.group(name="eval")
def eval_() -> None:
    """Evaluate a router bundle on a data file and write a report."""


@train.command(name="intent")
@click.option("--data", required=True, type=click.Path(dir_okay=False), help="Training file.")
@click.option("--val", type=click.Path(dir_okay=False), help="Validation file [10% of --data].")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Bundle to write.")
@click.option(
    "--epochs",
    default=10,
    show_default=True,
    type=click.IntRange(min=1),
    help="Passes over the training data.",
)
@click.option("--seed", default=0, show_default=True, type=int, help="Data shuffle and weights.")
@click.option(
    "--min-oos-recall",
    default=0.6,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="Out-of-scope threshold: best validation accuracy at this oos recall.",
)
@click.option(
    "--teacher",
    type=click.Path(exists=True, file_okay=False),
    help="A bundle with the same labels to learn from (warm start, soft targets, its rule).",
)
@handle_errors
def train_intent_cmd(
    data: str,
    val: str | None,
    out: str,
    epochs: int,
    seed: int,
    min_oos_recall: float,
    teacher: str | None,
) -> None:
    """Train an intent (+ task) bundle from {"text", "label"[, "task"]} JSON Lines."""
    from dataclasses import replace

    from .training.intent import DEFAULT_CONFIG, train_intent

    card = train_intent(
        data,
        out,
        val,
        config=replace(DEFAULT_CONFIG, epochs=epochs, seed=seed),
        min_oos_recall=min_oos_recall,
        progress=lambda msg: click.echo(msg, err=True),
        teacher=teacher,
    )
    echo_json({"bundle": out, "version": card["version"], "metrics": card["metrics"]})


@eval_.command(name="intent")
@click.option("--data", required=True, type=click.Path(dir_okay=False), help="Evaluation file.")
@click.option("--model", type=click.Path(file_okay=False), help="Bundle [shipped models/intent].")
@click.option("--report", "report_path", type=click.Path(dir_okay=False), help="Write JSON here.")
@handle_errors
def eval_intent_cmd(data: str, model: str | None, report_path: str | None) -> None:
    """Accuracy, out-of-scope recall/precision, macro F1 and latency of an intent bundle."""
    from pathlib import Path

    from .bundle_dirs import shipped_bundle_dir
    from .training.intent import evaluate_intent

    report = evaluate_intent(data, model or shipped_bundle_dir("intent"))
    echo_json(report)
    if report_path:
        Path(report_path).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


# --- decision log, feedback, sync, router rollout ------------------------------------


def _log_store(config_path: str | None, *, readonly: bool = True) -> Any:
    """The config and its decision log; read before anything was logged, an empty log.

    Nothing routed yet is not an error: ``log tail`` prints nothing (``[]``),
    ``log stats`` zeros, ``log export`` no line, all with exit 0 and a note on
    stderr; ``log show ID`` finds no such decision (exit 2).
    """
    from .config import load_config
    from .log.store import LogStore
    from .log.writer import LOG_FILE

    config = load_config(config_path, check_files=False)
    path = config.data_dir / LOG_FILE
    if readonly and not path.exists():
        click.echo(f"note: no decision log yet at {path}: nothing was routed with it", err=True)
        store = LogStore.open(":memory:")
        store.path = path
        return config, store
    return config, LogStore.open(path, readonly=readonly)


@main.group(name="log")
def log_() -> None:
    """Read the decision log (every routed decision, its attempts and feedback)."""


@log_.command(name="tail")
@config_option
@click.option(
    "-n", "count", default=10, show_default=True, type=click.IntRange(min=1), help="How many."
)
@click.option("--json", "as_json", is_flag=True, help="Print the decisions as JSON.")
@handle_errors
def log_tail(config_path: str | None, count: int, as_json: bool) -> None:
    """Show the last N decisions, oldest first."""
    _, store = _log_store(config_path)
    rows = store.tail(count)
    if as_json:
        echo_json(rows)
        return
    for r in rows:
        outcome = (
            "; ".join(f"{a['target']}: {a['error'] or 'ok'}" for a in r["attempts"])
            or "routed only"
        )
        click.echo(f"{r['id'][:12]}  {r['target'] or '-':<20} {r['task'] or '-':<12} {outcome}")


@log_.command(name="stats")
@config_option
@click.option("--json", "as_json", is_flag=True, help='Print {"decisions": N, ...} as JSON.')
@handle_errors
def log_stats(config_path: str | None, as_json: bool) -> None:
    """Counts: decisions, not yet synced, attempts, failures, feedback, spend, size."""
    _, store = _log_store(config_path)
    stats = store.stats()
    if not store.path.exists():
        stats["size_bytes"] = 0  # no file yet: the empty log read is in memory
    if as_json:
        echo_json(stats)
        return
    for key, value in stats.items():
        click.echo(f"{key:>16}: {value}")


@log_.command(name="show")
@click.argument("decision_id")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print the decision as JSON.")
@handle_errors
def log_show(decision_id: str, config_path: str | None, as_json: bool) -> None:
    """Show one decision (an id or a unique prefix) with its candidates, attempts and feedback."""
    _, store = _log_store(config_path)
    row = store.show(decision_id)
    if as_json:
        echo_json(row)
        return
    click.echo(f"{row['id']}  {row['target']}  ({row['router_version']})")
    click.echo(f"  reason: {row['reason']}")
    for c in row["candidates"]:
        mask = f"masked by {c['masked_by']}" if c["masked_by"] else "eligible"
        click.echo(
            f"  {c['target']:<20} quality {c['quality']:.2f}  utility {c['utility']:.3f}  {mask}"
        )
    for a in row["attempts"]:
        click.echo(f"  tried {a['target']}: {a['error'] or 'ok'} in {a['latency_s']:.2f}s")
    for f in row["feedback"]:
        click.echo(f"  feedback: score {f['score']} correct {f['correct']} ({f['source']})")


@log_.command(name="export")
@config_option
@click.option("--out", type=click.Path(dir_okay=False), help="Write JSON Lines here [stdout].")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary (with --out).")
@handle_errors
def log_export(config_path: str | None, out: str | None, as_json: bool) -> None:
    """Every logged decision as JSON Lines (the batch format), synced or not; no cursor moves."""
    _, store = _log_store(config_path)
    lines = store.iter_decisions()
    if out is None:
        for line in lines:
            click.echo(line)
        return
    n = 0
    with open(out, "w", encoding="utf-8") as fh:
        for line in lines:
            fh.write(line + "\n")
            n += 1
    summary = {"out": out, "decisions": n}
    if as_json:
        echo_json(summary)
    else:
        click.echo(f"wrote {n} decisions to {out}")


@main.command()
@click.argument("decision_id")
@config_option
@click.option("--score", type=click.FloatRange(0, 1), help="How good the answer was, 0 to 1.")
@click.option("--correct/--wrong", default=None, help="Whether the answer was right.")
@click.option("--note", help="Free text kept with the feedback.")
@click.option("--json", "as_json", is_flag=True, help="Print the stored feedback as JSON.")
@handle_errors
def feedback(
    decision_id: str,
    config_path: str | None,
    score: float | None,
    correct: bool | None,
    note: str | None,
    as_json: bool,
) -> None:
    """Record feedback for a logged decision; retraining learns from it."""
    from .log.store import Feedback

    _, store = _log_store(config_path, readonly=False)
    full_id = store.add_feedback(Feedback(decision_id, score, correct, "user", note))
    result = {"decision_id": full_id, "score": score, "correct": correct}
    if as_json:
        echo_json(result)
    else:
        click.echo(f"feedback recorded for {full_id}")


@main.group()
def sync() -> None:
    """Ship the decision log to the fleet as versioned batches."""


@sync.command(name="export")
@config_option
@click.option(
    "--out",
    default="outbox",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Directory the batches go to.",
)
@click.option("--max-rows", default=0, type=click.IntRange(min=0), help="Decisions per batch.")
@click.option("--json", "as_json", is_flag=True, help="Print the batch manifests as JSON.")
@handle_errors
def sync_export(config_path: str | None, out: str, max_rows: int, as_json: bool) -> None:
    """Write the rows not yet synced as gzip JSON Lines batches with a manifest (idempotent)."""
    from .log.sync import export_batch
    from .log.writer import device_id

    config, store = _log_store(config_path, readonly=False)
    dev = device_id(config.data_dir, config.runtime.device_id)
    manifests = []
    while (manifest := export_batch(store, out, dev, max_rows=max_rows)) is not None:
        manifests.append(manifest)
        if not max_rows:
            break
    if as_json:
        echo_json({"out": out, "batches": manifests})
    elif not manifests:
        click.echo("nothing new to export")
    for m in manifests if not as_json else ():
        click.echo(
            f"{m['batch_id']}: {m['files']['decisions']['rows']} decisions, "
            f"{m['files']['feedback']['rows']} feedback"
        )


@main.group()
def model() -> None:
    """Install, list and roll back router bundles on this device."""


def _shipped() -> dict[str, Any]:
    from .bundle_dirs import KINDS, shipped_bundle_dir

    return {kind: shipped_bundle_dir(kind) for kind in KINDS}


@model.command(name="install")
@click.argument("bundle", type=click.Path(file_okay=False, exists=True))
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print the new rollout state as JSON.")
@handle_errors
def model_install(bundle: str, config_path: str | None, as_json: bool) -> None:
    """Verify BUNDLE (a release or one bundle dir), install it and make it active.

    An exploration hint release is installed beside the active router (``hint``)."""
    from .config import load_config
    from .training.rollout import install

    config = load_config(config_path, check_files=False)
    intents = {i for a in config.agents if a.enabled for i in a.intents}
    state = install(config.data_dir, bundle, required_labels={"intent": intents})
    if as_json:
        echo_json(state)
    else:
        click.echo(f"active: {state['active']}")
        if state.get("hint"):
            click.echo(f"exploration hint: {state['hint']}")


@model.command(name="rollback")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print the restored rollout state as JSON.")
@handle_errors
def model_rollback(config_path: str | None, as_json: bool) -> None:
    """Make the previously active router versions active again."""
    from .config import load_config
    from .training.rollout import rollback

    state = rollback(load_config(config_path, check_files=False).data_dir)
    if as_json:
        echo_json(state)
    else:
        click.echo(f"active: {state['active'] or 'shipped routers'}")


@model.command(name="list")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print the versions as JSON.")
@handle_errors
def model_list(config_path: str | None, as_json: bool) -> None:
    """Show the shipped and installed router versions, which are active (*) and which is
    the exploration hint (h)."""
    from .config import load_config
    from .training.rollout import list_versions

    rows = list_versions(load_config(config_path, check_files=False).data_dir, _shipped())
    if as_json:
        echo_json(rows)
        return
    for r in rows:
        mark = "*" if r["active"] else "h" if r["hint"] else " "
        click.echo(f"{mark} {r['kind']:<8} {r['version']:<28} {r['source']}")


# --- LLM routing: the quality predictor and its benchmark ---------------------------


@train.command(name="routing")
@click.option("--data", required=True, type=click.Path(dir_okay=False), help="Routing file.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Bundle to write.")
@click.option(
    "--seed", default=0, show_default=True, type=int, help="Pseudo-tasks, features and fits."
)
@handle_errors
def train_routing_cmd(data: str, out: str, seed: int) -> None:
    """Train a quality predictor from a routing file ({"prompt", "scores", "costs"} JSON Lines)."""
    from dataclasses import replace

    from .training.quality import default_train_config, train_quality
    from .training.routing_data import load_routing_set

    card = train_quality(
        load_routing_set(data),
        out,
        replace(default_train_config(), seed=seed),
        progress=lambda msg: click.echo(msg, err=True),
    )
    echo_json({"bundle": out, "version": card["version"], "known_models": card["known_models"]})


@eval_.command(name="routing")
@click.option("--data", required=True, type=click.Path(dir_okay=False), help="Routing file.")
@click.option("--model", type=click.Path(file_okay=False), help="Bundle [shipped models/routing].")
@click.option("--train", "train_path", type=click.Path(dir_okay=False), help="Baselines' data.")
@click.option("--cv", type=click.IntRange(min=2), help="Cross-validate K folds on --data instead.")
@click.option("--seed", default=0, show_default=True, type=int, help="Fold split and training.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False), help="Write JSON here.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), help="Write a PNG here.")
@handle_errors
def eval_routing_cmd(
    data: str,
    model: str | None,
    train_path: str | None,
    cv: int | None,
    seed: int,
    report_path: str | None,
    plot_path: str | None,
) -> None:
    """Quality-cost curve, AIQ and baselines of the LLM router on a routing file."""
    from pathlib import Path

    from .training.routing_eval import evaluate_routing, plot_report, summary

    if cv and (model or train_path):
        raise click.UsageError("--cv trains on the file itself; drop --model / --train")
    report = evaluate_routing(
        data, model, train_path, cv=cv, seed=seed, progress=lambda m: click.echo(m, err=True)
    )
    if report_path:
        Path(report_path).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if plot_path:
        plot_report(report, plot_path)
    echo_json(summary(report))
