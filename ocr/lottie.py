"""Key frames of an animated sticker (Lottie ``.tgs``), drawn with rlottie, read like a clip's.

A ``.tgs`` is a gzipped Lottie document: vector shapes animated over at most three seconds
(Telegram's limit), text included as outlines. FFmpeg cannot draw it; rlottie, the renderer
Telegram's own apps use (``rlottie-python``, its wheel carries the library), can.

Which frames: evenly spaced over the animation, the first and last among them, ``max_frames``
in all. A sticker has no cuts for a scene score to find, and its words often come and go
within the loop (typed in, shown, faded out before the loop starts again), so the first and
last frames alone may show none of them; evenly spaced frames 0.4 s apart (eight over three
seconds) see every word shown for longer than that twice, which is what the clip merge asks
of a line (``ocr.video.merge_readings``).

Each frame is written as a PNG that keeps its transparency; the OCR loader lays it on mid-grey,
as it does a WebP sticker and a WebM sticker's frames (``ocr.images``: dark letters and light
ones without an outline both show there).

The drawing runs in a process of its own (``python -m ocr.lottie FILE FOLDER``), started by
:func:`lottie_key_frames` and killed at the clip's deadline: a hostile document can make a
renderer written in C hang or crash, and that must end the child, never the daemon.
"""

from __future__ import annotations

import json
import sys
import time
import zlib
from pathlib import Path

from ocr.video import KeyFrame, VideoFailed, VideoSettings, run_bounded

__all__ = [
    "MAX_DOCUMENT_BYTES",
    "MAX_RENDER_SIDE",
    "RENDER_SIDE",
    "LottieFailed",
    "lottie_key_frames",
    "render_key_frames",
    "renderer_problem",
    "sample_frames",
    "unpack",
]

MAX_DOCUMENT_BYTES = 16 * 1024 * 1024
"""The most a sticker's document may take unpacked (Telegram's stickers unpack to a few hundred
KB; a gzip bomb of a few KB would unpack to gigabytes)."""

RENDER_SIDE = 512  # Telegram's sticker size: a smaller document is drawn this large
MAX_RENDER_SIDE = 1024  # and a larger one no larger than this


class LottieFailed(Exception):
    """The file is not a Lottie animation rlottie can draw; ``reason`` is one line."""


def unpack(data: bytes) -> bytes:
    """The Lottie JSON of a ``.tgs`` file: gunzipped when gzipped (a sticker), as is when it is
    already JSON (a ``.json`` Lottie saved as ``.tgs``), never more than :data:`MAX_DOCUMENT_BYTES`."""
    if data[:2] == b"\x1f\x8b":
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            document = inflater.decompress(data, MAX_DOCUMENT_BYTES + 1)
        except zlib.error as exc:
            raise LottieFailed(f"the sticker's gzip data is corrupt ({exc})") from None
        if len(document) > MAX_DOCUMENT_BYTES:
            raise LottieFailed(f"the sticker unpacks to more than {MAX_DOCUMENT_BYTES >> 20} MB")
        if not inflater.eof:
            raise LottieFailed("the sticker is truncated (its gzip data stops early)")
        return document
    if data.lstrip()[:1] == b"{":
        return data
    raise LottieFailed("not a Lottie animation (neither gzip nor JSON)")


def sample_frames(total: int, fps: float, max_frames: int) -> list[tuple[int, float]]:
    """``(frame number, seconds)`` of up to ``max_frames`` frames evenly spaced over ``total``
    frames, the first and the last among them (see the module for why not scene cuts)."""
    if total <= 0:
        return []
    count = max(1, min(total, max_frames))
    if count == 1:
        return [(0, 0.0)]
    numbers = sorted({round(k * (total - 1) / (count - 1)) for k in range(count)})
    return [(number, number / fps if fps > 0 else 0.0) for number in numbers]


def _render_size(width: int, height: int) -> tuple[int, int]:
    """The size frames are drawn at: the long side at least :data:`RENDER_SIDE` (vector art
    loses nothing enlarged, and Tesseract wants letters of some size), at most 1024."""
    long_side = max(width, height)
    side = min(max(long_side, RENDER_SIDE), MAX_RENDER_SIDE)
    scale = side / long_side
    return max(1, round(width * scale)), max(1, round(height * scale))


