"""The schema: the tables as created, the append-only migration steps, and what runs them.

``PRAGMA user_version`` counts the steps applied; opening an archive applies the missing ones, each
in its own transaction, and refuses an archive written by a newer tgmonitor.
"""

from __future__ import annotations

import logging
import re
from typing import Any

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

# Step 4 (the desks, issues 14/15/17): what analysts decided about each alert, from any desk. One
# current decision per alert and kind (ack, verdict); a replaced verdict stays as history.
DECISIONS_V4 = """
CREATE TABLE alert_decisions (
    id            INTEGER PRIMARY KEY,
    alert_id      INTEGER NOT NULL REFERENCES alerts(id),
    kind          TEXT NOT NULL,                  -- ack | verdict
    value         TEXT NOT NULL,                  -- ack: ack; verdict: tp | fp
    actor         TEXT NOT NULL,                  -- who: a login, a Telegram user, a system user
    desk          TEXT NOT NULL,                  -- cli | web | bot
    note          TEXT,
    decided_at    TEXT NOT NULL,
    superseded_at TEXT                            -- set when a later decision replaced this one
);
CREATE UNIQUE INDEX alert_decisions_current ON alert_decisions(alert_id, kind) WHERE superseded_at IS NULL;
CREATE INDEX alert_decisions_alert ON alert_decisions(alert_id);
INSERT INTO alert_decisions (alert_id, kind, value, actor, desk, decided_at)
    SELECT id, 'ack', 'ack', 'unknown', 'cli', acked_at FROM alerts WHERE acked_at IS NOT NULL;
"""

# Step 5 (issue 19, imports that lose nothing): the chat type an export gives (public_channel,
# private_group, personal_chat, saved_messages...), so the messages of a chat that is not a
# channel get no t.me link rather than a broken one. NULL: a channel watched live.
CHANNEL_KIND_V5 = """
ALTER TABLE channels ADD COLUMN kind TEXT;
"""

# Step 6 (issue 16, evidence): the hash chain. Every captured post version, deletion mark and media
# link appends one record, chained to the one before (see ``monitor/core/store/chain.py``); no
# foreign keys, so a removed post leaves its records behind for ``verify`` to name. The first
# record is the genesis: rows stored before this step are chained right after it, so they are
# proven only from then on. ``chain_heads`` keeps the head of each day, its RFC 3161 token, and
# where it was sent. ``IF NOT EXISTS``: the step may be renumbered when branches merge, and an
# archive that has the tables under another step number must keep them, records and all.
EVIDENCE_CHAIN = """
CREATE TABLE IF NOT EXISTS chain (
    seq         INTEGER PRIMARY KEY,              -- 1, 2, 3 ...: the chain's order
    kind        TEXT NOT NULL,                    -- genesis | post | edit | delete | media
    post_id     INTEGER,
    item        INTEGER,                          -- post/edit: version number (0 first); media: position
    sha256      TEXT,                             -- media: the file's hash
    item_hash   TEXT NOT NULL,                    -- sha256 of the item's canonical JSON
    account     TEXT,                             -- who captured it (the source and account)
    recorded_at TEXT NOT NULL,
    hash        TEXT NOT NULL                     -- sha256 of the previous hash and this record
);
CREATE INDEX IF NOT EXISTS chain_post ON chain(post_id);              -- with the rowid (seq): records of a post in order

CREATE TABLE IF NOT EXISTS chain_heads (
    day         TEXT PRIMARY KEY,                 -- YYYY-MM-DD (UTC)
    seq         INTEGER NOT NULL,
    hash        TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    tsa_url     TEXT,
    tsa_token   BLOB,                             -- the DER TimeStampToken of the head
    sent_to     TEXT                              -- JSON list of the sinks it went to
);
"""

# Step 7 (issue 15, the bot desk's "mute this rule for this channel" button): while a mute is
# active (now < until), the rule's matches in that channel raise no alert. A row is kept after it
# expires: who muted what, and when, stays readable.
RULE_MUTES_V7 = """
CREATE TABLE IF NOT EXISTS rule_mutes (
    id          INTEGER PRIMARY KEY,
    rule        TEXT NOT NULL,                    -- a rule's name (countdown: the countdown detector)
    channel_id  INTEGER NOT NULL,
    until       TEXT NOT NULL,                    -- ISO 8601 UTC: the mute ends then
    by          TEXT NOT NULL,                    -- who muted it (a Telegram user, a login)
    at          TEXT NOT NULL                     -- when
);
CREATE INDEX IF NOT EXISTS rule_mutes_channel ON rule_mutes(channel_id, until);
"""

# Step 8 (issue 14, the web desk): its users (argon2 password hashes) and their API tokens (the
# SHA-256 of each token, never the token).
WEB_USERS_V8 = """
CREATE TABLE IF NOT EXISTS web_users (
    name          TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,                  -- argon2id, as argon2-cffi writes it
    created_at    TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS web_tokens (
    token_sha256  TEXT PRIMARY KEY,
    name          TEXT NOT NULL REFERENCES web_users(name),
    created_at    TEXT NOT NULL
);
"""

