"""Lines of poster text found on colour masks and cut out clean (ocr.lines), on generated posters."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from ocr.lines import Placement, find_lines, masks_of, place_words, stack_lines
from ocr.passes import read_plane
from ocr.planes import plane_sets
from ocr.settings import OcrSettings
from ocr.tesseract import clean_token
from scripts.posters import render_poster


def _iou(a: tuple[int, ...] | list[int], b: tuple[int, ...] | list[int]) -> float:
    ix = min(a[2], b[2]) - max(a[0], b[0])
    iy = min(a[3], b[3]) - max(a[1], b[1])
    if ix <= 0 or iy <= 0:
        return 0.0
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def poster(lines: list[str], background: str, width: int, seed: int) -> tuple[np.ndarray, list[list[int]]]:
    boxes: list[list[int]] = []
    image = render_poster(lines, background, width, seed=seed, boxes=boxes)
    return np.asarray(image.convert("RGB")), boxes


@pytest.mark.parametrize(
    ("lines", "background"),
    [
        (["VENGEANCE IS COMING", "#59daysleft"], "flag"),  # black letters outlined in white on a flag
        (["الانتقام قادم", "#باقي_٥٩_يوما"], "fire"),  # light letters outlined in dark over flames
        (["لغة السلاح", "THE CLOCK IS TICKING"], "noise"),
        (["الرد قادم", "WAIT FOR US"], "light"),
    ],
)
def test_every_line_of_a_poster_is_found(lines, background):
    rgb, boxes = poster(lines, background, 800, seed=4)
    found = find_lines(rgb)
    for text, box in zip(lines, boxes, strict=True):
        best = max((_iou(box, line.box) for line in found), default=0.0)
        assert best > 0.6, f"{text!r} on {background}: best overlap {best:.2f}"


def test_a_crop_holds_only_its_own_ink():
    rgb, boxes = poster(["VENGEANCE IS COMING"], "fire", 800, seed=2)
    line = max(find_lines(rgb), key=lambda ln: _iou(boxes[0], ln.box))
    # the flames around the letters are gone: ink is a fraction of the crop, not most of it
    assert 0.1 < line.ink.mean() < 0.6
    left, top = line.origin
    assert line.ink.shape[0] >= line.box[3] - line.box[1]
    assert left <= line.box[0] and top <= line.box[1]


def test_grain_cannot_crowd_the_clean_lines_out():
    # big clear text over coloured grain: the noisy masks chain blobs into many junk "lines"
    rgb, boxes = poster(["باقي ٣ يوما", "Islamic Resistance in Iraq"], "noise", 1280, seed=2044)
    found = find_lines(rgb)
    assert len(found) <= 96
    for box in boxes:
        assert max(_iou(box, line.box) for line in found) > 0.6


def test_small_posters_are_enlarged_before_lines_are_found():
    rgb, boxes = poster(["#باقي_٤٧_يوما", "القادم أدهى"], "noise", 400, seed=7)
    found = find_lines(rgb, zoom_below=640)
    assert found and all(line.zoom == 2 for line in found)
    # boxes and placements come back in the poster's own pixels
    _, placements = stack_lines(found)
    best = max(placements, key=lambda p: _iou(boxes[1], p.image_box))
    assert _iou(boxes[1], best.image_box) > 0.5


def test_stacked_words_map_back_onto_the_image():
    rgb, _ = poster(["الانتقام قادم", "HELL IS COMING"], "dark", 800, seed=1)
    found = find_lines(rgb)
    stack, placements = stack_lines(found)
    assert stack.mode == "L" and stack.width >= max(p.width for p in placements)
    for index, spot in enumerate(placements):
        mapped = place_words(spot.top + 2, spot.left + 4, 10, spot.height - 4, placements)
        assert mapped is not None and mapped[0] == index
        _, x, y, _, _ = mapped
        assert abs(x - (spot.origin[0] + 4 / spot.scale)) <= 1
        assert abs(y - (spot.origin[1] + 2 / spot.scale)) <= 1
        assert Placement.from_json(spot.to_json()) == spot
    assert place_words(stack.height + 100, 0, 5, 5, placements) is None


def test_the_line_stack_is_read_once_per_language():
    image = render_poster(["الانتقام قادم", "HELL IS COMING"], "fire", 800, seed=3)
    planes = plane_sets([image], OcrSettings())[0]
    assert {"lines:ara", "lines:eng"} <= set(planes)
    assert planes["lines:ara"] is planes["lines:eng"]  # one image, two models
    arabic = read_plane(planes["lines:ara"], OcrSettings(), "lines:ara")
    english = read_plane(planes["lines:eng"], OcrSettings(), "lines:eng")
    texts = [" ".join(w.text for w in words) for words in arabic + english]
    assert any("الانتقام" in t for t in texts), texts
    assert any("HELL IS COMING" in t.upper() for t in texts), texts
    # words carry the crop they came from and image coordinates inside the poster
    for words in arabic:
        assert all(w.crop >= 0 and 0 <= w.left < image.width and 0 <= w.top < image.height for w in words)


def test_no_line_stack_without_the_line_pass():
    image = render_poster(["HELL IS COMING"], "dark", 640, seed=1)
    planes = plane_sets([image], OcrSettings(line_pass=False))[0]
    assert not any(name.startswith("lines:") for name in planes)


def test_masks_of_a_flat_image_find_nothing():
    flat = np.full((200, 300, 3), 128, dtype=np.uint8)
    assert set(masks_of(flat)) >= {"white", "black", "gold", "red", "grey-dark", "grey-light"}
    assert find_lines(flat) == []
    assert find_lines(np.asarray(Image.new("RGB", (8, 8), "white"))) == []


@pytest.mark.parametrize(
    ("token", "fixed"),
    [
        ("٠١", "١٠"),  # Eastern digits given back left to right: a number never starts with ٠
        ("#باقي_٠١_يوما", "#باقي_١٠_يوما"),
        ("١٠", "١٠"),
        ("٠", "٠"),
        ("2010", "2010"),  # Western digits are left alone
        ("اموي_٩٥_يقاب#", "#باقي_٩٥_يوما"),  # a hashtag in visual order
        ("#باقي-٥٩-يوما", "#باقي_٥٩_يوما"),
    ],
)
def test_tokens_tesseract_mangles_are_put_right(token, fixed):
    assert clean_token(token) == fixed
