"""The media store: files under their sha256 in the media directory, their rows, and OCR results.

A file is hashed and copied into the store (atomically, once per content) before any SQL runs;
an image's row waits for OCR (``pending``), and every post that carries it gets the text read.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from monitor.core.errors import ArchiveError
from monitor.core.models import MediaItem
from monitor.core.phash import nearest
from monitor.core.store.base import StoreBase
from monitor.core.store.common import Tx
from monitor.core.store.opening import make_private_dir
from monitor.core.store.records import (
    MEDIA_COLUMNS,
    POST_COLUMNS,
    MediaRecord,
    PostRecord,
    media_record,
    post_record,
)
from monitor.core.store.search import FTS_DELETE, FTS_INSERT, fts_row
from monitor.core.times import now_iso


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


_MIME_SUFFIX = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "image/gif": ".gif",
    "video/mp4": ".mp4",
    # clips (issue 18): the suffix tells the OCR reader to read the file as a clip (ocr.clips)
    "video/webm": ".webm",
    "video/quicktime": ".mov",
    "video/x-matroska": ".mkv",
    "video/3gpp": ".3gp",
    "application/x-tgsticker": ".tgs",
}


def _suffix_for(item: MediaItem) -> str:
    if item.mime_type in _MIME_SUFFIX:
        return _MIME_SUFFIX[item.mime_type]
    for name in (item.file_name, item.path.name if item.path else None):
        if name and "." in name:
            suffix = "." + name.rsplit(".", 1)[1].lower()
            if re.fullmatch(r"\.[a-z0-9]{1,5}", suffix):
                return suffix
    return ".jpg" if item.kind == "photo" else ".bin"


def _relative_media_path(digest: str, item: MediaItem) -> str:
    return f"{digest[:2]}/{digest}{_suffix_for(item)}"


INSERT_MEDIA = (
    "INSERT INTO media (sha256, path, size, width, height, mime_type, is_image, ocr_status, created_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (sha256) DO NOTHING"
)


def media_row(digest: str, item: MediaItem, now: str) -> tuple[Any, ...]:
    """A ``media`` row: images and clips wait for OCR, other files are never read."""
    return (
        digest,
        _relative_media_path(digest, item),
        item.size or 0,
        item.width,
        item.height,
        item.mime_type,
        int(item.is_image),
        "pending" if item.is_image or item.is_clip else "skipped",
        now,
    )


def store_file(media_dir: Path, item: MediaItem) -> str | None:
    """Copy a media file into the store under its sha256 (atomically); return the hash."""
    if item.content is None and item.path is None:
        return None
    try:
        if item.content is not None:
            data = item.content
            digest = hashlib.sha256(data).hexdigest()
        else:
            assert item.path is not None
            digest = _sha256_file(item.path)
            data = None
    except OSError as exc:
        item.missing_reason = f"cannot read {item.path}: {exc.strerror}"
        return None
    suffix = _suffix_for(item)
    target = media_dir / digest[:2] / f"{digest}{suffix}"
    if not target.exists():
        try:
            make_private_dir(target.parent)  # 0700: the archive's media are the analyst's only
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        except OSError as exc:  # not a directory, read-only, disk full: nothing else can be stored
            raise ArchiveError(f"cannot write to the media store {media_dir}: {exc.strerror}") from None
        try:
            with os.fdopen(fd, "wb") as out:
                if data is not None:
                    out.write(data)
                else:
                    assert item.path is not None
                    with open(item.path, "rb") as src:
                        shutil.copyfileobj(src, out, 1024 * 1024)
            os.replace(tmp, target)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise ArchiveError(f"cannot write to the media store {media_dir}: {exc.strerror}") from None
    item.sha256 = digest
    if item.size is None:
        item.size = target.stat().st_size
    return digest


async def refresh_post_ocr(tx: Tx, post_ids: set[int]) -> None:
    """Give these posts the OCR text of their read images; a post whose OCR text changes is
    re-indexed and waits for detection again."""
    for post_id in post_ids:
        async with tx.execute(
            "SELECT m.ocr_text FROM post_media pm JOIN media m ON m.sha256 = pm.sha256 "
            "WHERE pm.post_id = ? AND m.ocr_status = 'done' AND m.ocr_text != '' ORDER BY pm.position",
            (post_id,),
        ) as cur:
            texts = [r[0] for r in await cur.fetchall()]
        ocr_text = "\n".join(texts) or None
        async with tx.execute("SELECT text, ocr_text FROM posts WHERE id = ?", (post_id,)) as cur:
            row = await cur.fetchone()
        if row is None or row[1] == ocr_text:
            continue
        await tx.execute(
            "UPDATE posts SET ocr_text = ?, detected_at = NULL WHERE id = ?", (ocr_text, post_id)
        )
        await tx.execute(FTS_DELETE, (post_id, *fts_row(row[0], row[1])))
        await tx.execute(FTS_INSERT, (post_id, *fts_row(row[0], ocr_text)))


_READ_BEFORE = "ocr_status IN ('done', 'failed') AND (ocr_at IS NULL OR ocr_at < ?)"
"""Read (or failed) before a cut-off, or at no known time: ``ocr --again``'s images and clips."""


