"""The archive: every channel, post, edit, deletion and image, in one SQLite file.

SQLite in WAL mode through aiosqlite, with one connection that owns all writes: every write goes
through :meth:`Archive.transaction`, which holds an asyncio lock around ``BEGIN IMMEDIATE`` ...
``COMMIT``, so async code never fights over SQLite's lock (the datasette way). The schema is
versioned with ``PRAGMA user_version`` and a list of append-only migration steps.

Posts get a primary key that sorts by date (``date_unix * 4096 + k``), and the FTS5 index uses the
same rowid, so "newest first" is FTS5's own rowid order and the first page of even a very common
word is read without sorting all its matches. The index holds normalised text (``monitor.core.text``)
plus each Arabic word's forms without attached prefixes, so ``الانتقام`` finds ``والانتقام``.
The index is contentless (no copy of that text): a row is removed with the values it was made
from, which are always ``_fts_row(posts.text, posts.ocr_text)``.

Posts are saved in batches (:meth:`Archive.save_posts`): a Telegram Desktop export of 200,000
messages goes through a handful of ``executemany`` calls per thousand posts, not a thread hop per
row, and the rows are worked out before the write lock is taken. A single live post takes the
same road as a batch of one.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import logging
import os
import re
import shutil
import sqlite3
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite
import orjson

from monitor.core.errors import ArchiveError
from monitor.core.models import Channel, MediaItem, Post
from monitor.core.store.common import IN_LIST, chunks
from monitor.core.text import index_words, normalize, normalize_with_offsets, strip_proclitics, words
from monitor.core.times import iso, now_iso, utc

log = logging.getLogger(__name__)

ID_SLOTS = 4096  # posts per second of post date that can share a date; more spill over
SCHEMA_V1 = """
CREATE TABLE channels (
    id              INTEGER PRIMARY KEY,          -- bare channel id, no -100 prefix
    username        TEXT,
    title           TEXT,
    access_hash     INTEGER,
    status          TEXT NOT NULL DEFAULT 'ok',   -- ok | private | banned | invalid | renamed
    status_reason   TEXT,
    status_at       TEXT,
    last_gapfill_at TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE INDEX channels_username ON channels(username COLLATE NOCASE);

CREATE TABLE posts (
    id            INTEGER PRIMARY KEY,            -- date_unix * 4096 + k: sorts by date
    channel_id    INTEGER NOT NULL REFERENCES channels(id),
    message_id    INTEGER NOT NULL,
    date          TEXT NOT NULL,                  -- ISO 8601 UTC
    text          TEXT NOT NULL DEFAULT '',
    entities      TEXT NOT NULL DEFAULT '[]',     -- JSON list
    views         INTEGER,
    forwards      INTEGER,
    fwd_from_id   INTEGER,
    fwd_from_name TEXT,
    reply_to      INTEGER,
    grouped_id    INTEGER,
    edit_date     TEXT,
    author        TEXT,
    ocr_text      TEXT,                           -- text read from the post's images
    deleted_at    TEXT,                           -- set when Telegram says it was deleted
    detected_at   TEXT,                           -- detection done for the current text + OCR
    raw           TEXT,                           -- the message as JSON, for evidence
    source        TEXT,                           -- live | gapfill | backfill | import
    first_seen_at TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    UNIQUE (channel_id, message_id)
);

CREATE INDEX posts_undetected ON posts(detected_at) WHERE detected_at IS NULL;

CREATE TABLE post_versions (
    id          INTEGER PRIMARY KEY,
    post_id     INTEGER NOT NULL REFERENCES posts(id),
    text        TEXT NOT NULL,
    entities    TEXT NOT NULL,
    edit_date   TEXT,
    raw         TEXT,
    replaced_at TEXT NOT NULL                     -- when we saw the newer text
);
CREATE INDEX post_versions_post ON post_versions(post_id);

CREATE TABLE media (
    sha256     TEXT PRIMARY KEY,
    path       TEXT NOT NULL,                     -- relative to the media directory
    size       INTEGER NOT NULL,
    width      INTEGER,
    height     INTEGER,
    mime_type  TEXT,
    is_image   INTEGER NOT NULL DEFAULT 0,
    ocr_status TEXT NOT NULL DEFAULT 'pending',   -- pending | done | failed | skipped
    ocr_text   TEXT,
    ocr_reason TEXT,
    phash      TEXT,
    ocr_at     TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX media_ocr_status ON media(ocr_status);

CREATE TABLE post_media (
    post_id        INTEGER NOT NULL REFERENCES posts(id),
    position       INTEGER NOT NULL,
    sha256         TEXT REFERENCES media(sha256),
    kind           TEXT NOT NULL,
    file_name      TEXT,
    mime_type      TEXT,
    size           INTEGER,
    missing_reason TEXT,
    PRIMARY KEY (post_id, position)
);
CREATE INDEX post_media_sha ON post_media(sha256);

CREATE TABLE alerts (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL,                    -- post | campaign | reminder
    post_id     INTEGER REFERENCES posts(id),
    fingerprint TEXT NOT NULL UNIQUE,
    severity    TEXT,
    created_at  TEXT NOT NULL,
    body        TEXT NOT NULL,                    -- JSON: the alert body of DESIGN.md
    acked_at    TEXT
);
CREATE INDEX alerts_post ON alerts(post_id);

CREATE TABLE deliveries (
    id              INTEGER PRIMARY KEY,
    alert_id        INTEGER NOT NULL REFERENCES alerts(id),
    sink            TEXT NOT NULL,
    status          TEXT NOT NULL,                -- pending | sending | delivered | failed | skipped | folded
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT,
    last_error      TEXT,
    sent_at         TEXT,
    UNIQUE (alert_id, sink)
);
CREATE INDEX deliveries_status ON deliveries(status, next_attempt_at);

CREATE TABLE countdowns (
    post_id    INTEGER PRIMARY KEY REFERENCES posts(id),
    channel_id INTEGER NOT NULL,
    date       TEXT NOT NULL,
    value      INTEGER NOT NULL,
    unit       TEXT NOT NULL,
    deadline   TEXT
);
CREATE INDEX countdowns_channel ON countdowns(channel_id, date);

CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);

-- body: normalised text and OCR text; extra: Arabic words without their attached prefixes
CREATE VIRTUAL TABLE posts_fts USING fts5(body, extra, tokenize = 'unicode61 remove_diacritics 2');
"""

# Step 2 (alerts helper): what the outbox needs beyond v1. Campaign membership, the content keys
# that find the same poster or text in other channels, and the claim on a delivery being sent
# (which process, since when) so a restart can tell an interrupted send from one in flight.
ALERTS_V2 = """
ALTER TABLE alerts ADD COLUMN channel_id INTEGER;
ALTER TABLE alerts ADD COLUMN campaign_id INTEGER;
CREATE INDEX alerts_created ON alerts(created_at);
CREATE INDEX alerts_campaign ON alerts(campaign_id);

ALTER TABLE deliveries ADD COLUMN claimed_by TEXT;
ALTER TABLE deliveries ADD COLUMN claimed_at TEXT;
ALTER TABLE deliveries ADD COLUMN digest_key TEXT;
CREATE INDEX deliveries_sink ON deliveries(sink, status, next_attempt_at);
CREATE INDEX deliveries_alert ON deliveries(alert_id);

CREATE TABLE campaigns (
    id          INTEGER PRIMARY KEY,
    first_seen  TEXT NOT NULL,
    last_seen   TEXT NOT NULL,
    channels    INTEGER NOT NULL DEFAULT 0,       -- distinct channels so far
    announced   INTEGER NOT NULL DEFAULT 0,       -- channels named by the last announced alert
    alert_id    INTEGER REFERENCES alerts(id),    -- the current campaign alert
    created_at  TEXT NOT NULL
);

CREATE TABLE alert_keys (
    alert_id   INTEGER NOT NULL REFERENCES alerts(id),
    key        TEXT NOT NULL,                     -- sha:<sha256> | text:<sha1 of normalised text> | phash:<hex>
    kind       TEXT NOT NULL,                     -- sha | text | phash
    channel_id INTEGER NOT NULL,
    date       TEXT NOT NULL,                     -- post date, ISO 8601 UTC
    PRIMARY KEY (alert_id, key)
);
CREATE INDEX alert_keys_key ON alert_keys(key, date);
CREATE INDEX alert_keys_kind ON alert_keys(kind, date);
"""

# Step 3: the index without its own copy of the text. A contentless FTS5 table stores the index
# only: an import of 200,000 posts wrote 61 MB less and its SQL took a fifth less time. A row is
# removed with the 'delete' command and the values it was indexed with, which are always
# _fts_row(posts.text, posts.ocr_text) (every writer of those columns rewrites the row); the
# index is rebuilt from the posts when INDEX_VERSION changes (see Archive._check_index), and the
# rows of an archive made before this step are rebuilt that way, by the current normaliser.
FTS_CONTENTLESS_V3 = """
DROP TABLE posts_fts;
CREATE VIRTUAL TABLE posts_fts USING fts5(body, extra, content = '', tokenize = 'unicode61 remove_diacritics 2');
DELETE FROM meta WHERE key = 'index_version';
"""

MIGRATIONS: list[str] = [SCHEMA_V1, ALERTS_V2, FTS_CONTENTLESS_V3]
"""Append-only: step ``i`` takes the schema from ``user_version == i`` to ``i + 1``."""


INDEX_VERSION = "1"
"""What ``_fts_row`` makes of a text: bump it when the output changes for any input (the
normaliser, ``words``, ``index_words``), and every archive's index is rebuilt on opening.
``tests/test_archive.py`` pins the output on a probe text to catch a change."""


@dataclass(slots=True)  # not frozen: one per saved post, and a frozen __init__ costs five times more
class SaveResult:
    post_id: int
    status: str  # new | updated | unchanged
    new_media: list[str] = field(default_factory=list)
    previous_text: str | None = None
    needs_detection: bool = True  # new, changed, new images, or never detected (a crash)


@dataclass(frozen=True, slots=True)
class MediaRecord:
    sha256: str
    path: Path
    size: int
    width: int | None
    height: int | None
    mime_type: str | None
    is_image: bool
    ocr_status: str
    ocr_text: str | None
    ocr_reason: str | None
    phash: str | None


@dataclass(frozen=True, slots=True)
class PostRecord:
    id: int
    channel_id: int
    message_id: int
    date: datetime
    text: str
    entities: list[dict[str, Any]]
    ocr_text: str | None
    channel_username: str | None
    channel_title: str | None
    views: int | None = None
    forwards: int | None = None
    fwd_from_id: int | None = None
    fwd_from_name: str | None = None
    reply_to: int | None = None
    grouped_id: int | None = None
    edit_date: datetime | None = None
    author: str | None = None
    deleted: bool = False
    source: str | None = None

    @property
    def channel(self) -> Channel:
        return Channel(id=self.channel_id, username=self.channel_username, title=self.channel_title)

    @property
    def url(self) -> str:
        return f"https://t.me/{self.channel.link_name}/{self.message_id}"


@dataclass(frozen=True, slots=True)
class SearchHit:
    post: PostRecord
    snippet: str
    highlights: list[tuple[int, int]]  # spans in ``snippet`` to emphasise

    def to_json(self) -> dict[str, Any]:
        p = self.post
        return {
            "channel": p.channel_username or p.channel_title,
            "channel_id": p.channel_id,
            "message_id": p.message_id,
            "date": iso(p.date),
            "text": p.text,
            "ocr_text": p.ocr_text,
            "url": p.url,
            "snippet": self.snippet,
        }


_POST_COLUMNS = (
    "p.id, p.channel_id, p.message_id, p.date, p.text, p.entities, p.ocr_text, c.username, c.title, "
    "p.views, p.forwards, p.fwd_from_id, p.fwd_from_name, p.reply_to, p.grouped_id, p.edit_date, "
    "p.author, p.deleted_at, p.source"
)


def _post_record(row: Sequence[Any]) -> PostRecord:
    return PostRecord(
        id=row[0],
        channel_id=row[1],
        message_id=row[2],
        date=datetime.fromisoformat(row[3]),
        text=row[4],
        entities=json.loads(row[5] or "[]"),
        ocr_text=row[6],
        channel_username=row[7],
        channel_title=row[8],
        views=row[9],
        forwards=row[10],
        fwd_from_id=row[11],
        fwd_from_name=row[12],
        reply_to=row[13],
        grouped_id=row[14],
        edit_date=datetime.fromisoformat(row[15]) if row[15] else None,
        author=row[16],
        deleted=row[17] is not None,
        source=row[18],
    )


def _json(value: Any) -> str:
    """Compact JSON, non-ASCII kept as is. orjson: the raw message of every imported post is
    encoded here, ten times faster than ``json.dumps``; anything it refuses (integers beyond 64
    bits, odd keys) goes the standard way."""
    if not value and isinstance(value, list):
        return "[]"  # most posts' entities
    try:
        return orjson.dumps(value).decode()  # a third faster than with the options below
    except TypeError:  # orjson.JSONEncodeError too
        pass
    try:
        return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


_FTS_DELETE = "INSERT INTO posts_fts (posts_fts, rowid, body, extra) VALUES ('delete', ?, ?, ?)"
"""Remove a row from the contentless index: the values must be the ones it was indexed with."""


def _fts_row(text: str, ocr_text: str | None) -> tuple[str, str]:
    """The indexed columns. ``body`` holds only the normaliser's words, space-joined, so the words
    SQLite sees are the ones queries are built from: unicode61's tables predate Unicode 7, and a newer
    emoji or mark glued to a word (``الانتقام🤬``) would otherwise become part of that word."""
    tokens = words(normalize(text))
    if ocr_text:
        tokens += ["\n", *words(normalize(ocr_text))]
    body = " ".join(tokens)
    return body, index_words(tokens)


class Archive:
    """The SQLite archive. Open with ``await Archive.open(path)``; one instance per process."""

    def __init__(self, conn: aiosqlite.Connection, path: Path, media_dir: Path, write_gate: Any = None):
        self._conn = conn
        self.path = path
        self.media_dir = media_dir
        # The lock that protects the single write connection: one transaction at a time.
        self._write_lock = asyncio.Lock()
        # Import workers share the archive: a process lock hands write transactions from one to
        # the next at once (SQLite's own busy wait sleeps in coarse steps).
        self._write_gate = write_gate
        self._transactions = 0  # ended (committed or rolled back) on this connection: _write_mark

    # --- opening, closing, transactions ---------------------------------------------------

    @classmethod
    async def open(
        cls, path: Path | str, media_dir: Path | str | None = None, *, write_gate: Any = None
    ) -> Archive:
        """Open (creating and migrating) the archive at ``path``.

        ``write_gate`` is a ``multiprocessing`` lock shared by processes that write at once
        (the import workers); held for the length of each write transaction.
        """
        path = Path(path).expanduser()
        media = Path(media_dir).expanduser() if media_dir else path.parent / "media"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ArchiveError(f"cannot create the archive directory {path.parent}: {exc.strerror}") from None
        pending = aiosqlite.connect(path, isolation_level=None)
        try:
            conn = await pending
        except sqlite3.Error as exc:
            # aiosqlite stops its worker thread without waiting for it; if the loop closes first
            # the thread prints a traceback (https://github.com/omnilib/aiosqlite/issues/241).
            await asyncio.to_thread(pending._thread.join, 5)
            raise ArchiveError(f"cannot open the archive {path}: {exc}") from None
        conn.row_factory = sqlite3.Row  # rows by name too: fetchone/fetchall promise sqlite3.Row
        archive = cls(conn, path, media, write_gate)
        try:
            await conn.execute("PRAGMA busy_timeout = 10000")
            await conn.execute("PRAGMA journal_mode = WAL")
            await conn.execute("PRAGMA synchronous = NORMAL")
            # Measured on imports (bench/import_speed.py): checkpointing every 1,000 pages (the
            # default) made every commit of a 2,000-post batch copy and sync the WAL; every
            # 10,000 pages (a WAL of up to 40 MB) cut the time per post by a fifth. The larger
            # page cache keeps the FTS index's hot pages between batches.
            await conn.execute("PRAGMA wal_autocheckpoint = 10000")
            await conn.execute("PRAGMA cache_size = -65536")
            await conn.execute("PRAGMA foreign_keys = ON")
            await archive._migrate()
            await archive._check_index()
        except sqlite3.DatabaseError as exc:
            await conn.close()
            raise ArchiveError(f"{path} is not a usable tgmonitor archive: {exc}") from None
        except BaseException:
            await conn.close()
            raise
        return archive

    async def close(self) -> None:
        async with self._write_lock:
            with contextlib.suppress(sqlite3.Error):
                await self._conn.execute("PRAGMA optimize")
            await self._conn.close()

    async def __aenter__(self) -> Archive:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _migrate(self) -> None:
        async with self._conn.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        version = int(row[0]) if row else 0
        if version > len(MIGRATIONS):
            raise ArchiveError(
                f"{self.path} was written by a newer tgmonitor (schema {version}, this one knows "
                f"{len(MIGRATIONS)}): upgrade tgmonitor"
            )
        for step in range(version, len(MIGRATIONS)):
            async with self.transaction() as conn:
                for statement in _split_sql(MIGRATIONS[step]):
                    await conn.execute(statement)
                await conn.execute(f"PRAGMA user_version = {step + 1}")
            log.info("archive %s migrated to schema %d", self.path, step + 1)

    async def _check_index(self) -> None:
        """Rebuild the search index if it was made by another ``INDEX_VERSION`` (or before step 3)."""
        if await self.get_meta("index_version") == INDEX_VERSION:
            return
        if await self.fetchone("SELECT 1 FROM posts LIMIT 1") is not None:
            log.warning("archive %s: rebuilding the search index (once, after an upgrade)", self.path)
        await self.reindex()

    async def reindex(self, batch: int = 5000) -> int:
        """Index every post again from its text and OCR text; returns how many were indexed."""
        done = 0
        async with self.transaction() as conn:
            await conn.execute("INSERT INTO posts_fts (posts_fts) VALUES ('delete-all')")
            last = None
            while True:
                where, params = ("WHERE id > ? ", (last, batch)) if last is not None else ("", (batch,))
                rows = await conn.execute_fetchall(
                    f"SELECT id, text, ocr_text FROM posts {where}ORDER BY id LIMIT ?", params
                )
                if not rows:
                    break
                await conn.executemany(
                    "INSERT INTO posts_fts (rowid, body, extra) VALUES (?, ?, ?)",
                    [(r[0], *_fts_row(r[1], r[2])) for r in rows],
                )
                done += len(rows)
                last = rows[-1][0]
            await conn.execute(
                "INSERT INTO meta (key, value) VALUES ('index_version', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (INDEX_VERSION,),
            )
        if done:
            log.info("archive %s: search index rebuilt (%d posts)", self.path, done)
        return done

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """The one write connection, inside ``BEGIN IMMEDIATE`` ... ``COMMIT`` (rolled back on error)."""
        async with self._write_lock:
            gate = self._write_gate
            if gate is not None and not gate.acquire(False):
                await asyncio.to_thread(gate.acquire)
            try:
                await self._conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self._conn
                except BaseException:
                    with contextlib.suppress(sqlite3.Error):
                        await self._conn.execute("ROLLBACK")
                    raise
                else:
                    await self._conn.execute("COMMIT")
            finally:
                self._transactions += 1
                if gate is not None:
                    gate.release()

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        # One call on the connection's thread (execute, fetch and close are three otherwise).
        return list(await self._conn.execute_fetchall(sql, params))

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        async with self._conn.execute(sql, params) as cur:
            return await cur.fetchone()

    # --- channels ------------------------------------------------------------------------

    async def upsert_channel(self, channel: Channel, status: str | None = None) -> None:
        async with self.transaction() as conn:
            await self._upsert_channels(conn, [channel])
            if status is not None:
                await conn.execute(
                    "UPDATE channels SET status = ?, status_at = ? WHERE id = ?",
                    (status, now_iso(), channel.id),
                )

    async def _upsert_channels(self, conn: aiosqlite.Connection, channels: Iterable[Channel]) -> None:
        now = now_iso()
        await conn.executemany(
            """INSERT INTO channels (id, username, title, access_hash, created_at, updated_at)
               VALUES (?, ?, ?, ?, ?, ?)
               ON CONFLICT (id) DO UPDATE SET
                   username = COALESCE(excluded.username, username),
                   title = COALESCE(excluded.title, title),
                   access_hash = COALESCE(excluded.access_hash, access_hash),
                   updated_at = excluded.updated_at
               WHERE excluded.username IS NOT username OR excluded.title IS NOT title
                  OR excluded.access_hash IS NOT access_hash""",
            [(c.id, c.username, c.title, c.access_hash, now, now) for c in channels],
        )

    async def set_channel_status(self, channel_id: int, status: str, reason: str | None = None) -> None:
        async with self.transaction() as conn:
            await conn.execute(
                "UPDATE channels SET status = ?, status_reason = ?, status_at = ? WHERE id = ?",
                (status, reason, now_iso(), channel_id),
            )

    async def set_gapfill_time(self, channel_id: int, when: datetime | None = None) -> None:
        async with self.transaction() as conn:
            await conn.execute(
                "UPDATE channels SET last_gapfill_at = ? WHERE id = ?",
                (iso(when or datetime.now(UTC)), channel_id),
            )

    async def channels(self) -> list[sqlite3.Row]:
        return await self.fetchall("SELECT * FROM channels ORDER BY id")

    async def find_channel(self, ref: str | int) -> sqlite3.Row | None:
        """A channel by id (with or without -100), ``@username``, ``username`` or t.me link."""
        if isinstance(ref, int) or (isinstance(ref, str) and re.fullmatch(r"-?\d+", ref.strip())):
            number = int(ref)
            if number < 0:
                number = int(str(number).removeprefix("-100").removeprefix("-"))
            return await self.fetchone("SELECT * FROM channels WHERE id = ?", (number,))
        name = str(ref).strip()
        name = re.sub(r"^(https?://)?(t\.me|telegram\.me)/(s/)?", "", name).lstrip("@").split("/")[0]
        row = await self.fetchone("SELECT * FROM channels WHERE username = ? COLLATE NOCASE", (name,))
        if row is None:
            row = await self.fetchone("SELECT * FROM channels WHERE title = ?", (str(ref).strip(),))
        return row

    # --- posts ---------------------------------------------------------------------------

    async def save_post(self, post: Post) -> SaveResult:
        """Save one post (idempotent on channel + message id; a changed text is kept as a version)."""
        return (await self.save_posts([post]))[0]

    async def save_posts(
        self,
        posts: Sequence[Post],
        *,
        detected: Sequence[bool] | None = None,
        within: Callable[[aiosqlite.Connection, list[SaveResult], Any], Awaitable[None]] | None = None,
        prepare: Callable[[list[SaveResult]], Any] | None = None,
    ) -> list[SaveResult]:
        """Save a batch of posts in one transaction; results in the same order.

        Media files are hashed and copied into the media store first (in a worker thread), so the
        write lock is held only for the SQL.

        Imports detect text-only posts before saving them: ``detected[i]`` says post ``i`` is
        written with its detection mark set, and ``within(conn, results, prepared)`` runs inside
        the same transaction to write what detection found (countdowns, alerts). A post, its mark
        and its alerts then land together or not at all, in one commit instead of three.
        ``prepared`` is what ``prepare(results)`` made of the results beforehand, outside the
        transaction (``None`` without ``prepare``).

        The rows to write are worked out before the write lock is taken, from what the archive
        holds at that moment; inside the transaction a few reads check that this still holds
        (they are worked out again if not). Import workers share the archive: while one writes,
        the others prepare, instead of waiting for the lock with their Python work still to do.
        """
        if not posts:
            return []
        # Hashing and copying files, JSON encoding and text folding happen in a worker thread:
        # the event loop stays free, and on imports this overlaps with SQLite's own work.
        stored_media, prepared = await asyncio.to_thread(self._prepare, posts)
        channels = list({p.channel.id: p.channel for p in posts}.values())
        seen = await self._write_mark()
        plan = _plan_batch(
            posts, stored_media, prepared, detected, *await self._read_state(self._conn, posts)
        )
        extra = prepare(plan.results) if prepare is not None else None
        async with self.transaction() as conn:
            await self._upsert_channels(conn, channels)
            if not await self._plan_holds(conn, plan, seen):
                plan = _plan_batch(
                    posts, stored_media, prepared, detected, *await self._read_state(conn, posts)
                )
                extra = prepare(plan.results) if prepare is not None else None
            results = await self._write_plan(conn, plan)
            if within is not None:
                await within(conn, results, extra)
        return results

    async def _write_mark(self) -> tuple[int, int]:
        """What tells that nothing was written since: this connection's transactions (one read
        outside a transaction may have seen one that was still open), others' (``data_version``)."""
        rows = await self._conn.execute_fetchall("PRAGMA data_version")
        return self._transactions, int(next(iter(rows))[0])

    def _prepare(
        self, posts: Sequence[Post]
    ) -> tuple[dict[int, list[tuple[str | None, MediaItem]]], list[tuple[str, str, str, str]]]:
        """Store media files and compute each post's JSON and index text (no SQL here)."""
        media: dict[int, list[tuple[str | None, MediaItem]]] = {}
        rows: list[tuple[str, str, str, str]] = []
        for index, post in enumerate(posts):
            if post.media:
                media[index] = [(self._store_file(item), item) for item in post.media]
            body, extra = _fts_row(post.text, None)
            rows.append((_json(post.entities), _json(post.raw), body, extra))
        return media, rows

    def _store_file(self, item: MediaItem) -> str | None:
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
        target = self.media_dir / digest[:2] / f"{digest}{suffix}"
        if not target.exists():
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
            except OSError as exc:  # not a directory, read-only, disk full: nothing else can be stored
                raise ArchiveError(
                    f"cannot write to the media store {self.media_dir}: {exc.strerror}"
                ) from None
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
                raise ArchiveError(
                    f"cannot write to the media store {self.media_dir}: {exc.strerror}"
                ) from None
        item.sha256 = digest
        if item.size is None:
            item.size = target.stat().st_size
        return digest

    async def _read_state(
        self, conn: aiosqlite.Connection, posts: Sequence[Post]
    ) -> tuple[dict[tuple[int, int], tuple[Any, ...]], set[tuple[int, int]], dict[int, int]]:
        """What a batch's plan depends on: the stored rows of its posts, their stored files, new ids."""
        keys = [(p.channel.id, p.message_id) for p in posts]
        existing = await _existing_rows(conn, keys)
        linked = await _linked_media(conn, [v[0] for v in existing.values()])
        # Allocate date-sorted ids for new posts: one probe query per batch, more only on collision.
        wanted: dict[int, int] = {}
        seen_new: set[tuple[int, int]] = set()
        for i, key in enumerate(keys):
            if key in existing or key in seen_new:  # the same message twice: the later one wins
                continue
            seen_new.add(key)
            wanted[i] = _base_id(posts[i]) + (hash(key) % ID_SLOTS)
        return existing, linked, await _allocate_ids(conn, wanted)

    async def _plan_holds(self, conn: aiosqlite.Connection, plan: _BatchPlan, seen: tuple[int, int]) -> bool:
        """Inside the transaction: is the archive still as ``plan`` was worked out from?"""
        if await self._write_mark() == seen:  # nothing committed since, by anyone
            return True
        if await _existing_rows(conn, list(plan.keys)) != plan.existing:
            return False
        if await _linked_media(conn, [v[0] for v in plan.existing.values()]) != plan.linked:
            return False
        # Posts are never removed: ids still free are what the allocation would pick again.
        return not await _taken_ids(conn, list(plan.ids.values()))

    async def _write_plan(self, conn: aiosqlite.Connection, plan: _BatchPlan) -> list[SaveResult]:
        """The statements of a batch: a few ``executemany`` calls, nothing worked out here."""
        if plan.insert_rows:
            await conn.executemany(
                "INSERT INTO posts (id, channel_id, message_id, date, text, entities, views, forwards, fwd_from_id, "
                "fwd_from_name, reply_to, grouped_id, edit_date, author, raw, source, first_seen_at, updated_at, "
                "detected_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                plan.insert_rows,
            )
            await conn.executemany(
                "INSERT INTO posts_fts (rowid, body, extra) VALUES (?, ?, ?)", plan.fts_rows
            )
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
                await conn.executemany(_FTS_DELETE, deletes)
                await conn.executemany("INSERT INTO posts_fts (rowid, body, extra) VALUES (?, ?, ?)", inserts)
        if plan.counter_rows:
            await conn.executemany(
                "UPDATE posts SET views = ?, forwards = COALESCE(?, forwards) WHERE id = ?", plan.counter_rows
            )
        if plan.media_rows:
            await conn.executemany(_INSERT_MEDIA, plan.media_rows)
        if plan.link_rows:
            # An album may arrive in pieces and an export may be re-imported: keep what is known,
            # fill in what was missing, never lose a stored file reference.
            await conn.executemany(
                "INSERT INTO post_media (post_id, position, sha256, kind, file_name, mime_type, size, missing_reason) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (post_id, position) DO UPDATE SET "
                "sha256 = COALESCE(excluded.sha256, sha256), "
                "missing_reason = CASE WHEN excluded.sha256 IS NOT NULL THEN NULL ELSE missing_reason END",
                plan.link_rows,
            )
        # Media newly linked to a post whose images were already read (a poster re-shared): the
        # post gets the OCR text at once and nobody reads the image again.
        await self._refresh_post_ocr(conn, {r.post_id for r in plan.results if r.new_media})
        return plan.results

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
                marks = ",".join("?" * len(chunk))
                rows = await self.fetchall(
                    f"SELECT message_id, text FROM posts WHERE channel_id = ? AND message_id IN ({marks}) "
                    "AND detected_at IS NOT NULL",
                    (channel_id, *chunk),
                )
                out.update(((channel_id, r[0]), r[1]) for r in rows)
        return out

    async def mark_deleted(self, channel_id: int, message_ids: Iterable[int]) -> int:
        """Mark posts deleted (their content stays). Returns how many were newly marked."""
        ids = list(message_ids)
        if not ids:
            return 0
        now = now_iso()
        changed = 0
        async with self.transaction() as conn:
            for chunk in chunks(ids, 500):
                marks = ",".join("?" * len(chunk))
                cur = await conn.execute(
                    f"UPDATE posts SET deleted_at = ?, updated_at = ? WHERE channel_id = ? "
                    f"AND message_id IN ({marks}) AND deleted_at IS NULL",
                    (now, now, channel_id, *chunk),
                )
                changed += cur.rowcount
        return changed

    async def last_message_id(self, channel_id: int) -> int | None:
        row = await self.fetchone("SELECT max(message_id) FROM posts WHERE channel_id = ?", (channel_id,))
        return row[0] if row and row[0] is not None else None

    async def post(self, channel_id: int, message_id: int) -> PostRecord | None:
        row = await self.fetchone(
            f"SELECT {_POST_COLUMNS} FROM posts p JOIN channels c ON c.id = p.channel_id "
            "WHERE p.channel_id = ? AND p.message_id = ?",
            (channel_id, message_id),
        )
        return _post_record(row) if row else None

    async def post_by_id(self, post_id: int) -> PostRecord | None:
        row = await self.fetchone(
            f"SELECT {_POST_COLUMNS} FROM posts p JOIN channels c ON c.id = p.channel_id WHERE p.id = ?",
            (post_id,),
        )
        return _post_record(row) if row else None

    async def posts_by_ids(self, post_ids: Sequence[int]) -> dict[int, PostRecord]:
        found: dict[int, PostRecord] = {}
        for chunk in chunks(list(post_ids), 500):
            marks = ",".join("?" * len(chunk))
            rows = await self.fetchall(
                f"SELECT {_POST_COLUMNS} FROM posts p JOIN channels c ON c.id = p.channel_id WHERE p.id IN ({marks})",
                tuple(chunk),
            )
            found.update((r[0], _post_record(r)) for r in rows)
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
            f"SELECT {_POST_COLUMNS} FROM posts p JOIN channels c ON c.id = p.channel_id "
            "WHERE p.detected_at IS NULL ORDER BY p.id LIMIT ?",
            (limit,),
        )
        return [_post_record(r) for r in rows]

    async def posts_awaiting_ocr(self, post_ids: Sequence[int]) -> set[int]:
        """Those of ``post_ids`` that carry an image still waiting for OCR."""
        waiting: set[int] = set()
        for chunk in chunks(list(post_ids), 500):
            marks = ",".join("?" * len(chunk))
            rows = await self.fetchall(
                f"SELECT DISTINCT pm.post_id FROM post_media pm JOIN media m ON m.sha256 = pm.sha256 "
                f"WHERE m.ocr_status = 'pending' AND m.is_image = 1 AND pm.post_id IN ({marks})",
                tuple(chunk),
            )
            waiting.update(r[0] for r in rows)
        return waiting

    async def mark_detected(
        self, post_ids: Sequence[int], countdowns: Sequence[tuple[int, int, str, int, str, str | None]] = ()
    ) -> None:
        """Record that detection ran for these posts, with the countdowns it found.

        ``countdowns`` rows are ``(post_id, channel_id, date, value, unit, deadline)``.
        """
        async with self.transaction() as conn:
            await self.mark_detected_in(conn, post_ids, countdowns, clear=post_ids)

    @staticmethod
    async def mark_detected_in(
        conn: aiosqlite.Connection,
        post_ids: Sequence[int],
        countdowns: Sequence[tuple[int, int, str, int, str, str | None]] = (),
        *,
        clear: Sequence[int] = (),
    ) -> None:
        """:meth:`mark_detected` inside the caller's transaction.

        ``post_ids`` get the mark; ``clear`` are the posts whose old countdowns are replaced
        (a post saved with its mark already set needs only the latter).
        """
        now = now_iso()
        for chunk in chunks(list(post_ids), 500):
            marks = ",".join("?" * len(chunk))
            await conn.execute(f"UPDATE posts SET detected_at = ? WHERE id IN ({marks})", (now, *chunk))
        for chunk in chunks(list(clear), 500):
            marks = ",".join("?" * len(chunk))
            await conn.execute(f"DELETE FROM countdowns WHERE post_id IN ({marks})", tuple(chunk))
        if countdowns:
            await conn.executemany(
                "INSERT INTO countdowns (post_id, channel_id, date, value, unit, deadline) VALUES (?, ?, ?, ?, ?, ?)",
                countdowns,
            )

    # --- media and OCR -------------------------------------------------------------------

    async def store_media(self, item: MediaItem) -> str | None:
        """Store one file by content hash (no post link); returns its sha256."""
        digest = await asyncio.to_thread(self._store_file, item)
        if digest is None:
            return None
        async with self.transaction() as conn:
            await conn.execute(_INSERT_MEDIA, _media_row(digest, item, now_iso()))
        return digest

    def _media_record(self, row: Sequence[Any]) -> MediaRecord:
        return MediaRecord(
            sha256=row[0],
            path=self.media_dir / row[1],
            size=row[2],
            width=row[3],
            height=row[4],
            mime_type=row[5],
            is_image=bool(row[6]),
            ocr_status=row[7],
            ocr_text=row[8],
            ocr_reason=row[9],
            phash=row[10],
        )

    _MEDIA_COLUMNS = (
        "sha256, path, size, width, height, mime_type, is_image, ocr_status, ocr_text, ocr_reason, phash"
    )

    async def media(self, sha256: str) -> MediaRecord | None:
        row = await self.fetchone(f"SELECT {self._MEDIA_COLUMNS} FROM media WHERE sha256 = ?", (sha256,))
        return self._media_record(row) if row else None

    async def pending_ocr(self, limit: int = 100) -> list[MediaRecord]:
        rows = await self.fetchall(
            f"SELECT {self._MEDIA_COLUMNS} FROM media WHERE ocr_status = 'pending' AND is_image = 1 "
            "ORDER BY created_at LIMIT ?",
            (limit,),
        )
        return [self._media_record(r) for r in rows]

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
    ) -> list[int]:
        """Record what OCR made of an image and re-index the posts that carry it.

        Returns the ids of those posts, so the caller can run detection on the new text.
        """
        async with self.transaction() as conn:
            await conn.execute(
                "UPDATE media SET ocr_status = ?, ocr_text = ?, ocr_reason = ?, phash = COALESCE(?, phash), "
                "width = COALESCE(?, width), height = COALESCE(?, height), ocr_at = ? WHERE sha256 = ?",
                (status, text, reason, phash, width, height, now_iso(), sha256),
            )
            async with conn.execute(
                "SELECT DISTINCT post_id FROM post_media WHERE sha256 = ?", (sha256,)
            ) as cur:
                post_ids = [r[0] for r in await cur.fetchall()]
            await self._refresh_post_ocr(conn, set(post_ids))
        return post_ids

    async def _refresh_post_ocr(self, conn: aiosqlite.Connection, post_ids: set[int]) -> None:
        for post_id in post_ids:
            async with conn.execute(
                "SELECT m.ocr_text FROM post_media pm JOIN media m ON m.sha256 = pm.sha256 "
                "WHERE pm.post_id = ? AND m.ocr_status = 'done' AND m.ocr_text != '' ORDER BY pm.position",
                (post_id,),
            ) as cur:
                texts = [r[0] for r in await cur.fetchall()]
            ocr_text = "\n".join(texts) or None
            async with conn.execute("SELECT text, ocr_text FROM posts WHERE id = ?", (post_id,)) as cur:
                row = await cur.fetchone()
            if row is None or row[1] == ocr_text:
                continue
            await conn.execute(
                "UPDATE posts SET ocr_text = ?, detected_at = NULL WHERE id = ?", (ocr_text, post_id)
            )
            await conn.execute(_FTS_DELETE, (post_id, *_fts_row(row[0], row[1])))
            await conn.execute(
                "INSERT INTO posts_fts (rowid, body, extra) VALUES (?, ?, ?)",
                (post_id, *_fts_row(row[0], ocr_text)),
            )

    async def posts_with_media(self, sha256: str) -> list[PostRecord]:
        rows = await self.fetchall(
            f"SELECT {_POST_COLUMNS} FROM posts p JOIN channels c ON c.id = p.channel_id "
            "WHERE p.id IN (SELECT post_id FROM post_media WHERE sha256 = ?) ORDER BY p.id",
            (sha256,),
        )
        return [_post_record(r) for r in rows]

    # --- search --------------------------------------------------------------------------

    async def search(
        self,
        query: str,
        *,
        channel: str | int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 20,
        sort: str = "date",
    ) -> list[SearchHit]:
        """Full-text search. Any input is a valid query; see :func:`build_match_query`."""
        match, terms = build_match_query(query)
        if not match:
            return []
        sql = [
            f"SELECT {_POST_COLUMNS} FROM posts_fts f JOIN posts p ON p.id = f.rowid "
            "JOIN channels c ON c.id = p.channel_id WHERE posts_fts MATCH ?"
        ]
        params: list[Any] = [match]
        if since is not None:
            sql.append("AND f.rowid >= ?")
            params.append(int(utc(since).timestamp()) * ID_SLOTS)
        if until is not None:
            sql.append("AND f.rowid < ?")
            params.append((int(utc(until).timestamp()) + 1) * ID_SLOTS)
        if channel is not None:
            row = await self.find_channel(channel)
            if row is None:
                return []
            sql.append("AND p.channel_id = ?")
            params.append(row["id"])
        sql.append(
            "ORDER BY bm25(posts_fts), f.rowid DESC" if sort == "relevance" else "ORDER BY f.rowid DESC"
        )
        sql.append("LIMIT ?")
        params.append(max(1, limit))
        try:
            rows = await self.fetchall(" ".join(sql), params)
        except sqlite3.OperationalError as exc:  # should not happen: every term is quoted
            log.warning("search %r failed: %s", query, exc)
            return []
        hits = []
        for row in rows:
            record = _post_record(row)
            snippet, highlights = make_snippet(record.text, record.ocr_text, terms)
            hits.append(SearchHit(record, snippet, highlights))
        return hits

    async def optimize_index(self) -> None:
        async with self.transaction() as conn:
            await conn.execute("INSERT INTO posts_fts (posts_fts) VALUES ('optimize')")

    # --- meta, stats ---------------------------------------------------------------------

    async def get_meta(self, key: str) -> str | None:
        row = await self.fetchone("SELECT value FROM meta WHERE key = ?", (key,))
        return row[0] if row else None

    async def set_meta(self, key: str, value: str | None) -> None:
        await self.set_meta_many({key: value})

    async def set_meta_many(self, values: dict[str, str | None]) -> None:
        """Several ``meta`` keys in one transaction (the daemon's per-channel watermarks)."""
        if not values:
            return
        async with self.transaction() as conn:
            await conn.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                list(values.items()),
            )

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

    async def alerts_created_since(self, since: str) -> list[sqlite3.Row]:
        """Alerts created at or after ``since`` (a :func:`monitor.core.times.stamp`), oldest first."""
        return await self.fetchall(
            "SELECT id, kind, severity, body, created_at FROM alerts WHERE created_at >= ? ORDER BY id",
            (since,),
        )

    async def stats(self) -> dict[str, Any]:
        one = self.fetchone
        counts: dict[str, Any] = {}
        counts["channels"] = (await one("SELECT count(*) FROM channels"))[0]  # type: ignore[index]
        counts["posts"] = (await one("SELECT count(*) FROM posts"))[0]  # type: ignore[index]
        counts["deleted_posts"] = (await one("SELECT count(*) FROM posts WHERE deleted_at IS NOT NULL"))[0]  # type: ignore[index]
        counts["edited_versions"] = (await one("SELECT count(*) FROM post_versions"))[0]  # type: ignore[index]
        row = await one(
            "SELECT count(*), sum(ocr_status = 'done'), sum(ocr_status = 'failed'), sum(ocr_status = 'pending') "
            "FROM media WHERE is_image = 1"
        )
        assert row is not None
        counts["images"] = row[0]
        counts["ocr_done"] = row[1] or 0
        counts["ocr_failed"] = row[2] or 0
        counts["ocr_pending"] = row[3] or 0
        counts["media_missing"] = (await one("SELECT count(*) FROM post_media WHERE sha256 IS NULL"))[0]  # type: ignore[index]
        counts["alerts"] = (await one("SELECT count(*) FROM alerts"))[0]  # type: ignore[index]
        counts["pending_deliveries"] = (
            await one("SELECT count(*) FROM deliveries WHERE status IN ('pending', 'sending')")
        )[0]  # type: ignore[index]
        counts["failed_deliveries"] = (await one("SELECT count(*) FROM deliveries WHERE status = 'failed'"))[
            0
        ]  # type: ignore[index]
        rows = await self.fetchall(
            "SELECT c.id, c.username, c.title, c.status, c.status_reason, c.last_gapfill_at, "
            "(SELECT max(message_id) FROM posts WHERE channel_id = c.id), "
            "(SELECT max(date) FROM posts WHERE channel_id = c.id), "
            "(SELECT count(*) FROM posts WHERE channel_id = c.id) FROM channels c ORDER BY c.id"
        )
        counts["per_channel"] = [
            {
                "channel_id": r[0],
                "username": r[1],
                "title": r[2],
                "status": r[3],
                "status_reason": r[4],
                "last_gapfill_at": r[5],
                "last_message_id": r[6],
                "last_post_date": r[7],
                "posts": r[8],
            }
            for r in rows
        ]
        return counts


