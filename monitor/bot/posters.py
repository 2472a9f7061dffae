"""A poster sent to the bot desk: read once, checked by the rules, and its archived look-alikes.

``/similar`` with a photo and the "similar posters" button under an alert both end here. The
photo is read by the same OCR as the archive's posters (:func:`ocr.recognize_file`, which loads
it within the configured byte and pixel limits: a decompression bomb or a file that is not an
image comes back ``failed`` with the reason, never raises), in a worker thread so the desk keeps
answering; one reading at a time (a poster takes seconds of CPU, the daemon shares the machine).
Look-alikes are archived images whose 64-bit perceptual hash is within
:data:`ocr.SIMILAR_DISTANCE` bits, as ``tgmonitor similar`` finds them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from monitor.core.config import Config
from monitor.core.models import OcrOutcome
from monitor.core.store import Archive, PostRecord
from monitor.ocr_settings import ocr_settings

PosterReader = Callable[[bytes], Awaitable[OcrOutcome]]
"""Reads one image's bytes: OCR text, perceptual hash, or ``failed`` with the reason."""


def thread_reader(config: Config, detector: Callable[[], Any]) -> PosterReader:
    """The OCR of ``tgmonitor ocr FILE``, off the event loop, one image at a time, with the words
    of the rules the desk's ``detector`` holds at that moment (a reload replaces it)."""
    from ocr import recognize_file  # why: the OCR engine (~0.8 s) loads only when a poster comes

    gate = asyncio.Semaphore(1)

    async def read(data: bytes) -> OcrOutcome:
        current = detector()
        settings = ocr_settings(config, current.ruleset if current is not None else None)
        async with gate:
            return await asyncio.to_thread(recognize_file, data, settings)

    return read


@dataclass(frozen=True, slots=True)
class LookAlike:
    """An archived image like the one asked about, and the posts that carried it."""

    sha256: str
    distance: int
    posts: list[PostRecord]


async def look_alikes(
    archive: Archive, phash: str, *, limit: int = 10, exclude_post: int | None = None
) -> list[LookAlike]:
    """Archived images within :data:`ocr.SIMILAR_DISTANCE` of ``phash``, nearest first."""
    from ocr import SIMILAR_DISTANCE, nearest  # why: as in thread_reader

    out: list[LookAlike] = []
    for distance, sha, _ in nearest(phash, await archive.media_by_phash(), SIMILAR_DISTANCE):
        posts = [p for p in await archive.posts_with_media(sha) if p.id != exclude_post]
        if posts:
            out.append(LookAlike(sha, distance, posts))
        if len(out) >= limit:
            break
    return out


def detect_poster(detector: Any, caption: str, outcome: OcrOutcome, date: Any) -> Any:
    """The rules' verdict on a poster's text (and the message's own words, if any)."""
    return detector.detect(caption, ocr_text=outcome.text or "", date=date)
