"""The C literal scan (``monitor.core.literals``) against pyahocorasick on the same keys."""

from __future__ import annotations

import random

import ahocorasick
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.core.literals import Literals


def _reference(keys: dict[str, object], text: str) -> list[tuple[int, object]]:
    automaton = ahocorasick.Automaton()
    for key, value in keys.items():
        automaton.add_word(key, value)
    if not keys:
        return []
    automaton.make_automaton()
    return list(automaton.iter(text))


_ARABIC_KEYS = {
    w: i
    for i, w in enumerate("يوم ايام ساع اسبوع ليال ليله تنازلي day hour hr week يوما باقي بقي ي وم".split())
}


def test_countdown_like_keys_on_arabic_and_english_text():
    rng = random.Random(25)
    words = [
        "اليوم",
        "يوما",
        "ايام",
        "الساعه",
        "باقي",
        "بقيت",
        "تنازلي",
        "days",
        "hour",
        "hrs",
        "weekly",
        "٥٩",
        "سوى",
    ]
    for _ in range(500):
        text = " ".join(rng.choice(words) for _ in range(rng.randint(0, 30)))
        expected = _reference(_ARABIC_KEYS, text)
        assert list(Literals(_ARABIC_KEYS).iter(text)) == expected, text
        assert Literals(_ARABIC_KEYS).values(text) == [value for _, value in expected], text


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(st.text("ابيوa b", min_size=1, max_size=5), st.integers(), max_size=12),
    st.text("ابيوa bc🔥", max_size=80),
)
def test_any_keys_any_text(keys, text):
    assert list(Literals(keys).iter(text)) == _reference(keys, text)


def test_no_keys_and_empty_keys():
    assert list(Literals({}).iter("anything")) == []
    with pytest.raises(ValueError):
        Literals({"": 1})