def render_key_frames(path: Path, folder: Path, max_frames: int) -> list[tuple[int, float, Path]]:
    """Draw the key frames of the sticker at ``path`` into ``folder`` as PNG files:
    ``(frame number, seconds, file)`` each. Raises :class:`LottieFailed` with the reason."""
    from rlottie_python import LottieAnimation  # why: only the drawing child needs the library

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LottieFailed(f"cannot read the sticker: {exc.strerror}") from None
    document = unpack(data)
    try:
        json.loads(document)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested deeper than Python's stack
        raise LottieFailed(f"not a Lottie animation (its JSON is invalid: {exc})") from None
    animation = LottieAnimation.from_data(document.decode("utf-8", errors="replace"))
    total = animation.lottie_animation_get_totalframe()
    width, height = animation.lottie_animation_get_size()
    if total <= 0 or width <= 0 or height <= 0:
        raise LottieFailed("not a Lottie animation rlottie can draw (no frames or no size)")
    fps = animation.lottie_animation_get_framerate()
    size = _render_size(width, height)
    folder.mkdir(parents=True, exist_ok=True)
    frames: list[tuple[int, float, Path]] = []
    for index, (number, seconds) in enumerate(sample_frames(total, fps, max_frames)):
        image = animation.render_pillow_frame(number, width=size[0], height=size[1])
        file = folder / f"key-{index:03d}.png"
        image.save(file, compress_level=1)
        frames.append((number, seconds, file))
    return frames


async def lottie_key_frames(path: Path, folder: Path, settings: VideoSettings) -> list[KeyFrame]:
    """The key frames of the sticker at ``path``, drawn into ``folder`` by a child process killed
    after ``settings.timeout`` seconds. Raises :class:`ocr.video.VideoFailed` with the reason
    (not a Lottie document, corrupt, truncated, the renderer crashed or took too long)."""
    # -I: the installed ocr package, never an "ocr" folder in the daemon's working directory
    count = ["--frames", str(settings.max_frames)]
    argv = [sys.executable, "-I", "-m", "ocr.lottie", str(path), str(folder), *count]
    deadline = time.monotonic() + settings.timeout
    code, out, err = await run_bounded(argv, deadline, settings.timeout, "the Lottie renderer")
    if code < 0:
        raise VideoFailed(f"the Lottie renderer crashed on this sticker (signal {-code})")
    if code != 0:
        lines = [line for line in err.splitlines() if line.strip()]
        raise VideoFailed(lines[-1] if lines else f"the Lottie renderer failed (exit status {code})")
    answer = out.decode("utf-8", errors="replace").strip().splitlines()  # the list is its last line
    try:
        frames = [KeyFrame(int(n), float(s), Path(f)) for n, s, f in json.loads(answer[-1] if answer else "")]
    except (ValueError, TypeError) as exc:
        raise VideoFailed(f"the Lottie renderer answered nonsense ({exc})") from None
    if not frames:
        raise VideoFailed("the sticker has no frame to read")
    return frames


_PROBE = {
    "v": "5.5.2", "fr": 30, "ip": 0, "op": 2, "w": 64, "h": 64, "layers": [{
        "ty": 4, "ind": 1, "ip": 0, "op": 2, "st": 0,
        "ks": {"o": {"a": 0, "k": 100}, "p": {"a": 0, "k": [32, 32]}, "a": {"a": 0, "k": [0, 0]},
               "s": {"a": 0, "k": [100, 100]}, "r": {"a": 0, "k": 0}},
        "shapes": [{"ty": "rc", "p": {"a": 0, "k": [0, 0]}, "s": {"a": 0, "k": [40, 20]}, "r": {"a": 0, "k": 0}},
                   {"ty": "fl", "c": {"a": 0, "k": [0, 0, 0, 1]}, "o": {"a": 0, "k": 100}}],
    }],
}  # fmt: skip
"""A black bar on a transparent square: what :func:`renderer_problem` asks the child to draw."""


def renderer_problem() -> str | None:
    """Why animated stickers cannot be read here, or None when they can (``tgmonitor doctor``):
    a two-frame sticker goes through the drawing child as a sticker of a post would, and its
    first frame must show the bar it holds."""
    import asyncio  # why: the doctor is the only caller of these
    import gzip
    import tempfile

    from PIL import Image

    with tempfile.TemporaryDirectory(prefix="tgmonitor-lottie-") as tmp:
        sticker = Path(tmp) / "probe.tgs"
        sticker.write_bytes(gzip.compress(json.dumps(_PROBE).encode()))
        try:
            frames = asyncio.run(lottie_key_frames(sticker, Path(tmp) / "frames", VideoSettings(timeout=30)))
        except VideoFailed as exc:
            return exc.reason
        with Image.open(frames[0].path) as frame:
            if frame.getchannel("A").getpixel((frame.width // 2, frame.height // 2)) < 128:
                return "rlottie drew an empty frame"
    return None


def main(argv: list[str] | None = None) -> int:
    """The drawing child: key frames written, their list as JSON on stdout; on failure the
    reason as the last line of stderr and exit status 2."""
    import argparse  # why: only the drawing child parses a command line

    parser = argparse.ArgumentParser(prog="python -m ocr.lottie", description=__doc__.splitlines()[0])
    parser.add_argument("sticker", type=Path)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--frames", type=int, default=VideoSettings().max_frames)
    args = parser.parse_args(argv)
    try:
        frames = render_key_frames(args.sticker, args.folder, args.frames)
    except LottieFailed as exc:
        print(str(exc), file=sys.stderr)
        return 2
    sys.stdout.write(
        "\n" + json.dumps([[number, seconds, str(file)] for number, seconds, file in frames]) + "\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
