"""The row re-read (``ocr.passes``, the ``rows`` pass): each word it reads is put back where it
is on the image, so that the evidence step can tell the passes that read a word there from those
that made the same word of something else (``ocr.evidence``)."""

from __future__ import annotations

import json

from PIL import Image, ImageDraw, ImageFont

import ocr.passes
from ocr.engine import read_passes
from ocr.pass_plan import ROWS_PASS
from ocr.settings import OcrSettings

_FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
_WORDS = {"RAILWAY": (60, 50), "STATION": (420, 50), "CENTRAL": (160, 230), "MARKET": (520, 230)}


def sign() -> tuple[Image.Image, dict[str, tuple[int, int, int, int]]]:
    """Four words of 44 px capitals on a blue sign, and the box of each."""
    image = Image.new("RGB", (900, 340), (40, 90, 160))
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(_FONT, 44)
    boxes = {}
    for word, place in _WORDS.items():
        draw.text(place, word, fill=(240, 240, 240), font=font)
        boxes[word] = draw.textbbox(place, word, font=font)
    return image, boxes


def test_the_rows_pass_puts_each_word_where_it_is_on_the_image():
    image, boxes = sign()
    _, _, second = read_passes([image], OcrSettings())
    read = {w.text: w for r in second if r.plane == ROWS_PASS for found in r.lines for w in found}
    assert set(boxes) <= set(read), sorted(read)
    for text, (left, top, right, bottom) in boxes.items():
        word = read[text]
        # within a few pixels of the drawn letters (the stack's margin and the cut's padding
        # taken back out), not just somewhere on their row
        assert abs(word.left - left) <= 8 and abs(word.left + word.width - right) <= 8, (text, word)
        assert abs(word.top - top) <= 8 and abs(word.top + word.height - bottom) <= 8, (text, word)


def test_the_rows_are_cut_from_the_planes_the_settings_name(monkeypatch):
    # ``row_planes`` (a setting, so that the benches can measure fewer: bench/README.md, stop 46):
    # every row is cut from each of those planes, and from no other, before the stack is read
    cut_from: list[list[str]] = []  # the planes of each row read, as each part of the pass cuts it
    rows_of_part = ocr.passes._rows_of_part

    def noted(rows, areas, part):
        chosen = rows_of_part(rows, areas, part)
        cut_from.extend([name for name, _, _ in cuts] for _, cuts in chosen)
        return chosen

    monkeypatch.setattr(ocr.passes, "_rows_of_part", noted)
    image, boxes = sign()
    three = OcrSettings()
    _, first, _ = read_passes([image], three)
    with_three, cut_from[:] = list(cut_from), []
    _, _, second = read_passes([image], OcrSettings(row_planes=("grey",)))
    assert three.row_planes == ("white-fill", "black-fill", "grey")
    assert set(three.row_planes) <= set(first)  # the sign has all three planes
    assert with_three and all(planes == ["white-fill", "black-fill", "grey"] for planes in with_three)
    assert cut_from == [["grey"]] * len(with_three)  # the same rows, each cut from grey alone
    read = {w.text for r in second if r.plane == ROWS_PASS for found in r.lines for w in found}
    assert set(boxes) <= read, sorted(read)  # the grey crops alone still read every word


def test_the_settings_travel_to_a_worker_and_back_whole():
    # the pool sends its settings to each worker as JSON (``to_dict``): tuples come back tuples
    settings = OcrSettings(passes=("grey", "white"), row_planes=("grey",))
    back = OcrSettings.from_dict(json.loads(json.dumps(settings.to_dict())))
    assert back == settings and hash(back) == hash(settings)
