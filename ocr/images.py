"""Safe image loading: whatever arrives from Telegram becomes a few RGB frames, or an ImageError.

Images come from strangers. The format is sniffed from the first bytes (a ``.jpg`` name means
nothing); only JPEG, PNG, WebP and GIF are accepted. Both a byte limit (checked before reading)
and a pixel limit (checked from the header, before decoding) guard against decompression bombs,
and Pillow's own ``DecompressionBombWarning`` is treated as an error too. Truncated files are
refused rather than half-decoded (``LOAD_TRUNCATED_IMAGES`` stays off on purpose: a half-grey
poster gives half the text and hides the fact that the download broke).

What comes out is ready for OCR: EXIF orientation applied, transparency flattened (a sticker onto
mid-grey, anything else onto white: :func:`_field_of`; ``convert("RGB")`` would turn
black-on-transparent sticker text into black-on-black), palette, CMYK, grey-alpha and 16-bit
modes converted, and the long side capped (``max_side``) because Tesseract's time grows steeply
with size: a noisy 4000 px poster ran for minutes, capped to 1600 px it took 0.4 s
(``shared/research/ocr-study.md``). Animations give their first frame, plus a middle frame when
they are short, since text on animated posters often fades in.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from monitor.core.errors import ImageError

__all__ = ["FORMATS", "LoadedImage", "load_image", "sniff_format"]

FORMATS = ("JPEG", "PNG", "WEBP", "GIF")
SHORT_ANIMATION_FRAMES = 120
"""Animations up to this many frames also give their middle frame."""


@dataclass
class LoadedImage:
    """An image made safe for OCR: RGB frames (long side capped) and what it was."""

    data: bytes
    format: str
    width: int  # as stored (after EXIF rotation), before the cap
    height: int
    frames: list[Image.Image] = field(default_factory=list)
    n_frames: int = 1


def sniff_format(head: bytes) -> str | None:
    """The image format named by the first bytes, or None when it is not one we accept."""
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    return None


def _describe_head(head: bytes) -> str:
    if not head:
        return "empty file"
    if head.lstrip().startswith((b"{", b"[")):
        return "not an image (looks like JSON, e.g. a Lottie .tgs sticker)"
    if head[:2] == b"\x1f\x8b":
        return "not an image (gzip data, e.g. a .tgs animated sticker)"
    if head.startswith((b"BM", b"II*\x00", b"MM\x00*")):
        return "unsupported image format (only JPEG, PNG, WebP and GIF are read)"
    try:
        head[:64].decode("utf-8")
    except UnicodeDecodeError:
        return "not an image (unknown binary data)"
    return "not an image (text)"


def read_bytes(path: Path | str, max_bytes: int) -> bytes:
    """The file's bytes, refusing empty files and files over ``max_bytes`` before reading them."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size == 0:
            raise ImageError("empty file (0 bytes)")
        if size > max_bytes:
            raise ImageError(f"file too large: {size} bytes (limit {max_bytes})")
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except FileNotFoundError:
        raise ImageError(f"file not found: {path}") from None
    except IsADirectoryError:
        raise ImageError(f"not a file: {path}") from None
    except PermissionError:
        raise ImageError(f"cannot read {path}: permission denied") from None
    if len(data) > max_bytes:  # grew while we looked
        raise ImageError(f"file too large: more than {max_bytes} bytes")
    return data


def load_image(
    source: Path | str | bytes,
    *,
    max_bytes: int = 25 * 1024 * 1024,
    max_pixels: int = 40_000_000,
    max_side: int = 1600,
) -> LoadedImage:
    """Open ``source`` (a path or bytes) safely; raise :class:`ImageError` with a reason if not."""
    data = source if isinstance(source, bytes) else read_bytes(source, max_bytes)
    if not data:
        raise ImageError("empty file (0 bytes)")
    if len(data) > max_bytes:
        raise ImageError(f"file too large: {len(data)} bytes (limit {max_bytes})")
    fmt = sniff_format(data[:16])
    if fmt is None:
        raise ImageError(_describe_head(data[:64]))
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            return _decode(data, fmt, max_pixels, max_side)
        except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
            raise ImageError(f"refused as a decompression bomb ({exc})") from None
        except UnidentifiedImageError:
            raise ImageError(f"corrupt {fmt} image (cannot be identified)") from None
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            reason = str(exc) or type(exc).__name__
            if "truncated" in reason or isinstance(exc, EOFError):
                raise ImageError(f"truncated {fmt} image ({reason})") from None
            raise ImageError(f"corrupt {fmt} image ({reason})") from None


