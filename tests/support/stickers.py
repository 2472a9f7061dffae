"""Real Lottie animated stickers (``.tgs``) for the tests: text drawn as vector outlines.

Telegram's animated stickers carry no text layers: their words are shapes. So are these: each
line is shaped by HarfBuzz (``uharfbuzz``: Arabic joined and right to left, as a sticker maker's
tool would), each glyph's outline taken from the font by fontTools and written as Lottie paths
(cubic Béziers; TrueType's quadratic curves raised to cubic exactly). rlottie then draws them as
it draws a sticker made by a designer.

A sticker lasts three seconds at 60 frames a second (Telegram's limit) on a transparent field:
the text fades in over the first 0.3 s, stays, and fades out before the loop ends, while a red
disc crosses the sticker the whole time, so its first and last frames show no word.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import uharfbuzz as hb
from fontTools.pens.basePen import BasePen
from fontTools.ttLib import TTFont

ARABIC_FONT = "/usr/share/fonts/truetype/noto/NotoSansArabic-Bold.ttf"
LATIN_FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
SIDE = 512
FPS = 60
FRAMES = 180  # three seconds

Point = tuple[float, float]


class _LottiePen(BasePen):
    """Glyph contours as Lottie path data: vertices with in and out tangents relative to them."""

    def __init__(self, glyphset: Any, place: Any) -> None:
        super().__init__(glyphset)
        self.place = place  # font units -> sticker pixels
        self.paths: list[dict[str, Any]] = []
        self._v: list[Point] = []
        self._i: list[Point] = []
        self._o: list[Point] = []

    def _moveTo(self, pt: Point) -> None:
        self._v, self._i, self._o = [self.place(pt)], [(0.0, 0.0)], [(0.0, 0.0)]

    def _lineTo(self, pt: Point) -> None:
        self._v.append(self.place(pt))
        self._i.append((0.0, 0.0))
        self._o.append((0.0, 0.0))

    def _curveToOne(self, pt1: Point, pt2: Point, pt3: Point) -> None:
        start = self._v[-1]
        c1, c2, end = self.place(pt1), self.place(pt2), self.place(pt3)
        self._o[-1] = (c1[0] - start[0], c1[1] - start[1])
        self._v.append(end)
        self._i.append((c2[0] - end[0], c2[1] - end[1]))
        self._o.append((0.0, 0.0))

    def _qCurveToOne(self, pt1: Point, pt2: Point) -> None:
        start = self._getCurrentPoint()  # in font units, as pt1 and pt2
        c1 = (start[0] + 2 / 3 * (pt1[0] - start[0]), start[1] + 2 / 3 * (pt1[1] - start[1]))
        c2 = (pt2[0] + 2 / 3 * (pt1[0] - pt2[0]), pt2[1] + 2 / 3 * (pt1[1] - pt2[1]))
        self._curveToOne(c1, c2, pt2)

    def _closePath(self) -> None:
        if len(self._v) > 1 and self._v[-1] == self._v[0]:  # the closing point repeats the first
            self._i[0] = self._i.pop()
            self._v.pop()
            self._o.pop()
        self.paths.append({"c": True, "v": self._v, "i": self._i, "o": self._o})
        self._v, self._i, self._o = [], [], []

    _endPath = _closePath


def _still(value: Any) -> dict[str, Any]:
    return {"a": 0, "k": value}


def _transform() -> dict[str, Any]:
    return {
        "o": _still(100),
        "p": _still([0, 0]),
        "a": _still([0, 0]),
        "s": _still([100, 100]),
        "r": _still(0),
    }


def _fading_opacity() -> dict[str, Any]:
    """Invisible, in over 0.3 s, shown until 2.4 s, out by 2.7 s, invisible to the loop's end."""
    ease = {"i": {"x": [0.5], "y": [0.5]}, "o": {"x": [0.5], "y": [0.5]}}
    keys = [(0, 0), (18, 100), (144, 100), (162, 0)]
    return {"a": 1, "k": [{"t": t, "s": [v], **ease} for t, v in keys] + [{"t": FRAMES, "s": [0]}]}


def _shaped(word: str, font: hb.Font) -> hb.Buffer:
    """One word shaped by HarfBuzz. A number runs left to right even inside Arabic (``٥٩`` is
    fifty-nine): HarfBuzz does no bidi, so a word of digits is shaped left to right itself."""
    buffer = hb.Buffer()
    buffer.add_str(word)
    buffer.guess_segment_properties()
    if all(c.isdigit() for c in word):
        buffer.direction = "ltr"
    hb.shape(font, buffer, {})
    return buffer