# --- helpers ------------------------------------------------------------------------------


def _split_sql(script: str) -> list[str]:
    """Split a migration script into statements (our scripts have no ``--`` or ``;`` in strings)."""
    code = "\n".join(line.split("--", 1)[0] for line in script.splitlines())
    return [statement.strip() for statement in code.split(";") if statement.strip()]


def _base_id(post: Post) -> int:
    return int(utc(post.date).timestamp()) * ID_SLOTS


@dataclass
class _BatchPlan:
    """The rows a batch of posts writes, worked out from what the archive held (``existing``,
    ``linked``, ``ids`` as read): :meth:`Archive._plan_holds` checks them again under the lock."""

    keys: dict[tuple[int, int], None]
    existing: dict[tuple[int, int], tuple[Any, ...]]
    linked: set[tuple[int, int]]
    ids: dict[int, int]
    results: list[SaveResult] = field(default_factory=list)
    insert_rows: list[tuple[Any, ...]] = field(default_factory=list)
    fts_rows: list[tuple[Any, ...]] = field(default_factory=list)
    version_rows: list[tuple[Any, ...]] = field(default_factory=list)
    update_rows: list[tuple[Any, ...]] = field(default_factory=list)
    fts_updates: list[tuple[Any, ...]] = field(default_factory=list)
    fts_deletes: list[tuple[Any, ...]] = field(default_factory=list)  # the values indexed before
    counter_rows: list[tuple[Any, ...]] = field(default_factory=list)
    media_rows: list[tuple[Any, ...]] = field(default_factory=list)
    link_rows: list[tuple[Any, ...]] = field(default_factory=list)


