"""A one-image read begun before the engine is imported (``ocr.first_passes``, ``check --image``):
the engine takes over the first plane passes, reads none of them again, and gives what a read
from scratch gives; a bad file or a picture without text is reported as before."""

from __future__ import annotations

import shutil
from dataclasses import replace

import pytest
from PIL import Image, ImageDraw, ImageFont

import ocr.engine as engine
from ocr.colour_planes import PILLOW_PLANES
from ocr.engine import NO_TEXT, recognize_file
from ocr.first_passes import FirstPasses
from ocr.settings import OcrSettings

pytestmark = pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract is not installed")

_FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"


def poster(path, text="VENGEANCE IS COMING"):
    """Gold and white letters on a dark red ground: the colour planes and masks all differ."""
    image = Image.new("RGB", (900, 320), (90, 10, 10))
    draw = ImageDraw.Draw(image)
    draw.text((40, 60), text, fill=(240, 200, 30), font=ImageFont.truetype(_FONT, 64))
    draw.text((40, 180), "59 DAYS LEFT", fill=(250, 250, 250), font=ImageFont.truetype(_FONT, 64))
    image.save(path)
    return path


def test_the_engine_takes_the_first_passes_over_and_reads_the_same(tmp_path, monkeypatch):
    path = poster(tmp_path / "poster.png")
    settings = OcrSettings()
    from_scratch = recognize_file(path, settings)

    read_by_engine: list[str] = []
    own = engine.read_planes

    def counted(planes, settings):
        read_by_engine.extend(name for name, _ in planes)
        return own(planes, settings)

    monkeypatch.setattr(engine, "read_planes", counted)
    first = FirstPasses(path, settings)
    assert first.started and set(first.started) <= set(PILLOW_PLANES)
    first.started["grey"].result(timeout=60)  # at least one read before the engine takes over
    outcome = recognize_file(path, settings, None, first)

    assert outcome.status == "done" and "VENGEANCE" in (outcome.text or "").upper()
    assert (outcome.text, outcome.doubtful) == (from_scratch.text, from_scratch.doubtful)
    assert (outcome.sha256, outcome.phash) == (from_scratch.sha256, from_scratch.phash)
    assert "grey" in first.started and all(run.done() for run in first.started.values())
    assert not set(read_by_engine) & set(first.started)  # none of those begun read a second time
    assert "white-fill" in read_by_engine or "gold" in read_by_engine  # the rest: the engine's
    assert first.take_over(first.image.frames[0], first.settings) is None  # taken once


def test_the_rules_words_given_later_do_not_stop_the_take_over(tmp_path):
    """``check --image`` starts the read, then reads the rules: their words change the finish
    (``ocr.dots``), not the passes, so the passes begun are taken over all the same."""
    path = poster(tmp_path / "poster.png")
    first = FirstPasses(path, OcrSettings())
    with_words = replace(first.settings, known_words=("تتصورون",))
    assert first.take_over(first.image.frames[0], replace(with_words, passes=("grey",))) is None
    pool = first.take_over(first.image.frames[0], with_words)
    assert pool is not None
    pool.shutdown(wait=True)


def test_another_file_is_read_on_its_own(tmp_path):
    first = FirstPasses(poster(tmp_path / "a.png"), OcrSettings())
    other = poster(tmp_path / "b.png", text="RAMADAN KAREEM")
    outcome = recognize_file(other, OcrSettings(), None, first)
    assert "RAMADAN" in (outcome.text or "").upper() and "VENGEANCE" not in (outcome.text or "").upper()
    assert outcome.text == recognize_file(other, OcrSettings()).text


@pytest.mark.parametrize(
    "content",
    [b"not an image at all", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, b""],
    ids=["text", "truncated-png", "empty"],
)
def test_a_bad_file_fails_with_the_same_reason(tmp_path, content):
    path = tmp_path / "poster.png"
    path.write_bytes(content)
    first = FirstPasses(path, OcrSettings())
    assert first.image is None and not first.started
    outcome = recognize_file(path, OcrSettings(), None, first)
    plain = recognize_file(path, OcrSettings())
    assert outcome.status == plain.status == "failed"
    assert outcome.reason == plain.reason and outcome.sha256 == plain.sha256


def test_a_picture_without_text_starts_no_pass(tmp_path):
    path = tmp_path / "sky.png"
    Image.linear_gradient("L").resize((600, 400)).convert("RGB").save(path)
    first = FirstPasses(path, OcrSettings())
    assert first.image is not None and not first.started
    outcome = recognize_file(path, OcrSettings(), None, first)
    assert outcome.status == "done" and outcome.reason == NO_TEXT and not outcome.text


def test_the_command_reads_its_own_batches(tmp_path):
    path = poster(tmp_path / "poster.png")
    first = FirstPasses(path, OcrSettings(tesseract="command"))
    assert first.image is not None and not first.started
