"""The row re-read (``ocr.passes``, the ``rows`` pass): each word it reads is put back where it
is on the image, so that the evidence step can tell the passes that read a word there from those
that made the same word of something else (``ocr.evidence``)."""

from __future__ import annotations

from PIL import Image, ImageDraw, ImageFont

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