async def _existing_rows(
    conn: aiosqlite.Connection, keys: Sequence[tuple[int, int]]
) -> dict[tuple[int, int], tuple[Any, ...]]:
    """The stored rows of these ``(channel id, message id)`` posts, as saving compares them."""
    existing: dict[tuple[int, int], tuple[Any, ...]] = {}
    by_channel: dict[int, list[int]] = {}
    for channel_id, message_id in keys:
        by_channel.setdefault(channel_id, []).append(message_id)
    for channel_id, ids in by_channel.items():
        for chunk in chunks(sorted(set(ids)), IN_LIST):
            marks = ",".join("?" * len(chunk))
            for row in await conn.execute_fetchall(
                f"SELECT message_id, id, text, entities, edit_date, raw, views, forwards, ocr_text, detected_at "
                f"FROM posts WHERE channel_id = ? AND message_id IN ({marks})",
                (channel_id, *chunk),
            ):
                existing[(channel_id, row[0])] = tuple(row[1:])
    return existing


async def _linked_media(conn: aiosqlite.Connection, post_ids: Sequence[int]) -> set[tuple[int, int]]:
    """(post id, position) of these posts that already carry a stored file."""
    linked: set[tuple[int, int]] = set()
    for chunk in chunks(post_ids, IN_LIST):
        marks = ",".join("?" * len(chunk))
        rows = await conn.execute_fetchall(
            f"SELECT post_id, position FROM post_media WHERE sha256 IS NOT NULL AND post_id IN ({marks})",
            tuple(chunk),
        )
        linked.update((r[0], r[1]) for r in rows)
    return linked