def text_paths(line: str, font_path: str, size: float, baseline: float) -> list[dict[str, Any]]:
    """One line of text, shaped word by word and centred on the sticker, as Lottie paths. The
    words of an Arabic line go right to left (the bidi a line of words and numbers needs)."""
    font = hb.Font(hb.Face(hb.Blob.from_file_path(font_path)))
    tt = TTFont(font_path)
    glyphset = tt.getGlyphSet()
    scale = size / tt["head"].unitsPerEm
    words = line.split()
    if any("\u0600" <= c <= "\u06ff" and not c.isdigit() for c in line):
        words.reverse()  # visual order, left to right
    shaped = [_shaped(word, font) for word in words]
    space = size * 0.3
    width = sum(sum(p.x_advance for p in b.glyph_positions) * scale for b in shaped) + space * (
        len(words) - 1
    )
    pen_x = (SIDE - width) / 2
    paths: list[dict[str, Any]] = []
    for buffer in shaped:
        for info, position in zip(buffer.glyph_infos, buffer.glyph_positions, strict=True):  # visual order
            x0 = pen_x + position.x_offset * scale
            y0 = baseline - position.y_offset * scale

            def place(pt: Point, x0: float = x0, y0: float = y0) -> Point:
                return (round(x0 + pt[0] * scale, 2), round(y0 - pt[1] * scale, 2))

            pen = _LottiePen(glyphset, place)
            glyphset[tt.getGlyphName(info.codepoint)].draw(pen)
            paths.extend(pen.paths)
            pen_x += position.x_advance * scale
        pen_x += space
    return paths


def lottie_document(
    lines: Sequence[tuple[str, str]], size: float = 56, ink: tuple[float, float, float] = (0, 0, 0)
) -> dict[str, Any]:
    """A sticker of ``lines`` (text, font file) in ``ink`` (RGB, 0-1; black unless told), one
    below the other, fading in and out."""
    shapes: list[dict[str, Any]] = []
    top = (SIDE - len(lines) * size * 1.5) / 2 + size
    for k, (text, font_path) in enumerate(lines):
        shapes += [
            {"ty": "sh", "ks": _still(path)}
            for path in text_paths(text, font_path, size, top + k * size * 1.5)
        ]
    shapes += [
        {"ty": "fl", "c": _still([*ink, 1]), "o": _still(100), "r": 1},
        {"ty": "tr", **_transform()},
    ]
    text_layer = {
        "ty": 4, "ind": 1, "ip": 0, "op": FRAMES, "st": 0, "nm": "text",
        "ks": {**_transform(), "o": _fading_opacity()},
        "shapes": [{"ty": "gr", "it": shapes}],
    }  # fmt: skip
    disc = {
        "ty": 4, "ind": 2, "ip": 0, "op": FRAMES, "st": 0, "nm": "disc",
        "ks": {**_transform(), "p": {"a": 1, "k": [{"t": 0, "s": [40, 460], "i": {"x": 0.5, "y": 0.5},
                                                    "o": {"x": 0.5, "y": 0.5}}, {"t": FRAMES, "s": [470, 460]}]}},
        "shapes": [{"ty": "gr", "it": [
            {"ty": "el", "p": _still([0, 0]), "s": _still([60, 60])},
            {"ty": "fl", "c": _still([0.8, 0.1, 0.1, 1]), "o": _still(100), "r": 1},
            {"ty": "tr", **_transform()},
        ]}],
    }  # fmt: skip
    return {"v": "5.5.2", "fr": FPS, "ip": 0, "op": FRAMES, "w": SIDE, "h": SIDE, "nm": "sticker",
            "ddd": 0, "assets": [], "layers": [text_layer, disc]}  # fmt: skip


def write_sticker(
    path: Path, lines: Sequence[tuple[str, str]], ink: tuple[float, float, float] = (0, 0, 0)
) -> Path:
    """A gzipped ``.tgs`` of ``lines`` at ``path`` (no lines: the disc alone, a sticker without text)."""
    document = lottie_document(lines, ink=ink)
    if not lines:
        document["layers"] = document["layers"][1:]  # the disc alone
    path.write_bytes(gzip.compress(json.dumps(document, separators=(",", ":")).encode()))
    return path


THREAT_STICKER = [("VENGEANCE", LATIN_FONT), ("IS COMING", LATIN_FONT), ("باقي ٥٩ يوما", ARABIC_FONT)]
"""A threat: "vengeance is coming" and a countdown, "59 days remain", in Eastern digits."""
