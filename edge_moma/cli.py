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

from .errors import BundleError, ConfigError, DataError, EdgeMomaError, ModelFileError

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
_USAGE_ERRORS = (ConfigError, ModelFileError, DataError, BundleError)


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


@main.group()
def train() -> None:
    """Train a router bundle from a data file."""


@main.group(name="eval")
def eval_() -> None:
    """Evaluate a router bundle on a data file and write a report."""