async def _taken_ids(conn: aiosqlite.Connection, candidates: Sequence[int]) -> set[int]:
    used: set[int] = set()
    for chunk in chunks(candidates, IN_LIST):
        marks = ",".join("?" * len(chunk))
        used.update(
            r[0]
            for r in await conn.execute_fetchall(f"SELECT id FROM posts WHERE id IN ({marks})", tuple(chunk))
        )
    return used


def _plan_batch(
    posts: Sequence[Post],
    stored_media: dict[int, list[tuple[str | None, MediaItem]]],
    prepared: list[tuple[str, str, str, str]],
    detected: Sequence[bool] | None,
    existing_rows: dict[tuple[int, int], tuple[Any, ...]],
    linked_media: set[tuple[int, int]],
    ids: dict[int, int],
) -> _BatchPlan:
    """Work out every row a batch writes and each post's :class:`SaveResult` (no SQL here)."""
    now = now_iso()
    keys = [(p.channel.id, p.message_id) for p in posts]
    plan = _BatchPlan(dict.fromkeys(keys), existing_rows, linked_media, ids)
    existing = dict(existing_rows)  # updated as the batch goes: a message may come twice
    linked = set(linked_media)
    seen_new: dict[tuple[int, int], int] = {}
    for i, key in enumerate(keys):
        if key not in existing_rows:
            seen_new.setdefault(key, i)
    # A message that comes twice in one batch: the second sees what the first left.
    repeated = len(plan.keys) < len(keys)
    insert_row, fts_row = plan.insert_rows.append, plan.fts_rows.append
    results: list[SaveResult] = []
    for i, post in enumerate(posts):
        key = keys[i]
        entities_json, raw_json, body, extra = prepared[i]
        mark = now if detected and detected[i] else None
        undetected = True
        if key in existing:
            post_id, old_text, old_entities, old_edit, old_raw, views, forwards, ocr_text, _detected = (
                existing[key]
            )
            if post.text != old_text or entities_json != old_entities:
                edit_date = iso(post.edit_date)
                plan.version_rows.append((post_id, old_text, old_entities, old_edit, old_raw, now))
                plan.update_rows.append(
                    (
                        post.text,
                        entities_json,
                        edit_date,
                        raw_json,
                        post.views,
                        post.forwards,
                        now,
                        mark,
                        post_id,
                    )
                )
                plan.fts_updates.append((post_id, *_fts_row(post.text, ocr_text)))
                plan.fts_deletes.append((post_id, *_fts_row(old_text, ocr_text)))
                status, previous = "updated", old_text
                existing[key] = (
                    post_id, post.text, entities_json, edit_date, old_raw, views, forwards, ocr_text, None,
                )  # fmt: skip
            else:
                if (post.views, post.forwards) != (views, forwards) and post.views is not None:
                    plan.counter_rows.append((post.views, post.forwards, post_id))
                status, previous = "unchanged", None
                undetected = _detected is None
        else:
            post_id = ids[seen_new[key]]
            if seen_new[key] == i:
                edit_date = iso(post.edit_date)
                insert_row(
                    (
                        post_id,
                        post.channel.id,
                        post.message_id,
                        iso(post.date),
                        post.text,
                        entities_json,
                        post.views,
                        post.forwards,
                        post.fwd_from_id,
                        post.fwd_from_name,
                        post.reply_to,
                        post.grouped_id,
                        edit_date,
                        post.author,
                        raw_json,
                        post.source,
                        now,
                        now,
                        mark,
                    )
                )
                fts_row((post_id, body, extra))
                if repeated:
                    existing[key] = (
                        post_id, post.text, entities_json, edit_date, None, post.views, post.forwards, None, None,
                    )  # fmt: skip
                status, previous = "new", None
            else:  # the same message again, after its first copy in this batch
                status, previous = "unchanged", None
                undetected = existing[key][8] is None
        new_media: list[str] = []
        for position, (digest, item) in enumerate(stored_media.get(i, ())):
            if digest is not None:
                plan.media_rows.append(_media_row(digest, item, now))
            plan.link_rows.append(
                (
                    post_id,
                    position,
                    digest,
                    item.kind,
                    item.file_name,
                    item.mime_type,
                    item.size,
                    item.missing_reason,
                )
            )
            if digest is not None and item.is_image and (post_id, position) not in linked:
                new_media.append(digest)
                linked.add((post_id, position))
        results.append(
            SaveResult(
                post_id, status, new_media, previous, status != "unchanged" or bool(new_media) or undetected
            )
        )
    plan.results = results
    return plan


