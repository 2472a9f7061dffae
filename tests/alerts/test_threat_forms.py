"""Threats in their many forms (issue 17): proximity, verb families, veiled threats, "Death to".

The corpus (``data/threat_forms.tsv``) runs through the shipped default rules: each threat must
alert with its rule, each benign look-alike (news quoting a threat, sport, sermons, Ramadan
countdowns, weather) must not alert at all.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from alerts.detect import Detector
from alerts.regex_safety import catastrophic
from alerts.rules import load_rules, parse_rules
from alerts.verbs import VerbError, conjugate
from monitor.core.errors import RulesError

CORPUS = Path(__file__).parent / "data" / "threat_forms.tsv"


def _cases() -> list[tuple[str, str, str]]:
    rows = []
    for line in CORPUS.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            kind, rule, text = line.split("\t")
            rows.append((kind, rule, text))
    return rows


CASES = _cases()


@functools.cache
def detector() -> Detector:
    return Detector(load_rules())


def test_the_corpus_is_large_and_mostly_look_alikes() -> None:
    benign = sum(1 for kind, _, _ in CASES if kind == "benign")
    assert len(CASES) >= 100
    assert benign >= len(CASES) / 2


@pytest.mark.parametrize(
    ("kind", "rule", "text"), CASES, ids=[f"{k}-{i}" for i, (k, _, _) in enumerate(CASES)]
)
def test_corpus_case(kind: str, rule: str, text: str) -> None:
    detection = detector().detect(text)
    found = {m.rule for m in detection.alerting_matches}
    if kind == "threat":
        assert rule in found, f"{text!r}: expected {rule}, got {found or 'no alert'}"
    else:
        assert not detection.alert, (
            f"{text!r} alerts: {[(m.rule, m.term) for m in detection.alerting_matches]}"
        )


# --- verb families -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("verb", "forms"),
    [
        ("تكلم", {"تكلم", "يتكلم", "تتكلم", "نتكلم", "اتكلم", "ستتكلم", "سيتكلم"}),
        ("تَكَلَّمَ", {"تكلم", "يتكلم", "ستتكلم"}),  # diacritics folded
        ("أطلق", {"اطلق", "يطلق", "نطلق", "سنطلق"}),  # form IV drops its alef
        ("استهدف", {"استهدف", "يستهدف", "نستهدف", "سنستهدف"}),
        ("انتقم", {"انتقم", "ينتقم", "سننتقم"}),
        ("قاتل", {"قاتل", "يقاتل", "نقاتل"}),
        ("قال/يقول", {"قال", "يقول", "تقول", "سيقول"}),
        ("وصل/يصل", {"وصل", "يصل", "ستصل", "سنصل"}),
    ],
)
def test_a_verb_family(verb: str, forms: set[str]) -> None:
    assert forms <= set(conjugate(verb))


@pytest.mark.parametrize(
    ("text", "alerts"),
    [
        ("ستتكلم الصواريخ", True),
        ("سيتكلمون", True),
        ("وتكلموا", True),
        ("سنتكلم", True),
        ("تكلمنا", True),
        ("كلام", False),
        ("المتكلم", False),
    ],
)
def test_a_verb_rule_matches_every_person_and_tense(text: str, alerts: bool) -> None:
    rules = parse_rules('[[rule]]\nname = "speak"\nseverity = "high"\nverbs = ["تكلم"]\n')
    assert Detector(rules).detect(text).alert is alerts


@pytest.mark.parametrize("verb", ["قال", "وعد", "رمى", "رد", "الحرب", "strike", "ضرب قوي", "٣٣٣"])
def test_a_verb_that_does_not_conjugate_is_refused(verb: str) -> None:
    with pytest.raises(VerbError):
        conjugate(verb)


# --- proximity ----------------------------------------------------------------------------

NEAR = """
[[rule]]
name = "weapon-speaks"
severity = "high"
near = [["السلاح", "الصواريخ"], ["verb:تكلم"]]
within = 2
"""


@pytest.mark.parametrize(
    ("text", "alerts"),
    [
        ("الصواريخ ستتكلم", True),
        ("ستتكلم الصواريخ", True),  # either order
        ("ستتكلم غداً الصواريخ", True),
        ("ستتكلم غداً يا أعداء الصواريخ", False),  # three words among them: not within 2
        ("الصواريخ", False),
        ("ستتكلم", False),
        ("الصواريخ. ستتكلم!", True),  # punctuation is not a word
        ("٣ صواريخ ثم ستتكلم", False),  # صواريخ without the article is not السلاح/الصواريخ
    ],
)
def test_proximity_in_either_order_within_n_words(text: str, alerts: bool) -> None:
    detection = Detector(parse_rules(NEAR)).detect(text)
    assert detection.alert is alerts
    if alerts:
        match = detection.matches[0]
        assert match.rule == "weapon-speaks"
        assert text[match.start : match.end] == match.snippet
        assert "الصواريخ" in match.snippet and "تكلم" in match.snippet


def test_proximity_of_three_groups_and_companions() -> None:
    rules = parse_rules(
        '[[rule]]\nname = "reach"\nseverity = "medium"\nwithin = 4\n'
        'near = [["drone", "drones"], ["reach", "strike"], ["base", "embassy"]]\nwithout_any = ["wedding"]\n'
    )
    detector_ = Detector(rules)
    assert detector_.detect("our drones will reach your base").alert
    assert detector_.detect("the embassy: drones will strike").alert
    assert not detector_.detect("drones will reach").alert  # two of three groups
    assert not detector_.detect("wedding drones reach the base").alert  # vetoed


def test_proximity_on_the_poster_text_too() -> None:
    detection = Detector(parse_rules(NEAR)).detect("بيان", ocr_text="الصواريخ سوف تتكلم")
    assert detection.alert
    assert detection.matches[0].source == "ocr"


# --- bad input: one clear sentence naming the file and the rule ---------------------------

BAD = [
    (
        NEAR.replace("within = 2", "within = 0"),
        "rule 'weapon-speaks' (#1): 'within' is 0: give a number of words from 1 to 50",
    ),
    (NEAR.replace("within = 2", "within = 1000"), "'within' is 1000"),
    (NEAR.replace("within = 2", 'within = "five"'), "'within' is 'five'"),
    (NEAR.replace("within = 2", "withn = 2"), "rule 'weapon-speaks' (#1): unknown key 'withn'"),
    (NEAR.replace('["verb:تكلم"]', '["verb:قال"]'), "near group 2 item 1: verb 'قال' has a weak letter"),
    (
        NEAR.replace('near = [["السلاح", "الصواريخ"], ["verb:تكلم"]]', 'near = [["السلاح"]]'),
        "'near' has 1 groups",
    ),
    (NEAR.replace('["verb:تكلم"]', "[]"), "near group 2 is empty"),
    (
        NEAR.replace('near = [["السلاح", "الصواريخ"], ["verb:تكلم"]]', 'terms = ["x"]'),
        "'within' needs 'near'",
    ),
    (
        '[[rule]]\nname = "v"\nseverity = "low"\nverbs = ["رمى"]\n',
        "rule 'v' (#1): verbs 1: verb 'رمى' has a weak letter",
    ),
    (
        '[[rule]]\nname = "r"\nseverity = "low"\nregex = ["(\\\\w+\\\\s?)+$"]\n',
        "rule 'r' (#1): regex 1 '(\\\\w+\\\\s?)+$' is refused: a repetition inside a repetition",
    ),
    ('[[rule]]\nname = "r"\nseverity = "low"\nregex = ["(a|a)*b"]\n', "alternatives that start alike"),
]


@pytest.mark.parametrize(("body", "message"), BAD, ids=[m[:40] for _, m in BAD])
def test_bad_rules_name_file_and_rule(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "threats.toml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(RulesError) as caught:
        load_rules(path)
    text = str(caught.value)
    assert text.startswith(f"{path}: ")
    assert message in text
    assert "\n" not in text


@pytest.mark.parametrize(
    "pattern", [r"\bالرد\s+(?:قادم|آت)", r"\d{1,3} يوما", r"(?<!\w)foo(?!\w)", r"(?:x|y)+z"]
)
def test_ordinary_regexes_pass_the_safety_check(pattern: str) -> None:
    assert catastrophic(pattern) is None


def test_the_old_format_still_loads() -> None:
    rules = parse_rules('[[rule]]\nname = "x"\nseverity = "high"\nterms = ["الانتقام قادم"]\nregex = []\n')
    assert rules.rules[0].near == () and rules.rules[0].verbs == ()
