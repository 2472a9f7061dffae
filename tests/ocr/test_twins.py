"""Planes with the very same pixels are read once (``ocr.planes.twin_planes``), in the engine
and on the pool's workers, and each twin still gets a reading under its own name."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from ocr import OcrPool, OcrSettings
from ocr.engine import read_frames, read_passes
from ocr.passes import read_planes
from ocr.planes import frame_planes, twin_planes
from ocr.voting import finish
from tests.support.ocr import plane_twins

_FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"


def card(
    ink: tuple[int, int, int], paper: tuple[int, int, int], text: str = "VENGEANCE IS COMING"
) -> Image.Image:
    image = Image.new("RGB", (900, 240), paper)
    ImageDraw.Draw(image).text((40, 70), text, fill=ink, font=ImageFont.truetype(_FONT, 64))
    return image


def test_a_grey_card_has_one_colour_plane_to_read():
    planes = frame_planes(card((20, 20, 20), (235, 235, 235)), OcrSettings())
    twins = twin_planes(planes)
    assert twins["red"] == twins["green"] == twins["blue"] == "grey"
    assert "grey" not in twins  # the first of its kind is read


def test_planes_that_differ_are_each_read():
    planes = frame_planes(card((220, 30, 30), (30, 30, 220)), OcrSettings())  # red letters on blue
    assert not {"grey", "red", "green", "blue"} & set(twin_planes(planes))


def test_one_grey_level_apart_is_another_plane():
    grey = np.random.default_rng(1).integers(0, 256, (200, 300), dtype=np.uint8)
    near = grey.copy()
    near[100, 150] ^= 1
    planes = {name: Image.fromarray(a) for name, a in (("grey", grey), ("same", grey.copy()), ("near", near))}
    assert twin_planes(planes) == {"same": "grey"}


def test_a_twin_read_once_gets_what_reading_it_would_have_given():
    image = card((20, 20, 20), (235, 235, 235))
    settings = OcrSettings()
    results, planes, second = read_passes([image], settings)
    by_plane = {r.plane: r.lines for r in results}
    assert by_plane["red"] == by_plane["grey"] and by_plane["grey"]  # the twin has the reading
    # every plane read by Tesseract, twins too: the same readings, the same text
    names = [r.plane for r in results]
    each = [lines for name in names for lines in read_planes([(name, planes[name])], settings)]
    assert [r.lines for r in results] == each
    text = finish(results, planes, settings, second).text
    assert "VENGEANCE IS COMING" in text.upper()
    assert text == read_frames([image], settings).text


@pytest.mark.asyncio
async def test_the_pool_reads_a_twin_once_and_counts_it_as_agreeing(tmp_path):
    path = tmp_path / "grey-card.png"
    card((20, 20, 20), (235, 235, 235)).save(path)
    twins = plane_twins(path)
    async with OcrPool(OcrSettings(), workers=2, queue_size=2) as pool:
        outcome = await pool.recognize(path)
    assert outcome.status == "done", outcome.reason
    assert outcome.extra["passes"] == 14 - len(twins) and len(twins) >= 3
    # the same text as one process's read, where every twin's reading is the same object
    assert outcome.text == read_frames([Image.open(path).convert("RGB")], OcrSettings()).text