async def _allocate_ids(conn: aiosqlite.Connection, wanted: dict[int, int]) -> dict[int, int]:
    """Give each new post a free id near its wanted one (same second of date, next free slot)."""
    result: dict[int, int] = {}
    taken: set[int] = set()
    pending = dict(wanted)
    while pending:
        candidates = list(pending.values())
        used: set[int] = set()
        for chunk in chunks(candidates, IN_LIST):
            marks = ",".join("?" * len(chunk))
            rows = await conn.execute_fetchall(f"SELECT id FROM posts WHERE id IN ({marks})", tuple(chunk))
            used.update(r[0] for r in rows)
        retry: dict[int, int] = {}
        for index, candidate in pending.items():
            if candidate in used or candidate in taken:
                retry[index] = candidate + 1
            else:
                taken.add(candidate)
                result[index] = candidate
        pending = retry
    return result


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


_INSERT_MEDIA = (
    "INSERT INTO media (sha256, path, size, width, height, mime_type, is_image, ocr_status, created_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (sha256) DO NOTHING"
)


def _media_row(digest: str, item: MediaItem, now: str) -> tuple[Any, ...]:
    """A ``media`` row: images wait for OCR, other files are never read."""
    return (
        digest,
        _relative_media_path(digest, item),
        item.size or 0,
        item.width,
        item.height,
        item.mime_type,
        int(item.is_image),
        "pending" if item.is_image else "skipped",
        now,
    )


