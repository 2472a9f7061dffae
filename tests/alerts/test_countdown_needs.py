"""A countdown pattern runs only where its words are (``countdown._NEEDS``): the same countdowns
as running every pattern around every anchor, on the lexicon's examples, generated phrasings of
every pattern and look-alikes."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from alerts import countdown
from alerts.countdown import find_countdown
from tests.alerts.test_detect_countdown import ISSUE_EXAMPLES
from tests.support.detect import LEXICON
from tests.support.reference_scan import ReferenceScan

POSTED = datetime(2021, 11, 2, 10, 0, tzinfo=UTC)

_MARKERS = [
    "باقي",
    "بقي",
    "لم يتبقَّ سوى",
    "ما زال",
    "ضل",
    "ظل",
    "باقيلهم",
    "لا يفصلنا عن ٣١/١٢/٢٠٢١ سوى",
    "لا تفصلنا عن رحيلهم إلا",
    "العد التنازلي:",
    "#العد_التنازلي",
    "countdown",
    "T-minus",
    "only",
    "just",
    "",
]
_NUMBERS = ["٥٩", "59", "3", "١٢٠", "ثلاثة", "خمسة وعشرون", "twenty-one", "two", "a", "خمسطعش", "1000", "0"]
_UNITS = [
    "يوما",
    "يوماً",
    "أيام",
    "يوم",
    "ساعة",
    "ساعات",
    "أسبوع",
    "اسبوعين",
    "يومان",
    "days",
    "hours",
    "weeks",
    "روز",
    "ليلة",
]
_AFTER = [
    "",
    "left",
    "remaining",
    "to go",
    "until the end",
    "from now",
    "متبقية",
    "باقية",
    "مانده",
    "على رحيل المحتل",
    "حتى الرد",
    "لحين انسحاب القوات",
    "separate us from the day",
    "تفصلنا عن يوم الحساب",
    "في المستشفى",
    "على رمضان",
]
_AROUND = [
    "اليوم",
    "today",
    "عاجل:",
    "#الانتقام_قادم",
    "مرور",
    "منذ",
    "الأيام المتبقية: ٢٠",
    "days left: 5",
    "",
]


def _phrasings(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [
        " ".join(
            part
            for part in (
                rng.choice(_AROUND),
                rng.choice(_MARKERS),
                rng.choice(_NUMBERS),
                rng.choice(_UNITS),
                rng.choice(_AFTER),
                rng.choice(_AROUND),
            )
            if part
        )
        for _ in range(n)
    ]


def _every_pattern_everywhere() -> ReferenceScan:
    """The needed words' scan as if there were none: each anchor word lets every pattern run."""
    return ReferenceScan(
        {word: frozenset(range(len(countdown._PATTERNS))) for word in countdown._ANCHOR_WORDS}
    )


def _texts() -> list[str]:
    texts = [e["text"] for e in LEXICON["countdown_examples"]]
    texts += [t for t in LEXICON.get("negative_examples", []) if isinstance(t, str)]
    texts += [text for text, _, _ in ISSUE_EXAMPLES]
    return texts + _phrasings(3000, seed=17)


def test_running_only_the_patterns_whose_words_are_there_finds_the_same_countdowns(monkeypatch):
    texts = _texts()
    assert len(texts) > 3000
    ours = [find_countdown(text, POSTED) for text in texts]
    monkeypatch.setattr(countdown, "_NEEDED_SCAN", _every_pattern_everywhere())
    theirs = [find_countdown(text, POSTED) for text in texts]
    assert sum(c is not None for c in theirs) > 500  # the phrasings do make countdowns
    for text, a, b in zip(texts, ours, theirs, strict=True):
        assert a == b, text


@pytest.mark.parametrize("k", range(len(countdown._PATTERNS)))
def test_every_pattern_has_words_it_needs(k):
    assert countdown._NEEDS[k] and all(word == word.casefold() for word in countdown._NEEDS[k])
