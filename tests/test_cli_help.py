"""Every command and every option of the CLI says what it is for; shell completion works."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from edge_moma.cli import main


def commands(group: click.Group, prefix: str = "edge-moma") -> list[tuple[str, click.Command]]:
    out: list[tuple[str, click.Command]] = [(prefix, group)]
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            out += commands(command, f"{prefix} {name}")
        else:
            out.append((f"{prefix} {name}", command))
    return out


COMMANDS = commands(main)


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[p for p, _ in COMMANDS])
def test_every_command_and_option_has_help(path: str, command: click.Command) -> None:
    assert (command.help or "").strip(), f"{path} has no help text"
    blank = [
        "/".join(p.opts)
        for p in command.params
        if isinstance(p, click.Option) and not (p.help or "").strip()
    ]
    assert blank == [], f"{path}: options without help: {blank}"


def test_shell_completion_lists_the_commands() -> None:
    result = CliRunner().invoke(
        main,
        [],
        env={"_EDGE_MOMA_COMPLETE": "bash_complete", "COMP_WORDS": "edge-moma ", "COMP_CWORD": "1"},
        prog_name="edge-moma",
    )
    assert result.exit_code == 0
    offered = {line.split(",")[1] for line in result.output.splitlines() if "," in line}
    assert {"route", "run", "serve", "doctor", "log"} <= offered


def test_the_version_option_prints_the_package_version() -> None:
    import edge_moma

    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0 and edge_moma.__version__ in result.output
