"""The phrase matcher: whole words and phrases after normalisation, Arabic clitics, spans."""

from __future__ import annotations

import pytest

from alerts.matcher import PhraseMatcher, term_keys


def found(term: str, text: str) -> list[str]:
    """The original snippets where ``term`` matches in ``text``."""
    matcher = PhraseMatcher([(term, term)])
    return [text[hit.start : hit.end] for hit in matcher.find(text)]


POSITIVES = [
    # (term, text, the snippet of the original text that must be highlighted)
    # separators: space, newline, underscore, hashtags, punctuation around
    ("الانتقام قادم", "#الانتقام_قادم", "الانتقام_قادم"),
    ("الانتقام قادم", "الانتقام\nقادم", "الانتقام\nقادم"),
    ("الانتقام قادم", "قالوا: (الانتقام قادم)!", "الانتقام قادم"),
    ("#الانتقام_قادم", "الانتقام قادم", "الانتقام قادم"),
    ("الانتقام قادم", "«الانتقام قادم»", "الانتقام قادم"),
    ("الانتقام قادم", "🔥الانتقام قادم🔥", "الانتقام قادم"),
    ("الانتقام قادم", "﴿الانتقام قادم﴾", "الانتقام قادم"),
    ("الانتقام قادم", "—الانتقام قادم…", "الانتقام قادم"),
    ("vengeance is coming", '"vengeance is coming"!', "vengeance is coming"),
    # punctuation beside a space inside the phrase: one word quoted, a comma, a dash
    ("الرد قادم", "«الرد» قادم", "الرد» قادم"),
    ("الانتقام قادم", "الانتقام، قادم", "الانتقام، قادم"),
    ("vengeance is coming", '"Vengeance" is - coming', 'Vengeance" is - coming'),
    ("الانتقام قادم", "قال: «الانتقام»   قادم!", "الانتقام»   قادم"),
    ("vengeance is coming", "★Vengeance is Coming★", "Vengeance is Coming"),
    # diacritics, tatweel, letter runs, alef/ya/ta-marbuta variants
    ("الانتقام قادم", "والانتقامُ قـــادمٌ", "والانتقامُ قـــادمٌ"),
    ("الانتقام قادم", "الانتقام قادممممم", "الانتقام قادممممم"),
    ("أصابت أهدافها", "اصابت اهدافها", "اصابت اهدافها"),
    ("إن غدا لناظره قريب", "إنّ غداً لِناظِرِهِ قَرِيبٌ", "إنّ غداً لِناظِرِهِ قَرِيبٌ"),
    ("الأمريكي", "الامريکی", "الامريکی"),  # Persian kaf and yeh
    ("لا يفصلنا عن", "ﻻ يفصلنا عن", "ﻻ يفصلنا عن"),  # presentation form of lam-alef
    ("الانتقام قادم", "الانتقام\u200c \u200fقادم", "الانتقام\u200c \u200fقادم"),  # ZWNJ, RLM
    ("شاهد-101", "شاهد-١٠١", "شاهد-١٠١"),  # Eastern Arabic digits
    # Latin: case folded, camel and all-lowercase joined hashtags
    ("vengeance is coming", "VENGEANCE IS COMING", "VENGEANCE IS COMING"),
    ("vengeance is coming", "#VengeanceIsComing", "VengeanceIsComing"),
    ("Vengeance is Coming", "#vengeanceiscoming", "vengeanceiscoming"),
    ("vengeance is coming", "#Vengeance_Is_Coming", "Vengeance_Is_Coming"),
    ("days left", "#59daysleft", "daysleft"),
    # Arabic proclitics و ف ب ل ك, with and without ال, لل, future س
    ("رتل", "والرتل", "والرتل"),
    ("رتل", "برتل", "برتل"),
    ("رتل", "للرتل", "للرتل"),
    ("الاحتلال", "للاحتلال", "للاحتلال"),
    ("الاحتلال", "وبالاحتلال", "وبالاحتلال"),
    ("الاحتلال", "فالاحتلال", "فالاحتلال"),
    ("الانتقام", "كالانتقام", "كالانتقام"),
    ("نستهدف", "سنستهدف", "سنستهدف"),
    ("نستهدف", "وسنستهدف", "وسنستهدف"),
    ("الرد قادم", "وللرد قادم", "وللرد قادم"),
    # attached suffixes, ة as ت/ات, plural heads, definite phrases
    ("مسيرة", "مسيراتنا", "مسيراتنا"),
    ("المهلة", "بالمهلة", "بالمهلة"),
    ("مهلة", "مهلتكم", "مهلتكم"),
    ("ثأر", "ثأرنا", "ثأرنا"),
    ("رتل", "رتلين", "رتلين"),
    ("الاحتلال الأمريكي", "الاحتلال الأمريكية", "الاحتلال الأمريكية"),
    ("عبوة ناسفة", "بالعبوات الناسفة", "بالعبوات الناسفة"),
    ("عبوة ناسفة", "العبوة الناسفة", "العبوة الناسفة"),
    ("عبوة ناسفة", "وعبوة ناسفة", "وعبوة ناسفة"),
    ("هدف مشروع", "الهدف المشروع", "الهدف المشروع"),
]

