"""Every command, however registered, has help text with an ``Example:`` (the sqlite-utils way)."""

from __future__ import annotations

import importlib
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from monitor.cli import COMMAND_MODULES, every_command, main

COMMANDS = every_command()
TOP_LEVEL = [path[0] for path, _ in COMMANDS if len(path) == 1]


def test_the_contract_commands_are_registered():
    assert {"import", "search", "stats"} <= set(TOP_LEVEL)


def test_every_command_of_every_module_is_listed():
    """A command a module adds but ``COMMAND_MODULES`` does not name would be unreachable."""
    for module_name in set(COMMAND_MODULES.values()):
        module = importlib.import_module(f"monitor.{module_name}")
        for command in module.commands:
            assert COMMAND_MODULES.get(command.name) == module_name, (module_name, command.name)
    assert sorted(TOP_LEVEL) == sorted(COMMAND_MODULES)


def test_a_command_loads_only_its_own_module():
    """``tgmonitor check`` must not pay for Telethon, the web desk or the bot (1.9 s at import)."""
    code = (
        "import sys; from click.testing import CliRunner; from monitor.cli import main; "
        "r = CliRunner().invoke(main, ['check', 'hello']); assert r.exit_code == 0, r.output; "
        "print(sorted(m for m in sys.modules if m.startswith(('monitor.cmd_', 'telethon', 'aiohttp'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['monitor.cmd_check']"


def test_the_top_level_help():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0, result.output
    assert "Example:" in result.output
    for name in TOP_LEVEL:
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