# Step 9 (issue 13, collection that holds on real Telegram): the channels added with `tgmonitor channels
# add` (kept here, not in the config file), how each channel is collected (mode, the account it is
# assigned to, its pts and poll interval), and the collection health problems raised and cleared.
COLLECTION_V9 = """
CREATE TABLE IF NOT EXISTS channel_list (
    ref         TEXT PRIMARY KEY,                 -- username (lower case), bare id, or +invitehash
    text        TEXT NOT NULL,                    -- as the user gave it
    channel_id  INTEGER,                          -- once resolved: renames are followed by id
    mode        TEXT,                             -- join | watch; NULL: the config's default
    account     TEXT,                             -- NULL: any account of the pool
    added_at    TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS collection (
    channel_id     INTEGER PRIMARY KEY,
    mode           TEXT NOT NULL,                 -- join | watch
    account        TEXT NOT NULL,                 -- the pool account collecting it now
    joined         INTEGER NOT NULL DEFAULT 0,
    pts            INTEGER,                       -- the channel's pts as last polled
    interval       REAL,                          -- seconds between polls now
    expected_delay REAL,                          -- seconds a new post may take to be archived
    last_poll_at   TEXT,
    updated_at     TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS health (
    key        TEXT PRIMARY KEY,                  -- silence:ID | status:ID | account:NAME | ...
    subject    TEXT NOT NULL,
    problem    TEXT NOT NULL,
    raised_at  TEXT NOT NULL,
    cleared_at TEXT
);
"""

# Step 10 (issue 18, poster text you can trust): the lines OCR read without the evidence to be searched
# or matched (one pass alone, no dictionary word) are kept apart, for whoever debugs a reading;
# ``ocr_text`` holds only the trusted lines. ``ocr_from`` names the near-duplicate image whose
# reading was reused (pHash within the similar threshold), or is NULL for an image read itself.
OCR_DOUBTFUL_V10 = """
ALTER TABLE media ADD COLUMN ocr_doubtful TEXT;
ALTER TABLE media ADD COLUMN ocr_from TEXT;
CREATE INDEX IF NOT EXISTS media_phash ON media(phash) WHERE phash IS NOT NULL AND ocr_status = 'done';
"""

# Step 11 (issue 16, the chain's cost on the save): the hash chain continues in BLOCKS, one row per
# save batch (or per call of ``append_records``) instead of one ``chain`` row per record; records
# keep their global numbering (record k of a block is ``seq_first + k``) and records already in
# ``chain`` stay as they are, the first block following their head (see
# ``monitor/core/store/chain.py`` for the exact form). ``post_min``/``post_max`` (not hashed; verify
# checks them against ``items``) say which blocks can hold a post's records: a post's records are
# found by scanning the few hundred block rows, not by a per-record index. ``IF NOT EXISTS``: the
# step may be renumbered when branches merge.
EVIDENCE_CHAIN_BLOCKS = """
CREATE TABLE IF NOT EXISTS chain_blocks (
    id          INTEGER PRIMARY KEY,              -- 1, 2, 3 ...: block N of verify's messages
    seq_first   INTEGER NOT NULL UNIQUE,          -- the seq of its first record
    count       INTEGER NOT NULL,                 -- its records: seq_first .. seq_first + count - 1
    account     TEXT,                             -- who captured its records (the source and account)
    recorded_at TEXT NOT NULL,
    post_min    INTEGER,                          -- the lowest and highest post id of its records
    post_max    INTEGER,
    items       TEXT NOT NULL,                    -- JSON [[kind, post_id, item, sha256, item_hash], ...]
    hash        TEXT NOT NULL                     -- sha256 of the previous hash and this block
);
-- The post id span of each block holding post records, as an R*Tree: a post's blocks are found in
-- a few steps however many blocks there are (a daemon on quiet channels writes a block a post, so a
-- year of live capture is ~1 M blocks, which a span scan without it reads whole for every look-up).
-- Its 32-bit float boxes are rounded outwards (a few minutes of post dates either side), so a
-- look-up finds a few extra blocks, never misses one; readers check the block's own columns.
CREATE VIRTUAL TABLE IF NOT EXISTS chain_block_spans USING rtree(id, post_min, post_max);
"""

# Step 12 (issue 18): animated stickers (Lottie ``.tgs``) are read now (``ocr.lottie``); those an
# older version recorded as skipped for want of a renderer wait for OCR again (``ocr --pending``).
STICKERS_READ_V12 = """
UPDATE media SET ocr_status = 'pending', ocr_reason = NULL
 WHERE ocr_status = 'skipped' AND ocr_reason LIKE 'animated sticker (.tgs)%';
"""

MIGRATIONS: list[str] = [
    SCHEMA_V1,
    ALERTS_V2,
    FTS_CONTENTLESS_V3,
    DECISIONS_V4,
    CHANNEL_KIND_V5,
    EVIDENCE_CHAIN,
    RULE_MUTES_V7,
    WEB_USERS_V8,
    COLLECTION_V9,
    OCR_DOUBTFUL_V10,
    EVIDENCE_CHAIN_BLOCKS,
    STICKERS_READ_V12,
]
"""Append-only: step ``i`` takes the schema from ``user_version == i`` to ``i + 1``."""


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
                    if await _column_there(conn, statement):
                        continue
                    await conn.execute(statement)
                await conn.execute(f"PRAGMA user_version = {step + 1}")
            log.info("archive %s migrated to schema %d", self.path, step + 1)


_ADD_COLUMN = re.compile(r"\s*ALTER\s+TABLE\s+(\w+)\s+ADD\s+COLUMN\s+(\w+)", re.IGNORECASE)


async def _column_there(conn: Any, statement: str) -> bool:
    """Whether ``statement`` adds a column the table already has. SQLite has no ``ADD COLUMN IF
    NOT EXISTS``, and a step may be renumbered when branches merge (an archive may hold the
    column under another step number): such a step must be harmless to run again, like the
    ``IF NOT EXISTS`` tables of the late steps."""
    found = _ADD_COLUMN.match(statement)
    if found is None:
        return False
    table, column = found.groups()
    async with conn.execute(f"PRAGMA table_info({table})") as cur:
        return any(row[1] == column for row in await cur.fetchall())
