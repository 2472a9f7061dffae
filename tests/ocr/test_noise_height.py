"""The plane passes take blobs shorter than Tesseract's smallest credible x-height for noise
(``OcrSettings.plane_noise_height``); every other pass keeps Tesseract's own noise height, and
the library reads as the command does at either.

The grain is the synthetic posters' ``noise`` background (``scripts/posters.py``): with
Tesseract's own height its specks come out of a psm 11 pass as a page of junk words."""

from __future__ import annotations

import dataclasses
import shutil

import pytest
from PIL import Image

from ocr.engine import recognize_file
from ocr.first_passes import FirstPasses
from ocr.passes import read_plane, read_planes
from ocr.planes import plane_sets
from ocr.readings import Word
from ocr.settings import TESSERACT_NOISE_HEIGHT, OcrSettings
from ocr.tesseract import tesseract_words
from scripts.posters import render_poster

pytestmark = pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract is not installed")

_LINES = ["VENGEANCE IS COMING", "الانتقام قادم"]


@pytest.fixture(scope="module")
def grain_poster(tmp_path_factory):
    path = tmp_path_factory.mktemp("grain") / "grain.png"
    render_poster(_LINES, "noise", 800, seed=0).save(path)
    return path


@pytest.fixture(scope="module")
def grey(grain_poster):
    with Image.open(grain_poster) as image:
        return plane_sets([image.convert("RGB")], OcrSettings())[0]["grey"]


def _words(lines: list[list[Word]]) -> list[str]:
    return [word.text for line in lines for word in line]


def test_a_plane_pass_reads_no_words_in_grain(grey):
    settings = OcrSettings()
    tesseracts_own = dataclasses.replace(settings, plane_noise_height=TESSERACT_NOISE_HEIGHT)
    assert len(_words(read_plane(grey, tesseracts_own, "grey"))) >= 20  # specks read as words
    assert len(_words(read_plane(grey, settings, "grey"))) <= 2
    assert len(_words(read_planes([("grey", grey)], settings)[0])) <= 2  # a pool worker's batch


def test_the_first_passes_of_a_check_take_grain_for_noise(grain_poster):
    first = FirstPasses(grain_poster, OcrSettings())
    assert len(_words(first.started["grey"].result(timeout=60)[0])) <= 2


def test_the_poster_on_the_grain_is_still_read(grain_poster):
    outcome = recognize_file(grain_poster, OcrSettings())
    lines = outcome.text.splitlines()
    assert "VENGEANCE IS COMING" in lines and "الانتقام قادم" in lines


@pytest.mark.parametrize("height", [TESSERACT_NOISE_HEIGHT, OcrSettings().plane_noise_height])
def test_the_library_reads_as_the_command_at_either_noise_height(grey, height):
    library = tesseract_words(grey, "ara+eng", 11, None, "library", noise_height=height)
    command = tesseract_words(grey, "ara+eng", 11, None, "command", noise_height=height)
    assert library == command


def test_a_library_pass_sets_its_noise_height_each_time(grey):
    # One API per language set serves the plane passes and ``rows`` (both ``ara+eng``): a height
    # left on it by the pass before must not carry over to the next.
    tesseracts_own = tesseract_words(grey, "ara+eng", 11, None, "library")
    tesseract_words(grey, "ara+eng", 11, None, "library", noise_height=OcrSettings().plane_noise_height)
    assert tesseract_words(grey, "ara+eng", 11, None, "library") == tesseracts_own
    assert len(_words(tesseracts_own)) >= 20
