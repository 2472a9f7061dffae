"""Channel signatures: a channel's own identity does not alert for it, and nothing else is hidden."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from alerts.detect import Detector
from alerts.rules import load_rules, parse_rules
from alerts.signatures import Learned, SignatureBook, learn, names_of
from handlers.importer import import_export
from monitor.app import open_app
from monitor.cmd_demo import SAMPLE, SAMPLE_USERNAME
from monitor.core.config import Config
from monitor.core.errors import RulesError
from monitor.core.models import Channel

CHANNEL = Channel(id=1, username="sada_althar", title="صدى الثأر — Sada al-Thar")
RULES = parse_rules(
    '[[rule]]\nname = "revenge"\nseverity = "medium"\nterms = ["الثأر", "revenge"]\n'
    '[[rule]]\nname = "brand"\nseverity = "medium"\nterms = ["المقاومة الإسلامية في العراق"]\n'
    '[[rule]]\nname = "coming"\nseverity = "high"\nterms = ["الرد قادم"]\n'
)


def alerts(text: str, channel: Channel | None = CHANNEL, book: SignatureBook | None = None) -> bool:
    return Detector(RULES, signatures=book).detect(text, channel=channel).alert


def test_names_are_the_title_its_parts_and_the_username() -> None:
    names = names_of("صدى الثأر — Sada al-Thar", "sada_althar")
    assert "صدي الثار" in names and "sada al thar" in names and "sada althar" in names


def test_a_one_word_part_of_the_title_does_not_make_a_line_the_channels() -> None:
    news = Channel(id=3, username="kaf_iq", title="كف | News")
    assert alerts("Breaking news: الثأر", channel=news)  # "News" alone does not name the channel
    assert not alerts("تابعونا @kaf_iq: الثأر للشهداء", channel=news)  # the username does


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("قناة صدى الثأر: أخبار المقاومة الإسلامية في العراق", False),  # its introduction
        ("قناةُ صَدى الثّأر", False),  # diacritics
        ("صدى الثأر\nالثأر قادم لا محالة يا أعداء الله ويا أعداء الإنسانية جمعاء في كل مكان", True),
        ("الثأر يا محتلين", True),  # the word outside its name
        ("صدى الثأر: الرد قادم", True),  # a high match in a line that names the channel still alerts
        ("أخبار المقاومة الإسلامية في العراق", True),  # no name on the line
        ("تابعونا @sada_althar للمزيد من أخبار المقاومة الإسلامية في العراق", False),  # its signature line
    ],
)
def test_what_the_signature_keeps_quiet(text: str, expected: bool) -> None:
    assert alerts(text) is expected
    assert alerts(text, channel=None) is True  # any other channel: the rules as ever


def test_learned_lines_and_hashtags() -> None:
    texts = [f"خبر {i} عن الطقس\n🔻 الثأر للشهداء 🔻 #صدى_الثأر_نيوز" for i in range(15)] + ["بيان"] * 5
    learned = learn(texts)
    assert learned.lines == ("الثار للشهدا صدي الثار نيوز",)  # folded as the matcher sees it
    assert learned.tags == ("صدي الثار نيوز",)
    book = SignatureBook()
    other = Channel(id=9, username="x", title="X")
    book.learned(9, "x", "X", learned)
    assert not alerts("خبر جديد\n🔻 الثأر للشهداء 🔻 #صدى_الثأر_نيوز", channel=other, book=book)
    assert not alerts("خبر عاجل #صدى_الثأر_نيوز", channel=other, book=book)  # the learned hashtag
    assert alerts("الثأر قادم", channel=other, book=book)  # outside the learned line
    assert learn(texts[:5]) == Learned(posts=5)  # too few posts teach nothing


def test_overrides_in_the_rules_file() -> None:
    rules = parse_rules(
        RULES_TEXT + '\n[[signature]]\nchannel = "@sada_althar"\nadd = ["revenge"]\nremove = ["صدى الثأر"]\n'
    )
    detector = Detector(rules)
    assert detector.detect("revenge", channel=CHANNEL).alert is False  # added
    assert detector.detect("صدى الثأر", channel=CHANNEL).alert is True  # removed from its identity


RULES_TEXT = '[[rule]]\nname = "revenge"\nseverity = "medium"\nterms = ["الثأر", "revenge"]\n'


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('[[signature]]\nadd = ["x"]\n', "signature #1: 'channel' is missing"),
        (
            '[[signature]]\nchannel = "a"\nlearn = "yes"\n',
            "signature for 'a' (#1): 'learn' must be true or false",
        ),
        ('[[signature]]\nchannel = "a"\nkeep = []\n', "unknown key 'keep'"),
        ('[[signature]]\nchannel = "a"\nadd = ["!!"]\n', "'add' must be a list of phrases"),
    ],
)
def test_bad_signature_tables(tmp_path: Path, table: str, message: str) -> None:
    path = tmp_path / "r.toml"
    path.write_text(RULES_TEXT + table, encoding="utf-8")
    with pytest.raises(RulesError) as caught:
        load_rules(path)
    assert str(caught.value).startswith(f"{path}: ") and message in str(caught.value)


def test_the_demo_introduction_no_longer_alerts(tmp_path: Path) -> None:
    """The sample channel's introduction matched its own name (الثأر in صدى الثأر) and its
    tagline: with signatures it is quiet, and every other alert of the demo stays."""
    config = Config()
    db = tmp_path / "demo.db"
    config.archive.path = db

    async def go() -> dict[int, str]:
        async with open_app(config, db, tmp_path / "media", ocr=False, deliver=False) as parts:
            await import_export(SAMPLE, parts.pipeline, username=SAMPLE_USERNAME)
            rows = await parts.archive.decisions.post_alerts_with_verdicts()
            records = await parts.archive.posts_by_ids([r["post_id"] for r in rows])
            return {r.message_id: r.text for r in records.values()}

    alerted = asyncio.run(go())
    assert 2 not in alerted  # the introduction
    assert {4, 7, 8, 11, 14, 16, 18} <= set(alerted)  # the threats, claims and countdowns
