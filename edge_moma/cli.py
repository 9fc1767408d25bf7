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

from .errors import (
    BundleError,
    ConfigError,
    DataError,
    EdgeMomaError,
    ModelFileError,
    RequestError,
)

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
_USAGE_ERRORS = (ConfigError, ModelFileError, DataError, BundleError, RequestError)


def handle_errors(func: F) -> F:
    """Print an ``EdgeMomaError`` as one paragraph and exit 2 (usage) or 1 (runtime)."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except _USAGE_ERRORS as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_USAGE)
        except EdgeMomaError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_FAILURE)

    return wrapper  # type: ignore[return-value]


def echo_json(obj: Any) -> None:
    click.echo(json.dumps(obj, indent=2, ensure_ascii=False, default=str))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="edge-moma")
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
            "--sensitive/--not-sensitive", default=None, help="Override the privacy rules."
        ),
        click.option(
            "--context", "context_json", help="Context as JSON, e.g. '{\"online\": false}'."
        ),
        click.option("--target", help="Pin the first choice to this model (fallbacks stay)."),
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
) -> Any:
    from .context import RouteContext

    data: dict[str, Any] = {}
    if context_json:
        try:
            data = json.loads(context_json)
        except json.JSONDecodeError as exc:
            raise click.UsageError(f"--context is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise click.UsageError("--context must be a JSON object")
    flags = {
        "battery_percent": battery,
        "charging": charging,
        "online": online,
        "deadline_s": deadline,
        "sensitive": sensitive,
        "target": target,
    }
    data.update({k: v for k, v in flags.items() if v is not None})
    try:
        return RouteContext.from_dict(data)
    except (ConfigError, TypeError) as exc:
        raise click.UsageError(f"--context: {exc}") from None


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
@click.option("--max-tokens", default=256, show_default=True, type=click.IntRange(min=1))
@click.option("--temperature", default=0.2, show_default=True, type=click.FloatRange(0, 2))
@click.option("--json", "as_json", is_flag=True, help="Print the answer and decision as JSON.")
@handle_errors
def run(
    text: str,
    config_path: str | None,
    max_tokens: int,
    temperature: float,
    as_json: bool,
    **ctx: Any,
) -> None:
    """Route TEXT and answer it with the chosen target, falling back if it fails."""
    from .report import format_response, response_dict
    from .runtime import Runtime

    context = build_context(**ctx)
    with Runtime.from_config(config_path) as rt:
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
    """Show the config in effect, where files live, which models were found, device state."""
    from .doctor import diagnose, format_diagnosis

    report = diagnose(config_path)
    if as_json:
        echo_json(report)
    else:
        click.echo(format_diagnosis(report))


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
@click.option("--epochs", default=10, show_default=True, type=click.IntRange(min=1))
@click.option("--seed", default=0, show_default=True, type=int)
@click.option(
    "--min-oos-recall",
    default=0.6,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="Out-of-scope threshold: best validation accuracy at this oos recall.",
)
@handle_errors
def train_intent_cmd(
    data: str, val: str | None, out: str, epochs: int, seed: int, min_oos_recall: float
) -> None:
    """Train an intent (+ task) bundle from {"text", "label"[, "task"]} JSON Lines."""
    from dataclasses import replace

    from .intent_training import DEFAULT_CONFIG, train_intent

    card = train_intent(
        data,
        out,
        val,
        config=replace(DEFAULT_CONFIG, epochs=epochs, seed=seed),
        min_oos_recall=min_oos_recall,
        progress=lambda msg: click.echo(msg, err=True),
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

    from .intent_training import evaluate_intent
    from .resources import packaged_path

    report = evaluate_intent(data, model or packaged_path("models") / "intent")
    echo_json(report)
    if report_path:
        Path(report_path).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