# --- queries and snippets -----------------------------------------------------------------

_QUERY_TOKEN = re.compile(r'"([^"]*)"?|(\S+)')


def build_match_query(query: str) -> tuple[str, list[str]]:
    """Turn any user input into a safe FTS5 query and the normalised terms to highlight.

    Supported: words (all must match), ``"a phrase"``, ``word*`` for a prefix, ``OR`` between
    two terms. Everything else (FTS operators, column syntax, brackets, control characters) is
    taken as text: each term is normalised like the index and quoted, so no input can be an
    FTS5 syntax error.
    """
    clauses: list[list[str]] = []  # AND of groups; each group is an OR of alternatives
    terms: list[str] = []
    pending_or = False
    for match in _QUERY_TOKEN.finditer(query or ""):
        phrase, bare = match.group(1), match.group(2)
        if bare == "OR" and clauses:
            pending_or = True
            continue
        raw = phrase if phrase is not None else bare or ""
        prefix = phrase is None and raw.endswith("*") and len(raw.rstrip("*")) > 0
        tokens = words(normalize(raw))
        if not tokens:
            continue
        terms.extend(tokens)
        quoted = '"' + " ".join(tokens) + '"'
        clause = f"{quoted}*" if prefix else quoted
        if len(tokens) > 1:
            clause = f"body : {clause}"  # a phrase lives in the plain text column
        if len(tokens) == 1 and phrase is None and not prefix:
            # An Arabic word typed with a prefix (والانتقام) also finds it without (الانتقام).
            forms = strip_proclitics(tokens[0])
            if forms:
                terms.extend(forms)
                clause = "(" + " OR ".join([clause, *(f'"{form}"' for form in forms)]) + ")"
        if phrase is None and not prefix and not raw.startswith("#"):
            # A CamelCase hashtag typed without its sign: #RevengeIsComing is indexed as 3 words.
            split = words(normalize("#" + raw))
            if split != tokens:
                terms.extend(split)
                clause = f'({clause} OR body : "{" ".join(split)}")'
        if pending_or:
            clauses[-1].append(clause)  # flat, not nested: FTS5's parser stack overflows on nesting
            pending_or = False
        else:
            clauses.append([clause])
    return " AND ".join(
        group[0] if len(group) == 1 else f"({' OR '.join(group)})" for group in clauses
    ), terms


