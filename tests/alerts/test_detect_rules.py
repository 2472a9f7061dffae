"""Rules files: the shipped default rules, and one clear error for every kind of bad file."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from alerts.detect import Detector
from alerts.rules import load_rules, parse_rules
from monitor.core.errors import RulesError
from tests.support.detect import LEXICON


@functools.cache
def default_detector(min_severity: str = "low") -> Detector:
    return Detector(load_rules(), min_severity=min_severity)


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "my-rules.toml"
    path.write_text(body, encoding="utf-8")
    return path


GOOD = """
[[rule]]
name = "revenge"
severity = "high"
category = "threat"
terms = ["الانتقام قادم", "vengeance is coming"]
regex = []
"""


def test_a_good_file_loads(tmp_path: Path) -> None:
    rules = load_rules(write(tmp_path, GOOD))
    assert [r.name for r in rules.rules] == ["revenge"]
    assert rules.rules[0].terms == ("الانتقام قادم", "vengeance is coming")
    assert rules.source.endswith("my-rules.toml")


BAD = [
    ("[[rule]\nname = 'x'", "not valid TOML"),
    (GOOD.replace('"high"', '"urgent"'), "rule 'revenge' (#1): unknown severity 'urgent'"),
    (GOOD.replace('"vengeance is coming"', '""'), "rule 'revenge' (#1): terms 2 is empty"),
    (GOOD.replace('"vengeance is coming"', '"   "'), "rule 'revenge' (#1): terms 2 is empty"),
    (GOOD.replace('"vengeance is coming"', '"!!!"'), "rule 'revenge' (#1): terms 2 '!!!' has no letters"),
    (
        GOOD.replace("regex = []", 'regex = ["(unclosed"]'),
        "rule 'revenge' (#1): regex 1 '(unclosed' does not compile",
    ),
    (
        GOOD.replace("regex = []", 'regex = ["a*"]'),
        "rule 'revenge' (#1): regex 1 'a*' matches the empty string",
    ),
    (GOOD + GOOD, "rule 'revenge' (#2): duplicate name, also used by rule #1"),
    (GOOD.replace("regex = []", "sevrity = 'low'"), "rule 'revenge' (#1): unknown key 'sevrity'"),
    (GOOD.replace('name = "revenge"', ""), "rule #1: 'name' is missing or empty"),
    (
        GOOD.replace("terms = [", "xterms = [").replace("xterms", "note"),
        "rule 'revenge' (#1): 'note' must be a string",
    ),
    ('[[rule]]\nname = "x"\nseverity = "low"\n', "rule 'x' (#1): has no terms and no regex"),
    (
        '[[rule]]\nname = "x"\nseverity = "low"\nterms = "one"\nwith_any = [1]\n',
        "rule 'x' (#1): 'with_any' must be a list",
    ),
    ("", "no rules"),
    ('title = "x"\n' + GOOD, "unknown top-level key 'title'"),
]


@pytest.mark.parametrize(("body", "message"), BAD, ids=[m for _, m in BAD])
def test_bad_rules_file_names_file_rule_and_problem(tmp_path: Path, body: str, message: str) -> None:
    path = write(tmp_path, body)
    with pytest.raises(RulesError) as caught:
        load_rules(path)
    text = str(caught.value)
    assert text.startswith(f"{path}: ")
    assert message in text
    assert "\n" not in text  # one sentence


def test_missing_rules_file(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match="does not exist"):
        load_rules(tmp_path / "nope.toml")


def test_default_rules_load_and_are_sane() -> None:
    rules = load_rules()
    assert len(rules) >= 30
    assert {r.severity for r in rules.rules} == {"low", "medium", "high"}
    assert len({r.name for r in rules.rules}) == len(rules)


def test_every_default_term_matches_itself() -> None:
    """A rule without companions finds each of its own terms (unless its veto list is in the term)."""
    detector = default_detector()
    for rule in detector.ruleset.rules:
        if rule.with_any:
            continue
        for term in rule.terms:
            assert detector.detect(term).matches, f"{rule.name}: {term!r} finds nothing"


# Lexicon keywords the default rules cover some other way, and how.
COVERED_ELSEWHERE = {
    "تبنى": "claim-responsibility: only with an attack word",
    "أبابيل": "drone-with-target: only with an attack or target word",
    "logistics convoy": "convoy-with-attack: only with an attack or enemy word",
    "باقي": "the built-in countdown parser",
    "ضل": "the built-in countdown parser",
}


@pytest.mark.parametrize("keyword", LEXICON["keywords"], ids=lambda k: k["term"])
def test_every_lexicon_keyword_is_covered(keyword: dict) -> None:
    term = keyword["term"]
    if term in COVERED_ELSEWHERE:
        return
    detection = default_detector().detect(term)
    assert detection.matches, f"lexicon keyword {term!r} is not in the default rules"


@pytest.mark.parametrize(
    "term",
    [
        "مسيرة",
        "رتل",
        "عبوة",
        "drone",
        "coming soon",
        "تستهدف",
        "قريبا",
        "المحتل",
        "السفارة الأمريكية",
        "wait for us",
    ],
)
def test_ambiguous_words_alone_never_alert(term: str) -> None:
    detection = default_detector("medium").detect(term)
    assert detection.matches  # seen, so an analyst can search for them
    assert not detection.alert
    assert detection.severity == "low"


def test_parse_rules_without_a_file() -> None:
    rules = parse_rules(GOOD, source="inline")
    assert rules.source == "inline"
    with pytest.raises(RulesError, match=r"^inline: "):
        parse_rules("oops = ", source="inline")


def test_the_vocabulary_is_every_word_the_rules_spell() -> None:
    """The words the OCR takes as spelt beside Tesseract's dictionary (``ocr.dots``): terms split
    at spaces and hashtag underscores, verb forms, ``near`` groups and the context words."""
    rules = parse_rules(
        """
[[rule]]
name = "closer"
severity = "high"
terms = ["نحن أقرب مما تتصورون", "#الانتقام_قادم", "Vengeance is Coming"]
without_any = ["رمضان"]

[[rule]]
name = "vow"
severity = "medium"
verbs = ["سحق"]
with_any = ["الاحتلال"]

[[rule]]
name = "near"
severity = "low"
near = [["مسيرة"], ["قاعدة"]]
within = 3
"""
    )
    vocabulary = rules.vocabulary
    assert list(vocabulary) == sorted(set(vocabulary))
    for word in ("نحن", "أقرب", "مما", "تتصورون", "الانتقام", "قادم", "Vengeance", "Coming"):
        assert word in vocabulary
    assert {"رمضان", "الاحتلال", "مسيرة", "قاعدة", "سحق", "سنسحق"} <= set(vocabulary)  # a verb's forms too
    assert not any(" " in word or "_" in word or "#" in word for word in vocabulary)
    assert "تتصورون" in load_rules().vocabulary  # the shipped rules' slogan
