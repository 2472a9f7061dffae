"""Tesseract's cut of a page into ink and paper (``ocr/tesseract_threshold.c``): Otsu's histogram and
the cut at its threshold, replaced in the library, give Tesseract's own binary page, bit for bit."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image, ImageDraw

from ocr import library
from tests.support.ocr import write_poster

# Each page cut by tesserocr (the library, in this process or a child), its binary page hashed:
# the whole page, a rectangle that starts on a word of the image (cut here) and one that does not
# (left to Tesseract's own cut); ``pages_cut`` counts the pages this module cut.
_CUT = """
import hashlib, json, sys
from PIL import Image
from ocr import _tesseract_calls, library, tesseract
from tesserocr import OEM, PyTessBaseAPI

out = {}
api = PyTessBaseAPI(path=tesseract.tesseract_info()["tessdata"], lang="eng", oem=OEM.LSTM_ONLY)
before = _tesseract_calls.pages_cut()
for path in sys.argv[1:]:
    with Image.open(path) as image:
        data, width, height, depth = library._pixels(image.copy())
    for name, box in (("page", None), ("aligned", (8, 5, width - 21, height - 9)),
                      ("unaligned", (3, 5, width - 7, height - 9))):
        api.SetImageBytes(data, width, height, depth, depth * width)
        if box:
            api.SetRectangle(*box)
        cut = api.GetThresholdedImage()
        ink = cut.convert("L").histogram()[0] / (cut.width * cut.height)
        out[path + ":" + name] = [cut.size, hashlib.sha256(cut.tobytes()).hexdigest(), round(ink, 6)]
api.End()
print(json.dumps({"cut": out, "pages_cut": _tesseract_calls.pages_cut() - before,
                  "ours": _tesseract_calls.network_is_ours()}))
"""


def _pages(tmp_path):
    """Grey pages of odd sizes: a poster (flames: every grey level), dark with light letters (the
    cut turned round), a stack of crops on white (long runs of one level), and grain."""
    pages = []
    with Image.open(write_poster(tmp_path, "eastern-hashtag-fire")) as poster:
        grey = poster.convert("L")
    pages.append(grey.crop((0, 0, 1001, 613)))
    dark = Image.new("L", (517, 203), 30)
    ImageDraw.Draw(dark).text((20, 80), "VENGEANCE IS COMING 59", fill=220)
    pages.append(dark)
    stack = Image.new("L", (777, 1500), 255)
    stack.paste(grey.crop((100, 100, 700, 160)), (40, 300))
    stack.paste(grey.crop((50, 400, 650, 470)), (40, 900))
    pages.append(stack)
    pages.append(Image.fromarray(np.random.default_rng(5).integers(0, 256, (97, 131), dtype=np.uint8)))
    paths = []
    for i, page in enumerate(pages):
        path = tmp_path / f"page{i}.png"
        page.save(path)
        paths.append(str(path))
    return paths


def _cut(paths, way=None):
    env = os.environ | ({"TGMONITOR_TESSERACT_NETWORK": way} if way else {})
    child = subprocess.run(
        [sys.executable, "-c", _CUT, *paths], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(child.stdout)


@pytest.mark.slow
def test_a_page_is_cut_into_ink_and_paper_as_tesseract_cuts_it(tmp_path):
    paths = _pages(tmp_path)
    ours = _cut(paths)
    own = _cut(paths, "tesseract")  # Tesseract's own functions, as with another build
    assert ours["ours"] and not own["ours"]
    assert ours["pages_cut"] == 2 * len(paths)  # the whole pages and the aligned rectangles
    assert own["pages_cut"] == 0
    assert ours["cut"] == own["cut"]
    # real cuts, ink and paper both: the poster, the dark page, the stack, the grain
    assert all(0.001 < ink < 0.999 for _, _, ink in ours["cut"].values()), ours["cut"]


@pytest.mark.slow
def test_without_avx2_the_histogram_still_counts_as_tesseracts(tmp_path):
    # A processor without AVX2: the histogram's scalar counting here, the cut left to Tesseract.
    paths = _pages(tmp_path)
    scalar = _cut(paths, "scalar")
    assert scalar["pages_cut"] == 0
    assert scalar["cut"] == _cut(paths, "tesseract")["cut"]


@pytest.mark.slow
def test_the_histogram_counts_each_grey_level_of_the_rectangle(tmp_path):
    # tesseract::HistogramRect called directly, ours and libtesseract's own (found in its own
    # scope), on a Leptonica page: both give numpy's counts of the rectangle, whatever its left
    # edge (on a word of the row or not) and on runs of one level longer than 32 pixels.
    import ctypes

    from ocr import _tesseract_calls

    assert library.library_version() and _tesseract_calls.network_is_ours()
    rng = np.random.default_rng(11)
    pixels = rng.integers(0, 256, (61, 203), dtype=np.uint8)
    pixels[10:40, 5:150] = 255  # paper
    pixels[20:25, 30:100] = 7  # a stroke
    path = tmp_path / "page.png"
    Image.fromarray(pixels).save(path)
    lept = ctypes.CDLL("liblept.so.5")
    lept.pixRead.restype = ctypes.c_void_p
    lept.pixRead.argtypes = [ctypes.c_char_p]
    pix = lept.pixRead(str(path).encode())
    assert pix
    symbol = "_ZN9tesseract13HistogramRectENS_5ImageEiiiiiPi"
    own_library = ctypes.CDLL(_libtesseract_path(), mode=os.RTLD_NOLOAD)
    ways = {
        "ours": getattr(ctypes.CDLL(_tesseract_calls.__file__), symbol),
        "own": getattr(own_library, symbol),
    }
    for function in ways.values():
        function.argtypes = [ctypes.c_void_p] + [ctypes.c_int] * 5 + [ctypes.POINTER(ctypes.c_int)]
    try:
        for left, top, width, height in ((0, 0, 203, 61), (3, 2, 190, 50), (8, 10, 141, 30), (1, 0, 2, 61)):
            expected = np.bincount(pixels[top : top + height, left : left + width].ravel(), minlength=256)
            for name, function in ways.items():
                histogram = (ctypes.c_int * 256)()
                function(pix, 0, left, top, width, height, histogram)
                assert list(histogram) == expected.tolist(), (name, left, top, width, height)
    finally:
        lept.pixDestroy(ctypes.byref(ctypes.c_void_p(pix)))


def _libtesseract_path():
    with open("/proc/self/maps") as maps:
        return next(line.split()[-1] for line in maps if "libtesseract.so" in line)
