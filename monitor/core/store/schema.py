"""The schema: the tables as created, the append-only migration steps, and what runs them.

``PRAGMA user_version`` counts the steps applied; opening an archive applies the missing ones, each
in its own transaction, and refuses an archive written by a newer tgmonitor.
"""

from __future__ import annotations

import logging

from monitor.core.errors import ArchiveError
from monitor.core.store.base import StoreBase

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
# fts_row(posts.text, posts.ocr_text) (every writer of those columns rewrites the row); the
# index is rebuilt from the posts when INDEX_VERSION changes (see ``SearchMixin._check_index``), and the
# rows of an archive made before this step are rebuilt that way, by the current normaliser.
FTS_CONTENTLESS_V3 = """
DROP TABLE posts_fts;
CREATE VIRTUAL TABLE posts_fts USING fts5(body, extra, content = '', tokenize = 'unicode61 remove_diacritics 2');
DELETE FROM meta WHERE key = 'index_version';
"""

# Issue 18 (poster text you can trust): the lines OCR read without the evidence to be searched
# or matched (one pass alone, no dictionary word) are kept apart, for whoever debugs a reading;
# ``ocr_text`` holds only the trusted lines. ``ocr_from`` names the near-duplicate image whose
# reading was reused (pHash within the similar threshold), or is NULL for an image read itself.
OCR_DOUBTFUL_V4 = """
ALTER TABLE media ADD COLUMN ocr_doubtful TEXT;
ALTER TABLE media ADD COLUMN ocr_from TEXT;
CREATE INDEX media_phash ON media(phash) WHERE phash IS NOT NULL AND ocr_status = 'done';
"""

MIGRATIONS: list[str] = [SCHEMA_V1, ALERTS_V2, FTS_CONTENTLESS_V3, OCR_DOUBTFUL_V4]
"""Append-only: step ``i`` takes the schema from ``user_version == i`` to ``i + 1``."""


INDEX_VERSION = "1"
"""What :func:`~monitor.core.store.search.fts_row` makes of a text: bump it when the output changes
for any input (the normaliser, ``words``, ``index_words``), and every archive's index is rebuilt
on opening.
``tests/core/test_store_index.py`` pins the output on a probe text to catch a change."""


def split_sql(script: str) -> list[str]:
    """Split a migration script into statements (our scripts have no ``--`` or ``;`` in strings)."""
    code = "\n".join(line.split("--", 1)[0] for line in script.splitlines())
    return [statement.strip() for statement in code.split(";") if statement.strip()]


class SchemaMixin(StoreBase):
    """Bringing an archive's schema up to :data:`MIGRATIONS` on opening."""

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
                for statement in split_sql(MIGRATIONS[step]):
                    await conn.execute(statement)
                await conn.execute(f"PRAGMA user_version = {step + 1}")
            log.info("archive %s migrated to schema %d", self.path, step + 1)