NEGATIVES = [
    ("vengeance is coming", "vengeance"),
    ("vengeance is coming", "vengeance is comingsoon"),
    ("السفارة البريطانية", "السفارة الأمريكية"),
    ("الانتقام قادم", "الانتقام"),
    ("drone", "drones"),
    ("drone", "androne"),
    ("رتل", "ترتيل"),  # a different word containing the letters
    ("الرد قادم", "برد قادم"),  # برد (cold) is not ب + رد
    ("الثأر", "ثار الشعب"),  # written with the article: ثار (he revolted) is not الثأر
    ("هدف مشروع", "هدف المشروع"),  # "the project's goal"
    ("مسيرة", "مسيري"),
    ("عبوة", "عبوس"),
    ("شاهد-101", "شاهد الفيديو"),
    ("#59daysleft", "only 59 days left until Christmas"),
]


@pytest.mark.parametrize(("term", "text", "snippet"), POSITIVES)
def test_term_matches_with_its_original_span(term: str, text: str, snippet: str) -> None:
    assert found(term, text) == [snippet]


@pytest.mark.parametrize(("term", "text"), NEGATIVES)
def test_term_does_not_match(term: str, text: str) -> None:
    assert found(term, text) == []


def test_span_indexes_the_original_text_in_a_longer_post() -> None:
    text = "بيان عاجل:\n\n#الانتقام_قادم يا محتلين 🔥"
    matcher = PhraseMatcher([("الانتقام قادم", "r1"), ("يا محتلين", "r2")])
    hits = {hit.payload: text[hit.start : hit.end] for hit in matcher.find(text)}
    assert hits == {"r1": "الانتقام_قادم", "r2": "يا محتلين"}


def test_overlapping_terms_are_all_reported() -> None:
    matcher = PhraseMatcher([("الانتقام", "a"), ("الانتقام قادم", "b"), ("قادم", "c")])
    assert sorted(hit.payload for hit in matcher.find("الانتقام قادم")) == ["a", "b", "c"]


def test_no_terms_and_empty_text() -> None:
    assert PhraseMatcher([]).find("الانتقام قادم") == []
    assert PhraseMatcher([("x y", 1)]).find("") == []


def test_term_of_punctuation_only_has_no_keys() -> None:
    assert term_keys("!!!") == []
    assert term_keys("  ") == []


def test_terms_that_prefix_each_other_keep_their_own_suffix_rules() -> None:
    """رتلوا is رتل + وا; رتلوه is both رتل + وه and رتلو + ه."""
    matcher = PhraseMatcher([("رتل", "short"), ("رتلو", "long")])
    assert {hit.payload for hit in matcher.find("رتلوا")} == {"short"}  # رتل + وا
    assert {hit.payload for hit in matcher.find("رتلو")} == {"long"}
    assert {hit.payload for hit in matcher.find("رتلوه")} == {"short", "long"}  # رتل + وه, رتلو + ه