class MediaMixin(StoreBase):
    """The ``media`` table and the OCR results of its images."""

    async def store_media(self, item: MediaItem) -> str | None:
        """Store one file by content hash (no post link); returns its sha256."""
        digest = await asyncio.to_thread(store_file, self.media_dir, item)
        if digest is None:
            return None
        async with self.transaction() as conn:
            await conn.execute(INSERT_MEDIA, media_row(digest, item, now_iso()))
        return digest

    async def media(self, sha256: str) -> MediaRecord | None:
        row = await self.fetchone(f"SELECT {MEDIA_COLUMNS} FROM media WHERE sha256 = ?", (sha256,))
        return media_record(row, self.media_dir) if row else None

    async def pending_ocr(self, limit: int = 100) -> list[MediaRecord]:
        rows = await self.fetchall(
            f"SELECT {MEDIA_COLUMNS} FROM media WHERE ocr_status = 'pending' "  # images and clips
            "ORDER BY created_at LIMIT ?",
            (limit,),
        )
        return [media_record(r, self.media_dir) for r in rows]

    async def read_before(
        self, cutoff: str, limit: int = 100, after: tuple[str, str] | None = None
    ) -> list[tuple[MediaRecord, tuple[str, str]]]:
        """Images and clips already read (done or failed) whose reading is older than ``cutoff``
        (an ISO time as :func:`now_iso` writes it), or has no time: what ``ocr --again`` reads
        with the OCR as it is now, oldest stored first, each with its place in that order (give
        the last one as ``after`` for the next page). Each one read again gets a later time and
        leaves the list, so a run cut short resumes with the same ``cutoff``."""
        since = " AND (created_at, sha256) > (?, ?)" if after is not None else ""
        rows = await self.fetchall(
            f"SELECT {MEDIA_COLUMNS}, created_at FROM media WHERE {_READ_BEFORE}{since} "
            "ORDER BY created_at, sha256 LIMIT ?",
            (cutoff, *(after or ()), limit),
        )
        return [(media_record(r, self.media_dir), (r[-1], r[0])) for r in rows]

    async def count_read_before(self, cutoff: str) -> int:
        """How many images and clips :meth:`read_before` has to give."""
        row = await self.fetchone(f"SELECT count(*) FROM media WHERE {_READ_BEFORE}", (cutoff,))
        return int(row[0]) if row is not None else 0

    async def read_near(
        self, phash: str, distance: int, *, read_since: str | None = None
    ) -> tuple[MediaRecord, str | None] | None:
        """The nearest image already read (status ``done``, read itself rather than copied) whose
        pHash is within ``distance`` bits of ``phash``, with its doubtful lines, or None.
        ``read_since``: only a reading made at that time or later (``ocr --again`` copies no
        reading it has not made again itself).

        A scan of the read images' hashes: popcount of 64-bit XORs in SQL is not portable
        across SQLite builds, and a Python loop over a hundred thousand hex strings takes tens
        of milliseconds, a hundredth of one reading.
        """
        rows = await self.fetchall(
            "SELECT sha256, phash FROM media WHERE phash IS NOT NULL AND ocr_status = 'done' AND ocr_from IS NULL"
            + (" AND ocr_at >= ?" if read_since is not None else ""),
            (read_since,) if read_since is not None else (),
        )
        found = nearest(phash, ((r[0], r[1]) for r in rows), distance)
        if not found:
            return None
        sha = found[0][1]
        record = await self.media(sha)
        if record is None:
            return None
        row = await self.fetchall("SELECT ocr_doubtful FROM media WHERE sha256 = ?", (sha,))
        return record, (row[0][0] if row else None)

    async def media_by_phash(self) -> list[tuple[str, str]]:
        rows = await self.fetchall("SELECT sha256, phash FROM media WHERE phash IS NOT NULL")
        return [(r[0], r[1]) for r in rows]

    async def set_ocr_result(
        self,
        sha256: str,
        status: str,
        text: str | None = None,
        reason: str | None = None,
        phash: str | None = None,
        width: int | None = None,
        height: int | None = None,
        doubtful: str | None = None,
        copied_from: str | None = None,
    ) -> list[int]:
        """Record what OCR made of an image and re-index the posts that carry it.

        ``text`` is what is searched and matched; ``doubtful`` the lines read without the
        evidence for that (kept for debugging only); ``copied_from`` the sha256 of the
        near-duplicate whose reading this is. Returns the ids of the posts that carry the image,
        so the caller can run detection on the new text.
        """
        async with self.transaction() as conn:
            await conn.execute(
                "UPDATE media SET ocr_status = ?, ocr_text = ?, ocr_reason = ?, phash = COALESCE(?, phash), "
                "width = COALESCE(?, width), height = COALESCE(?, height), ocr_at = ?, ocr_doubtful = ?, "
                "ocr_from = ? WHERE sha256 = ?",
                (
                    status,
                    text,
                    reason,
                    phash,
                    width,
                    height,
                    now_iso(),
                    doubtful or None,
                    copied_from,
                    sha256,
                ),
            )
            async with conn.execute(
                "SELECT DISTINCT post_id FROM post_media WHERE sha256 = ?", (sha256,)
            ) as cur:
                post_ids = [r[0] for r in await cur.fetchall()]
            await refresh_post_ocr(conn, set(post_ids))
        return post_ids

    async def posts_with_media(self, sha256: str) -> list[PostRecord]:
        rows = await self.fetchall(
            f"SELECT {POST_COLUMNS} FROM posts p JOIN channels c ON c.id = p.channel_id "
            "WHERE p.id IN (SELECT post_id FROM post_media WHERE sha256 = ?) ORDER BY p.id",
            (sha256,),
        )
        return [post_record(r) for r in rows]
