"""The one normaliser: every step of ``lexicon.json``'s ``normalization_steps``, and its properties."""

from __future__ import annotations

import functools
import re
import unicodedata

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from monitor.core.text import (
    DIRECTION_MARKS,
    LATIN_OR_ARABIC_DIGIT,
    LATIN_OR_ARABIC_NUMBER,
    fold_digits,
    index_text,
    normalize,
    normalize_with_offsets,
    original_span,
    strip_proclitics,
    within_edits,
    words,
)

# --- each lexicon step ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # 1 NFKC: presentation forms, lam-alef ligature, fullwidth, the Allah ligature
        ("ﻻ إله", "لا اله"),
        ("ﺍﻟﺴﻼﻡ", "السلام"),
        ("ﷲ", "الله"),
        ("ＡＢＣ１２", "abc 12"),
        # 2 invisible and direction marks: ZWSP, ZWNJ, ZWJ, LRM, RLM, embeddings, isolates, ALM, BOM, SHY
        ("الان\u200bتقام", "الانتقام"),
        ("ال\u200cانت\u200dقام", "الانتقام"),
        ("\u200fالانتقام\u200e", "الانتقام"),
        ("\u202bالانتقام\u202c", "الانتقام"),
        ("\u2067الانتقام\u2069", "الانتقام"),
        ("\u061cالانتقام", "الانتقام"),
        ("\ufeffالانتقام", "الانتقام"),
        ("انت\u00adقام", "انتقام"),
        # 3 tatweel
        ("قـــــادم", "قادم"),
        ("الانتقـام", "الانتقام"),
        # 4 diacritics (harakat, tanwin, shadda, sukun, dagger alef, Quranic marks)
        ("الانْتِقَامُ", "الانتقام"),
        ("مُعَدًّا", "معدا"),
        ("رَحْمٰن", "رحمن"),
        ("قادمۖ", "قادم"),
        # 5 alef variants
        ("أمريكا", "امريكا"),
        ("إسرائيل", "اسراييل"),
        ("آمن", "امن"),
        ("ٱلله", "الله"),
        # 6 hamza seats; bare hamza dropped
        ("مؤتمر", "موتمر"),
        ("رئيس", "رييس"),
        ("سماء", "سما"),
        # 7 ya variants
        ("على", "علي"),
        ("ایران", "ايران"),
        ("ے", "ي"),
        # 8 ta marbuta and heh variants
        ("المقاومة", "المقاومه"),
        ("ھذا", "هذا"),
        ("ۀ ە ہ", "ه ه ه"),
        # 9 kaf and Persian/Kurdish/Iraqi letters
        ("کتاب", "كتاب"),
        ("ڪ", "ك"),
        ("گال", "كال"),
        ("چنت", "كنت"),
        ("پ ژ ڤ", "ب ز ف"),
        # 10 digits and separators
        ("٠١٢٣٤٥٦٧٨٩", "0123456789"),
        ("۰۱۲۳۴۵۶۷۸۹", "0123456789"),
        ("٣٫١٤", "3.14"),
        ("١٬٠٠٠", "1,000"),
        # 11 punctuation and hashtags
        ("نعم، لا؛ لماذا؟", "نعم, لا; لماذا?"),
        ("#الانتقام_قادم", "الانتقام قادم"),
        ("#RevengeIsComing", "revenge is coming"),
        ("#باقي_٥٩_يوما", "باقي 59 يوما"),
        ("#باقي٥٩يوما", "باقي 59 يوما"),
        ("#59daysleft", "59 daysleft"),
        ("باقي59يوم", "باقي 59 يوم"),
        # 12 letter runs, whitespace, Latin case
        ("قادممممم", "قادم"),
        ("Noooo", "no"),
        ("قادم  \n\t  الآن", "قادم الان"),
        ("VENGEANCE Is Coming", "vengeance is coming"),
        ("  padded  ", "padded"),
    ],
)
def test_lexicon_step(raw, expected):
    assert normalize(raw) == expected
    assert normalize_with_offsets(raw)[0] == expected


def test_two_letters_are_not_a_run():
    # "Collapse letter repetition (3+ -> 1)": doubled letters are ordinary spelling.
    assert normalize("allah good") == "allah good"
    assert normalize("الله") == "الله"


def test_camel_case_split_only_inside_hashtags():
    assert normalize("iPhone #iPhone") == "iphone i phone"


