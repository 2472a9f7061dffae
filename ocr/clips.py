"""Reading a stored clip (video, video sticker, GIF-as-MP4, round video note) like a poster.

:class:`ClipReader` cuts the clip's key frames (``ocr.video``), reads each frame through the
same OCR entry point posters use (the pool's ``recognize``), merges their text with the time
each line first appears, and answers one :class:`OcrOutcome` for the clip, which the poster
reader stores with the media and matches like poster text.

:class:`MediaReader` is what the app hands the pipeline in place of the bare pool: a stored
file whose name ends like a video (the store names files by their MIME type) is read as a clip,
anything else goes to the pool as before.

Outcomes besides ``done``:

* ``skipped`` with the size, for a clip over ``[ocr] video_max_bytes``;
* ``failed`` with FFmpeg's own complaint on one line, for a file that is no video, is truncated
  or corrupt, or takes FFmpeg past the timeout; for an animated sticker (Lottie ``.tgs``, drawn
  by rlottie in a child process, ``ocr.lottie``), the renderer's reason in the same way.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from monitor.core.models import OcrOutcome, file_size
from ocr.engine import recognize_file
from ocr.first_passes import FirstPasses
from ocr.settings import OcrSettings
from ocr.video import NoPicture, VideoFailed, VideoSettings, key_frames, merge_readings, video_text

__all__ = [
    "LOTTIE_SUFFIXES",
    "VIDEO_SUFFIXES",
    "ClipReader",
    "MediaReader",
    "is_clip_file",
    "read_media_file",
]

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".webm", ".mkv", ".3gp", ".avi", ".mpeg", ".mpg"})
"""File suffixes read as clips (``monitor.core.store.media`` names stored files by MIME type)."""

LOTTIE_SUFFIXES = frozenset({".tgs"})
"""Animated stickers: Lottie vector animations, drawn by rlottie instead of decoded by FFmpeg."""


class ImageReader(Protocol):
    """The pool's public entry point: one image file in, one outcome out."""

    async def recognize(self, path: Path | str) -> OcrOutcome: ...


class ReusingReader(ImageReader, Protocol):
    """The pool with what lets a re-posted poster reuse a reading (``OcrReaderPort``)."""

    similar_distance: int

    async def fingerprint(self, path: Path | str) -> str | None: ...

    async def same_picture(self, path: Path | str, other: Path | str) -> bool: ...


def is_clip_file(path: Path | str) -> bool:
    suffix = Path(path).suffix.lower()
    return suffix in VIDEO_SUFFIXES or suffix in LOTTIE_SUFFIXES


