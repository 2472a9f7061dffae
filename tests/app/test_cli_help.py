"""Every command, however registered, has help text with an ``Example:`` (the sqlite-utils way)."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from monitor.cli import main


def all_commands(
    group: click.Group = main, path: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], click.Command]]:
    """Every command and sub-command under ``group``, with the words that reach it."""
    found: list[tuple[tuple[str, ...], click.Command]] = []
    for name in sorted(group.commands):
        command = group.commands[name]
        found.append(((*path, name), command))
        if isinstance(command, click.Group):
            found.extend(all_commands(command, (*path, name)))
    return found


COMMANDS = all_commands()


def test_the_contract_commands_are_registered():
    assert {"import", "search", "stats"} <= set(main.commands)


def test_the_top_level_help():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0, result.output
    assert "Example:" in result.output
    for name in main.commands:
        assert name in result.output


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_every_command_has_help_with_an_example(path, command):
    assert command.help and command.help.strip(), f"tgmonitor {' '.join(path)} has no help text"
    assert command.get_short_help_str().strip()
    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example:" in result.output, f"tgmonitor {' '.join(path)} --help has no 'Example:'"
    assert "Traceback" not in result.output


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_every_option_is_explained(path, command):
    for param in command.params:
        if isinstance(param, click.Option) and not param.hidden:
            assert param.help, f"tgmonitor {' '.join(path)} {param.opts[0]} has no help"


def test_short_help_flag():
    result = CliRunner().invoke(main, ["search", "-h"])
    assert result.exit_code == 0
    assert "Example:" in result.output
