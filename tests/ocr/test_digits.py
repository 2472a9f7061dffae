"""Eastern Arabic digits read by glyph shape (ocr.glyphs, ocr.digits), on lines drawn in the
poster fonts.

The examples come from other fonts (KACST, Arabeyes, SIL, DejaVu...): the fonts drawn here are
the ones the synthetic posters use, which the digit reader has never seen.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from alerts.countdown import find_countdown
from monitor.core.text import normalize
from ocr.digits import (
    countdown_from_ink,
    countdown_lines,
    countdown_regions,
    countdown_template,
    countdown_value,
    countdown_written_out,
    no_other_number,
    template_fonts,
)
from ocr.glyphs import EASTERN, component_label
from ocr.lines import Placement
from ocr.pass_plan import DIGITS_PASS
from ocr.planes import INK_PLANE
from ocr.readings import PassResult, Word
from ocr.settings import OcrSettings
from ocr.voting import finish
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
    return [line for line, _ in countdown_lines([(ocr_text, box, box[3] - box[1])], {"grey": image})]


def test_templates_come_from_fonts_the_posters_do_not_use():
    used = {path for path, _ in _FONT_FILES.values()}
    families = ("Amiri", "NotoSansArabic", "NotoNaskhArabic", "NotoKufiArabic")
    assert len(template_fonts()) >= 20  # the Debian fonts ./dev installs
    assert used.isdisjoint(template_fonts())
    assert not [f for f in template_fonts() if f.rsplit("/", 1)[-1].startswith(families)]  # no weight of them


@pytest.mark.parametrize("font", ["noto-sans-arabic", "noto-naskh-arabic", "amiri"])
def test_single_eastern_digits_in_an_unseen_font(font):
    # ٢-٩ alone, at a poster's hashtag size: ١ and ٠ are left to their neighbours (a stroke, a dot)
    right = 0
    for digit in EASTERN[2:]:
        image, _ = drawn(digit, font, 40)
        ink = np.asarray(image) < 128
        rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
        label, _ = component_label(ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1])
        right += label == str(EASTERN.index(digit))
    assert right >= 7, f"{right} of 8"


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
    assert lines == [f"باقي {to_eastern(str(value))} يوما"]  # written back as on the poster
    countdown = find_countdown(lines[0])
    assert (countdown.value, countdown.unit) == (value, "day")


def test_a_hashtag_countdown_in_hours():
    lines = read(f"#باقي_{to_eastern('48')}_ساعة", "#باقي_/5_ساعة", "amiri")
    assert lines == ["#باقي_٤٨_ساعة"]
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


def test_one_word_cannot_fill_two_slots():
    # "يوي" is one letter off both يوم (the unit) and سوي (of لم يتبق سوى): junk read on a
    # Ramadan card made a countdown of it. Each slot needs its own word, and three-letter words
    # must be read exactly.
    assert countdown_template("لم يوي ٥") is None
    assert countdown_template("يوي") is None
    assert countdown_template("باقي يوي") is None
    assert countdown_template("بقي ٥ يوم") == "باقي {n} يوما"
    assert countdown_template("لم يتبق سوى ٥ يوما") == "لم يتبق سوى {n} يوما"
    assert countdown_template("#باقي_٥٩_يوما") == "#باقي_{n}_يوما"


def test_a_number_from_glyphs_needs_its_line():
    # the "remaining" word and the unit read on two lines of the same row by two passes are
    # not one countdown line; nor is a region taller than wide (a fragment, not a line)
    box = (0, 0, 400, 60)
    assert countdown_regions([("باقي قادم", box, 50), ("الرد يوما", box, 50)]) == []
    assert countdown_regions([("لم يتبق سوى يوما", (0, 0, 86, 149), 140)]) == []
    [(_, template)] = countdown_regions([("باقي قادم", box, 50), ("باقي يوما", box, 50)])
    assert template == "باقي {n} يوما"


def test_a_clean_crop_gets_its_number_from_its_own_reading():
    # ocr.lines cuts a line out clean; Tesseract read its words but not the number. On clean
    # single glyphs of the poster fonts the reader is right about 99 times in 100 (٣ and ٢
    # differ by one tooth): most of these must come back.
    right = 0
    for value in (23, 47, 58, 62, 86):
        image, _ = drawn(f"لم يتبق سوى {to_eastern(str(value))} يوما", "noto-naskh-arabic", 44)
        found = countdown_from_ink(["لم يتبق سوى !١ يوما", "logs 1 gow"], np.asarray(image) < 128)
        if found is not None:
            line, distance = found
            assert 0 < distance < 1
            right += line == f"لم يتبق سوى {to_eastern(str(value))} يوما"
    assert right >= 4, f"{right} of 5"
    # a crop whose reading has no countdown words is not looked at
    assert countdown_from_ink(["الانتقام قادم"], np.asarray(image) < 128) is None


def test_the_crops_of_one_line_vote_on_its_number():
    # One line is cut out of several masks. A mask whose flame or stripe touched the last digit
    # adds a ١ (seed 3: ٣٢ read as ٣٢١ by one mask of four), and a ١ is the easiest glyph, so
    # the stray reading is the nearest to its examples: nearest-wins took it, the vote does not.
    crops = [drawn(f"لم يتبق سوى {n} يوما", "noto-sans-arabic", 44)[0] for n in ("٤٧", "٤٧", "٤٧١", "٤٧")]
    stray = countdown_from_ink(["لم يتبق سوى ؟ يوما"], np.asarray(crops[2]) < 128)
    usual = countdown_from_ink(["لم يتبق سوى ؟ يوما"], np.asarray(crops[0]) < 128)
    assert stray is not None and usual is not None and stray[1] < usual[1]  # the trap is set
    gap = 30
    stack = Image.new(
        "L", (max(c.width for c in crops) + 2 * gap, sum(c.height + gap for c in crops) + gap), 255
    )
    placements, words, top = [], [], gap
    for index, crop in enumerate(crops):
        stack.paste(crop, (gap, top))
        placements.append(Placement(top, gap, crop.height, crop.width, 1.0, (100, 400)).to_json())
        words.append(
            [
                Word(text, 90.0, gap + 100 * x, top + 10, 80, 40, index)
                for x, text in enumerate(("يوما", "؟", "سوى", "يتبق", "لم"))
            ]
        )
        top += crop.height + gap
    stack.info["layout"] = placements
    read = finish([PassResult(0, "lines:ara", words)], {INK_PLANE: stack}, OcrSettings())
    assert read.text.splitlines()[0] == "لم يتبق سوى ٤٧ يوما"


def test_a_zero_after_digits_is_kept():
    image, _ = drawn(f"باقي {to_eastern('60')} يوما", "noto-sans-arabic", 44)
    line, _ = countdown_from_ink(["باقي 6 يوما"], np.asarray(image) < 128)
    assert countdown_value(line) == (60, "day")


def test_western_numbers_are_left_to_tesseract_on_crops():
    image, _ = drawn("باقي 26 يوما", "noto-sans-arabic", 44)
    assert countdown_from_ink(["باقي 26 يوما"], np.asarray(image) < 128) is None


@pytest.mark.parametrize(
    ("reading", "value"),
    [
        ("باقي ٥٩ يوما", (59, "day")),
        ("#باقي_48_ساعة", (48, "hour")),
        ("Only 41 days left", (41, "day")),
        ("#59daysleft", (59, "day")),
        ("لم ينبق سوى 7 يوما", (7, "day")),  # a letter slip in the words is forgiven
        ("باقى 09 يوما", None),  # ٥ read as 0: Arabic countdowns have no leading zero
        ("باقى 9ه يوما", None),  # ٥ read as ه: no clean number
        ("باقي 5 8 يوما", None),  # two numbers: which one?
        ("59", None),  # a bare number is no vote
        ("باقي ² يوما", None),  # a superscript is a digit to str.isdigit, and no number (it raised)
        ("العد التنازلي بدأ", None),
    ],
)
def test_what_counts_as_a_countdown_vote(reading, value):
    assert countdown_value(reading) == value


@pytest.mark.parametrize(
    ("reading", "template"),
    [
        ("logs 16 باقي", "باقي {n} يوما"),  # the English model's يوما beside its number
        ("legs ١١ باقى", "باقي {n} يوما"),
        ("#بافي ه هعيوما ley 200_3b#", "#باقي_{n}_يوما"),  # a crop's two readings joined
        ("العد التنازلي بدأ lay Jjtall sal", None),  # "the countdown has begun": lay is بدأ
        ("باقي lay", None),
    ],
)
def test_a_latin_look_alike_is_the_unit_only_beside_a_number(reading, template):
    assert countdown_template(reading) == template


def test_the_countdown_has_begun_is_no_countdown_and_a_real_one_beside_it_stays(tmp_path):
    """Two posters of ``scripts/posters.py``'s seed 6 (not one of the five seeds the issue's
    floors are measured on), read whole by real Tesseract: ``العد التنازلي بدأ`` on a gradient
    (its crop's English reading ``lay Jjtall sal`` gave a countdown of 9 days), and grain with
    ``#باقي_٥٥_يوما`` beside the same slogan, whose countdown needs the look-alike and keeps it."""
    from ocr.engine import recognize_file
    from scripts.posters import poster_specs, write_poster

    specs = poster_specs(48, 6)
    slogan, grain = specs[40], specs[8]
    assert slogan.lines == ["العد التنازلي بدأ", "War of Attrition"], slogan.lines
    assert "#باقي_٥٥_يوما" in grain.lines, grain.lines
    read = {
        spec.name: recognize_file(tmp_path / write_poster(spec, tmp_path)["file"]) for spec in (slogan, grain)
    }
    begun, counted = read[slogan.name], read[grain.name]
    assert begun.status == counted.status == "done"
    assert "التنازلي" in normalize(begun.text), begun.text  # the slogan is read...
    assert find_countdown(begun.text, source="ocr") is None, begun.text  # ...and is no countdown
    found = find_countdown(counted.text, source="ocr")
    assert found is not None and (found.value, found.unit) == (55, "day"), counted.text


@pytest.mark.parametrize(
    ("reading", "written"),
    [
        ("باقي ٥٩ يوما", "باقي ٥٩ يوما"),  # already whole: as read
        ("باقى 16 يوما", "باقى 16 يوما"),  # the same words, spelled as read
        ("#بافي_72_ساعة", "#باقي_72_ساعة"),  # ق read as ف
        ("#باق_19_يرما", "#باقي_19_يوما"),
        ("logs 16 باقي", "باقي 16 يوما"),  # the English model's "logs" for يوما
        ("باقي ٥٩ يما", "باقي ٥٩ يوما"),  # the number as read
        ("Only 41 days left", "Only 41 days left"),
        ("باقى 09 يوما", None),  # no vote, nothing to write out
        ("العد التنازلي بدأ", None),
    ],
)
def test_a_countdown_vote_written_out_whole(reading, written):
    assert countdown_written_out(reading) == written
    if written is not None:
        assert countdown_value(written) == countdown_value(reading)
        found = find_countdown(written, source="ocr")
        assert found is not None and (found.value, found.unit) == countdown_value(reading)


@pytest.mark.parametrize(
    ("seed", "index", "countdown"),
    [
        (9, 32, (25, "day")),  # every reading a letter off: "#بافي_25__يوما", written out whole
        (5, 3, (19, "day")),  # "#باق_19_يرما", likewise
        (6, 34, (94, "day")),  # the glyphs' regional path read Western 94 as one Eastern ٨
        (13, 42, (60, "day")),  # ara wrote ١٠ for ٦٠ on five passes against the glyphs' two
        (18, 21, (28, "day")),  # the passes wrote 8 for ٢٨ and the detector read "العد التنازلي 8"
        (18, 25, None),  # "#العد_التنازلي" over a flag, with a streak read as 8 and specks as 3 5
        (21, 23, (94, "day")),  # ٩٤ read 96 nine times; the script model read ٩٤ too
        (22, 41, (39, "day")),  # ٣٩ read 89 seven times; the script model read Eastern digits
        (17, 33, (90, "day")),  # Western 90 taken for ٤٥ by the glyphs, no Eastern script reading
    ],
)
def test_held_out_posters_give_their_countdown_and_no_other(tmp_path, seed, index, countdown):
    """Posters of seeds the issue's floors are not measured on (5, 6, 9, 13, 17, 18, 21, 22; seed
    18's two are the posters the streak and the dropped digit were found on), read whole by real
    Tesseract. The vote understands readings a letter off, which the detector does not, and
    writes its winner out whole; it passes over what Tesseract writes for Eastern digits it has
    no letter for (``ocr.voting._unwritten``: its guesses too, where the script model read the
    line in Eastern digits) and one glyph digit where the passes read two. A
    number in a streak's flat box is no digit (``ocr.readings.keep_words``), and one digit
    beside letters needs two kinds of pass where it is (``ocr.evidence._read_here``)."""
    from ocr.engine import recognize_file
    from scripts.posters import poster_specs, write_poster

    spec = poster_specs(48, seed)[index]
    want = (spec.countdown["value"], spec.countdown["unit"]) if spec.countdown else None
    assert want == countdown, spec.lines
    read = recognize_file(tmp_path / write_poster(spec, tmp_path)["file"])
    assert read.status == "done", read.reason
    found = find_countdown(read.text, source="ocr")
    assert ((found.value, found.unit) if found else None) == countdown, read.text


def test_no_other_number_reads_eastern_digits_as_western():
    assert no_other_number("باقي ٤١ يوما", 41) and no_other_number("#41daysleft", 41)
    assert no_other_number("Legs", 41)  # a piece of the line without its number
    assert not no_other_number("باقي ١٢ يوما", 41) and not no_other_number("41 days, 12 hours", 41)


def test_a_script_model_re_read_that_reads_like_no_countdown_is_kept_apart():
    # A flag poster: the planes read "Only 41 days left" under its slogan, and the script-model
    # pass re-read the rows it was given. What it made of the slogan ("WHAT IS CAM 0") is no
    # countdown and stays out of the text, and so does a re-read that holds no number but the
    # countdown written first's ("41 days left", "41 davs left": the vote cannot read the latter);
    # a re-read of another number stays in, one with no unit too ("العد التنازلي 40": the detector
    # reads it, the vote cannot).
    def reading(plane: str, text: str, top: int) -> PassResult:
        return PassResult(
            0, plane, [[Word(t, 90.0, 10 + 120 * i, top, 100, 40) for i, t in enumerate(text.split())]]
        )

    results = [reading(p, "WHAT IS COMING IS GREATER", 100) for p in ("grey", "white", "lines:eng")]
    results += [reading(p, "Only 41 days left", 300) for p in ("grey", "white", "lines:eng")]
    told = ("41 davs left", "WHAT IS CAM 0", "العد التنازلي 40", "al2", "41 days left")
    digits = PassResult(0, DIGITS_PASS, [[Word(text, 100.0, 0, 0, 0, 0)] for text in told])
    read = finish(results, {}, OcrSettings(), [digits])
    lines = read.text.splitlines()
    assert lines[0] == "Only 41 days left" and "العد التنازلي 40" in lines, lines
    assert not {"WHAT IS CAM 0", "al2", "41 days left", "41 davs left"} & set(lines)
    assert {"WHAT IS CAM 0", "al2", "41 days left", "41 davs left"} <= set(read.doubtful.splitlines())
    assert find_countdown(read.text).value == 41
