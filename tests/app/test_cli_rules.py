"""``tgmonitor rules test|report|signatures`` and ``check --channel`` on real archives (issue 17).

Archives are filled through the real pipeline (``open_app``: detector, outbox, store), so the
alerts a backtest is compared with are the ones the import would raise.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from alerts.decisions import decide
from monitor.app import open_app
from monitor.backtests import Plan, run_backtest
from monitor.cli import main
from monitor.core.config import Config
from monitor.core.models import Channel, Post
from monitor.core.store import Archive

NEWS = Channel(id=7101, username="sada_news", title="صدى الثأر | Sada al-Thar")
OTHER = Channel(id=7102, username="kaf_news", title="كف")
SIGNATURE_LINE = "تابعونا: قناة صدى الثأر @sada_news"
START = datetime(2024, 3, 1, tzinfo=UTC)

TEXTS_NEWS = [
    "بسم الله الرحمن الرحيم\nقناة صدى الثأر: أخبار المقاومة الإسلامية في العراق",  # its introduction
    "الانتقامُ قادمٌ يا محتلين",  # a threat: alerts
    "أيّامُكم معدودة\n" + SIGNATURE_LINE,  # a veiled threat (new rule)
    "سيقول السلاح كلمته قريباً",  # weapons will speak (new rule)
    "أسعار النفط اليوم ٨٠ دولاراً\n" + SIGNATURE_LINE,
    "مباراة الزوراء والشرطة ٢-١",
]
TEXTS_OTHER = ["الأمطار تضرب بغداد", "سنسحق جنود الاحتلال الأمريكي", "باقي ١٠ أيام على شهر رمضان المبارك"]

OLD_RULES = """
[[rule]]
name = "revenge-coming"
severity = "high"
terms = ["الانتقام قادم"]

[[rule]]
name = "revenge"
severity = "medium"
terms = ["الثأر"]

[[rule]]
name = "brand"
severity = "medium"
terms = ["المقاومة الإسلامية في العراق"]

[[rule]]
name = "crush"
severity = "medium"
terms = ["سنسحق"]
"""

NEW_RULES = """
[[rule]]
name = "revenge-coming"
severity = "high"
terms = ["الانتقام قادم"]

[[rule]]
name = "veiled"
severity = "medium"
terms = ["أيامكم معدودة"]

[[rule]]
name = "weapons-speak"
severity = "high"
near = [["السلاح"], ["verb:قال/يقول", "كلمته"]]
within = 2