class ClipReader:
    """Key frames through FFmpeg, each frame through the OCR pool, the lines merged."""

    def __init__(self, images: ImageReader, settings: VideoSettings | None = None) -> None:
        self.images = images
        self.settings = settings or VideoSettings()

    async def recognize(self, path: Path | str) -> OcrOutcome:
        """The clip's text, one line per distinct line of its frames, each led by its time."""
        started = time.perf_counter()
        path = Path(path)
        outcome = await self._recognize(path)
        outcome.seconds = time.perf_counter() - started
        outcome.format = outcome.format or path.suffix.lstrip(".").lower() or None
        return outcome

    async def _recognize(self, path: Path) -> OcrOutcome:
        import asyncio  # why: imported where a clip is read (0.02 s), not for a poster

        try:
            size = path.stat().st_size
        except OSError as exc:
            return OcrOutcome("failed", reason=f"cannot read the video: {exc.strerror}")
        cap = self.settings.max_bytes
        if not cap:
            return OcrOutcome("skipped", reason="videos are not read ([ocr] video_max_bytes = 0)")
        if size > cap:
            return OcrOutcome(
                "skipped",
                reason=f"video of {file_size(size)} is over the {file_size(cap)} cap ([ocr] video_max_bytes)",
            )
        folder = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="tgmonitor-clip-"))
        try:
            try:
                if path.suffix.lower() in LOTTIE_SUFFIXES:
                    from ocr.lottie import lottie_key_frames  # why: a poster's check never needs it

                    frames = await lottie_key_frames(path, folder, self.settings)
                else:
                    frames = await key_frames(path, folder, self.settings)
            except NoPicture as exc:
                return OcrOutcome("skipped", reason=exc.reason)
            except VideoFailed as exc:
                log.warning("video %s not read: %s", path.name, exc.reason)
                return OcrOutcome("failed", reason=exc.reason)
            outcomes = await asyncio.gather(*(self.images.recognize(frame.path) for frame in frames))
        finally:
            await asyncio.to_thread(shutil.rmtree, folder, True)
        read = [(frame, o) for frame, o in zip(frames, outcomes, strict=True) if o.status == "done"]
        if not read:
            reason = next((o.reason for o in outcomes if o.reason), "no frame could be read")
            return OcrOutcome("failed", reason=f"no key frame could be read: {reason}")
        # Comparing every line with every other is CPU work: off the event loop, like the OCR.
        lines = await asyncio.to_thread(merge_readings, [(frame.seconds, o.text) for frame, o in read])
        # Each frame went through the evidence step (``ocr.evidence``) in ``recognize``: only its
        # kept lines are matched; its doubtful lines stay apart here too, for debugging.
        doubtful = await asyncio.to_thread(
            merge_readings, [(frame.seconds, o.doubtful) for frame, o in read if o.doubtful], confirm=1
        )
        first = read[0][1]
        return OcrOutcome(
            "done",
            text=video_text(lines),
            doubtful=video_text(doubtful),
            width=first.width,
            height=first.height,
            frames=len(frames),
            extra={
                "frames": [round(f.seconds, 2) for f in frames],
                "unread_frames": len(frames) - len(read),
                "lines": len(lines),
            },
        )


class MediaReader:
    """Clips to :class:`ClipReader`, images to the pool: the one reader the pipeline is given."""

    def __init__(self, images: ReusingReader, settings: VideoSettings | None = None) -> None:
        self.images = images
        self.clips = ClipReader(images, settings)
        self.similar_distance = images.similar_distance

    async def recognize(self, path: Path | str) -> OcrOutcome:
        if is_clip_file(path):
            return await self.clips.recognize(path)
        return await self.images.recognize(path)

    async def fingerprint(self, path: Path | str) -> str | None:
        """An image's pHash (a re-posted poster reuses its reading); None for a clip, which is
        always read: its frames are not one picture to compare."""
        if is_clip_file(path):
            return None
        return await self.images.fingerprint(path)

    async def same_picture(self, path: Path | str, other: Path | str) -> bool:
        if is_clip_file(path) or is_clip_file(other):
            return False
        return await self.images.same_picture(path, other)


class _InProcess:
    """Frames read in this process (threads around :func:`recognize_file`), for the commands
    that read one file without a pool; as many at once as there are cores."""

    def __init__(self, settings: OcrSettings) -> None:
        import asyncio  # why: imported where a clip is read (0.02 s), not for a poster

        self.settings = settings
        self.slots = asyncio.Semaphore(os.cpu_count() or 1)

    async def recognize(self, path: Path | str) -> OcrOutcome:
        import asyncio  # why: imported where a clip is read (0.02 s), not for a poster

        async with self.slots:
            return await asyncio.to_thread(recognize_file, path, self.settings)


def read_media_file(
    path: Path | str,
    settings: OcrSettings,
    video: VideoSettings | None = None,
    meanwhile: Callable[[], object] | None = None,
    started_early: FirstPasses | None = None,
) -> OcrOutcome:
    """Read one file as the archive would (``tgmonitor ocr FILE``, ``check --image``): a clip at
    its key frames, anything else as a poster. Sync; never raises for a bad file. A poster's
    ``meanwhile`` runs on this thread while Tesseract reads it (``ocr.engine.read_passes``);
    a clip's frames are read elsewhere, so it is not run for a clip. ``started_early``: the
    poster's load and first passes, begun before the engine was imported (``ocr.first_passes``)."""
    if not is_clip_file(path):
        return recognize_file(path, settings, meanwhile, started_early)
    import asyncio  # why: imported where a clip is read (0.02 s), not for a poster

    return asyncio.run(ClipReader(_InProcess(settings), video).recognize(path))
