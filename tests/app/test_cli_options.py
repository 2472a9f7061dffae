"""``--db``, ``--config`` and ``-v`` work after the command's name too, as the README promises."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from monitor.cli import every_command, main
from tests.support.export import rich_channel

COMMANDS = [(" ".join(path), command) for path, command in every_command()]


def run(*args: object, ok: bool = True):
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=True)
    if ok:
        assert result.exit_code == 0, (result.output, result.stderr, result.exception)
    return result


@pytest.fixture
def root_level():
    """``-v`` sets the root logger's level: put it back for the other tests."""
    level = logging.getLogger().level
    yield
    logging.getLogger().setLevel(level)


@pytest.fixture
def archive_db(no_user_config) -> Path:
    db = no_user_config / "archive.db"
    run("import", rich_channel(no_user_config / "export"), "--no-ocr", "--json", "--db", db)
    return db


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[p for p, _ in COMMANDS])
def test_every_command_takes_the_global_options(path: str, command: click.Command):
    names = {opt for param in command.params for opt in param.opts}
    assert {"--db", "--config", "-v", "--verbose"} <= names


def test_search_with_db_after_the_command(archive_db: Path):
    before = json.loads(run("--db", archive_db, "search", "الانتقام", "--json").output)
    after = json.loads(run("search", "الانتقام", "--json", "--db", archive_db).output)
    assert after == before and after


def test_db_after_the_command_is_the_one_used(no_user_config: Path):
    result = run("search", "X", "--db", no_user_config / "missing.db", ok=False)
    assert result.exit_code == 2
    assert "No such option" not in result.output + result.stderr
    assert f"there is no archive at {no_user_config / 'missing.db'}" in result.stderr


def test_nested_command_takes_them(archive_db: Path):
    alerts = json.loads(run("alerts", "--json", "--db", archive_db).output)
    assert alerts
    first = alerts[0]["alert_id"]
    assert run("alerts", "ack", str(first), "--db", archive_db).output.startswith(f"acknowledged {first}")
    assert "already acknowledged" in run("alerts", "ack", str(first), "--db", archive_db).output


def test_config_after_the_command(archive_db: Path, no_user_config: Path):
    config = no_user_config / "config.toml"
    config.write_text(f'[archive]\npath = "{archive_db}"\n', encoding="utf-8")
    stats = json.loads(run("stats", "--json", "--config", config).output)
    assert stats["posts"] > 0


def test_verbose_after_the_command_adds_up(archive_db: Path, root_level: None):
    run("stats", "--json", "--db", archive_db, "-v")
    assert logging.getLogger().level == logging.INFO
    run("-v", "stats", "--json", "--db", archive_db, "-v")
    assert logging.getLogger().level == logging.DEBUG