[[rule]]
name = "never"
severity = "high"
terms = ["كلمة لا ترد أبدا"]
"""


def fill(db: Path, tmp_path: Path, rules: Path | None = None, extra: int = 0) -> None:
    """The posts of two channels through the real pipeline (``extra`` more signed posts)."""
    config = Config()
    config.archive.path = db
    if rules is not None:
        config.alerts.rules = rules

    async def go() -> None:
        async with open_app(config, db, tmp_path / "media", ocr=False, deliver=False) as parts:
            posts = [
                Post(channel=NEWS, message_id=i + 1, date=START + timedelta(hours=i), text=t, source="import")
                for i, t in enumerate(TEXTS_NEWS)
            ]
            posts += [
                Post(
                    channel=OTHER, message_id=i + 1, date=START + timedelta(hours=i), text=t, source="import"
                )
                for i, t in enumerate(TEXTS_OTHER)
            ]
            posts += [
                Post(
                    channel=NEWS,
                    message_id=100 + i,
                    date=START + timedelta(days=1, hours=i),
                    text=f"خبر رقم {i}\n{SIGNATURE_LINE}",
                    source="import",
                )
                for i in range(extra)
            ]
            await parts.pipeline.import_batch(posts)

    asyncio.run(go())


@pytest.fixture
def archive_files(tmp_path: Path, no_user_config: Path) -> tuple[Path, Path, Path]:
    old = tmp_path / "old.toml"
    old.write_text(OLD_RULES, encoding="utf-8")
    new = tmp_path / "new.toml"
    new.write_text(NEW_RULES, encoding="utf-8")
    db = tmp_path / "a.db"
    fill(db, tmp_path, rules=old)
    config = tmp_path / "config.toml"
    config.write_text(f'[alerts]\nrules = "{old}"\n', encoding="utf-8")
    return db, new, config


def run(*args: str) -> object:
    return CliRunner().invoke(main, list(args), env={"COLUMNS": "200"})


def test_backtest_per_rule_channels_examples_and_diff(archive_files: tuple[Path, Path, Path]) -> None:
    db, new, config = archive_files
    result = run("--db", str(db), "--config", str(config), "rules", "test", str(new), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["posts"] == len(TEXTS_NEWS) + len(TEXTS_OTHER)
    rules = {r["rule"]: r for r in data["per_rule"]}
    assert rules["revenge-coming"]["posts"] == 1
    assert rules["veiled"]["posts"] == 1 and rules["veiled"]["channels"][0]["channel"] == "@sada_news"
    assert rules["weapons-speak"]["posts"] == 1
    example = rules["weapons-speak"]["examples"][0]
    start, end = example["highlights"][0]
    assert example["excerpt"][start:end] == "سيقول السلاح"  # the tightest window of the two groups
    assert "never" in data["never_fired"]
    # in force: revenge-coming (1), crush (1); the introduction is the channel's own name: quiet
    assert data["alerts_in_force"] == 2
    assert data["gained"] == 2  # the veiled threat and the weapons that will speak
    assert data["lost"] == 1  # سنسحق: the new file has no such rule
    assert data["lost_examples"][0]["channel"] == "@kaf_news"
    assert (rules["crush"]["posts"], rules["crush"]["posts_in_force"]) == (0, 1)  # dropped by the new file


def test_backtest_readable_output_filters_and_no_signatures(archive_files: tuple[Path, Path, Path]) -> None:
    db, new, config = archive_files
    result = run(
        "--db", str(db), "--config", str(config), "rules", "test", str(new), "--channel", "@kaf_news"
    )
    assert result.exit_code == 0, result.output
    assert "3 posts" in result.output and "-1 lost" in result.output
    # in force, without signatures: the introduction alerts on the channel's own name
    plain = run("--db", str(db), "--config", str(config), "rules", "test", "--json", "--no-signatures")
    quiet = run("--db", str(db), "--config", str(config), "rules", "test", "--json")
    by_rule = {r["rule"]: r["posts"] for r in json.loads(plain.output)["per_rule"]}
    assert by_rule["revenge"] == 3 and by_rule["brand"] == 1  # the introduction and two signature lines
    quiet_rules = {r["rule"]: r["posts"] for r in json.loads(quiet.output)["per_rule"]}
    assert quiet_rules["revenge"] == 0 and quiet_rules["brand"] == 0
    later = run("--db", str(db), "--config", str(config), "rules", "test", "--since", "2030-01-01")
    assert later.exit_code == 0 and "has no posts since 2030-01-01" in later.output


def test_backtest_on_an_empty_archive_says_so(tmp_path: Path, no_user_config: Path) -> None:
    db = tmp_path / "empty.db"

    async def make() -> None:
        await (await Archive.open(db)).close()

    asyncio.run(make())
    result = run("--db", str(db), "rules", "test")
    assert result.exit_code == 0
    assert "the archive has no posts: nothing to test" in result.output


def test_backtest_bad_rules_file_is_one_sentence(
    archive_files: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    db, _, config = archive_files
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[[rule]]\nname = "x"\nseverity = "high"\nnear = [["a"], ["b"]]\nwithin = 1000\n', encoding="utf-8"
    )
    result = run("--db", str(db), "--config", str(config), "rules", "test", str(bad))
    assert result.exit_code == 2
    assert f"{bad}: rule 'x' (#1): 'within' is 1000" in result.output
    assert "Traceback" not in result.output


def test_backtest_in_worker_processes_matches_one_process(archive_files: tuple[Path, Path, Path]) -> None:
    """The spread over processes (spawned workers, one range each) counts what one process counts."""
    db, new, _ = archive_files

    async def go(workers: int) -> dict:
        async with await Archive.open(db, readonly=True) as archive:
            plan = Plan(
                db, new.read_text(encoding="utf-8"), "new", OLD_RULES, "old", "medium", None, None, None
            )
            import monitor.backtests as backtests

            old_chunk, old_from = backtests.CHUNK, backtests.PARALLEL_FROM
            backtests.CHUNK, backtests.PARALLEL_FROM = 3, 0  # three ranges, in workers
            try:
                result, _ = await run_backtest(archive, plan, workers=workers)
            finally:
                backtests.CHUNK, backtests.PARALLEL_FROM = old_chunk, old_from
            return {
                "posts": result.posts,
                "alerts": result.alerts,
                "gained": result.gained,
                "lost": result.lost,
                "rules": {n: r.posts for n, r in result.rules.items()},
            }

    assert asyncio.run(go(2)) == asyncio.run(go(1))


def test_report_precision_fp_terms_channels_and_never_fired(
    archive_files: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    db, _, config = archive_files

    async def mark() -> None:
        async with await Archive.open(db) as archive:
            rows = await archive.decisions.post_alerts_with_verdicts()
            by_rule = {json.loads(r["body"])["matches"][0]["rule"]: r["id"] for r in rows}
            await decide(archive, by_rule["revenge-coming"], "tp", actor="ana", desk="cli")
            await decide(archive, by_rule["crush"], "fp", actor="ana", desk="cli", note="football")

    asyncio.run(mark())
    result = run("--db", str(db), "--config", str(config), "rules", "report", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert (data["alerts"], data["tp"], data["fp"], data["precision"]) == (2, 1, 1, 0.5)
    rules = {r["rule"]: r for r in data["rules"]}
    assert rules["crush"]["precision"] == 0.0
    assert rules["crush"]["fp_terms"] == [{"term": "سنسحق", "alerts": 1}]
    assert rules["crush"]["fp_channels"][0]["channel"] == "@kaf_news"
    assert rules["revenge-coming"]["precision"] == 1.0
    assert data["rules"][0]["rule"] == "crush"  # most false positives first
    assert set(data["never_fired"]) == {"revenge", "brand"}  # the introduction stayed quiet
    readable = run("--db", str(db), "--config", str(config), "rules", "report")
    assert "precision 50%" in readable.output and "سنسحق" in readable.output


def test_signatures_learned_shown_and_overridden(tmp_path: Path, no_user_config: Path) -> None:
    db = tmp_path / "a.db"
    fill(db, tmp_path, extra=12)  # the signature line on most of the channel's posts
    result = run("--db", str(db), "rules", "signatures", "--channel", "@sada_news", "--json")
    assert result.exit_code == 0, result.output
    (sig,) = json.loads(result.output)
    assert "صدي الثار" in sig["names"]  # shown as the matcher sees it (normalised)
    assert any("تابعونا" in line for line in sig["lines"])
    # The word of its name elsewhere in a post still alerts; inside its name it does not.
    plain_rules = tmp_path / "plain.toml"
    plain_rules.write_text('[[rule]]\nname = "r"\nseverity = "medium"\nterms = ["الثأر"]\n', encoding="utf-8")
    for text, alerts in (
        ("الثأر يا محتلين", True),
        ("صدى الثأر", False),
        ("كل يوم خبر\n" + SIGNATURE_LINE, False),
    ):
        check = run(
            "--db", str(db), "check", "--channel", "@sada_news", "--rules", str(plain_rules), "--json", text
        )
        assert json.loads(check.output)["alert"] is alerts, text
    intro = run(
        "--db",
        str(db),
        "check",
        "--channel",
        "@sada_news",
        "بسم الله\nقناة صدى الثأر: أخبار المقاومة الإسلامية في العراق",
    )
    assert intro.exit_code == 0
    assert "no alert" in intro.output and "kept quiet: medium rule 'revenge'" in intro.output
    assert "without the signature this text would alert" in intro.output
    rules = tmp_path / "r.toml"
    rules.write_text(
        '[[rule]]\nname = "r"\nseverity = "medium"\nterms = ["الثأر"]\n\n'
        '[[signature]]\nchannel = "@sada_news"\nremove = ["صدى الثأر"]\nlearn = false\n',
        encoding="utf-8",
    )
    overridden = run(
        "--db", str(db), "rules", "signatures", "--channel", "sada_news", "--rules", str(rules), "--json"
    )
    (sig,) = json.loads(overridden.output)
    assert sig["lines"] == [] and "صدي الثار" in sig["removed"]
    alerting = run(
        "--db", str(db), "check", "--channel", "@sada_news", "--rules", str(rules), "--json", "قناة صدى الثأر"
    )
    assert json.loads(alerting.output)["alert"] is True  # the override gave the name back to the rules


def test_unknown_channel_is_one_sentence(archive_files: tuple[Path, Path, Path]) -> None:
    db, _, _ = archive_files
    for args in (["rules", "test", "--channel", "@nobody"], ["check", "--channel", "@nobody", "x"]):
        result = run("--db", str(db), *args)
        assert result.exit_code == 2
        assert "no channel '@nobody' in the archive" in result.output


def test_backtest_output_escapes_hostile_channel_text(tmp_path: Path, no_user_config: Path) -> None:
    """Post text reaches the terminal escaped: no raw escape sequence, no bidi override obeyed."""
    db = tmp_path / "h.db"
    config = Config()
    config.archive.path = db
    hostile = "\x1b[2J \u202eالانتقام قادم [bold red]x[/] \x07"

    async def go() -> None:
        async with open_app(config, db, tmp_path / "media", ocr=False, deliver=False) as parts:
            channel = Channel(id=7201, username="evil", title="\x1b]0;pwn\x07[link=x]")
            await parts.pipeline.import_batch([Post(channel=channel, message_id=1, date=START, text=hostile)])

    asyncio.run(go())
    result = run("--db", str(db), "rules", "test")
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output and "\u202e" not in result.output and "\x07" not in result.output
    assert "[bold red]x[/]" in result.output  # shown as text, not obeyed as markup