def _merge_spans(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted spans with overlaps merged (two query forms may hit the same word)."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


@functools.lru_cache(maxsize=256)
def _term_pattern(term: str) -> re.Pattern[str]:
    """The word that holds ``term``, compiled once per term (not looked up per post and term)."""
    return re.compile(rf"(?<!\w)\w*{re.escape(term)}\w*")


def make_snippet(
    text: str, ocr_text: str | None, terms: Sequence[str], width: int = 160
) -> tuple[str, list[tuple[int, int]]]:
    """A short piece of the original text around the first query term, with the spans to emphasise."""
    for source in (text, ocr_text or ""):
        if not source:
            continue
        normalized, origins = normalize_with_offsets(source)
        spans = []
        for term in terms:
            for m in _term_pattern(term).finditer(normalized):
                spans.append((origins[m.start()][0], origins[m.end() - 1][1]))
        if not spans:
            continue
        spans = _merge_spans(spans)
        first = spans[0][0]
        left = max(0, first - width // 3)
        right = min(len(source), left + width)
        piece = source[left:right]
        prefix = "…" if left > 0 else ""
        suffix = "…" if right < len(source) else ""
        shift = len(prefix) - left
        marks = [(s + shift, e + shift) for s, e in spans if s >= left and e <= right]
        label = "" if source is text else "[poster] "
        snippet = (label + prefix + piece + suffix).replace("\n", " ")
        return snippet, [(s + len(label), e + len(label)) for s, e in marks]
    plain = (text or ocr_text or "").replace("\n", " ")
    return (plain[:width] + ("…" if len(plain) > width else "")), []
