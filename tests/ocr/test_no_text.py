"""Pictures with nothing to read are recorded as such without a Tesseract pass (``ocr.blank``);
a poster with text, however faint or small, is never taken for one."""

from __future__ import annotations

import re

import pytest
from PIL import Image, ImageDraw, ImageFilter

from monitor.core.text import normalize
from ocr import OcrPool, OcrSettings, recognize_file
from ocr.blank import MIN_EDGE_PIXELS, has_no_text, strong_edges
from ocr.engine import NO_TEXT
from scripts.pictures import draw_picture, write_pictures
from scripts.posters import _font, _is_arabic, _text_kwargs, to_eastern
from tests.support.ocr import POSTERS, write_poster

SMOOTH = ("gradient", "photo", "dark", "fire")  # drawn pictures with no sharp shape in them


@pytest.mark.parametrize("kind", SMOOTH)
def test_a_smooth_picture_without_text_has_no_text(kind):
    assert has_no_text([draw_picture(kind, seed=3)])


@pytest.mark.parametrize("name", sorted(POSTERS))
def test_no_test_poster_is_taken_for_a_picture_without_text(tmp_path, name):
    with Image.open(write_poster(tmp_path, name)) as image:
        assert not has_no_text([image.convert("RGB")])


def _small_word(text: str, background: str, ink: tuple[int, int, int]) -> Image.Image:
    """One short word (or letter), 12 px, on a drawn picture of 1280x960, slightly blurred: less
    text than any poster has."""
    picture = draw_picture(background, seed=1)
    font = _font("noto-sans-arabic" if _is_arabic(text) else "noto-sans", 12)
    ImageDraw.Draw(picture).text((600, 450), text, font=font, fill=ink, **_text_kwargs(text))
    return picture.filter(ImageFilter.GaussianBlur(0.5))


@pytest.mark.parametrize(
    "text",
    ["أيام", "إلى", "آتٍ", f"باقي {to_eastern('5')}", "#الرد_قادم", "NO", "ا", to_eastern("5")],
    ids=lambda t: t.encode().hex()[:12],
)
def test_one_small_word_or_letter_on_a_smooth_picture_is_read(text):
    # Arabic with hamza and madda alef variants, a diacritic, Eastern digits, a hashtag, Latin.
    for background, ink in (("gradient", (255, 255, 255)), ("photo", (20, 20, 20)), ("dark", (200, 40, 40))):
        picture = _small_word(text, background, ink)
        assert strong_edges(picture) >= MIN_EDGE_PIXELS, (background, text)
        assert not has_no_text([picture])


def test_an_animation_with_text_in_one_frame_is_read():
    frames = [draw_picture("gradient", seed=2), _small_word("قادم", "gradient", (0, 0, 0))]
    assert not has_no_text(frames)
    assert has_no_text(frames[:1])


def test_a_picture_without_text_is_recorded_as_done_with_no_text(tmp_path):
    for path in write_pictures(tmp_path, seed=4):
        outcome = recognize_file(path, OcrSettings())
        assert outcome.status == "done", (path.name, outcome.reason)
        if path.stem.split("-")[0] in SMOOTH:
            assert (outcome.text, outcome.reason) == ("", NO_TEXT), path.name
            assert len(outcome.sha256) == 64 and outcome.phash  # fingerprinted all the same
        else:  # a sharp shape in it (flag, ridge, grain): read in full, nothing claimed
            assert outcome.reason != NO_TEXT, path.name
            # and its specks, which every pass reads as lone digits, do not reach the text
            assert not [ln for ln in outcome.text.splitlines() if _lone_digits(ln)], (path.name, outcome.text)


def _lone_digits(line: str) -> bool:
    """A line of digits one by one and punctuation (``5-7``, ``1:``, ``٠.``): no letter, no
    number of two digits."""
    norm = normalize(line)
    return bool(re.search(r"\d", norm)) and not re.search(r"[^\W\d_]|\d\d", norm)


@pytest.mark.slow
def test_the_check_can_be_switched_off(tmp_path):
    path = tmp_path / "gradient.png"
    draw_picture("gradient", seed=5).save(path)
    outcome = recognize_file(path, OcrSettings(no_text_check=False))
    assert outcome.status == "done" and outcome.reason != NO_TEXT


@pytest.mark.asyncio
async def test_the_pool_records_a_picture_without_text_without_reading_it(tmp_path):
    smooth = tmp_path / "photo.jpg"
    draw_picture("photo", seed=6).save(smooth, "JPEG", quality=75)
    async with OcrPool(OcrSettings(), workers=1) as pool:
        outcome = await pool.recognize(smooth)
    assert (outcome.status, outcome.text, outcome.reason) == ("done", "", NO_TEXT)
    assert outcome.extra == {}  # no pass was run (a read image says how many it ran)
