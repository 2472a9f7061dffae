"""Hostile inputs through the CLI (issue 20, items 5, 6, 9, 10): huge integers, deep nesting,
duplicate ids, dates out of range, lone surrogates, a ``messages`` that is not a list."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli import main
from tests.export_support import message, write_single


@pytest.fixture
def env(no_user_config):
    return no_user_config


def run(*args: object, ok: bool = True):
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=True)
    if ok:
        assert result.exit_code == 0, (result.output, result.stderr, result.exception)
    assert "Traceback" not in result.output + result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result


def imported(env: Path, messages: list[dict], **chat) -> Path:
    db = env / "archive.db"
    run("--db", db, "import", write_single(env / "export", messages, **chat), "--no-ocr", "--json")
    return db


# --- 9: dates out of range ------------------------------------------------------------------


@pytest.mark.parametrize(
    "option",
    [
        ("--since", "1000000d"),
        ("--since", "99999999999999999999d"),
        ("--until", "9999-12-31"),
        ("--since", "0001-01-01T00:00+05:00"),
        ("--until", "9999-12-31T23:00-05:00"),
    ],
)
def test_dates_out_of_range_mean_no_bound(env, option):
    db = imported(env, [message(1, "الانتقام قادم"), message(2, "شيء آخر")])
    found = json.loads(run("--db", db, "search", "الانتقام", *option, "--json").output)
    assert [row["message_id"] for row in found] == [1]
    run("--db", db, "alerts", "--since", "1000000d", "--json")
