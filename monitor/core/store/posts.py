"""Saving posts: batches planned outside the write lock, the unit of work, edits, deletions, reads.

A batch is saved in two steps. :meth:`PostsMixin.plan_posts` stores its files, encodes its JSON
and index rows (in a worker thread) and works out every row from what the archive holds, all
before the write lock. :meth:`PostsMixin.batch` is the unit of work (``BEGIN IMMEDIATE`` ...
``COMMIT``): :meth:`PostBatch.save_posts` checks with a few reads that the plan still holds (and
works it out again if another writer moved the archive), then writes it in a handful of
``executemany`` calls; whatever else belongs to the same commit (detection marks, countdowns,
alerts through the outbox) is written on :attr:`PostBatch.tx` before the block ends. Import
workers share the archive: while one writes, the others plan. A live post takes the same road
as a batch of one (:meth:`PostsMixin.save_posts`).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

from monitor.core.models import MediaItem, Post
from monitor.core.store.base import StoreBase
from monitor.core.store.chain import chain_deletions, chain_saved_rows
from monitor.core.store.channels import upsert_channels
from monitor.core.store.common import IN_LIST, Tx, chunks, marks
from monitor.core.store.media import INSERT_MEDIA, refresh_post_ocr, store_file
from monitor.core.store.plan import (
    HUGE_TEXT,
    BatchRows,
    PostPlan,
    allocate_ids,
    base_id,
    existing_rows,
    json_text,
    linked_media,
    plan_rows,
    superseded_copies,
    taken_ids,
)
from monitor.core.store.records import POST_COLUMNS, CountdownRow, PostRecord, SaveResult, post_record
from monitor.core.store.schema import ID_SLOTS
from monitor.core.store.search import FTS_DELETE, FTS_INSERT, fts_row
from monitor.core.times import now_iso


async def mark_detected_in(
    tx: Tx,
    post_ids: Sequence[int],
    countdowns: Sequence[CountdownRow] = (),
    *,
    clear: Sequence[int] = (),
) -> None:
    """Inside ``tx``: record that detection ran for ``post_ids``, with the countdowns it found.

    ``clear`` are the posts whose old countdowns are replaced (a post saved with its mark
    already set needs only the latter).
    """
    now = now_iso()
    for chunk in chunks(list(post_ids), 500):
        await tx.execute(f"UPDATE posts SET detected_at = ? WHERE id IN ({marks(len(chunk))})", (now, *chunk))
    for chunk in chunks(list(clear), 500):
        await tx.execute(f"DELETE FROM countdowns WHERE post_id IN ({marks(len(chunk))})", tuple(chunk))
    if countdowns:
        await tx.executemany(
            "INSERT INTO countdowns (post_id, channel_id, date, value, unit, deadline) VALUES (?, ?, ?, ?, ?, ?)",
            countdowns,
        )


class PostBatch:
    """One unit of work: what :meth:`PostsMixin.batch` yields, inside its transaction.

    ``tx`` is the transaction's handle, for the store's functions that write in the same commit
    (the outbox's ``record_drafts``); nothing on it is visible to others until the block ends.
    """

    def __init__(self, archive: PostsMixin, tx: Tx):
        self._archive = archive
        self.tx = tx
        self.replanned = False
        """Whether the last :meth:`save_posts` had to work its rows out again under the lock:
        anything the caller derived from the plan's results must then be derived again."""

    async def save_posts(self, plan: PostPlan) -> list[SaveResult]:
        """Write a plan; its results in the order of its posts (the plan's, or new ones if the
        archive moved since it was made: see :attr:`replanned`)."""
        self.replanned = await self._archive._write_plan(self.tx, plan)
        return plan.results

    async def mark_detected(
        self, post_ids: Sequence[int], countdowns: Sequence[CountdownRow] = (), *, clear: Sequence[int] = ()
    ) -> None:
        """:meth:`PostsMixin.mark_detected` in this unit of work (see :func:`mark_detected_in`)."""
        await mark_detected_in(self.tx, post_ids, countdowns, clear=clear)


class PostsMixin(StoreBase):
    """The ``posts``, ``post_versions``, ``post_media`` and ``countdowns`` tables."""

    capture_account: str | None = None
    """Who captures what this process saves (``telegram:<user id>`` for the daemon), for the
    evidence chain's records; the road a post came by (``source``) is recorded with it."""

    # --- saving -------------------------------------------------------------------------------

    async def save_post(self, post: Post) -> SaveResult:
        """Save one post (idempotent on channel + message id; a changed text is kept as a version)."""
        return (await self.save_posts([post]))[0]

    async def save_posts(
        self, posts: Sequence[Post], *, detected: Sequence[bool] | None = None
    ) -> list[SaveResult]:
        """Save a batch of posts in one transaction; results in the same order.

        The one-call form of :meth:`plan_posts` then :meth:`batch`; ``detected`` as there.
        """
        if not posts:
            return []
        plan = await self.plan_posts(posts, detected=detected)
        async with self.batch() as batch:
            return await batch.save_posts(plan)

    async def plan_posts(self, posts: Sequence[Post], *, detected: Sequence[bool] | None = None) -> PostPlan:
        """Work out a batch outside the write lock: files stored, rows and results computed.

        ``detected[i]`` says post ``i`` is written with its detection mark set (an import detects
        text-only posts before saving them, and writes what detection found in the same
        :meth:`batch`). Save the plan with :meth:`PostBatch.save_posts`.
        """
        if not posts:
            return PostPlan(posts, detected, [], {}, [], (-1, -1), BatchRows({}, {}, set(), {}))
        # Hashing and copying files, JSON encoding and text folding happen in a worker thread:
        # the event loop stays free, and on imports this overlaps with SQLite's own work.
        stored_media, prepared = await asyncio.to_thread(self._prepare, posts)
        channels = list({p.channel.id: p.channel for p in posts}.values())
        seen = await self._write_mark()
        rows = plan_rows(posts, stored_media, prepared, detected, *await self._read_state(self._conn, posts))
        return PostPlan(posts, detected, channels, stored_media, prepared, seen, rows)

    @contextlib.asynccontextmanager
    async def batch(self) -> AsyncIterator[PostBatch]:
        """A unit of work: one transaction for a batch's posts and what goes with them.

        ::

            plan = await archive.plan_posts(posts, detected=...)   # outside the lock
            async with archive.batch() as batch:                  # BEGIN IMMEDIATE ... COMMIT
                results = await batch.save_posts(plan)
                await batch.mark_detected(...)
                await outbox.record_drafts(batch.tx, drafts)

        All of it lands together or not at all (rolled back on an error).
        """
        async with self.transaction() as tx:
            yield PostBatch(self, tx)

    async def _write_plan(self, tx: Tx, plan: PostPlan) -> bool:
        """Write ``plan`` inside ``tx``, worked out again first if the archive moved since it was
        made; returns whether it was."""
        if plan.saved:
            raise ValueError("this plan of posts was saved already")
        plan.saved = True
        if not plan.posts:
            return False
        await upsert_channels(tx, plan.channels)
        replanned = not await self._plan_holds(tx, plan.rows, plan.seen)
        if replanned:
            plan.rows = plan_rows(
                plan.posts, plan.media, plan.prepared, plan.detected, *await self._read_state(tx, plan.posts)
            )
        await self._write_rows(tx, plan.rows)
        return replanned

    def _prepare(
        self, posts: Sequence[Post]
    ) -> tuple[dict[int, list[tuple[str | None, MediaItem]]], list[tuple[str, str, str, str]]]:
        """Store media files and compute each post's JSON and index text (no SQL here)."""
        media: dict[int, list[tuple[str | None, MediaItem]]] = {}
        rows: list[tuple[str, str, str, str]] = []
        # An imported message twice in a batch: only its last copy is saved (plan_rows), and stored.
        superseded = superseded_copies(posts)
        for index, post in enumerate(posts):
            if post.media and index not in superseded:
                media[index] = [(store_file(self.media_dir, item), item) for item in post.media]
            body, extra = fts_row(post.text, None)
            huge = len(post.text or "") > HUGE_TEXT
            rows.append((json_text(post.entities, huge=huge), json_text(post.raw, huge=huge), body, extra))
        return media, rows

    async def _read_state(
        self, conn: Tx, posts: Sequence[Post]
    ) -> tuple[dict[tuple[int, int], tuple[Any, ...]], set[tuple[int, int]], dict[int, int]]:
        """What a batch's plan depends on: the stored rows of its posts, their stored files, new ids."""
        keys = [(p.channel.id, p.message_id) for p in posts]
        existing = await existing_rows(conn, keys)
        linked = await linked_media(conn, [v[0] for v in existing.values()])
        # Allocate date-sorted ids for new posts: one probe query per batch, more only on collision.
        wanted: dict[int, int] = {}
        seen_new: set[tuple[int, int]] = set()
        for i, key in enumerate(keys):
            if key in existing or key in seen_new:  # the same message twice: the later one wins
                continue
            seen_new.add(key)
            wanted[i] = base_id(posts[i]) + (hash(key) % ID_SLOTS)
        return existing, linked, await allocate_ids(conn, wanted)

    async def _plan_holds(self, conn: Tx, plan: BatchRows, seen: tuple[int, int]) -> bool:
        """Inside the transaction: is the archive still as ``plan`` was worked out from?"""
        if await self._write_mark() == seen:  # nothing committed since, by anyone
            return True
        if await existing_rows(conn, list(plan.keys)) != plan.existing:
            return False
        if await linked_media(conn, [v[0] for v in plan.existing.values()]) != plan.linked:
            return False
        # Posts are never removed: ids still free are what the allocation would pick again.
        return not await taken_ids(conn, list(plan.ids.values()))

    async def _write_rows(self, conn: Tx, plan: BatchRows) -> None:
        """The statements of a batch: a few ``executemany`` calls, nothing worked out here."""
        if plan.insert_rows:
            await conn.executemany(
                "INSERT INTO posts (id, channel_id, message_id, date, text, entities, views, forwards, fwd_from_id, "
                "fwd_from_name, reply_to, grouped_id, edit_date, author, raw, source, first_seen_at, updated_at, "
                "detected_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                plan.insert_rows,
            )
            await conn.executemany(FTS_INSERT, plan.fts_rows)
        if plan.version_rows:
            await conn.executemany(
                "INSERT INTO post_versions (post_id, text, entities, edit_date, raw, replaced_at) VALUES (?, ?, ?, ?, ?, ?)",
                plan.version_rows,
            )
            await conn.executemany(
                "UPDATE posts SET text = ?, entities = ?, edit_date = ?, raw = ?, views = COALESCE(?, views), "
                "forwards = COALESCE(?, forwards), updated_at = ?, detected_at = ? WHERE id = ?",
                plan.update_rows,
            )
            # A post edited twice in one batch: each of its rows goes out before the next comes in.
            rounds: list[tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]] = []
            times: dict[int, int] = {}
            for old, new in zip(plan.fts_deletes, plan.fts_updates, strict=True):
                n = times[old[0]] = times.get(old[0], -1) + 1
                if n == len(rounds):
                    rounds.append(([], []))
                rounds[n][0].append(old)
                rounds[n][1].append(new)
            for deletes, inserts in rounds:
                await conn.executemany(FTS_DELETE, deletes)
                await conn.executemany(FTS_INSERT, inserts)
        if plan.counter_rows:
            await conn.executemany(
                "UPDATE posts SET views = ?, forwards = COALESCE(?, forwards) WHERE id = ?", plan.counter_rows
            )
        if plan.media_rows:
            await conn.executemany(INSERT_MEDIA, plan.media_rows)
        if plan.link_rows:
            # An album may arrive in pieces and an export may be re-imported: keep what is known,
            # fill in what was missing, never lose a stored file reference; a file still missing
            # takes the newer reason (a re-export's "file missing" after an older "unavailable").
            await conn.executemany(
                "INSERT INTO post_media (post_id, position, sha256, kind, file_name, mime_type, size, missing_reason) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (post_id, position) DO UPDATE SET "
                "sha256 = COALESCE(excluded.sha256, sha256), "
                "file_name = COALESCE(excluded.file_name, file_name), "
                "mime_type = COALESCE(excluded.mime_type, mime_type), size = COALESCE(excluded.size, size), "
                "missing_reason = CASE WHEN COALESCE(excluded.sha256, sha256) IS NOT NULL THEN NULL "
                "ELSE COALESCE(excluded.missing_reason, missing_reason) END",
                plan.link_rows,
            )
        # Media newly linked to a post whose images were already read (a poster re-shared): the
        # post gets the OCR text at once and nobody reads the image again.
        await refresh_post_ocr(conn, {r.post_id for r in plan.results if r.new_media})
        # Evidence (issue 16): what this batch wrote is chained in the same commit.
        await chain_saved_rows(
            conn, plan.insert_rows, plan.version_rows, plan.update_rows, plan.link_rows, plan.linked,
            self.capture_account,
        )  # fmt: skip

    async def mark_detected(self, post_ids: Sequence[int], countdowns: Sequence[CountdownRow] = ()) -> None:
        """Record that detection ran for these posts, with the countdowns it found.

        ``countdowns`` rows are ``(post_id, channel_id, date, value, unit, deadline)``.
        """
        async with self.transaction() as conn:
            await mark_detected_in(conn, post_ids, countdowns, clear=post_ids)

    async def mark_deleted(self, channel_id: int, message_ids: Iterable[int]) -> int:
        """Mark posts deleted (their content stays). Returns how many were newly marked."""
        ids = list(message_ids)
        if not ids:
            return 0
        now = now_iso()
        changed = 0
        async with self.transaction() as conn:
            for chunk in chunks(ids, 500):
                marked = await conn.execute_fetchall(
                    f"UPDATE posts SET deleted_at = ?, updated_at = ? WHERE channel_id = ? "
                    f"AND message_id IN ({marks(len(chunk))}) AND deleted_at IS NULL RETURNING id, deleted_at",
                    (now, now, channel_id, *chunk),
                )
                # Evidence (issue 16): each new deletion mark is chained in the same commit.
                await chain_deletions(conn, [(r[0], r[1]) for r in marked], self.capture_account)
                changed += len(marked)
        return changed

    # --- reading -------------------------------------------------------------------------------

    async def settled_texts(self, keys: Iterable[tuple[int, int]]) -> dict[tuple[int, int], str]:
        """The stored text of those ``(channel id, message id)`` posts whose detection is done.

        A re-import uses it to skip detecting what is stored already, unchanged.
        """
        by_channel: dict[int, list[int]] = {}
        for channel_id, message_id in keys:
            by_channel.setdefault(channel_id, []).append(message_id)
        out: dict[tuple[int, int], str] = {}
        for channel_id, ids in by_channel.items():
            for chunk in chunks(sorted(set(ids)), IN_LIST):
                rows = await self.fetchall(
                    f"SELECT message_id, text FROM posts WHERE channel_id = ? AND message_id IN ({marks(len(chunk))}) "
                    "AND detected_at IS NOT NULL",
                    (channel_id, *chunk),
                )
                out.update(((channel_id, r[0]), r[1]) for r in rows)
        return out

    async def last_message_id(self, channel_id: int) -> int | None:
        row = await self.fetchone("SELECT max(message_id) FROM posts WHERE channel_id = ?", (channel_id,))
        return row[0] if row and row[0] is not None else None

    async def post(self, channel_id: int, message_id: int) -> PostRecord | None:
        row = await self.fetchone(
            f"SELECT {POST_COLUMNS} FROM posts p JOIN channels c ON c.id = p.channel_id "
            "WHERE p.channel_id = ? AND p.message_id = ?",
            (channel_id, message_id),
        )
        return post_record(row) if row else None

    async def post_by_id(self, post_id: int) -> PostRecord | None:
        row = await self.fetchone(
            f"SELECT {POST_COLUMNS} FROM posts p JOIN channels c ON c.id = p.channel_id WHERE p.id = ?",
            (post_id,),
        )
        return post_record(row) if row else None

    async def posts_by_ids(self, post_ids: Sequence[int]) -> dict[int, PostRecord]:
        found: dict[int, PostRecord] = {}
        for chunk in chunks(list(post_ids), 500):
            rows = await self.fetchall(
                f"SELECT {POST_COLUMNS} FROM posts p JOIN channels c ON c.id = p.channel_id WHERE p.id IN ({marks(len(chunk))})",
                tuple(chunk),
            )
            found.update((r[0], post_record(r)) for r in rows)
        return found

    async def versions(self, post_id: int) -> list[sqlite3.Row]:
        return await self.fetchall("SELECT * FROM post_versions WHERE post_id = ? ORDER BY id", (post_id,))

    async def post_media(self, post_id: int) -> list[sqlite3.Row]:
        return await self.fetchall(
            "SELECT pm.*, m.path, m.ocr_status, m.ocr_text, m.phash FROM post_media pm "
            "LEFT JOIN media m ON m.sha256 = pm.sha256 WHERE pm.post_id = ? ORDER BY pm.position",
            (post_id,),
        )

    async def undetected_posts(self, limit: int = 500) -> list[PostRecord]:
        """Posts whose current text and OCR text have not been through detection yet."""
        rows = await self.fetchall(
            f"SELECT {POST_COLUMNS} FROM posts p JOIN channels c ON c.id = p.channel_id "
            "WHERE p.detected_at IS NULL ORDER BY p.id LIMIT ?",
            (limit,),
        )
        return [post_record(r) for r in rows]

    async def posts_awaiting_ocr(self, post_ids: Sequence[int]) -> set[int]:
        """Those of ``post_ids`` that carry an image or a clip still waiting for OCR."""
        waiting: set[int] = set()
        for chunk in chunks(list(post_ids), 500):
            rows = await self.fetchall(
                f"SELECT DISTINCT pm.post_id FROM post_media pm JOIN media m ON m.sha256 = pm.sha256 "
                f"WHERE m.ocr_status = 'pending' AND pm.post_id IN ({marks(len(chunk))})",  # images, clips
                tuple(chunk),
            )
            waiting.update(r[0] for r in rows)
        return waiting

    async def message_states(
        self, channel_id: int, *, above: int | None = None, between: tuple[int, int] | None = None
    ) -> dict[int, tuple[str | None, str | None]]:
        """``message id -> (edit_date, deleted_at)`` of a channel's archived posts.

        All of them, those above a message id (what gap-fill may meet again), or those in a range
        of ids (what a page of history can tell edited or deleted).
        """
        sql = "SELECT message_id, edit_date, deleted_at FROM posts WHERE channel_id = ?"
        params: tuple[int, ...] = (channel_id,)
        if above is not None:
            sql += " AND message_id > ?"
            params += (above,)
        if between is not None:
            sql += " AND message_id BETWEEN ? AND ?"
            params += between
        return {r[0]: (r[1], r[2]) for r in await self.fetchall(sql, params)}

    async def countdown_posts(self) -> list[tuple[str, int, str, int]]:
        """Every countdown found, oldest first: ``(date, value, unit, message id)``."""
        rows = await self.fetchall(
            "SELECT c.date, c.value, c.unit, p.message_id FROM countdowns c JOIN posts p ON p.id = c.post_id "
            "ORDER BY c.date"
        )
        return [(r[0], int(r[1]), r[2], int(r[3])) for r in rows]
