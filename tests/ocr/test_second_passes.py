"""The second passes (the rows re-read, the digits pass) re-read what the plane passes found;
where the evidence step keeps none of it, they are not run (``ocr.passes.nothing_to_reread``),
in this process and in the pool alike. Real Tesseract on drawn pictures and posters."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

import ocr.passes
from ocr import OcrPool, OcrSettings, recognize_file
from ocr.engine import NO_TEXT
from scripts.pictures import KINDS, draw_picture, write_pictures
from tests.support.ocr import plane_twins, write_poster

LANDSCAPE_SEED = 2
"""``scripts.pictures`` seed whose drawn landscape (sharp ridges, no text, a channel's JPEG) the
rows re-read made ``haw, ure`` of, when every image was re-read."""


@pytest.fixture(scope="module")
def landscape(tmp_path_factory) -> Path:
    pictures = write_pictures(tmp_path_factory.mktemp("pictures"), seed=LANDSCAPE_SEED)
    return pictures[KINDS.index("landscape")]


@pytest.fixture
def second_passes_run(monkeypatch) -> list[str]:
    """The second passes that ran in this process, by the function that reads each."""
    ran: list[str] = []
    for name in ("_rows_pass", "_digits_pass"):
        real = getattr(ocr.passes, name)

        def spy(*args, _real=real, _name=name, **kwargs):
            ran.append(_name)
            return _real(*args, **kwargs)

        monkeypatch.setattr(ocr.passes, name, spy)
    return ran


def test_a_sharp_picture_whose_passes_keep_nothing_is_not_read_again(landscape, second_passes_run):
    outcome = recognize_file(landscape, OcrSettings())
    assert outcome.status == "done", outcome.reason
    assert outcome.reason != NO_TEXT  # its ridges are sharp: every plane pass read it
    assert second_passes_run == []
    assert outcome.text == ""


def test_a_poster_is_still_read_again(tmp_path, second_passes_run):
    outcome = recognize_file(write_poster(tmp_path, "english-dark"), OcrSettings())
    assert "HELL IS COMING" in outcome.text.upper()
    assert sorted(set(second_passes_run)) == ["_digits_pass", "_rows_pass"]


def test_a_small_picture_keeps_its_second_passes(tmp_path, second_passes_run):
    # read at twice its size too, beside the second passes: those planes may find what its own
    # size did not, so its own size keeping nothing does not settle it
    buffer = io.BytesIO()
    seed = LANDSCAPE_SEED * 100 + KINDS.index("landscape")  # the landscape above, drawn small
    draw_picture("landscape", seed, size=(400, 300)).save(buffer, "JPEG", quality=75)
    path = tmp_path / "small-landscape.jpg"
    path.write_bytes(buffer.getvalue())
    outcome = recognize_file(path, OcrSettings())
    assert outcome.status == "done" and outcome.reason != NO_TEXT, outcome.reason
    assert "_rows_pass" in second_passes_run


@pytest.mark.asyncio
async def test_the_pool_leaves_them_out_where_this_process_does(landscape, tmp_path):
    poster = write_poster(tmp_path, "english-dark")
    async with OcrPool(OcrSettings(), workers=2, queue_size=2) as pool:
        picture_read = await pool.recognize(landscape)
        poster_read = await pool.recognize(poster)
    assert picture_read.status == "done", picture_read.reason
    assert picture_read.text == recognize_file(landscape, OcrSettings()).text == ""
    # nine planes but the twins, the line stack in each language; no rows parts, no digits pass
    assert picture_read.extra["passes"] == 11 - len(plane_twins(landscape))
    # and the poster's: its rows in two parts, the digits pass
    assert poster_read.extra["passes"] == 14 - len(plane_twins(poster))