def test_every_spelling_of_a_threat_folds_to_one():
    forms = ["الانتقام قادم", "الانْتِقَامُ قَادِمٌ", "الإنتقام قـادم", "#الانتقام_قادم", "\u200fالانتقام قادممم"]
    assert {normalize(f) for f in forms} == {"الانتقام قادم"}


def test_empty_and_whitespace():
    assert normalize("") == ""
    assert normalize(" \n\u200b ") == ""
    assert normalize_with_offsets("") == ("", [])
    assert normalize_with_offsets("\u200f \t") == ("", [])


# --- helpers ---------------------------------------------------------------------------------


def test_fold_digits_changes_only_digits():
    assert fold_digits("باقي ٥٩ يوماً ۱۲") == "باقي 59 يوماً 12"


def test_the_three_kinds_of_digit_and_nothing_else():
    """Western, Eastern Arabic and Persian digits are numbers; other scripts' digits (which
    ``\\d`` takes), superscripts and letters that look like digits are not."""
    assert LATIN_OR_ARABIC_NUMBER.findall("#باقي_٥٩_يوما 24 ساعة ۱۲") == ["٥٩", "24", "۱۲"]
    for other in ("०", "১", "²", "٪", "o", "ه"):  # Devanagari and Bengali zero and one, ², %, o, heh
        assert LATIN_OR_ARABIC_DIGIT.search(other) is None, other
    assert DIRECTION_MARKS.sub("", "\u200fباقي\u200e ٥\u2067٩\u2069 \u061cيوما\u202b") == "باقي ٥٩ يوما"


def test_words():
    assert words(normalize("#باقي_٥٩_يوما, قادم!")) == ["باقي", "59", "يوما", "قادم"]


def test_strip_proclitics():
    assert strip_proclitics("والانتقام") == ["الانتقام", "انتقام"]
    assert "العبوات" in strip_proclitics("وبالعبوات")
    assert strip_proclitics("الله") == []  # the stem would be too short
    assert strip_proclitics("revenge") == []
    assert strip_proclitics("") == []


def test_index_text_offers_forms_without_prefixes():
    extra = index_text(normalize("وبالعبوات والانتقام"))
    assert "العبوات" in extra.split()
    assert "الانتقام" in extra.split()


def test_offsets_point_at_the_original():
    raw = "قال: الانْتِقَامُ قـادم #باقي_٥٩_يوما"
    norm, origins = normalize_with_offsets(raw)
    start = norm.index("الانتقام")
    s, e = original_span(origins, start, start + len("الانتقام"))
    assert raw[s:e] == "الانْتِقَامُ"
    start = norm.index("59")
    s, e = original_span(origins, start, start + 2)
    assert raw[s:e] == "٥٩"
    start = norm.index("قادم")
    s, e = original_span(origins, start, start + 4)
    assert raw[s:e] == "قـادم"


def test_original_span_of_nothing():
    assert original_span([], 0, 3) == (0, 0)
    _, origins = normalize_with_offsets("abc")
    assert original_span(origins, 2, 2) == (0, 0)


# --- properties ------------------------------------------------------------------------------

# Text that exercises every step: Arabic letters and marks, variants, digits, hashtags, Latin case.
_ALPHABET = st.sampled_from(
    list("ابتثجحخدذرسشصضطظعغفقكلمنهويةىأإآٱؤئءکگچپژڤیۀھ")
    + list("\u064b\u064e\u064f\u0650\u0651\u0652\u0670\u0640\u06d6\u200b\u200c\u200f\u202b\u2066\ufeff\u00ad")
    + list("\u2060\u2064\u034f\u180e\u3164\uffa0\ufe0f\U000e0041\U0001d173")  # Default_Ignorable
    + list("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹٫٬،؛؟")
    + list("ﻻﺍﻟﷲ＃")
    + list("aAbBzZ09#_ \n\t.-!")
)
_TEXT = st.one_of(st.text(_ALPHABET, max_size=40), st.text(max_size=40))
_SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_SETTINGS
@given(_TEXT)
@example("ǅ")
@example("İstanbul #FooBar")
@example("\u1100\u1161\u11a8")  # Hangul jamo compose across NFKC chunks
@example("aaa\u0301a")
def test_fast_and_offset_paths_agree(text):
    assert normalize(text) == normalize_with_offsets(text)[0]


@_SETTINGS
@given(_TEXT)
@example("ǅ")
@example("#aB#cD")
@example("aa\u200baa")
def test_normalize_is_idempotent(text):
    once = normalize(text)
    assert normalize(once) == once


