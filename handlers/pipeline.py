"""The one road every post takes: archive, read its images, detect, record alerts.

Live updates, gap-fill, back-fill and exports all end here as :class:`~monitor.core.models.Post`
objects. The post is stored first (so a crash later loses nothing); OCR runs in the worker pool
off the event loop; detection runs on text plus OCR text; alerts and their deliveries are written
by the outbox in one transaction. ``posts.detected_at`` marks a post whose current text and
images have been through detection, so whatever a crash interrupted is picked up again by
:meth:`Pipeline.resume`.

The detector, OCR reader and outbox are the core's ports (:mod:`monitor.core.ports`), so this
module imports neither ``alerts/`` nor ``ocr/``; each is optional: an archive-only import needs
none of them.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from handlers.posters import PosterReader
from monitor.core.detection import Detection
from monitor.core.models import OcrOutcome, Post
from monitor.core.ports import DetectorPort, OcrReaderPort, OutboxPort
from monitor.core.store import Archive, CountdownRow, PostRecord, SaveResult, countdown_row

log = logging.getLogger(__name__)


@dataclass
class ProcessResult:
    """What happened to one post."""

    post_id: int
    status: str  # new | updated | unchanged
    alerts: list[int] = field(default_factory=list)
    detection: Detection | None = None
    ocr_failed: int = 0
    new_files: int = 0  # files linked to the post by this save (see SaveResult.new_files)


class Pipeline:
    """Archive → OCR → detect → alerts, for one post or a batch."""

    def __init__(
        self,
        archive: Archive,
        detector: DetectorPort | None = None,
        ocr_pool: OcrReaderPort | None = None,
        outbox: OutboxPort | None = None,
        *,
        deliver: bool = True,
    ):
        self.archive = archive
        self.detector = detector
        self.ocr_pool = ocr_pool
        self.outbox = outbox
        self.deliver = deliver

    async def process(self, post: Post) -> ProcessResult:
        """Handle one post end to end (the live path)."""
        return (await self.process_batch([post]))[0]

    async def process_batch(self, posts: Sequence[Post], *, ocr: bool = True) -> list[ProcessResult]:
        """Store a batch of posts, read their new images (if ``ocr``), then detect.

        A post whose images are still waiting for OCR is detected only once they are read (or
        right away when ``ocr`` is false or no OCR pool is configured, in which case a later
        :meth:`apply_ocr` re-detects it and alerts only on what the poster adds).
        """
        saved = await self.archive.save_posts(posts)
        results = {
            id(post): ProcessResult(s.post_id, s.status, new_files=s.new_files)
            for post, s in zip(posts, saved, strict=True)
        }
        if log.isEnabledFor(logging.INFO):  # imports save thousands of posts a second
            for post, s in zip(posts, saved, strict=True):
                log.info(
                    "post channel=%s id=%s status=%s media=%d source=%s",
                    post.channel.link_name,
                    post.message_id,
                    s.status,
                    len(post.media),
                    post.source,
                )
        if ocr and self.ocr_pool is not None:
            await self._read_images(saved, results, posts)
        # Detect what is new, changed or never detected; each post once even if sent twice.
        post_ids = list(dict.fromkeys(s.post_id for s in saved if s.needs_detection))
        # A post without media cannot carry OCR text: it is detected from what we hold.
        known = {}
        if self.detector is not None:
            known = {
                s.post_id: p for p, s in zip(posts, saved, strict=True) if not p.media and s.needs_detection
            }
        detections = await self.detect_posts(post_ids, known=known)
        for post in posts:
            result = results[id(post)]
            if result.post_id in detections:
                result.detection, result.alerts = detections[result.post_id]
        return [results[id(p)] for p in posts]

    async def import_batch(self, posts: Sequence[Post]) -> list[ProcessResult]:
        """Store and detect a batch of imported posts: :meth:`process_batch` for imports.

        A post without images is detected *before* it is stored (its text is all there is), so
        the post, its detection mark, its countdown and its alerts are written in one unit of
        work (:meth:`Archive.batch`). Posts with images are stored first and detected once their
        posters are read (or at once without an OCR pool), as on the live road. What those rows
        are is worked out before the transaction (:meth:`Archive.plan_posts`,
        :meth:`_early_rows`), so the write lock is held for the SQL alone; if another writer
        moved the archive meanwhile, the batch is worked out again under the lock.
        """
        if self.detector is None or not posts:
            return await self.process_batch(posts, ocr=False)
        detector = self.detector
        # What is stored already, detected and unchanged (a re-import) is not detected again.
        settled = await self.archive.settled_texts((p.channel.id, p.message_id) for p in posts)
        early = [
            None
            if p.media or settled.get((p.channel.id, p.message_id)) == p.text
            else detector.detect(p.text, date=p.date, explain=False, channel=p.channel)
            for p in posts
        ]
        plan = await self.archive.plan_posts(posts, detected=[d is not None for d in early])
        rows = self._early_rows(posts, plan.results, early)
        async with self.archive.batch() as batch:
            saved = await batch.save_posts(plan)
            if batch.replanned:  # the results changed under the lock: so does what they write
                rows = self._early_rows(posts, saved, early)
            await batch.mark_detected(rows.marks, rows.countdowns, clear=rows.clear)
            if self.outbox is not None and rows.drafts is not None:
                recorded = await self.outbox.record_drafts(batch.tx, rows.drafts)
                for post_id, ids in recorded.items():
                    rows.found[post_id] = (rows.found[post_id][0], ids)
        if self.outbox is not None and rows.drafts is not None:
            self.outbox.wake()  # committed: the senders may look now
        found = rows.found
        results = [ProcessResult(s.post_id, s.status, new_files=s.new_files) for s in saved]
        # Posts with images, and any post that still needs detection without an early verdict
        # (its entities changed under the same text), take the road of the live posts.
        later = [s.post_id for s, d in zip(saved, early, strict=True) if d is None and s.needs_detection]
        found |= await self.detect_posts(list(dict.fromkeys(later)))
        for result in results:
            if result.post_id in found:
                result.detection, result.alerts = found[result.post_id]
        return results

    def _early_rows(
        self, posts: Sequence[Post], saved: Sequence[SaveResult], early: Sequence[Detection | None]
    ) -> _EarlyRows:
        """What the early detections of an import batch write with its posts (no I/O here)."""
        rows = _EarlyRows()
        for post, s, detection in zip(posts, saved, early, strict=True):
            if detection is None or not s.needs_detection or s.post_id in rows.found:
                continue
            rows.found[s.post_id] = (detection, [])
            if s.status == "unchanged":
                rows.marks.append(s.post_id)  # unchanged posts never detected (a crash)
            if s.status != "new":
                rows.clear.append(s.post_id)
            if detection.countdown is not None:
                rows.countdowns.append(
                    countdown_row(s.post_id, post.channel.id, post.date, detection.countdown)
                )
            if self.outbox is not None and detection.alert:
                rows.alerting.append((_record_of(post, s.post_id), detection))
        if rows.alerting and self.outbox is not None:
            fresh = {
                s.post_id for p, s in zip(posts, saved, strict=True) if s.status == "new" and not p.media
            }
            rows.drafts = self.outbox.draft_records(rows.alerting, deliver=self.deliver, fresh=fresh)
        return rows

    async def _read_images(
        self, saved: Sequence[SaveResult], results: dict[int, ProcessResult], posts: Sequence[Post]
    ) -> None:
        shas = list(dict.fromkeys(sha for s in saved for sha in s.new_media))
        if not shas:
            return
        outcomes = await asyncio.gather(*(self.read_image(sha) for sha in shas))
        failed = {sha for sha, ok in zip(shas, outcomes, strict=True) if not ok}
        for post, s in zip(posts, saved, strict=True):
            results[id(post)].ocr_failed = sum(1 for sha in s.new_media if sha in failed)

    @functools.cached_property
    def posters(self) -> PosterReader:
        """The poster reader of this pipeline (reads each image once, then detects its posts)."""
        return PosterReader(self.archive, self.ocr_pool, self.detect_posts)

    async def read_image(self, sha256: str) -> bool:
        """OCR one stored image (once: skipped if already read) and re-index its posts."""
        return await self.posters.read_image(sha256)

    async def apply_ocr(self, sha256: str, outcome: OcrOutcome, *, detect: bool = True) -> list[int]:
        """Store an OCR outcome; with ``detect``, run detection on the posts it changed."""
        return await self.posters.apply_ocr(sha256, outcome, detect=detect)

    async def detect_posts(
        self, post_ids: Sequence[int], *, known: dict[int, Post] | None = None
    ) -> dict[int, tuple[Detection | None, list[int]]]:
        """Detect on the current text + OCR text of these posts; record alerts and countdowns.

        Posts with images still waiting for OCR are left for later when an OCR pool exists.
        ``known`` holds posts without media the caller has in memory (saves a read per post on
        imports; they cannot carry OCR text).
        """
        if not post_ids:
            return {}
        known = known or {}
        unknown = [i for i in post_ids if i not in known]
        waiting = await self.archive.posts_awaiting_ocr(unknown) if self.ocr_pool is not None else set()
        out: dict[int, tuple[Detection | None, list[int]]] = {}
        done: list[int] = []
        countdowns: list[CountdownRow] = []
        if self.detector is None:
            await self.archive.mark_detected([i for i in post_ids if i not in waiting])
            return {i: (None, []) for i in post_ids if i not in waiting}
        records = await self.archive.posts_by_ids([i for i in unknown if i not in waiting])
        alerting: list[tuple[PostRecord, Detection]] = []
        for post_id in post_ids:
            post = known.get(post_id)
            record = records.get(post_id)
            if post is not None:
                detection = self.detector.detect(
                    post.text, date=post.date, explain=False, channel=post.channel
                )
                channel_id, date = post.channel.id, post.date
            elif record is not None:
                detection = self.detector.detect(
                    record.text,
                    ocr_text=record.ocr_text,
                    date=record.date,
                    explain=False,
                    channel=record.channel,
                )
                channel_id, date = record.channel_id, record.date
            else:
                continue
            if detection.countdown is not None:
                countdowns.append(countdown_row(post_id, channel_id, date, detection.countdown))
            if self.outbox is not None and detection.alert:
                alerting.append((record if record is not None else _record_of(post, post_id), detection))  # type: ignore[arg-type]
            done.append(post_id)
            out[post_id] = (detection, [])
        if alerting:
            await self._record_alerts(alerting, out)
        await self.archive.mark_detected(done, countdowns)
        return out

    async def _record_alerts(
        self, alerting: list[tuple[PostRecord, Detection]], out: dict[int, tuple[Detection | None, list[int]]]
    ) -> None:
        """The alerts of these posts, in one transaction for the lot."""
        assert self.outbox is not None
        ids = await self.outbox.record_many(alerting, deliver=self.deliver)
        for record, detection in alerting:
            alert_ids = ids.get(record.id, [])
            out[record.id] = (detection, alert_ids)
            for alert_id in alert_ids:
                log.info(
                    "alert id=%s channel=%s message=%s severity=%s",
                    alert_id,
                    record.channel.link_name,
                    record.message_id,
                    detection.severity,
                )

    async def resume(self, batch: int = 200) -> int:
        """Finish what a crash or ``--no-ocr`` left: pending OCR, then undetected posts."""
        return await self.posters.resume(batch)


@dataclass
class _EarlyRows:
    """What an import batch's early detection writes with its posts (see ``import_batch``)."""

    found: dict[int, tuple[Detection | None, list[int]]] = field(default_factory=dict)
    marks: list[int] = field(default_factory=list)
    clear: list[int] = field(default_factory=list)
    countdowns: list[CountdownRow] = field(default_factory=list)
    alerting: list[tuple[PostRecord, Detection]] = field(default_factory=list)
    drafts: Any = None  # what OutboxPort.draft_records prepared (the outbox's own record)


def _record_of(post: Post, post_id: int) -> PostRecord:
    """The archive's view of a post we hold in memory (no OCR text: it has no media)."""
    return PostRecord(
        id=post_id,
        channel_id=post.channel.id,
        message_id=post.message_id,
        date=post.date,
        text=post.text,
        entities=post.entities,
        ocr_text=None,
        channel_username=post.channel.username,
        channel_title=post.channel.title,
        views=post.views,
        forwards=post.forwards,
        fwd_from_id=post.fwd_from_id,
        fwd_from_name=post.fwd_from_name,
        reply_to=post.reply_to,
        grouped_id=post.grouped_id,
        edit_date=post.edit_date,
        author=post.author,
        source=post.source,
    )
