"""Vocalised Arabic (a verse on a poster, a book page) is read at low confidence, and its words
still reach the text (``ocr.readings.keep_words``, ``ocr.readings.vocalised``, the context rule
of ``ocr.evidence``)."""

from __future__ import annotations

from PIL import Image, ImageDraw, ImageFont

from monitor.core.text import normalize, words
from ocr.engine import read_frames
from ocr.evidence import judge_lines, support_of
from ocr.lexicon import lexicon_for
from ocr.readings import VOCALISED_CONFIDENCE, Line, Word, keep_words, vocalised
from ocr.settings import OcrSettings

_NASKH = "/usr/share/fonts/truetype/noto/NotoNaskhArabic-Regular.ttf"

VERSES = [
    "وَقَاتِلُوهُمْ حَتَّى لَا تَكُونَ فِتْنَةٌ",
    "إِنَّ اللَّهَ مَعَ الصَّابِرِينَ",
    "وَلَا تَحْسَبَنَّ الَّذِينَ قُتِلُوا فِي سَبِيلِ اللَّهِ أَمْوَاتًا",
    "سَيَعْلَمُ الَّذِينَ ظَلَمُوا أَيَّ مُنْقَلَبٍ يَنْقَلِبُونَ",
]


def word(text: str, conf: float) -> Word:
    return Word(text, conf, 10, 10, 60, 30)


def test_a_fully_vocalised_word_is_a_word():
    # every letter of رَحْبَتَ carries a mark, so no two letters stand side by side: it was
    # dropped as a scrap of punctuation even when read surely
    assert [w.text for w in keep_words([word("رَحْبَتَ", 90.0), word("،،", 90.0)], 30.0)] == ["رَحْبَتَ"]


def test_a_vocalised_word_is_kept_at_less_confidence_than_a_bare_one():
    read = [word("رَحْبَتَ", 18.0), word("رحبت", 18.0), word("وَضاقَت", VOCALISED_CONFIDENCE - 1)]
    assert [w.text for w in keep_words(read, 30.0)] == ["رَحْبَتَ"]
    assert vocalised("رَحْبَتَ") and vocalised("وَضاقَت") and not vocalised("رحبت")
    assert not vocalised("بَيت")  # one mark: a stray dot of the grain reads as one as easily


def test_the_words_of_a_vocalised_verse_reach_the_text():
    image = Image.new("RGB", (1200, 360), (250, 248, 240))
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(_NASKH, 40)
    for row, verse in enumerate(VERSES):
        draw.text((1160, 30 + 80 * row), verse, font=font, fill=(20, 20, 20), anchor="ra", direction="rtl")
    read = set(words(normalize(read_frames([image], OcrSettings()).text)))
    # read by Tesseract at 28-60 among words it reads at 90: with the confidence filter and the
    # context rule of bare words these three were lost
    assert set(words(normalize("حتى مع تحسبن"))) <= read, read


def test_a_vocalised_word_read_unsure_in_a_line_of_sure_words_stays_in_it():
    # a book line: the vocalised words read at 18 and 26, the bare ones around them at 90
    read = [("رَحْبَتَ", 18.0), ("وَضاقَت", 26.0), ("إلى", 93.0), ("قوله", 90.0), ("وكان", 92.0), ("قدوم", 92.0)]
    lines, support = [], support_of((plane, text, conf) for plane in ("grey", "white") for text, conf in read)
    for plane in ("grey", "white"):
        placed = [Word(text, conf, 900 - 80 * i, 100, 70, 30) for i, (text, conf) in enumerate(read)]
        lines.append(Line(placed, plane, normalize(" ".join(text for text, _ in read))))
    kept = judge_lines(lines, support, lexicon_for("ara+eng")).kept
    assert [words(normalize(line.text)) for line in kept] == [
        words(normalize("رحبت وضاقت إلى قوله وكان قدوم"))
    ]


def test_a_number_in_a_box_far_flatter_than_digits_is_not_read():
    """Tesseract called an 11x1 streak of a flag ``8`` at confidence 92; digits are never more
    than twice as wide as they are tall. Flat words of letters stay (``ocr.evidence`` judges
    them), and so do numbers of any size in a digit's proportions."""
    streak = Word("8", 92.0, 146, 406, 11, 1)
    digit, number = Word("8", 92.0, 146, 380, 11, 18), Word("٤٨", 88.0, 40, 380, 30, 20)
    flat_word = Word("ـــالرد", 80.0, 10, 10, 90, 6)
    assert keep_words([streak, digit, number, flat_word], 30.0) == [digit, number, flat_word]
    assert keep_words([Word("48", 90.0, 0, 0, 41, 10)], 30.0) == []  # two digits, 41 px by 10
