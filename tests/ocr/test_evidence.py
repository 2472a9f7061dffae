"""Which OCR lines reach the text: agreement between passes and Tesseract's own dictionaries.

The dictionaries are the real ones (extracted from the installed ``ara`` and ``eng`` models);
the lines are what passes read, built by hand so each case says what it is about.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from monitor.core.text import normalize
from ocr.evidence import (
    SMALL_CROP_HEIGHT,
    countdown_copies,
    countdown_rows,
    foreign_words,
    judge_lines,
    positions_of,
    respell,
    support_of,
    unowned_words,
    whole_words,
)
from ocr.lexicon import lexicon_for
from ocr.readings import Line, PassResult, Word
from ocr.settings import OcrSettings
from ocr.voting import finish


@pytest.fixture(scope="module")
def lexicon():
    found = lexicon_for("ara+eng")
    assert len(found) > 100_000, "Tesseract's word lists could not be read"
    return found


def line(text: str, plane: str, top: int = 100, height: int = 40, conf: float = 90.0) -> Line:
    words, left = [], 10
    for token in text.split():
        words.append(Word(token, conf, left, top, 20 * len(token), height))
        left += 20 * len(token) + 15
    return Line(words, plane, normalize(text))


def judge(readings: list[tuple[str, str] | tuple[str, str, float]], lexicon, **where):
    """Readings as (pass, text) read sure (90), or (pass, text, Tesseract's confidence)."""
    full = [(r[0], r[1], r[2] if len(r) > 2 else 90.0) for r in readings]
    lines = [line(text, plane, conf=conf, **where) for plane, text, conf in full]
    return judge_lines(lines, support_of(full), lexicon)


def test_the_dictionaries_hold_arabic_with_its_variants_and_english(lexicon):
    for word in ("رمضان", "مبارك", "الانتقام", "قادم", "vengeance", "coming"):
        assert lexicon.knows(normalize(word)), word
    # alef variants and ta marbuta folded as everywhere else; a proclitic on a known word
    assert lexicon.knows(normalize("أضحى")) and lexicon.knows(normalize("اضحى"))
    assert lexicon.knows(normalize("والانتقام"))
    assert lexicon.knows("59") and lexicon.knows(normalize("٥٩"))  # numbers are words
    assert not lexicon.knows(normalize("ﻻﻻﻻﺱﺵ")) and not lexicon.knows("qzxv")


def test_a_line_one_pass_alone_read_unsure_is_doubtful(lexicon):
    readings = [("grey", "الانتقام قادم"), ("white", "الانتقام قادم"), ("red", "مسيرة", 45.0)]
    judged = judge(readings, lexicon)
    assert [ln.text for ln in judged.kept] == ["الانتقام قادم"]
    assert "مسيرة" in judged.doubtful  # a real word, but one pass only, unsure (flames read as letters)


def test_a_run_of_dictionary_words_one_pass_read_surely_is_kept(lexicon):
    # small scene text (a sign) is often read by one pass only: a run of dictionary words each
    # read with some confidence is a line of the image; one word alone needs a sure reading
    judged = judge([("grey", "مخرج سيارات", 55.0), ("red", "مجتمع", 55.0), ("blue", "رمضان", 85.0)], lexicon)
    assert [normalize(ln.text) for ln in judged.kept] == ["مخرج سيارات", "رمضان"]
    assert "مجتمع" in judged.doubtful


def test_a_run_of_long_dictionary_words_is_a_line_at_less_confidence(lexicon):
    # words of four letters or more each read at 35 make a line: junk rarely spells two of them
    assert [normalize(ln.text) for ln in judge([("grey", "مخرج سيارات", 40.0)], lexicon).kept] == [
        "مخرج سيارات"
    ]
    for junk in ("نوم عمل ساق", "مخرج عمل", "CAT DAM"):  # a word of three letters needs 50
        judged = judge([("grey", junk, 40.0)], lexicon)
        assert not judged.kept and junk in judged.doubtful, junk
    assert not judge([("grey", "مخرج سيارات", 33.0)], lexicon).kept


def test_a_two_letter_word_needs_a_pass_that_read_it_surely(lexicon):
    # the passes make "of", "ee", "al" of specks alike and unsure; a line's own "is" is read surely
    lines = [("lines:ara", "رمضان كريم", 90.0), ("lines:eng", "VENGEANCE COMING", 90.0)]
    unsure = judge([*lines, ("grey", "رمضان كريم of", 60.0), ("white", "VENGEANCE IS COMING", 70.0)], lexicon)
    assert [normalize(ln.text) for ln in unsure.kept] == ["رمضان كريم", "vengeance coming"]
    sure = judge([*lines, ("grey", "رمضان كريم of", 85.0), ("white", "VENGEANCE IS COMING", 85.0)], lexicon)
    assert [normalize(ln.text) for ln in sure.kept] == ["رمضان كريم of", "vengeance is coming"]


def test_a_word_in_a_line_of_words_with_evidence_is_kept(lexicon):
    # "is" is too short to count alone (one pass, two letters), but it is read surely inside a
    # line whose words have evidence
    readings = [
        ("grey", "CLOCK TICKING"),
        ("white", "CLOCK TICKING"),
        ("lines:eng", "THE CLOCK IS TICKING", 85.0),
    ]
    judged = judge(readings, lexicon)
    assert "clock is ticking" in " | ".join(normalize(ln.text) for ln in judged.kept)


def judge_placed(readings: list[tuple[str, str, int]], lexicon):
    """Readings as (pass, text, top): each line read surely at its own height on the image."""
    lines = [line(text, plane, top=top) for plane, text, top in readings]
    every = [(ln.plane, w.text, w.conf) for ln in lines for w in ln.words]
    placed = positions_of(
        (ln.plane, w.text, (w.left, w.top, w.left + w.width, w.top + w.height))
        for ln in lines
        for w in ln.words
    )
    return judge_lines(lines, support_of(every), lexicon, positions=placed)


def test_passes_agree_on_a_word_only_where_they_read_it(lexicon):
    # a plate of sesame buns: a plane makes "wee" of one patch, a clean crop of another; and an
    # Arabic card's ornaments give "انا" at its top and at its foot
    junk = judge_placed(
        [("grey", "wee", 100), ("lines:eng", "wee", 400), ("blue", "انا", 50), ("lines:ara", "انا", 700)],
        lexicon,
    )
    assert junk.kept == [] and set(junk.doubtful) == {"wee", "انا"}
    # the same words read by the two passes at one place are on the image
    there = judge_placed(
        [("grey", "wee", 100), ("lines:eng", "wee", 100), ("blue", "انا", 50), ("lines:ara", "انا", 50)],
        lexicon,
    )
    assert sorted(ln.text for ln in there.kept) == ["wee", "انا"]
    # image-wide, as without the places, all four count
    assert (
        len(
            judge(
                [("grey", "wee"), ("lines:eng", "wee"), ("blue", "انا"), ("lines:ara", "انا")], lexicon
            ).kept
        )
        == 2
    )


def test_a_name_printed_twice_keeps_the_support_of_both_places(lexicon):
    # a company's name at the top and the foot of a card, read by two passes at one place and by
    # a third at the other: three passes of two kinds read it, as without the places, and both
    # places keep it (counted where each was read, neither would)
    judged = judge_placed(
        [("grey", "Ladun", 100), ("white", "Ladun", 100), ("lines:eng", "Ladun", 600)], lexicon
    )
    assert [ln.text for ln in judged.kept] == ["Ladun", "Ladun"]


def test_junk_words_leave_a_kept_line_and_are_kept_apart(lexicon):
    readings = [("grey", "عيد أضحى مبارك ﻻﺱﺵ"), ("white", "عيد أضحى مبارك"), ("lines:ara", "عيد اضحى مبارك")]
    judged = judge(readings, lexicon)
    assert [normalize(ln.text) for ln in judged.kept] == ["عيد اضحي مبارك"]
    assert any("ﻻﺱﺵ" in text for text in judged.doubtful)


def test_another_reading_of_a_kept_line_adds_no_words(lexicon):
    # three passes read the slogan; one of them misread a word: the variant is folded away
    readings = [("grey", "الانتقام قادم"), ("white", "الانتقام قادم"), ("red", "الانتقام قادح")]
    judged = judge(readings, lexicon)
    assert [ln.text for ln in judged.kept] == ["الانتقام قادم"]
    # "Ceming", read by a mask and the rows alike: the dictionary knows it only as "ce" + "ming"
    # run together, which lists no word of its own to keep the variant for
    readings = [(plane, "Vengeance is Coming") for plane in ("grey", "white", "lines:eng")]
    readings += [("white-fill", "Vengeance is Ceming"), ("rows", "Vengeance is Ceming")]
    assert lexicon.knows("ceming") and "ceming" not in lexicon
    judged = judge(readings, lexicon)
    assert [ln.text for ln in judged.kept] == ["Vengeance is Coming"], judged.kept
    assert "Vengeance is Ceming" in judged.doubtful


def test_a_reading_of_a_row_that_only_misreads_its_words_adds_nothing(lexicon):
    # "Vengeancelis": "Vengeance is" run together through a stroke read as "l", most of the
    # reading's letters but no word of its own; "Attritien" a letter off "Attrition"
    kept = ("grey", "white", "lines:eng")
    for true, misread in (
        ("Vengeance is Coming", "Vengeancelis Coming"),
        ("War of Attrition", "War of Attritien"),
    ):
        readings = [*((plane, true) for plane in kept), ("black", misread), ("rows", misread)]
        judged = judge(readings, lexicon)
        assert [ln.text for ln in judged.kept] == [true], judged.kept
        assert misread in judged.doubtful
    # a word the dictionary lists is no misreading: "in" may be what the kept "im" is
    readings = [*((plane, "im coffins") for plane in kept), ("black", "in ceffins"), ("rows", "in ceffins")]
    assert [ln.text for ln in judge(readings, lexicon).kept] == ["im coffins", "in ceffins"]
    # nor an Arabic word a letter off a kept one, when the dictionary lists it
    readings = [*((plane, "دماه الشهداء لن تذهب هدرا") for plane in kept), ("black", "دماء لن تذحب هدرا")]
    readings.append(("rows", "دماء لن تذحب هدرا"))
    assert "دماء لن تذحب هدرا" in [ln.text for ln in judge(readings, lexicon).kept]


def test_pieces_of_a_kept_line_fold_into_it(lexicon):
    # other passes caught part of the slogan: "ENGEANCE" and "VENGEA" are no words, only pieces of
    # "VENGEANCE" (the dictionary knows "vengea" only as "ven" + "gea" run together)
    readings = [
        ("grey", "VENGEANCE IS COMING"),
        ("white", "VENGEANCE IS COMING"),
        ("lines:eng", "VENGEANCE IS COMING"),
        ("red", "ENGEANCE IS COMING"),
        ("rows", "VENGEA"),
    ]
    judged = judge(readings, lexicon)
    assert [ln.text for ln in judged.kept] == ["VENGEANCE IS COMING"]
    assert {"ENGEANCE IS COMING", "VENGEA"} <= set(judged.doubtful)


def test_a_piece_of_a_kept_word_that_is_a_word_stays(lexicon):
    # "عليكم" inside "وعليكم": the "و" may be a speck another pass read, so the word is kept
    readings = [("grey", "وعليكم السلام"), ("white", "وعليكم السلام"), ("red", "عليكم"), ("blue", "عليكم")]
    judged = judge(readings, lexicon)
    assert [ln.text for ln in judged.kept] == ["وعليكم السلام", "عليكم"]


def test_a_piece_of_a_garbled_word_is_no_word_of_its_own(lexicon):
    # A clean "VENGEANCE IS COMING": the filled black mask and the rows misread "COMING" as
    # "C@MING", which folds to "c" and "ming". "ming" is a dictionary word two kinds of pass read
    # there, but only as a piece of one garbled word: the misreading is folded into the slogan.
    def reading(plane: str, text: str, conf: float = 90.0) -> PassResult:
        return PassResult(0, plane, [line(text, plane, conf=conf).words])

    results = [reading(plane, "VENGEANCE IS COMING") for plane in ("grey", "white", "black", "lines:eng")]
    results.append(reading("black-fill", "VENGEANCE IS C@MING", 73.0))
    rows = [reading("rows", "VENGEANCE IS C@MING", 73.0)]
    read = finish(results, {}, OcrSettings(), rows)
    assert read.text == "VENGEANCE IS COMING", read.text
    assert "ming" in normalize(read.doubtful)
    # a piece that some pass read as a word of its own stays new (the "و" of "وعليكم" a speck)
    results = [reading(plane, "وعليكم السلام") for plane in ("grey", "white", "lines:ara")]
    results += [reading("red", "عليكم"), reading("lines:eng", "عليكم")]
    text = finish(results, {}, OcrSettings()).text
    assert "عليكم" in text.splitlines(), text


def test_the_words_a_pass_read_as_words_of_their_own():
    tokens = ["C@MING", "CO.MING", "#باقي_٥٩_يوما", "(الله)", "الله،", "VENGEANCE"]
    assert whole_words(tokens) == {"باقي", "59", "يوما", "الله", "vengeance"}


def test_another_reading_of_a_row_that_adds_a_word_with_evidence_stays(lexicon):
    # a rotated JPEG: most passes read junk around the number, one crop reads the unit too;
    # the reading with "يوما" (a dictionary word with evidence of its own) is not folded away
    readings = [
        ("grey", "ley 26 باق"),
        ("red", "ley 26 باق"),
        ("blue", "ley 26 باق"),
        ("lines:ara", "باق 26 يوما"),
        ("white", "يوما"),
    ]
    judged = judge(readings, lexicon)
    assert any(" 26 يوما" in normalize(ln.text) for ln in judged.kept), judged.kept


def test_garbled_readings_of_a_built_countdown_row_fold_into_it(lexicon):
    # the glyph reader built "باقي ٥٩ يوما" for the row at 100; the passes read it "باقي 09 يوما";
    # another line on that row, without a number, is not one of its variants
    readings = [("grey", "باقي 09 يوما"), ("white", "باقي 09 يوما"), ("red", "العد التنازلي بدأ")]
    full = [(plane, text, 90.0) for plane, text in readings]
    lines = [line(text, plane) for plane, text, _ in full]
    built = [((10, 95, 300, 145), {"باقي", "59", "يوما"})]
    judged = judge_lines(lines, support_of(full), lexicon, built=built)
    assert [ln.text for ln in judged.kept] == ["العد التنازلي بدأ"]
    assert "باقي 09 يوما" in judged.doubtful
    # without the built row the pass's reading is the line
    alone = judge_lines(lines, support_of(full), lexicon)
    assert [ln.text for ln in alone.kept] == ["باقي 09 يوما", "العد التنازلي بدأ"]


def test_garbled_copies_of_the_countdown_going_first_are_kept_apart(lexicon):
    # Four passes read "باقي 16 يوما"; the rows read the same line with the English model's "logs"
    # for يوما, a listed word it read surely, so the rows' fold keeps it as a word the line
    # lacks. The countdown vote writes "باقي 16 يوما" first: the copy at its place, with its
    # number and no more words, goes to the doubtful text. The English line with the same number
    # elsewhere on the poster is a line of its own.
    def reading(plane: str, text: str, top: int = 100, conf: float = 90.0) -> PassResult:
        return PassResult(0, plane, [line(text, plane, top=top, conf=conf).words])

    results = [reading(plane, "باقي 16 يوما") for plane in ("grey", "white", "red", "lines:ara")]
    results += [reading(plane, "16 DAYS LEFT", top=300) for plane in ("grey", "white")]
    read = finish(results, {}, OcrSettings(), [reading("rows", "logs 16 باقي")])
    assert read.text.splitlines() == ["باقي 16 يوما", "16 DAYS LEFT"], read.text
    assert "logs 16 باقي" in read.doubtful.splitlines()
    # English: the rows' "lett", a listed word read at 71, in place of the "left" four passes read
    results = [reading(plane, "Only 41 days left") for plane in ("grey", "green", "gold", "lines:eng")]
    read = finish(results, {}, OcrSettings(), [reading("rows", "Only 41 days lett.", conf=71.0)])
    assert read.text.splitlines() == ["Only 41 days left"], read.text
    assert "Only 41 days lett." in read.doubtful.splitlines()
    # Six planes read "logs 66 باقي" alike, more than read "باقي 66 يوما": the vote writes that
    # winner out whole, and the reading it was written from is a copy of it too
    results = [reading(plane, "logs 66 باقي") for plane in ("grey", "red", "green", "blue", "white", "black")]
    results.append(reading("lines:ara", "باقي 66 يوما"))
    read = finish(results, {}, OcrSettings(), [reading("rows", "باقي 66 يوما")])
    assert read.text.splitlines() == ["باقي 66 يوما"], read.text
    assert "logs 66 باقي" in read.doubtful.splitlines()


def test_what_is_a_copy_of_the_countdown_line_and_what_stays(lexicon):
    full = [(plane, "باقي 16 يوما", 90.0) for plane in ("grey", "white", "red")]
    full += [("rows", "باقي 16 يوما على الانتقام", 90.0), ("lines:eng", "logs 16 باقي", 90.0)]
    full += [("black", "Legs", 70.0), ("rows", "Legs", 88.0), ("black", "logs 15 باقي", 90.0)]
    kept = [line(text, plane) for plane, text, _ in (*full[2:6], full[7])]
    support = support_of(full)
    stay, copies = countdown_copies(kept, "باقي 16 يوما", [kept[0].box], support)
    # a garbled reading and a lone look-alike of يوما at its place are copies; a line with more
    # words, or with another number, is not
    assert [ln.text for ln in stay] == ["باقي 16 يوما", "باقي 16 يوما على الانتقام", "logs 15 باقي"]
    assert copies == ["logs 16 باقي", "Legs"]
    # read at no place of the countdown line: not a copy of it
    stay, copies = countdown_copies(kept, "باقي 16 يوما", [(10, 400, 200, 440)], support)
    assert copies == [] and len(stay) == len(kept)
    # The slogan under the countdown, inside a row's box that holds the countdown's own tighter
    # box too: the tighter box is where the line lies, and the slogan is a line of its own.
    countdown = line("باقي 16 يوما", "grey", top=100, height=30)
    slogan = line("الرد قادم", "lines:ara", top=125, height=60)  # a crop's box, taller than its letters
    row = (0, 90, 400, 185)
    full = [("grey", "باقي 16 يوما", 90.0), ("white", "باقي 16 يوما", 90.0), ("lines:ara", "الرد قادم", 60.0)]
    stay, copies = countdown_copies(
        [countdown, slogan], "باقي 16 يوما", [countdown.box, row], support_of(full)
    )
    assert copies == [] and [ln.text for ln in stay] == ["باقي 16 يوما", "الرد قادم"]


def test_numbers_carry_a_line_only_when_two_kinds_of_pass_read_them(lexicon):
    # a sale sign: the plane and the clean crop both read "٧٥% ٥٠%" (Eastern digits fold to 75, 50)
    sign = judge([("grey", "75% 50%"), ("lines:eng", "٧٥% ٥٠%", 60.0)], lexicon)
    assert [ln.text for ln in sign.kept] == ["75% 50%"]
    # the colour planes of one image read the same specks as the same digits: one voice
    specks = judge([(plane, "75 50") for plane in ("grey", "red", "blue", "white")], lexicon)
    assert specks.kept == []


def test_a_mask_and_its_filled_copy_are_one_voice(lexicon):
    # a plate of buns: the black mask and its filled copy (the same pixels but for the holes it
    # fills) both make "ong" and "بيد" of the same texture, unsure: one reading twice, not two
    for word in ("ong", "بيد"):
        assert lexicon.knows(normalize(word)), word
        for mask in ("black", "white", "gold"):
            twice = judge(
                [(mask, word, 40.0), (f"{mask}-fill" if mask != "gold" else "red", word, 38.0)], lexicon
            )
            assert twice.kept == [], (mask, word)
        # a clean line crop is another kind of pass: the same two readings then agree
        crop = "lines:eng" if word.isascii() else "lines:ara"
        agreed = judge([("black", word, 40.0), (crop, word, 38.0)], lexicon)
        assert [ln.text for ln in agreed.kept] == [word]
        # and one kind of pass read surely enough still counts twice (the colour planes of a
        # real word: stop 21)
        sure = judge([("black", word, 55.0), ("black-fill", word, 52.0)], lexicon)
        assert [ln.text for ln in sure.kept] == [word]


def test_a_clean_crop_s_word_under_16_px_is_judged_as_a_plane_s_reading(lexicon):
    # the food photos' junk: a line crop alone read "سلما" at 66 off a 10 px speck of a plate of
    # buns, and "تسرك" at 79.9 off another; the stack had enlarged both more than three times
    for word, crop in (("سلما", "lines:ara"), ("tate", "lines:eng")):
        assert lexicon.knows(normalize(word)), word
        tall = judge([(crop, word, 66.0)], lexicon, height=SMALL_CROP_HEIGHT)
        assert [ln.text for ln in tall.kept] == [word], word  # a crop's lone reading: 60 is enough
        small = judge([(crop, word, 66.0)], lexicon, height=SMALL_CROP_HEIGHT - 6)
        assert small.kept == [] and small.doubtful == [word], word
        sure = judge([(crop, word, 80.0)], lexicon, height=SMALL_CROP_HEIGHT - 6)
        assert [ln.text for ln in sure.kept] == [word], word  # as sure as a plane must be
        # a row's reading keeps the crop's bar: its word boxes come out shorter than the letters
        row = judge([("rows", word, 66.0)], lexicon, height=SMALL_CROP_HEIGHT - 6)
        assert [ln.text for ln in row.kept] == [word], word
        # and two kinds of pass reading it there still agree, whatever its size
        agreed = judge([(crop, word, 55.0), ("grey", word, 40.0)], lexicon, height=SMALL_CROP_HEIGHT - 6)
        assert normalize(word) in [normalize(ln.text) for ln in agreed.kept], word
    # a run of dictionary words a crop read at 50 or more is a line of the image (a sign one pass
    # read), but not off a small crop: "للا لهب" of a real Eid card's ornament, 7 px tall
    for run, crop in (("مخرج سيارات", "lines:ara"), ("exit parking", "lines:eng")):
        tall = judge([(crop, run, 55.0)], lexicon, height=SMALL_CROP_HEIGHT)
        assert [normalize(ln.text) for ln in tall.kept] == [normalize(run)], run
        small = judge([(crop, run, 55.0)], lexicon, height=SMALL_CROP_HEIGHT - 6)
        assert small.kept == [], run
        on_a_plane = judge([("grey", run, 55.0)], lexicon, height=SMALL_CROP_HEIGHT - 6)
        assert [normalize(ln.text) for ln in on_a_plane.kept] == [normalize(run)], run
    # word by word: "حسم الى" off a third food photo, a run at 54 and 60 on a 19 px line whose
    # "الى" is a 7 px speck, is no run; with both words 19 px tall it is one
    for small_height, kept in ((7, []), (19, ["حسم الى"])):
        speck = Line(
            [Word("حسم", 54.1, 84, 352, 27, 19), Word("الى", 60.1, 53, 365, 12, small_height)],
            "lines:ara",
            normalize("حسم الى"),
        )
        readings = [("lines:ara", w.text, w.conf) for w in speck.words]
        judged = judge_lines([speck], support_of(readings), lexicon)
        assert [ln.text for ln in judged.kept] == kept, small_height


def test_a_filled_mask_reading_its_mask_s_very_reading_is_one_reading(lexicon):
    # where no hole is filled under a word, the filled mask is its mask's pixels: Tesseract gives
    # both the same reading at the same confidence (the plate of buns: "بيد" at 50.7, "oad" at 53.5)
    for word in ("oad", "بيد"):
        for mask in ("black", "white"):
            same = judge([(mask, word, 50.7), (f"{mask}-fill", word, 50.7)], lexicon)
            assert same.kept == [], (mask, word)
            # filled holes (outlined letters) are other pixels, read at another confidence: two
            # readings of one kind of pass, sure enough together (as before)
            filled = judge([(mask, word, 50.7), (f"{mask}-fill", word, 55.2)], lexicon)
            assert [ln.text for ln in filled.kept] == [word], (mask, word)
        # two different planes at the same confidence are still two readings
        planes = judge([("black", word, 50.7), ("grey", word, 50.7)], lexicon)
        assert [ln.text for ln in planes.kept] == [word]
    # a word many passes read surely: the mask and its copy count once there too
    brand = "Zorblax"
    assert not lexicon.knows(normalize(brand))
    twice = [("black", brand, 91.0), ("black-fill", brand, 91.0), ("lines:eng", brand, 85.0)]
    assert judge(twice, lexicon).kept == []
    thrice = [*twice, ("grey", brand, 88.0)]
    assert [ln.text for ln in judge(thrice, lexicon).kept] == [brand]


def test_lone_digits_carry_no_line_but_beside_letters_or_as_a_number_they_do(lexicon):
    # specks of grain read as digits here and there, by a plane and a clean crop, surely: the
    # image-wide support says two kinds of pass read each, yet no digit of them is on the image
    specks = judge([("grey", "5"), ("lines:ara", "5 3", 85.0), ("red", "٣"), ("rows", "3 5", 90.0)], lexicon)
    assert specks.kept == [] and {"5", "5 3", "٣", "3 5"} <= set(specks.doubtful)
    # two digits of one number still carry their line (the sale sign above), Eastern digits too
    sign = judge([("grey", "٥٩"), ("lines:ara", "59", 85.0)], lexicon)
    assert [normalize(ln.text) for ln in sign.kept] == ["59"]
    # one digit beside a name that has evidence of its own but is read unsure (a handle and the
    # icon before it read as 0): the line is the image's
    handle = [
        ("grey", "0 MACHSCOLLEGE", 70.0),
        ("lines:eng", "0 MACHSCOLLEGE", 70.0),
        ("rows", "MACHSCOLLEGE", 60.0),
        ("blue", "0", 90.0),
    ]
    judged = judge(handle, lexicon)
    assert [ln.text for ln in judged.kept] == ["0 MACHSCOLLEGE"] and "0" in judged.doubtful


def test_one_digit_beside_letters_needs_two_kinds_of_pass_that_read_it_there(lexicon):
    # a held-out flag poster: the rows pass read a speck beside "#العد_التنازلي" as 5, the green
    # plane another speck, 120 px lower, as 5; image-wide two kinds of pass read "5" surely, and
    # the line made a countdown of 5 days. Counted where each read it, one kind did.
    hashtag = "#العد_التنازلي"
    apart = judge_placed(
        [("rows", f"5 {hashtag}", 400), ("white", hashtag, 400), ("green", "5", 520)], lexicon
    )
    assert [ln.text for ln in apart.kept] == [hashtag], apart.kept
    # the same digit read there by a plane too is the image's
    there = judge_placed(
        [("rows", f"5 {hashtag}", 400), ("white", hashtag, 400), ("green", "5", 400)], lexicon
    )
    assert [ln.text for ln in there.kept] == [f"5 {hashtag}"], there.kept


def test_names_the_dictionary_lacks_need_three_passes_or_two_sure_ones(lexicon):
    two = judge([("grey", "Jeddah Qzvorak", 70.0), ("lines:eng", "Jeddah Qzvorak", 70.0)], lexicon)
    assert [ln.text for ln in two.kept] == ["Jeddah"] and "Jeddah Qzvorak" in two.doubtful
    sure = judge([("grey", "Jeddah Qzvorak", 90.0), ("lines:eng", "Jeddah Qzvorak", 90.0)], lexicon)
    assert [ln.text for ln in sure.kept] == ["Jeddah Qzvorak"]
    three = judge([(plane, "Jeddah Qzvorak", 70.0) for plane in ("grey", "red", "lines:eng")], lexicon)
    assert [ln.text for ln in three.kept] == ["Jeddah Qzvorak"]
    # a line of nothing a dictionary knows needs many passes, sure of it (a brand, a name)
    unsure = judge(
        [(plane, "Qzvorak Xqwerty", 70.0) for plane in ("grey", "red", "blue", "lines:eng")], lexicon
    )
    assert unsure.kept == []
    brand = judge([(plane, "Qzvorak", 90.0) for plane in ("grey", "red", "lines:eng")], lexicon)
    assert [ln.text for ln in brand.kept] == ["Qzvorak"]


def test_a_name_only_the_colour_planes_read_is_doubtful(lexicon):
    # the colour planes and masks read the same specks as the same junk alike: one kind of pass
    planes = judge([(plane, "Jeddah Qzvorak", 90.0) for plane in ("grey", "red", "blue", "white")], lexicon)
    assert [ln.text for ln in planes.kept] == ["Jeddah"] and "Jeddah Qzvorak" in planes.doubtful


def test_scraps_without_a_real_word_are_doubtful(lexicon):
    # two-letter scraps read alike by every plane (flames give those): no word of three letters
    judged = judge([("grey", "لا ال"), ("red", "لا ال"), ("blue", "لا ال"), ("green", "لا ال")], lexicon)
    assert judged.kept == [] and set(judged.doubtful) == {"لا ال"}


def test_a_row_reads_like_a_countdown_only_with_two_words_in_one_reading():
    readings = [
        ("grey", "باقي يوما", (10, 300, 200, 340)),  # words, no number: still a countdown line
        ("red", "الرد قادم", (10, 50, 200, 90)),
        ("blue", "يوي", (10, 400, 200, 440)),  # one junk word, one letter off two slot words
        ("white", "باقي", (10, 500, 200, 540)),  # the two words on one row, read by two passes
        ("black", "يوما", (10, 500, 200, 540)),
    ]
    assert countdown_rows(readings) == [(10, 300, 200, 340)]


@pytest.mark.parametrize(
    ("read", "meant"),
    [("1S", "IS"), ("C0MING", "COMING"), ("TICK1NG", "TICKING"), ("1S,", "IS,"), ("0F", "OF")],
)
def test_a_one_or_a_zero_among_capitals_is_the_letter_it_looks_like(lexicon, read, meant):
    assert respell(read, lexicon) == meant


@pytest.mark.parametrize(
    "read",
    [
        "10",  # a number
        "#1HOURLEFT",  # a hashtag: a countdown, whatever the dictionary says
        "#10DAYSLEFT",
        "10DAYS",  # two digits together are a number
        "12HOURS",
        "1HOUR",  # no such word as IHOUR
        "1s",  # lower case: l or i, the dictionary knows both
        "١٥",  # Eastern digits
        "#باقي_٥٩_يوما",
        "باقي",
    ],
)
def test_numbers_hashtags_and_arabic_stay_as_read(lexicon, read):
    assert respell(read, lexicon) == read


def test_a_slogan_read_with_1s_for_is_reaches_the_text_whole(lexicon):
    # seed 4's noise poster: every plane read THE CLOCK 1S TICKING, so the line had no "is" and
    # the rule's phrase "the clock is ticking" was not in its text
    def reading(plane: str) -> PassResult:
        return PassResult(0, plane, [line("THE CLOCK 1S TICKING", plane).words])

    read = finish([reading("grey"), reading("white"), reading("lines:eng")], {}, OcrSettings())
    assert "the clock is ticking" in normalize(read.text)


def crop_reading(plane: str, text: str, conf: float, crop: int = 0, top: int = 100) -> PassResult:
    """One clean line crop's reading by the model of ``plane`` (``lines:ara``, ``lines:eng``)."""
    words = [replace(w, crop=crop) for w in line(text, plane, top=top, conf=conf).words]
    return PassResult(0, plane, [words])


def test_a_word_the_other_model_alone_made_of_a_crop_is_doubtful(lexicon):
    # an Arabic line read surely by the Arabic model; the English model made "pees" of its
    # glyphs, a dictionary word read with a clean crop's confidence: no evidence of its own
    assert lexicon.knows("pees")
    results = [
        PassResult(0, "grey", [line("يسرني أن أهنئكم", "grey").words]),
        crop_reading("lines:ara", "يسرني أن أهنئكم", 91.0),
        crop_reading("lines:eng", "Pees", 62.0),
    ]
    read = finish(results, {}, OcrSettings())
    assert "يسرني" in read.text
    assert "pees" not in normalize(read.text) and "Pees" in read.doubtful
    # the same word read by the crop's own model (the English model reading surer there) stays
    results[2] = crop_reading("lines:eng", "Pees", 95.0)
    assert "pees" in normalize(finish(results, {}, OcrSettings()).text)


def test_a_word_the_other_model_read_stays_when_another_pass_read_it_too(lexicon):
    # an English word inside an Arabic poster's crop: a plane read it as well, so it has evidence
    results = [
        PassResult(0, "grey", [line("عيد مبارك", "grey").words]),
        PassResult(0, "white", [line("EID MUBARAK", "white", top=300).words]),
        crop_reading("lines:ara", "عيد مبارك", 90.0),
        crop_reading("lines:eng", "EID MUBARAK", 70.0, crop=0, top=300),
    ]
    assert "eid mubarak" in normalize(finish(results, {}, OcrSettings()).text)


def test_which_model_owns_a_crop_is_decided_crop_by_crop():
    # crop 0 is Arabic (the Arabic model surer), crop 1 English (the English model surer)
    results = [
        crop_reading("lines:ara", "الانتقام قادم", 92.0, crop=0),
        crop_reading("lines:eng", "logs", 55.0, crop=0),
        crop_reading("lines:ara", "لاعلا", 40.0, crop=1, top=300),
        crop_reading("lines:eng", "VENGEANCE", 93.0, crop=1, top=300),
    ]
    unowned = unowned_words(
        results,
        support_of([(r.plane, w.text, w.conf) for r in results for ws in r.lines for w in ws]),
        foreign_words(results),
    )
    assert {key[0] for key in unowned} == {"lines:eng", "lines:ara"}
    assert {(key[0], key[1]) for key in unowned} == {("lines:eng", 0), ("lines:ara", 1)}


def test_what_a_crops_other_model_read_is_no_evidence():
    """Held-out seed 19's dark poster, its one line as the passes read it: three colour planes read
    ``ثأر`` as the Latin ``sli`` (``ara+eng``), and so did the English model on a clean crop the
    Arabic model read surely. Four passes of two kinds made ``sli المهندس`` the line kept, over
    ``ثأر المهندس``. What the crop's other model read counts for nothing now, where the crop's
    own model read it surely (here at 87 and 97)."""

    def read(plane: str, *found: tuple[str, float, int, int, int, int], crop: int = -1) -> PassResult:
        return PassResult(0, plane, [[Word(t, c, left, top, w, h, crop) for t, c, left, top, w, h in found]])

    name = ("المهندس", 92.0, 143, 196, 258, 68)
    results = [
        *(read(plane, ("sli", 58.0, 356, 192, 49, 84), name) for plane in ("grey", "red", "green")),
        read("blue", ("ثأر", 85.0, 338, 192, 69, 84), name),
        read("white", ("تأر", 47.0, 341, 192, 62, 81), name),
        read("black", ("ثأر", 81.0, 343, 196, 59, 65), ("المهندس", 91.0, 143, 206, 185, 58)),
        read("white-fill", ("تأر", 49.0, 341, 192, 62, 81), name),
        read("lines:ara", ("ثأر", 83.0, 343, 191, 62, 90), name, crop=1),
        read("lines:ara", ("تأر", 97.0, 345, 190, 58, 92), ("المهندس", 87.0, 142, 195, 260, 70), crop=5),
        read("lines:ara", ("ثأر", 87.0, 340, 191, 63, 90), name, crop=9),
        read("lines:eng", ("wasigall", 0.0, 142, 195, 260, 70), ("sli", 51.0, 352, 190, 55, 92), crop=5),
    ]
    rows = [read("rows", ("تأر", 49.0, 341, 192, 62, 81), name)]
    text = finish(results, {}, OcrSettings(), rows).text
    assert "ثأر المهندس" in text.splitlines() and "sli" not in text, text
    assert {key[0] for key, owner in foreign_words(results).items() if owner >= 80.0} == {"lines:eng"}


def test_a_crop_whose_own_model_was_unsure_keeps_the_other_models_evidence():
    """A vocalised verse: the Arabic model read ``إن الله مع الصابرين`` at 22, 14, 97 and 44, the
    English model ``ceylell go al`` at 23, 87 and 71, and owns the crop by a hair. Its owner is no
    sure reader, so the Arabic model's sure ``مع`` keeps its evidence (the verse test of
    ``tests/ocr/test_vocalised.py`` reads it whole)."""
    results = [
        PassResult(
            0,
            "lines:ara",
            [
                [
                    Word(t, c, 900 - 90 * i, 100, 80, 40, 5)
                    for i, (t, c) in enumerate(
                        [("إن", 22.0), ("الله", 14.0), ("مع", 97.0), ("الصابرين", 44.0)]
                    )
                ]
            ],
        ),
        PassResult(
            0,
            "lines:eng",
            [
                [
                    Word(t, c, 900 - 90 * i, 100, 80, 40, 5)
                    for i, (t, c) in enumerate([("ceylell", 23.0), ("go", 87.0), ("al", 71.0), ("§]", 16.0)])
                ]
            ],
        ),
    ]
    assert {key[0] for key in foreign_words(results)} == {"lines:ara"}  # owned by the English model
    assert {key for key, owner in foreign_words(results).items() if owner >= 80.0} == set()


def test_a_crop_is_owned_by_the_model_surer_of_its_letters():
    """Punctuation says nothing of a line's script: the English model's ``_`` read at 90 made it
    the owner of a crop of ``#باقي`` on held-out seed 9's fire poster (mean 66 against the Arabic
    model's 51), and the Arabic reading, with it the keyword, lost its evidence. A model that read
    no letter of a crop the other read letters of does not own it."""
    results = [
        crop_reading("lines:ara", "#باقي -", 67.0),
        PassResult(
            0,
            "lines:eng",
            [
                [
                    *crop_reading("lines:eng", "_", 90.0).lines[0],
                    *crop_reading("lines:eng", "gue", 42.0).lines[0],
                ]
            ],
        ),
        crop_reading("lines:ara", "العد التنازلي", 80.0, crop=1, top=300),
        crop_reading("lines:eng", "09", 95.0, crop=1, top=300),
    ]
    assert {(key[0], key[1]) for key in foreign_words(results)} == {("lines:eng", 0), ("lines:eng", 1)}
