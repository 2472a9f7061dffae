"""``tgmonitor channels`` end to end: the list kept in the archive, its bad input, and discovery."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli import main
from tests.support.export import CHANNEL_ID, chat, message, write_account

RTL = "\u202e"


@pytest.fixture
def env(no_user_config):
    return no_user_config


def run(*args, ok: bool = True):
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=True)
    if ok:
        assert result.exit_code == 0, (result.output, result.stderr, result.exception)
    return result


def one_line_error(result, *fragments: str) -> str:
    assert result.exit_code == 2, (result.output, result.stderr, result.exception)
    assert "Traceback" not in result.stderr + result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def write_config(tmp: Path, body: str = "") -> Path:
    path = tmp / "config.toml"
    path.write_text(
        f'[telegram]\nchannels = ["@militia_news"]\n{body}\n[archive]\npath = "{tmp / "a.db"}"\n',
        encoding="utf-8",
    )
    return path


def listed(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT ref, text, mode, account FROM channel_list ORDER BY ref").fetchall()


def test_add_list_remove_round_trip(env):
    cfg = write_config(env)
    out = run("--config", cfg, "channels", "add", "https://t.me/s/Other_Front/12", "--mode", "join").output
    assert "Other_Front" in out and "join mode" in out
    run("--config", cfg, "channels", "add", "t.me/+AbCdEfGh1234", "--mode", "join")
    rows = json.loads(run("--config", cfg, "channels", "list", "--json").output)
    assert [(r["ref"], r["origin"], r["mode"], r["state"]) for r in rows] == [
        ("@militia_news", "config", "watch", "not resolved yet"),
        ("https://t.me/s/Other_Front/12", "list", "join", "not resolved yet"),
        ("t.me/+AbCdEfGh1234", "list", "join", "not resolved yet"),
    ]
    run("--config", cfg, "channels", "remove", "@other_front")  # any way of writing it
    assert listed(env / "a.db") == [("+AbCdEfGh1234", "t.me/+AbCdEfGh1234", "join", None)]
    table = run("--config", cfg, "channels", "list").output
    assert "watch" in table and "join" in table


@pytest.mark.parametrize(
    ("args", "body", "fragments"),
    [
        (["bad name!"], "", ["not a Telegram username"]),
        (["@ab"], "", ["not a Telegram username"]),
        (["--", "-42"], "", ["not a channel id"]),
        (["--", "-1001234567"], "", ["works only for a channel this archive has read"]),
        (["https://example.com/x"], "", ["not a t.me link"]),
        (["t.me/+AbCdEfGh1234"], "", ["private invite link", "--mode join"]),
        (["@new_channel", "--account", "nobody"], "", ["unknown account 'nobody'"]),
        (["@Militia_News"], "", ["collected already", "config file"]),
        (["@new_channel"], "channels_per_account = 2\n", ["the pool is full"]),
        (
            ["@new_channel"],
            '[[telegram.account]]\nname = "a"\n[[telegram.account]]\nname = "a"\n',
            ["given twice"],
        ),
    ],
)
def test_bad_input_is_one_sentence_and_changes_nothing(env, args, body, fragments):
    cfg = write_config(env, body)
    if "given twice" not in fragments:
        run("--config", cfg, "channels", "add", "@first_one")
    before = listed(env / "a.db") if (env / "a.db").exists() else None
    one_line_error(run("--config", cfg, "channels", "add", *args, ok=False), *fragments)
    after = listed(env / "a.db") if (env / "a.db").exists() else None
    assert before == after


def test_a_listed_channel_added_twice_and_removing_a_config_one_are_refused(env):
    cfg = write_config(env)
    run("--config", cfg, "channels", "add", "@first_one")
    one_line_error(
        run("--config", cfg, "channels", "add", "t.me/first_one", ok=False),
        "collected already",
        "channel list",
    )
    one_line_error(run("--config", cfg, "channels", "remove", "@militia_news", ok=False), "remove it there")
    one_line_error(
        run("--config", cfg, "channels", "remove", "@never_added", ok=False), "not in the channel list"
    )
    assert [r[0] for r in listed(env / "a.db")] == ["first_one"]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ('channels = ["t.me/+AbCdEfGh1234"]', "only join mode"),
        ('channels = ["@ok_channel", "https://t.me/OK_Channel"]', "names the same channel"),
        ('channels = ["not a ref"]', "not a Telegram username"),
        (
            'channels = []\n[[telegram.channel]]\nref = "@ok_channel"\naccount = "ghost"',
            "is not a [[telegram.account]]",
        ),
        ('channels = ["@one_channel", "@two_channel"]\nchannels_per_account = 1', "more than the pool holds"),
        (
            'channels = []\n[[telegram.account]]\nname = "x"\nstandby = true',
            "every [[telegram.account]] is a standby",
        ),
    ],
)
def test_a_bad_collection_config_stops_run_before_anything_connects(env, body, fragment):
    cfg = env / "config.toml"
    cfg.write_text(f'[telegram]\n{body}\n[archive]\npath = "{env / "a.db"}"\n', encoding="utf-8")
    one_line_error(run("--config", cfg, "run", ok=False), fragment)
    assert not (env / "a.db").exists()


def test_suggest_ranks_what_imported_channels_forward_link_and_mention(env):
    first = [
        message(1, "تابعوا قناتنا الجديدة https://t.me/jabha_news و @jabha_news"),
        message(2, "منقول", forwarded_from="الإعلام الحربي", forwarded_from_id="channel2001"),
    ]
    second = [
        message(1, f"بيان {RTL}مهم @war_media_x عاجل", from_id="channel555"),
        message(
            2, "اشتركوا t.me/joinchat/AAAAAEfgh12 و @helper_bot و t.me/jabha_news/55", from_id="channel555"
        ),
    ]
    export = write_account(env / "export", [chat("قناة أ", CHANNEL_ID, first), chat("قناة ب", 555, second)])
    db = env / "a.db"
    run("--db", db, "import", export, "--no-ocr")
    rows = json.loads(run("--db", db, "channels", "suggest", "--json").output)
    assert [r["ref"] for r in rows] == ["@jabha_news", "-1002001", "@war_media_x"]  # no bot, no invite path
    assert rows[0]["pointed_by"] == 2 and rows[0]["how"] == ["link", "mention"]
    assert rows[1]["title"] == "الإعلام الحربي" and rows[1]["how"] == ["forward"]
    assert rows[1]["add"] is None  # known by id only: Telegram needs its access hash or its name
    assert rows[0]["add"] == "tgmonitor channels add @jabha_news"
    table = run("--db", db, "channels", "suggest").output
    assert RTL not in table and "jabha_news" in table


def test_login_of_an_unknown_account_is_one_sentence(env):
    cfg = write_config(env, '[[telegram.account]]\nname = "first"\n')
    one_line_error(
        run("--config", cfg, "login", "--account", "ghost", ok=False), "unknown account 'ghost'", "first"
    )


def test_channels_list_shows_hostile_titles_inert(env):
    import asyncio

    from monitor.core.models import Channel
    from monitor.core.store import Archive

    db = env / "a.db"

    async def seed() -> None:
        archive = await Archive.open(db)
        try:
            await archive.upsert_channel(Channel(4242, "evil_chan", "\x1b[31mأخبار\u202e عاجلة\x07", 99))
            await archive.add_listed_channel("evil_chan", "@evil_chan", None, None)
            await archive.set_meta("channel_ref:evil_chan", "4242")
        finally:
            await archive.close()

    asyncio.run(seed())
    out = run("--db", db, "channels", "list").output
    assert "\x1b" not in out and "\u202e" not in out and "\x07" not in out
    rows = json.loads(run("--db", db, "channels", "list", "--json").output)
    assert rows[0]["id"] == 4242 and rows[0]["title"].startswith("\x1b[31mأخبار")  # the data, kept whole
    raw = run("--db", db, "channels", "list", "--json").output
    assert "\x1b" not in raw  # escaped as \u001b in the JSON text
