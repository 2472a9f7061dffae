"""The verdict read off the hits' marks (``alerts.hit_marks``) against the verdict from the hits.

A post whose hits can only be low rules' terms, proximity groups that are not all there,
companions and vetoes is judged from the OR of its hits' marks, without a loop over them. Here
every post of a generated corpus (the shipped rules' terms, proximity groups, companions and
vetoes, countdowns, short Latin abbreviations on posters, a channel whose name is a rule term)
is detected with the marks and with ``Detector.use_marks`` off, and the answers must be the same.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from alerts import hit_marks
from alerts.detect import Detector
from alerts.rules import load_rules, parse_rules
from monitor.core.models import Channel
from monitor.core.text import normalize
from tests.support.detect import LEXICON

POSTED = datetime(2026, 3, 1, 12, tzinfo=UTC)
CHANNEL = Channel(id=77, username="revenge_media", title="إعلام الانتقام | Vengeance Media")


def _words_of_rules() -> list[str]:
    rules = load_rules().rules
    words = [t for r in rules for t in (*r.terms[:3], *r.with_any[:2], *r.without_any[:2])]
    return words + [t for r in rules for group in r.near for t in group[:3]]


def _corpus(n: int, seed: int) -> list[tuple[str, str | None]]:
    rng = random.Random(seed)
    vocabulary = [
        *_words_of_rules(),
        *(c["text"] for c in LEXICON["countdown_examples"]),
        *(x["text"] if isinstance(x, dict) else str(x) for x in LEXICON["negative_examples"]),
        *"في من على قال اليوم بغداد أربيل the and of news IED ied RPG ٥٩ 59 يوماً رمضان".split(),
    ]
    posts = []
    for _ in range(n):
        text = " ".join(rng.choice(vocabulary) for _ in range(rng.randint(1, 14)))
        ocr = None
        if rng.random() < 0.3:
            ocr = "\n".join(rng.choice(vocabulary) for _ in range(rng.randint(1, 4)))
        posts.append((text, ocr))
    return posts


def _answers(detector: Detector, posts: list[tuple[str, str | None]], **options) -> list[dict]:
    normalize.cache_clear()
    return [detector.detect(text, ocr, POSTED, **options).to_json() for text, ocr in posts]


@pytest.mark.parametrize("min_severity", ["low", "medium", "high"])
def test_the_marks_give_the_verdict_the_hits_give(monkeypatch, min_severity):
    posts = _corpus(2000, seed=int.from_bytes(min_severity.encode()) % 1000)
    detector = Detector(load_rules(), min_severity=min_severity)
    judged = []
    marked_verdict = Detector._marked_verdict
    monkeypatch.setattr(
        Detector, "_marked_verdict", lambda self, *a: judged.append(1) or marked_verdict(self, *a)
    )
    options = [{"explain": False}, {"explain": False, "channel": CHANNEL}, {"explain": True}]
    marked = [_answers(detector, posts, **o) for o in options]
    assert len(judged) > 150  # the marks did judge many posts
    assert sum(a["alert"] for a in marked[0]) > 100  # and many others alerted
    monkeypatch.setattr(Detector, "use_marks", False)
    judged.clear()
    assert [_answers(detector, posts, **o) for o in options] == marked
    assert not judged


def test_proximity_rules_past_the_64th_bit_are_still_judged_from_their_hits(monkeypatch):
    groups = [["صاروخ", "missile"], ["قاعدة", "base"], ["يضرب", "strike"]]
    rules = "\n".join(
        f'[[rule]]\nname = "near-{k}"\nseverity = "{["low", "medium", "high"][k % 3]}"\n'
        f'category = "threat"\nnear = {groups!r}\nwithin = {1 + k % 4}\n'
        for k in range(25)  # 75 group bits: the last rules share NEAR_OVERFLOW
    ).replace("'", '"')
    detector = Detector(parse_rules(rules, "near.toml"), min_severity="medium")
    assert len(detector._marks.near_rules) < 25
    rng = random.Random(3)
    words = [w for g in groups for w in g] + ["في", "على", "the", "big", "قال"]
    posts = [(" ".join(rng.choice(words) for _ in range(rng.randint(2, 9))), None) for _ in range(800)]
    marked = _answers(detector, posts, explain=False)
    assert sum(a["alert"] for a in marked) > 50
    monkeypatch.setattr(Detector, "use_marks", False)
    assert _answers(detector, posts, explain=False) == marked


def test_what_each_payload_is_marked_with():
    rules = parse_rules(
        """
[[rule]]
name = "plain-low"
severity = "low"
category = "threat"
terms = ["وعد", "IED"]

[[rule]]
name = "with-companion"
severity = "high"
category = "threat"
terms = ["الرد"]
with_any = ["قادم"]

[[rule]]
name = "close"
severity = "medium"
category = "threat"
near = [["السلاح"], ["سيتكلم"]]
within = 2
""",
        "marks.toml",
    )
    detector = Detector(rules)
    mark = detector._marks.mark
    assert mark(("term", 0, "وعد")) == 1 << 0 | hit_marks.CONTEXT  # low, a threat gives context
    assert mark(("term", 0, "IED")) & hit_marks.ABBREVIATION
    assert mark(("term", 1, "الرد")) == hit_marks.COMPANION
    assert mark(("with", 1, "قادم")) == 0
    first, second = mark(("near", 2, "السلاح")), mark(("near", 2, "سيتكلم"))
    assert first and second and not first & second
    assert not detector._marks.near_possible(first) and detector._marks.near_possible(first | second)