def _decode(data: bytes, fmt: str, max_pixels: int, max_side: int) -> LoadedImage:
    image = Image.open(io.BytesIO(data), formats=[fmt])
    width, height = image.size
    if width < 1 or height < 1:
        raise ImageError(f"{fmt} image has no pixels ({width}x{height})")
    if width * height > max_pixels:
        raise ImageError(f"too many pixels: {width}x{height} (limit {max_pixels})")
    n_frames = getattr(image, "n_frames", 1)
    wanted = [0]
    if 2 < n_frames <= SHORT_ANIMATION_FRAMES:
        wanted.append(n_frames // 2)
    elif n_frames == 2:
        wanted.append(1)
    frames: list[Image.Image] = []
    for index in wanted:
        if index:
            image.seek(index)
        frames.append(_prepare(image, fmt, max_side, exif=index == 0))
    oriented = frames[0]
    if oriented.size != image.size and _rotated(image):
        width, height = height, width
    return LoadedImage(data=data, format=fmt, width=width, height=height, frames=frames, n_frames=n_frames)


def _rotated(image: Image.Image) -> bool:
    try:
        return image.getexif().get(0x0112, 1) in (5, 6, 7, 8)
    except (OSError, ValueError, SyntaxError):
        return False


def _prepare(image: Image.Image, fmt: str, max_side: int, *, exif: bool) -> Image.Image:
    """One frame as RGB: decoded, EXIF-rotated, flattened (:func:`_field_of`), long side capped."""
    if fmt == "JPEG" and max(image.size) > 2 * max_side:
        # Let libjpeg decode at 1/2, 1/4 or 1/8 scale: a huge JPEG never exists at full size.
        image.draft("RGB", (max_side, max_side))
    image.load()
    frame = image.copy()
    if exif:  # in place: the copy above is the only one needed (29 ms on a 17-megapixel PNG)
        ImageOps.exif_transpose(frame, in_place=True)
    frame = _flatten(frame)
    if max(frame.size) > max_side:
        frame.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return frame


_STICKER_FIELD = 0.1  # the share of transparent pixels from which a picture is a sticker or a cut-out
_GREY_FIELD = (128, 128, 128, 255)
_WHITE_FIELD = (255, 255, 255, 255)


def _field_of(rgba: Image.Image) -> tuple[int, int, int, int]:
    """What shows through the transparent pixels of ``rgba``.

    A sticker or a cut-out (a tenth of its pixels or more transparent) is laid on mid-grey: its
    letters may be dark, or light with no outline (they show on a dark chat theme), and grey is
    far from both, for the planes and for the white and black masks (``ocr.planes``: above 190,
    below 70). On white, white letters vanish. A picture with only a few soft pixels (an
    antialiased border) stays on white, as it was read before."""
    transparent = sum(rgba.getchannel("A").histogram()[:128])
    return _GREY_FIELD if transparent >= _STICKER_FIELD * rgba.width * rgba.height else _WHITE_FIELD


def _flatten(frame: Image.Image) -> Image.Image:
    mode = frame.mode
    if mode == "RGB":
        return frame
    if mode in ("I;16", "I;16B", "I;16L", "I"):
        frame = frame.point(lambda v: v / 256).convert("L")  # 16-bit grey: keep the top 8 bits
        mode = "L"
    if mode == "F":
        frame = frame.convert("L")
        mode = "L"
    has_alpha = mode in ("RGBA", "LA", "PA", "La", "RGBa") or (
        mode in ("P", "L", "RGB") and "transparency" in frame.info
    )
    if has_alpha:
        rgba = frame.convert("RGBA")
        field = Image.new("RGBA", rgba.size, _field_of(rgba))
        return Image.alpha_composite(field, rgba).convert("RGB")
    return frame.convert("RGB")  # P, L, 1, CMYK, YCbCr, LAB, HSV
