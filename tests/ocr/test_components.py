"""The components and morphology of ``ocr.components`` (native, ``ocr/_components.c``) give what
``scipy.ndimage`` gives, which the OCR used before: the same labels in the same order, boxes,
areas, filled holes, grown and shrunk masks, on generated masks and on the masks of posters."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image, ImageChops
from scipy import ndimage

from ocr.components import dilate, erode, fill_small_holes, label_components
from scripts.posters import render_poster

_STRUCTURE = {8: np.ones((3, 3), dtype=bool), 4: None}  # scipy's default is the edges only

masks = arrays(np.bool_, st.tuples(st.integers(1, 40), st.integers(1, 40)))


def _same_as_scipy(mask: np.ndarray, connectivity: int) -> None:
    labels, count = ndimage.label(mask, structure=_STRUCTURE[connectivity])
    ours = label_components(mask, connectivity)
    assert ours.count == count
    assert np.array_equal(ours.labels, labels)
    boxes = [(f[0].start, f[0].stop, f[1].start, f[1].stop) for f in ndimage.find_objects(labels)]
    assert list(zip(ours.top, ours.bottom, ours.left, ours.right, strict=True)) == boxes
    assert np.array_equal(ours.area, np.bincount(labels.ravel(), minlength=count + 1)[1:])
    for index, (rows, cols) in enumerate(ndimage.find_objects(labels)):
        assert np.array_equal(ours.mask_of(index), labels[rows, cols] == index + 1)


def _scipy_fill(mask: np.ndarray, largest: float) -> np.ndarray:
    holes = ndimage.binary_fill_holes(mask) & ~mask
    labels, _ = ndimage.label(holes)
    small = np.bincount(labels.ravel()) <= largest
    small[0] = False
    return mask | small[labels]


@settings(max_examples=300, deadline=None)
@given(masks, st.sampled_from([4, 8]))
def test_labels_boxes_and_areas_are_scipys(mask, connectivity):
    _same_as_scipy(mask, connectivity)


@settings(max_examples=200, deadline=None)
@given(masks, st.integers(0, 30))
def test_small_holes_fill_as_with_scipy(mask, largest):
    assert np.array_equal(fill_small_holes(mask, largest), _scipy_fill(mask, largest))


@settings(max_examples=200, deadline=None)
@given(masks)
def test_dilate_and_erode_are_scipys(mask):
    assert np.array_equal(dilate(mask), ndimage.binary_dilation(mask))
    assert np.array_equal(erode(mask), ndimage.binary_erosion(mask))


@pytest.mark.parametrize("background", ["fire", "flag", "noise", "light"])
def test_the_masks_of_a_poster_label_and_fill_as_with_scipy(background):
    """Poster masks, as ``ocr.planes`` and ``ocr.lines`` make them: Arabic letters with their
    dots, hollow outlines, grain (tens of thousands of components)."""
    poster = render_poster(["الانتقام قادم", "#باقي_٥٩_يوما", "Vengeance is Coming"], background, 900, seed=3)
    r, g, b = poster.convert("RGB").split()
    for mask in (
        np.asarray(ImageChops.darker(ImageChops.darker(r, g), b)) > 190,
        np.asarray(ImageChops.lighter(ImageChops.lighter(r, g), b)) < 70,
        np.asarray(Image.effect_noise(poster.size, 90)) > 128,
    ):
        for connectivity in (4, 8):
            _same_as_scipy(mask, connectivity)
        assert np.array_equal(fill_small_holes(mask, 0.002 * mask.size), _scipy_fill(mask, 0.002 * mask.size))


def test_edge_cases():
    assert label_components(np.zeros((3, 4), dtype=bool)).count == 0
    full = label_components(np.ones((5, 7), dtype=np.uint8) * 255)  # any non-zero byte is set
    assert full.count == 1 and full.area.tolist() == [35] and full.labels.max() == 1
    checker = np.indices((9, 9)).sum(axis=0) % 2 == 0
    assert label_components(checker, 8).count == 1  # corners join
    assert label_components(checker, 4).count == 41  # edges only: every set pixel alone
    assert erode(np.ones((1, 5), dtype=bool)).sum() == 0
    assert label_components(np.ones((1, 1), dtype=bool)).count == 1


def test_bad_calls_say_what_is_wrong():
    with pytest.raises(ValueError, match="connectivity must be 4 or 8"):
        label_components(np.ones((2, 2), dtype=bool), 6)
    with pytest.raises(ValueError, match="two dimensions"):
        label_components(np.ones((2, 2, 2), dtype=bool))
