"""The native fold (``monitor/core/_native.c``) against the Python one, character by character and
on generated text: wherever it answers, it answers what the Python fold does.

The reference is ``_python_fold``: :func:`monitor.core.text.normalize`'s word-by-word path with
the native fold taken out, the definition ``tests/core/test_text_fold.py`` checks against the
former one-pass fold.
"""

from __future__ import annotations

import random
import sys
import unicodedata

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from monitor.core import _native, fold_tables
from monitor.core import text as text_module
from monitor.core.text import normalize


def _python_fold(text: str) -> str:
    """``normalize`` with the native fold taken out (every word new)."""
    text_module._WORDS.clear()
    native = text_module._native_fold
    text_module._native_fold = lambda _text: None
    try:
        return normalize.__wrapped__(text)  # type: ignore[attr-defined]
    finally:
        text_module._native_fold = native


def _c_fold(text: str) -> str | None:
    normalize.__wrapped__("a")  # type: ignore[attr-defined]  # the tables are set on first use
    return _native.fold(text)


_PRE, _POST, _FLAGS = fold_tables.build(text_module._TABLE)
_HANDLED = [cp for cp in range(fold_tables.SIZE) if _FLAGS[cp] & fold_tables.HANDLED]


def test_the_tables_cover_arabic_latin_and_emoji():
    handled = set(_HANDLED)
    arabic = "ابتثجحخدذرزسشصضطظعغفقكلمنهويةىأإآٱؤئءکگچپژڤیۀھ٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹٫٬،؛؟ـ"
    assert {ord(c) for c in arabic + "\u064b\u064e\u0651\u0652\u0670\u200c\u200f\ufeff"} <= handled
    assert {ord(c) for c in "azAZ09#_ \n\t\u00a0.«»!🔥😀"} <= handled
    # what NFKC changes or composes, and what case folds to two characters, is left to Python
    assert not {ord(c) for c in "ﻻﷲ＃ＡﬁßİⅣ\u0653\u0654\u0655\u0301\u00a8"} & handled


def test_every_handled_character_folds_as_in_python():
    for cp in _HANDLED:
        for text in (chr(cp), f"a{chr(cp)}b", f"#x{chr(cp)}Y", f"ب{chr(cp)}1", chr(cp) * 3):
            assert _c_fold(text) == _python_fold(text), (hex(cp), text)


def test_no_handled_character_composes_or_reorders_under_nfkc():
    """The native fold takes each character alone: no handled character may be the second of a
    canonical composition (Hangul is composed algorithmically; its blocks are not handled)."""
    seconds = set()
    for cp in range(0x110000):
        decomposition = unicodedata.decomposition(chr(cp))
        if decomposition and not decomposition.startswith("<") and len(decomposition.split()) == 2:
            seconds.add(int(decomposition.split()[1], 16))
    assert not seconds & set(_HANDLED) - {cp for cp in _HANDLED if _FLAGS[cp] & fold_tables.SPACE}
    assert not [cp for cp in _HANDLED if 0x1100 <= cp < 0x1200 and not _FLAGS[cp] & fold_tables.DROP]
    kept_marks = [
        cp for cp in _HANDLED if unicodedata.combining(chr(cp)) and not _FLAGS[cp] & fold_tables.DROP
    ]
    assert kept_marks == []  # marks NFKC would reorder are all dropped


def test_unhandled_text_is_left_to_python():
    for text in ("ﻻ", "straße", "ا\u0653", "\U000e0041", "ＡＢＣ", "x\u0301"):
        assert _c_fold(text) is None
        assert normalize(text) == _python_fold(text)


def test_a_generated_arabic_english_corpus_folds_as_in_python():
    rng = random.Random(25)
    pieces = ["#الانتقام_قادم", "#RevengeIsComing", "#باقي٥٩يوما", "الانْتِقَامُ", "قـــادم", "قادمممم",
              "أمريكا", "إسرائيل", "آمن", "مؤتمر", "ٱلله", "ھذا", "کتاب", "Noooo", "a1b2c", "١٢abc٣", "«الرد»",
              "٣٫١٤", "نعم،", "لماذا؟", "#aB#cD", "##xY", "🔥🔥🔥", "\u200fالانتقام\u200e", "x_y", "AAAbbb"]  # fmt: skip
    spaces = [" ", "  ", "\n", "\t", "\u00a0", " \n ", "\u2028"]
    handled = 0
    for _ in range(3000):
        words = [
            rng.choice(pieces) + (rng.choice(pieces) if rng.random() < 0.2 else "")
            for _ in range(rng.randint(0, 30))
        ]
        text = "".join(w + rng.choice(spaces) for w in words)
        folded = _c_fold(text)
        handled += folded is not None
        assert folded is None or folded == _python_fold(text), text
    assert handled == 3000


_ALPHABET = st.sampled_from(
    list("ابتثجحخدذرسشصضطظعغفقكلمنهويةىأإآٱؤئءکگچپژڤیۀھ")
    + list(
        "\u064b\u064e\u064f\u0650\u0651\u0652\u0653\u0654\u0655\u0670\u0640\u06d6\u200b\u200c\u200f\u202b\u2066\ufeff\u00ad"
    )
    + list("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹٫٬،؛؟")
    + list("ﻻﺍﷲ＃\u00a8\u00a0\u3000\x00\u0301«»…🔥\U000e0041")
    + list("aAbBzZ09#_ \n\t.-!")
)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(_ALPHABET, max_size=80), st.text(max_size=40)))
@example("#aBc_dEf ٥٩يوما")
@example("ااا ب")
@example("a\u0651\u064e\u0653")
@example("ّ ا")
def test_any_text_folds_as_in_python(text):
    folded = _c_fold(text)
    if folded is not None:
        assert folded == _python_fold(text)
    assert normalize.__wrapped__(text) == _python_fold(text)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "text", ["Abc DEF", "CAFÉ au lait", "الكتاب abc", "x 🔥 y", "#RevengeIsComing 59يوما", "   ", "a_b"]
)
def test_the_folded_str_is_in_its_canonical_kind(text):
    """The fold writes its str in the narrowest kind itself: one that CPython would make of the
    same characters (an ASCII text as ASCII, not Latin-1), or comparisons and hashes go wrong."""
    folded = _c_fold(text)
    assert folded is not None
    canonical = "".join(list(folded))  # made by CPython from the characters
    assert folded.isascii() == canonical.isascii()
    assert sys.getsizeof(folded) == sys.getsizeof(canonical)
    assert hash(folded) == hash(canonical) and {folded: 1}[canonical] == 1


def test_fold_takes_only_text():
    with pytest.raises(TypeError):
        _native.fold(b"bytes")  # type: ignore[arg-type]
