"""A small image's planes are read at twice its size too (``ocr.planes``, ``x2:NAME``),
and what they read is put back at the image's own size as the plane's own reading."""

from __future__ import annotations

import pytest
from PIL import Image, ImageDraw, ImageFont

from ocr import OcrPool
from ocr.engine import read_frames, read_passes
from ocr.pass_plan import second_passes
from ocr.passes import read_second
from ocr.planes import DOUBLED_PREFIX, at_own_size, frame_planes, image_planes, is_pass, line_planes
from ocr.readings import PassResult, Word
from ocr.settings import OcrSettings

_FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def sign(size: int = 8) -> Image.Image:
    """A small street sign: two lines of light capitals ``size`` px high on blue."""
    image = Image.new("RGB", (300, 90), (40, 90, 160))
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(_FONT, size)
    draw.text((20, 20), "RAILWAY STATION", fill=(235, 235, 235), font=font)
    draw.text((20, 50), "CENTRAL MARKET", fill=(235, 235, 235), font=font)
    return image


def test_a_small_image_gets_its_planes_at_twice_its_size():
    settings = OcrSettings()
    planes = frame_planes(sign(), settings)
    doubled = {name for name in planes if name.startswith(DOUBLED_PREFIX)}
    assert doubled == {DOUBLED_PREFIX + name for name in settings.passes}
    assert planes["x2:grey"].size == (600, 180) and planes["grey"].size == (300, 90)
    assert not doubled & set(image_planes(planes))  # line boxes point at the own-size planes


def test_a_large_image_or_the_setting_off_gets_none():
    large = Image.new("RGB", (640, 480), (40, 90, 160))
    assert not any(n.startswith(DOUBLED_PREFIX) for n in frame_planes(large, OcrSettings()))
    off = frame_planes(sign(), OcrSettings(double_below=0))
    assert not any(n.startswith(DOUBLED_PREFIX) for n in off)


def test_a_doubled_reading_is_the_plane_reading_at_the_image_size():
    read = PassResult(0, "x2:red", [[Word("RAILWAY", 91.0, 40, 40, 141, 17)]])
    own = at_own_size(read)
    assert own.plane == "red"
    [[word]] = own.lines
    assert (word.text, word.conf, word.left, word.top, word.width, word.height) == (
        "RAILWAY",
        91.0,
        20,
        20,
        70,
        8,
    )
    plain = PassResult(0, "grey", [[Word("X", 50.0, 3, 3, 3, 3)]])
    assert at_own_size(plain) is plain


def test_letters_too_small_at_the_image_size_are_read_on_the_doubled_planes():
    image = sign(8)
    own_size_only = read_frames([image], OcrSettings(double_below=0)).text
    assert "RAILWAY" not in own_size_only  # 8 px letters: the own-size planes miss a word
    text = read_frames([image], OcrSettings()).text
    assert "RAILWAY STATION" in text and "CENTRAL MARKET" in text
    results, _, _ = read_passes([image], OcrSettings())
    assert {r.plane for r in results} >= {"x2:grey", "grey"}


@pytest.mark.asyncio
async def test_the_pool_reads_the_doubled_planes_as_one_process_does(tmp_path):
    path = tmp_path / "sign.png"
    sign(8).save(path)
    async with OcrPool(OcrSettings(), workers=2, queue_size=2) as pool:
        outcome = await pool.recognize(path)
    assert outcome.status == "done", outcome.reason
    assert "RAILWAY STATION" in outcome.text
    assert outcome.text == read_frames([Image.open(path).convert("RGB")], OcrSettings()).text


@pytest.mark.parametrize("engine", ["library", "command"])
def test_the_second_passes_see_what_they_would_after_every_plane_was_read(engine):
    # read_passes starts the rows and digits passes as soon as the first frame's own-size planes
    # are read, before the doubled planes and the other frames: they must read what they would
    # have read from every pass at the end
    settings = OcrSettings(tesseract=engine)
    frames = [sign(8), sign(10)]  # two frames, both small enough to be doubled
    results, first, second = read_passes(frames, settings)
    for index, frame in enumerate(frames):
        cut = frame_planes(frame, settings) | line_planes(frame, settings)
        assert [r.plane for r in results if r.frame == index] == [n for n in cut if is_pass(n)]
    assert any(r.plane.startswith(DOUBLED_PREFIX) and r.lines for r in results)
    assert second_passes(settings) == ["rows:0", "rows:1", "digits"]  # the rows in two parts
    assert [s.plane for s in second] == ["rows", "rows", "digits"] and any(s.lines for s in second)
    assert second == [read_second(name, results, first, settings) for name in second_passes(settings)]
