"""The store: the only code in tgmonitor that holds SQL (see ``docs/architecture.md``).

One SQLite file in WAL mode, reached through aiosqlite with **one connection that owns every
write**: a write runs in :meth:`Archive.transaction` (``BEGIN IMMEDIATE`` ... ``COMMIT``) under an
asyncio lock, so async code never fights over SQLite's lock (the datasette way), and under a
**write gate** (a process lock) when import workers share one archive. Readers of other
processes see only committed work.

Posts get **ids that sort by date** (``date_unix * ID_SLOTS + k``); the **contentless FTS5 index**
uses the same rowid, so "newest first" is the index's own order, and it keeps no copy of the text
(a row is removed with the values it was made from, :func:`~monitor.core.store.search.fts_row`).

A batch of posts is worked out outside the lock (:meth:`Archive.plan_posts`) and written in one
unit of work (``async with archive.batch() as batch``) with whatever must land in the same commit.

The modules, one mixin of :class:`Archive` each: ``base`` (connection, transactions), ``schema``
(tables, migrations), ``posts`` (saving, the unit of work, reading) with ``plan`` (the rows of a
batch), ``media`` (media store, OCR results), ``search`` (index and queries), ``channels``,
``meta`` (key/values, counts); ``records`` the records they return, ``common`` shared helpers.
"""

from monitor.core.store.archive import Archive
from monitor.core.store.base import WriteGate
from monitor.core.store.changes import ChangeMark
from monitor.core.store.common import Tx
from monitor.core.store.opening import archive_error
from monitor.core.store.plan import PostPlan
from monitor.core.store.posts import PostBatch
from monitor.core.store.records import (
    CountdownRow,
    MediaRecord,
    PostRecord,
    SaveResult,
    SearchHit,
    countdown_row,
)
from monitor.core.store.schema import ID_SLOTS, MIGRATIONS
from monitor.core.store.search import SEARCH_BUDGET_S, QueryError, build_match_query, make_snippet
from monitor.core.text import INDEX_VERSION  # the fold's version, kept with the fold

__all__ = [
    "ID_SLOTS",
    "INDEX_VERSION",
    "MIGRATIONS",
    "SEARCH_BUDGET_S",
    "Archive",
    "ChangeMark",
    "CountdownRow",
    "MediaRecord",
    "PostBatch",
    "PostPlan",
    "PostRecord",
    "QueryError",
    "SaveResult",
    "SearchHit",
    "Tx",
    "WriteGate",
    "archive_error",
    "build_match_query",
    "countdown_row",
    "make_snippet",
]
