"""The words of Tesseract's own dictionaries (``ocr.lexicon``), the language model of the evidence step."""

from __future__ import annotations

import pytest

from monitor.core.text import normalize
from ocr import lexicon
from ocr.lexicon import Lexicon, lexicon_for, spellings_for


def test_a_lexicon_looks_words_up_in_its_sorted_list():
    words = Lexicon(["يوما", "باقي", "coming", "باقي", "the"])
    assert len(words) == 4
    assert "باقي" in words and "coming" in words and "the" in words
    assert "باق" not in words and "comin" not in words and "" not in words and 59 not in words
    from_cache = Lexicon.of_sorted("a\nb\nقادم".encode())
    assert len(from_cache) == 3 and "a" in from_cache and "قادم" in from_cache and "c" not in from_cache
    empty = Lexicon(())
    assert len(empty) == 0 and "a" not in empty and not empty.knows("ab")
    assert "" not in Lexicon(["", "a"]) and "\ud800" not in Lexicon(["a"])  # no empty word; a lone surrogate


def test_a_lexicon_finds_exactly_its_words_among_their_neighbours():
    # The search in the sorted text against a set: every word, and the strings beside each in the
    # order (one letter more, one less, the next code point at the end), Arabic and Latin.
    import random

    rng = random.Random(7)
    letters = "abcdez" + "ابتثجحخدذرزسشصضطظعغفقكلمنهويىةءآأؤإئ" + "٠٥٩"
    words = {"".join(rng.choice(letters) for _ in range(rng.randint(1, 9))) for _ in range(3000)}
    lexicon = Lexicon(words)
    assert len(lexicon) == len(words)
    probes = set(words)
    for word in words:
        probes |= {word[:-1], word + "a", word + "ي", word[:-1] + chr(ord(word[-1]) + 1), "ا" + word}
    for probe in probes:
        assert (probe in lexicon) == (probe in words and probe != ""), probe


def test_knows_numbers_stems_and_words_run_together():
    words = Lexicon(["انتقام", "قادم", "days", "left", "the"])
    assert words.knows("59") and words.knows("٥٩")  # numbers are words, Eastern digits too
    assert words.knows("والانتقام")  # و + ال + a known word
    assert words.knows("قادمون")  # a known word + a common suffix
    assert words.knows("daysleft")  # a hashtag of two known words
    assert not words.knows("xqzv") and not words.knows("ق")


@pytest.mark.slow
def test_the_dictionaries_of_ara_and_eng_from_tesseracts_models_and_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    lexicon._load.cache_clear()
    try:
        made = lexicon_for("ara+eng")  # extracted with combine_tessdata and dawg2wordlist
        assert len(made) > 200_000
        assert list((tmp_path / "tgmonitor").glob("lexicon-*.txt"))
        lexicon._load.cache_clear()
        cached = lexicon_for("ara+eng")  # read back from the disk cache
        assert cached._lines == made._lines and len(cached) == len(made)
        for word in (
            "the",
            "coming",
            "vengeance",
            "الانتقام",
            "قادم",
            "باقي",
            "يوما",
            "رَمَضَان",
            "إنتقام",
            "أيام",
        ):
            assert cached.knows(normalize(word)), word
        assert not cached.knows(normalize("xqzv")) and not cached.knows(normalize("ججججج"))
        # the Arabic words as spelt, written by the same extraction: folded, تأر is تار, a word
        assert len(list((tmp_path / "tgmonitor").glob("spellings-*.txt"))) == 1
        spelt = spellings_for("ara+eng")
        assert len(spelt) > 100_000
        assert "ثأر" in spelt and "تأر" not in spelt and cached.knows(normalize("تأر"))
        assert "الأضحى" in spelt and "الأصحى" not in spelt and "coming" not in spelt
    finally:
        lexicon._load.cache_clear()
