"""Detections with the native scans (``monitor/core/_native.c``) against detections without them.

Three steps of detection run in C: the fold of a whole text (``normalize``), the rule terms'
automaton (mask, walk and checks: ``monitor/core/phrases.c``) and the countdown's anchor scan. Here every post of a generated Arabic+English
corpus (lexicon phrases, countdowns, look-alikes, ordinary words, and the edges: diacritics,
alef variants, Eastern Arabic digits, hashtags, punctuation beside spaces, emoji, presentation
forms and composing marks the native fold leaves to Python) is detected both ways, with the
explanation and without, and the answers must be the same.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from alerts import countdown, detect
from alerts.detect import Detector
from alerts.rules import load_rules
from monitor.core import text as text_module
from monitor.core.text import normalize
from tests.support.detect import LEXICON  # the tests' copy of shared/research/lexicon.json
from tests.support.reference_matcher import ReferenceMatcher
from tests.support.reference_scan import ReferenceScan

POSTED = datetime(2026, 3, 1, 12, tzinfo=UTC)
PHRASES = [
    *(k["term"] for k in LEXICON["keywords"]),
    *(c["text"] for c in LEXICON["countdown_examples"]),
    *(n["text"] if isinstance(n, dict) else str(n) for n in LEXICON["negative_examples"]),
]
EDGES = [
    "الانْتِقَامُ",
    "قـــادم",
    "أمريكا",
    "إسرائيل",
    "آمن",
    "٥٩",
    "۴۰",
    "يوماً",
    "#الموت_لأمريكا",
    "#RevengeIsComing",
    "#باقي٥٩يوما",
    "«الرد»",
    "قادم!",
    "،",
    "🔥",
    "ﻻ",
    "ا\u0653",
    "\u200fالثأر\u200e",
    "Death",
    "to",
    "AMERICA",
    "drones",
    "قاعدة",
    "السفارة",
    "اليوم",
    "today",
    "3",
    "days",
    "left",
]


def _corpus(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    vocabulary = PHRASES + EDGES
    posts = []
    for _ in range(n):
        words = [rng.choice(vocabulary) for _ in range(rng.randint(1, 12))]
        posts.append(rng.choice([" ", "  ", "\n", " - "]).join(words))
    return posts


def _answers(detector: Detector, posts: list[str], explain: bool) -> list[dict]:
    normalize.cache_clear()
    return [detector.detect(post, post[::-1], POSTED, explain=explain).to_json() for post in posts]


@pytest.mark.parametrize("min_severity", ["low", "medium"])
def test_the_native_scans_detect_as_python_does(monkeypatch, min_severity):
    detector = Detector(load_rules(), min_severity=min_severity)
    posts = _corpus(1500, seed=25)
    native = [_answers(detector, posts, explain) for explain in (True, False)]
    assert sum(a["alert"] for a in native[0]) > 100  # the corpus does alert
    assert any(text_module._native_fold(p) is None for p in posts)  # and reaches the Python fold
    monkeypatch.setattr(text_module, "_native_fold", lambda _text: None)
    needed = {word: frozenset(patterns) for word, patterns in countdown._NEEDED.items()}
    monkeypatch.setattr(countdown, "_NEEDED_SCAN", ReferenceScan(needed))
    monkeypatch.setattr(
        countdown, "_ANCHOR_SCAN", ReferenceScan({w: len(w) for w in countdown._ANCHOR_WORDS})
    )
    monkeypatch.setattr(detect, "PhraseMatcher", ReferenceMatcher)
    detector = Detector(load_rules(), min_severity=min_severity)
    assert isinstance(detector._matcher, ReferenceMatcher)
    python = [_answers(detector, posts, explain) for explain in (True, False)]
    normalize.cache_clear()
    assert native == python
