"""Eastern Arabic digits read by glyph shape (ocr.digits), on lines drawn in the poster fonts.

The templates come from other fonts (DejaVu, Nastaliq, Syriac...): the fonts drawn here are the
ones the synthetic posters use, which the digit reader has never seen.
"""

from __future__ import annotations

import pytest
from PIL import Image, ImageDraw, ImageFont

from alerts.countdown import find_countdown
from ocr.digits import countdown_lines, countdown_regions, template_fonts
from scripts.posters import _FONT_FILES, to_eastern


def drawn(text: str, font: str, size: int = 48) -> tuple[Image.Image, tuple[int, int, int, int]]:
    """``text`` drawn black on white with margins, and its box."""
    face = ImageFont.truetype(_FONT_FILES[font][0], size, layout_engine=ImageFont.Layout.RAQM)
    probe = ImageDraw.Draw(Image.new("L", (4, 4)))
    left, top, right, bottom = probe.textbbox((0, 0), text, font=face, direction="rtl", language="ar")
    image = Image.new("L", (right - left + 80, bottom - top + 60), 255)
    ImageDraw.Draw(image).text((40 - left, 30 - top), text, font=face, fill=0, direction="rtl", language="ar")
    return image, (40, 30, 40 + right - left, 30 + bottom - top)


def read(text: str, ocr_text: str, font: str) -> list[str]:
    image, box = drawn(text, font)
    return countdown_lines([(ocr_text, box, box[3] - box[1])], {"grey": image})


def test_templates_come_from_fonts_the_posters_do_not_use():
    used = {path for path, _ in _FONT_FILES.values()}
    assert template_fonts()
    assert used.isdisjoint(template_fonts())


# On clean lines "باقي N يوما", N = 10, 13 ... 97, it reads 30/30 in Noto Sans Arabic and Amiri,
# 19/30 in Noto Naskh Arabic and 14/30 in Noto Kufi Arabic (Tesseract's script model: 11/13,
# 9/13, 0/13, 7/13 on N = 10, 17 ... 94).
@pytest.mark.parametrize(
    ("font", "value"),
    [
        ("noto-sans-arabic", 59),
        ("noto-naskh-arabic", 48),
        ("amiri", 73),
        ("noto-sans-arabic", 60),
        ("amiri", 92),
    ],
)
def test_a_remaining_line_gets_its_eastern_number_back(font, value):
    # What Debian's ara model makes of such a line: the words, and junk for the number.
    lines = read(f"باقي {to_eastern(str(value))} يوما", "باقي YY يوما", font)
    assert lines == [f"باقي {value} يوما"]
    countdown = find_countdown(lines[0])
    assert (countdown.value, countdown.unit) == (value, "day")


def test_a_hashtag_countdown_in_hours():
    lines = read(f"#باقي_{to_eastern('48')}_ساعة", "#باقي_/5_ساعة", "amiri")
    assert lines == ["#باقي_48_ساعة"]
    countdown = find_countdown(lines[0])
    assert (countdown.value, countdown.unit) == (48, "hour")


def test_western_digits_are_left_to_tesseract():
    assert read("باقي 26 يوما", "باقي 26 يوما", "noto-sans-arabic") == []


def test_no_number_no_countdown():
    # "the countdown has begun": a remaining word but no unit, so the line is not even looked at
    assert read("العد التنازلي بدأ", "العد التنازلي بدأ", "noto-naskh-arabic") == []
    assert countdown_regions([("الانتقام قادم", (0, 0, 100, 40), 40)]) == []


def test_ocr_slips_in_the_words_are_forgiven():
    box = (0, 0, 300, 60)
    [(region, template)] = countdown_regions([("لم ينبق ستوي log) 01", box, 50)])
    assert template == "لم يتبق سوى {n} يوما"  # ينبق, ستوي and يوما as "log)" (a Latin look-alike)
    assert region.box == box
