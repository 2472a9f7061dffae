"""The detector: rule matches in text and OCR text, combinations, countdowns, verdict and JSON."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from pathlib import Path

import pytest

from alerts.detect import Detector, load_detector
from alerts.rules import load_rules, parse_rules
from monitor.core.config import AlertsConfig, Config
from monitor.core.errors import RulesError
from tests.support.detect import LEXICON

POSTED = datetime(2021, 11, 2, 10, 0, tzinfo=UTC)


@functools.cache
def detector(min_severity: str = "medium") -> Detector:
    return Detector(load_rules(), min_severity=min_severity)


@pytest.mark.parametrize("text", LEXICON["negative_examples"])
def test_lexicon_negative_examples_do_not_alert(text: str) -> None:
    detection = detector().detect(text, date=POSTED)
    assert not detection.alert, detection.reasons()


def test_a_rule_matching_the_same_words_twice_is_one_reason() -> None:
    # OCR text with the hashtag read twice (two lines of passes) and the slogan once
    detection = detector().detect("", ocr_text="#الانتقام_قادم\nالانتقام قادم\n#الانتقام_قادم 5", date=POSTED)
    assert len(detection.matches) == 3
    assert detection.reasons() == [
        "high rule 'revenge-coming' matched 'الانتقام_قادم'",
        "high rule 'revenge-coming' matched 'الانتقام قادم'",
    ]


POSITIVES = [
    # (text, a rule that must match, the verdict's severity)
    ("استهدف مجاهدو المقاومة الإسلامية في العراق قاعدة حرير بالطيران المسيّر", "attack-claim-formula", "high"),
    ("نتبنى عملية استهداف رتل للاحتلال الأميركي بالعبوات الناسفة", "attack-claim-formula", "high"),
    ("#الانتقام_قادم", "revenge-coming", "high"),
    ("والانتقامُ قـــادمٌ يا محتلين", "revenge-coming", "high"),
    ("Vengeance is Coming", "revenge-coming", "high"),
    ("#VengeanceIsComing", "revenge-coming", "high"),
    ("#vengeanceiscoming", "revenge-coming", "high"),
    ("السفارة الأمريكية هدف مشروع لصواريخنا", "threat-vow", "high"),
    ("سنستهدف قواعد الاحتلال الأمريكي", "we-will-target-enemy", "high"),
    ("انطلقت طائرة مسيرة نحو قاعدة عين الأسد", "drone-with-target", "medium"),
    ("مسيرة انتحارية أصابت هدفها", "drone-attack-wording", "high"),
    ("تم تفجير عبوة ناسفة على جانب الطريق", "ied", "high"),
    ("استهداف رتل الدعم اللوجستي", "convoy-attack", "high"),
    ("بيان صادر عن أصحاب الكهف حول استهداف الرتل", "ambiguous-brand", "medium"),
    ("قريباً الانتقام من المحتلين", "soon-threat", "medium"),
    ("ساعة الصفر اقتربت", "imminent-response", "high"),
    ("We are closer than you think", "imminent-response", "high"),
    ("#الرد_قادم", "imminent-response", "high"),
    ("Islamic Resistance in Iraq claimed the attack on Harir base", "attack-claim-formula", "high"),
]


@pytest.mark.parametrize(("text", "rule", "severity"), POSITIVES)
def test_threats_alert(text: str, rule: str, severity: str) -> None:
    detection = detector().detect(text, date=POSTED)
    assert detection.alert
    assert rule in {m.rule for m in detection.matches}
    assert detection.severity == severity
    for m in detection.matches:
        assert text[m.start : m.end] == m.snippet
        assert m.source == "text"


# Characters that show nothing, put inside the threat by the channel: the reader sees the words
# whole, so the matcher must too (a word joiner, a Hangul filler, a variation selector, a tag).
HIDDEN = ["\u2060", "\u3164", "\ufe0f", "\U000e0020", "\u034f", "\u180e", "\u200d\u2063"]


@pytest.mark.parametrize("hidden", HIDDEN, ids=[f"U+{ord(h[-1]):04X}" for h in HIDDEN])
def test_a_threat_split_by_invisible_characters_still_alerts(hidden: str) -> None:
    for text in (f"#الانت{hidden}قام_قادم", f"Venge{hidden}ance is Coming"):
        detection = detector().detect(text, date=POSTED)
        assert detection.alert, text
        spans = [text[m.start : m.end] for m in detection.matches if m.rule == "revenge-coming"]
        assert any(hidden in span for span in spans), spans  # the highlight is the word as posted


def test_film_promo_vetoes_the_revenge_phrase() -> None:
    assert not detector().detect("فيلم الانتقام قادم قريباً في دور العرض").alert
    assert detector().detect("الانتقام قادم قريباً").alert


@pytest.mark.parametrize(
    "text",
    [
        "原名：ゾンビランドサガ；ZOMBIE LAND SAGA Revenge",  # a book channel's anime title (issue 19)
        "The Hero's Revenge, volume 3 (epub)",
        "Revenge",
        "vengeance",
    ],
)
def test_the_english_word_revenge_alone_does_not_alert(text: str) -> None:
    """Like the Arabic single words, the English one needs company: alone it is a low match."""
    detection = detector().detect(text, date=POSTED)
    assert not detection.alert, detection.reasons()
    assert {m.rule for m in detection.matches} == {"revenge-word-english"}
    assert detection.severity == "low"


@pytest.mark.parametrize(
    "text",
    [
        "revenge for the martyrs of the occupation",
        "We will avenge the blood of Soleimani",
        "Revenge on the occupiers!",
    ],
)
def test_the_english_word_revenge_with_a_target_alerts(text: str) -> None:
    detection = detector().detect(text, date=POSTED)
    assert detection.alert and detection.severity == "medium"
    assert "revenge-english" in {m.rule for m in detection.matches}


def test_the_english_revenge_word_in_a_book_title_next_to_arabic_does_not_alert() -> None:
    """A mixed post: the English title is vetoed, the Arabic vow (diacritics, alef variants) is not."""
    assert not detector().detect("رواية Revenge of the martyrs — الفصل ٣ — book", date=POSTED).alert
    assert detector().detect("والانتقامُ قـادمٌ يا أمريكان revenge book", date=POSTED).alert


def test_combination_across_caption_and_poster() -> None:
    """قريبا in the caption and an enemy word on the poster make one post."""
    assert not detector().detect("قريباً").alert
    detection = detector().detect("قريباً", ocr_text="إلى المحتلين")
    assert detection.alert
    soon = next(m for m in detection.matches if m.rule == "soon-threat")
    assert (soon.source, soon.snippet, soon.with_term) == ("text", "قريباً", "المحتلين")


def test_companion_alone_in_the_caption_and_term_on_the_poster() -> None:
    rules = parse_rules(
        '[[rule]]\nname = "soon"\nseverity = "medium"\nterms = ["قريبا"]\nwith_any = ["العدو"]\n'
        '[[rule]]\nname = "film"\nseverity = "high"\nterms = ["الانتقام"]\nwithout_any = ["فيلم"]\n'
    )
    detection = Detector(rules).detect("إلى العدو", ocr_text="قريباً")
    (match,) = detection.matches
    assert (match.rule, match.source, match.with_term) == ("soon", "ocr", "العدو")
    assert not Detector(rules).detect("فيلم جديد", ocr_text="الانتقام").matches  # veto from the caption


def test_ocr_matches_index_the_ocr_text() -> None:
    ocr = "VENGEANCE\nIS COMING\n#59daysleft"
    detection = detector().detect("", ocr_text=ocr, date=POSTED)
    revenge = next(m for m in detection.matches if m.rule == "revenge-coming")
    assert revenge.source == "ocr"
    assert ocr[revenge.start : revenge.end] == "VENGEANCE\nIS COMING"
    assert detection.countdown.source == "ocr"
    assert detection.countdown.deadline == datetime(2021, 12, 31, 10, 0, tzinfo=UTC)
    assert detection.ocr_text == ocr


def test_weaker_match_inside_a_stronger_one_is_dropped() -> None:
    rules = [m.rule for m in detector().detect("الانتقام قادم").matches]
    assert rules == ["revenge-coming"]  # not also the medium "revenge" on الانتقام


def test_countdown_alone_alerts() -> None:
    detection = detector().detect("باقي ثلاثة أيام", date=POSTED)
    assert detection.alert
    assert detection.severity == "medium"
    assert detection.countdown.value == 3
    assert detection.matches == []


def test_countdown_with_threat_is_high() -> None:
    detection = detector().detect("#باقي_٥٩_يوما #الانتقام_قادم", date=POSTED)
    assert (detection.alert, detection.severity) == (True, "high")
    assert detection.countdown.value == 59


def test_benign_countdown_does_not_alert_unless_a_threat_is_near() -> None:
    calm = detector().detect("باقي ٥٩ يوماً على شهر رمضان المبارك", date=POSTED)
    assert calm.countdown is not None and not calm.countdown.alertable and not calm.alert
    # the threat word is only known to a rule (low, enemy label) and on the poster
    threat = detector().detect("باقي ٥٩ يوماً على شهر رمضان المبارك", ocr_text="ذيول", date=POSTED)
    assert threat.countdown.alertable and threat.alert
    assert "ذيول" in threat.countdown.reason


def test_minimum_severity() -> None:
    assert not detector("medium").detect("قريباً").alert
    assert detector("low").detect("قريباً").alert
    assert not detector("high").detect("انتظرونا").alert
    assert detector("medium").detect("انتظرونا").alert
    with pytest.raises(RulesError, match="minimum severity"):
        Detector(load_rules(), min_severity="urgent")


def test_regex_rules_match_normalised_text() -> None:
    rules = parse_rules(
        '[[rule]]\nname = "shahed"\nseverity = "medium"\ncategory = "weapon"\nregex = ["شاهد ?-? ?\\\\d{2,3}"]\n'
    )
    text = "إطلاق شاهد-١٣٦ نحو الهدف"
    (match,) = Detector(rules).detect(text).matches
    assert match.term == "شاهد ?-? ?\\d{2,3}"
    assert text[match.start : match.end] == "شاهد-١٣٦"


def test_to_json_has_the_contract_shape() -> None:
    detection = detector().detect("Vengeance is Coming #59daysleft", ocr_text="قريباً", date=POSTED)
    data = detection.to_json()
    assert set(data) >= {"alert", "severity", "matches", "countdown", "ocr_text"}
    assert data["alert"] is True and data["severity"] == "high" and data["ocr_text"] == "قريباً"
    for match in data["matches"]:
        assert set(match) >= {"rule", "term", "category", "severity", "source", "start", "end"}
        assert match["source"] in ("text", "ocr")
    assert {"rule": "revenge-coming", "term": "Vengeance is Coming"}.items() <= data["matches"][0].items()
    assert data["countdown"]["value"] == 59
    assert data["countdown"]["unit"] == "day"
    assert data["countdown"]["deadline"] == "2021-12-31T10:00:00+00:00"
    assert detector().detect("مرحبا").to_json() == {
        "alert": False,
        "severity": None,
        "matches": [],
        "countdown": None,
        "ocr_text": None,
    }


def test_iso_text_date_from_the_archive() -> None:
    detection = detector().detect("#59daysleft", date="2021-11-02T10:00:00+00:00")
    assert detection.countdown.deadline == datetime(2021, 12, 31, 10, 0, tzinfo=UTC)


def test_load_detector_from_config(tmp_path: Path) -> None:
    rules = tmp_path / "r.toml"
    rules.write_text('[[rule]]\nname = "x"\nseverity = "low"\nterms = ["زنجبيل"]\n', encoding="utf-8")
    custom = load_detector(Config(alerts=AlertsConfig(rules=rules, min_severity="low")))
    assert custom.detect("زنجبيل").alert
    assert not custom.detect("الانتقام قادم").matches  # the file replaces the default rules
    default = load_detector(Config())
    assert default.min_severity == "medium"
    assert default.detect("الانتقام قادم").alert
    overridden = load_detector(Config(), rules=rules, min_severity="high")
    assert (overridden.min_severity, overridden.ruleset.rules[0].name) == ("high", "x")


def test_a_latin_abbreviation_alone_on_a_poster_does_not_alert() -> None:
    # OCR makes three-letter Latin strings out of any texture: a shop sign "جاكيت BLAZER" gave
    # a junk line "ied". In the caption the abbreviation still counts.
    found = detector().detect("", ocr_text="جاكيت BLAZER\nied")
    assert not found.alert and found.matches == []
    assert detector().detect("", ocr_text="IEDs on the road").matches == []
    caption = detector().detect("an IED hit the convoy", ocr_text="جاكيت")
    assert caption.alert and caption.matches[0].rule == "ied-abbrev"
    # Arabic terms on the poster match as before
    assert detector().detect("", ocr_text="عبوة ناسفة على الطريق").alert
