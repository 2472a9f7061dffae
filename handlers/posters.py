"""The one poster reader: read stored images through the OCR pool, then detect their posts.

Every road that reads posters goes through :class:`PosterReader`: the live intake (a post's new
images, off the intake's workers), the pipeline's own batch reads, the daemon's scheduled resume,
an import's final pass, ``tgmonitor ocr --pending`` and every restart (:meth:`PosterReader.resume`).

An image is read once, even when several callers want it at the same moment (a poster shared by
posts of one burst): callers of the same image wait on one shared read. A copy of a poster read
before (re-posted by another channel as another JPEG, or at another size) takes that reading
instead of a new one (:meth:`PosterReader._reuse`). A reader built with
``concurrency`` also bounds how many reads it hands the pool at once, so a burst of posters never
fills the pool's queue ahead of the text posts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from monitor.core.models import OcrOutcome
from monitor.core.ports import OcrReaderPort
from monitor.core.store import Archive, MediaRecord

log = logging.getLogger(__name__)

ProgressCallback = Callable[[int], None]
DetectPosts = Callable[[Sequence[int]], Awaitable[Any]]


class PosterReader:
    """Reads pending images once each and hands the posts that carry them to detection."""

    def __init__(
        self,
        archive: Archive,
        ocr_pool: OcrReaderPort | None,
        detect_posts: DetectPosts,
        *,
        concurrency: int | None = None,
    ):
        self.archive = archive
        self.ocr_pool = ocr_pool
        self.detect_posts = detect_posts
        self._shared: dict[str, asyncio.Future[bool]] = {}
        self._slots = asyncio.Semaphore(concurrency) if concurrency else None

    # -- one image ---------------------------------------------------------------------------
    async def read_image(self, sha256: str) -> bool:
        """Read one stored image (skipped if read before); concurrent callers share one read.

        True when the image has text now (read here or before), False when reading it failed.
        A clip the reader skipped (over the video cap) is no failure.
        """
        shared = self._shared.get(sha256)
        if shared is None:
            shared = asyncio.ensure_future(self._read_limited(sha256))
            self._shared[sha256] = shared
            shared.add_done_callback(lambda _: self._shared.pop(sha256, None))
        return await asyncio.shield(shared)

    def reading(self, sha256: str) -> bool:
        """Whether a read of this image is under way right now."""
        return sha256 in self._shared

    async def _read_limited(self, sha256: str) -> bool:
        async with self._slots if self._slots is not None else contextlib.nullcontext():
            return await self._read(sha256)

    async def _read(self, sha256: str) -> bool:
        media = await self.archive.media(sha256)
        if media is None or media.ocr_status != "pending" or self.ocr_pool is None:
            return media is not None and media.ocr_status != "failed"
        outcome = await self._reuse(media.path) or await self.ocr_pool.recognize(media.path)
        await self.apply_ocr(sha256, outcome, detect=False)
        return outcome.status != "failed"

    async def _reuse(self, path: Path, read_since: str | None = None) -> OcrOutcome | None:
        """The reading of a poster already read that this image is a copy of (re-posted by another
        channel, recompressed or at another size), or None: read it.

        Its pHash finds the nearest read image within the ``similar`` threshold; the two are then
        compared block by block (``same_picture``), since another poster of the same template
        (the next number of a countdown) is just as near in pHash.
        """
        assert self.ocr_pool is not None
        started = time.perf_counter()
        phash = await self.ocr_pool.fingerprint(path)
        if phash is None:
            return None
        near = await self.archive.read_near(phash, self.ocr_pool.similar_distance, read_since=read_since)
        if near is None:
            return None
        record, doubtful = near
        if not await self.ocr_pool.same_picture(path, record.path):
            return None
        return OcrOutcome(
            "done",
            text=record.ocr_text or "",
            doubtful=doubtful or "",
            phash=phash,
            seconds=time.perf_counter() - started,
            extra={"copied_from": record.sha256},
        )

    async def apply_ocr(self, sha256: str, outcome: OcrOutcome, *, detect: bool = True) -> list[int]:
        """Store an OCR outcome; with ``detect``, run detection on the posts it changed."""
        post_ids = await self.archive.set_ocr_result(
            sha256,
            outcome.status,
            text=outcome.text if outcome.status == "done" else None,
            reason=outcome.reason,
            phash=outcome.phash,
            width=outcome.width,
            height=outcome.height,
            doubtful=outcome.doubtful if outcome.status == "done" else None,
            copied_from=outcome.extra.get("copied_from"),
        )
        if outcome.status != "done":
            log.warning("ocr %s sha256=%s reason=%s", outcome.status, sha256[:12], outcome.reason)
        if detect:
            await self.detect_posts(post_ids)
        return post_ids

    # -- one post ----------------------------------------------------------------------------
    async def read_post(self, post_id: int, shas: Sequence[str]) -> None:
        """Read a post's new images (each image once, even when several posts share it), then detect.

        Never raises but on cancellation: a failed read or detection is logged and resumed later.
        """
        try:
            pending = []
            for sha in dict.fromkeys(shas):
                record = await self.archive.media(sha)
                if (record is not None and record.ocr_status == "pending") or self.reading(sha):
                    pending.append(sha)
            if not pending:
                return  # read before (a re-shared poster): the post was detected with its OCR text
            await asyncio.gather(*(self.read_image(sha) for sha in pending))
            await self.detect_posts([post_id])
        except asyncio.CancelledError:
            raise  # shutdown: resume() finishes it at the next start
        except Exception as exc:  # OCR or detection failed: resumed by the scheduler, never fatal
            log.error(
                "reading images of post %s failed (resumed later): %s: %s", post_id, type(exc).__name__, exc
            )

    # -- everything pending ------------------------------------------------------------------
    async def read_pending(
        self,
        *,
        limit: int | None = None,
        batch: int = 64,
        on_total: ProgressCallback | None = None,
        on_done: ProgressCallback | None = None,
        detect: bool = True,
    ) -> tuple[int, int]:
        """Read every image still pending (at most ``limit``), then detect the posts now ready.

        Returns ``(read, failed)``. ``on_total`` hears the number to read once, ``on_done`` each
        image read (for a progress bar).
        """
        if self.ocr_pool is None:
            if detect:
                await self.detect_ready()
            return 0, 0
        done = failed = 0
        if on_total is not None:
            waiting = (await self.archive.stats())["ocr_pending"]
            on_total(waiting if limit is None else min(limit, waiting))
        seen: set[str] = set()
        while limit is None or done + failed < limit:
            size = batch if limit is None else min(batch, limit - done - failed)
            pending = [m for m in await self.archive.pending_ocr(size) if m.sha256 not in seen]
            if not pending:
                break  # nothing left, or only images a read left pending: never loop on them
            seen.update(m.sha256 for m in pending)

            async def one(sha: str) -> None:
                nonlocal done, failed
                if await self.read_image(sha):
                    done += 1
                else:
                    failed += 1
                if on_done is not None:
                    on_done(1)

            await asyncio.gather(*(one(m.sha256) for m in pending))
        if detect:
            await self.detect_ready()
        return done, failed

    async def read_again(
        self,
        read_before: str,
        *,
        limit: int | None = None,
        batch: int = 64,
        on_total: ProgressCallback | None = None,
        on_done: ProgressCallback | None = None,
    ) -> tuple[int, int, int]:
        """Read again, with the OCR and the rules' words as they are now, every image and clip
        read before ``read_before`` (an ISO time; at most ``limit``), then detect the posts whose
        text changed: what an archive read by an older version holds (junk lines that every pass
        kept, before ``ocr.evidence``) stops being searched and matched.

        A copy of a poster takes only a reading made since ``read_before``. Where an earlier read
        had succeeded, a read that fails (or a clip now skipped) keeps the earlier reading
        (nothing stored is lost) and its old time, so a later run tries it again. Returns
        ``(read, failed, kept)``: ``kept`` counts the images that kept an earlier reading.
        """
        if self.ocr_pool is None:
            return 0, 0, 0
        pool = self.ocr_pool
        done = failed = kept = 0
        if on_total is not None:
            waiting = await self.archive.count_read_before(read_before)
            on_total(waiting if limit is None else min(limit, waiting))
        handled = 0
        place: tuple[str, str] | None = None  # the last image handed out: each is read once a run

        async def one(media: MediaRecord) -> None:
            nonlocal done, failed, kept
            async with self._slots if self._slots is not None else contextlib.nullcontext():
                outcome = await self._reuse(media.path, read_before) or await pool.recognize(media.path)
            if outcome.status != "done" and media.ocr_status == "done":
                # failed, or a clip skipped now ([ocr] video_max_bytes lowered): not read, not lost
                failed, kept = failed + (outcome.status == "failed"), kept + 1
                log.warning(
                    "ocr again sha256=%s %s (%s): its earlier reading is kept",
                    media.sha256[:12],
                    outcome.status,
                    outcome.reason,
                )
            else:
                await self.apply_ocr(media.sha256, outcome, detect=False)
                done, failed = done + (outcome.status == "done"), failed + (outcome.status == "failed")
            if on_done is not None:
                on_done(1)

        while limit is None or handled < limit:
            size = batch if limit is None else min(batch, limit - handled)
            page = await self.archive.read_before(read_before, size, after=place)
            if not page:
                break
            place = page[-1][1]
            handled += len(page)
            await asyncio.gather(*(one(media) for media, _ in page))
        await self.detect_ready()
        return done, failed, kept

    async def detect_ready(self, batch: int = 200, *, rounds: int | None = None) -> int:
        """Detect posts never detected whose images are all read (``rounds`` batches at most)."""
        handled = 0
        round_ = 0
        while rounds is None or round_ < rounds:
            round_ += 1
            posts = await self.archive.undetected_posts(batch)
            if not posts:
                break
            waiting = await self.archive.posts_awaiting_ocr([p.id for p in posts]) if self.ocr_pool else set()
            ready = [p.id for p in posts if p.id not in waiting]
            if not ready:
                break
            await self.detect_posts(ready)
            handled += len(ready)
        return handled

    async def resume(self, batch: int = 200) -> int:
        """Finish what a crash or ``--no-ocr`` left: every pending image, then every undetected post."""
        done, failed = await self.read_pending(batch=batch, detect=False)
        return done + failed + await self.detect_ready(batch)

    async def resume_batch(self, batch: int = 200) -> int:
        """One bounded round of :meth:`resume` (the daemon's periodic job).

        Reads one batch of pending images and detects the posts that carry them, then detects
        one batch of posts never detected whose images are read.
        """
        handled = 0
        if self.ocr_pool is not None:
            shas = [m.sha256 for m in await self.archive.pending_ocr(batch)]
            await asyncio.gather(*(self.read_image(sha) for sha in shas))
            post_ids = {p.id for sha in shas for p in await self.archive.posts_with_media(sha)}
            await self.detect_posts(sorted(post_ids))
            handled += len(shas)
        handled += await self.detect_ready(batch, rounds=1)
        return handled