@_SETTINGS
@given(_TEXT)
def test_offsets_stay_inside_the_original(text):
    norm, origins = normalize_with_offsets(text)
    assert len(origins) == len(norm)
    for start, end in origins:
        assert 0 <= start <= end <= len(text)
    if norm:
        s, e = original_span(origins, 0, len(norm))
        assert 0 <= s <= e <= len(text)


@_SETTINGS
@given(st.text(_ALPHABET, max_size=40))
def test_each_output_letter_comes_from_its_origin(text):
    norm, origins = normalize_with_offsets(text)
    for char, (start, end) in zip(norm, origins, strict=True):
        if char.isalnum():
            assert char in normalize(text[start:end]) or char in normalize(text[start:end] + "x")


@_SETTINGS
@given(st.text(_ALPHABET, max_size=30))
def test_output_has_no_marks_the_lexicon_removes(text):
    out = normalize(text)
    for removed in "\u064b\u064e\u0651\u0652\u0670\u0640\u200b\u200c\u200f\u202b\u2066\ufeff\u00ad#_":
        assert removed not in out
    for variant in "أإآٱؤئءةىیکگچپژڤ٠٩۰۹":
        assert variant not in out
    assert out == out.strip()
    assert "  " not in out


@_SETTINGS
@given(_TEXT)
@example("الاقتصاد #العد_التنازلي")
@example("قادمـ ب #x")
def test_word_by_word_offsets_agree_with_the_character_walk(text):
    # The fast road folds word by word; off the spaces that join words it must point exactly
    # where the character-by-character walk points.
    from monitor.core.text import _offsets_by_character

    fast, fast_origins = normalize_with_offsets(text)
    slow, slow_origins = _offsets_by_character(text)
    assert fast == slow
    assert [o for c, o in zip(fast, fast_origins, strict=True) if c != " "] == [
        o for c, o in zip(slow, slow_origins, strict=True) if c != " "
    ]


_PLAIN_LETTERS = "abcXYZaaaأإآاةهىيئؤوبتثلمنالعقدرشسصضطظغفقككبالعددد"


@settings(max_examples=400, deadline=None)
@given(st.text(_PLAIN_LETTERS, min_size=1, max_size=12))
def test_a_plain_word_folds_in_place_as_the_character_walk_says(word):
    """Words of letters that fold one for one skip the character walk: same folding, same origins."""
    from monitor.core.text import _offsets_by_character, _word_offsets

    _word_offsets.cache_clear()
    folded, origins = _word_offsets(word)
    assert (folded, list(origins)) == _offsets_by_character(word)


@settings(max_examples=400, deadline=None)
@given(st.text(_PLAIN_LETTERS + "ءءء !?.,:،؛؟٫()-", min_size=1, max_size=40))
def test_a_plain_text_folds_in_place_as_the_character_walk_says(text):
    """Texts of such letters, single spaces and plain punctuation skip the word-by-word walk."""
    from monitor.core.text import _offsets_by_character

    folded, origins = normalize_with_offsets(text)
    assert (folded, list(origins)) == _offsets_by_character(text)


@functools.cache
def _clusters_by_regex() -> re.Pattern[str]:
    """What ``_cluster_origins`` computed before: a class of every mark of the BMP."""
    marks = "".join(re.escape(chr(cp)) for cp in range(0x300, 0x10000) if unicodedata.combining(chr(cp)))
    return re.compile(f".[{marks}]+", re.DOTALL)


@settings(max_examples=500, deadline=None)
@given(st.text("اب ت\u064e\u064f\u0651\u0301e\u0300 a.\U0001d165\u0670#\u200d", max_size=16))
def test_clusters_are_a_base_character_and_the_marks_after_it(text):
    from monitor.core.text import _cluster_origins

    expected = [(i, i + 1) for i in range(len(text))]
    for m in _clusters_by_regex().finditer(text):
        expected[m.start() : m.end()] = [(m.start(), m.end())] * (m.end() - m.start())
    assert _cluster_origins(text) == expected


def test_within_edits_counts_letters_changed_dropped_or_added():
    assert within_edits("يوما", "يوما", 0) and within_edits("بوما", "يوما", 1)  # one changed
    assert within_edits("يوم", "يوما", 1) and within_edits("يتبقى", "يتبق", 1)  # dropped, added
    assert not within_edits("سوي", "يوما", 1)  # three off
    assert within_edits("attritien", "attrition", 1) and within_edits("vengeanes", "vengeance", 2)
    assert not within_edits("vengeanes", "vengeance", 1) and not within_edits("caysdeft", "days", 2)
    assert within_edits("", "a", 1) and not within_edits("", "ab", 1)
