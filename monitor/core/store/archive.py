"""The archive: the store's one front door, made of one mixin per table family.

Callers hold an :class:`Archive` and call ``archive.save_posts(...)``, ``archive.search(...)``;
which module answers is the store's business (see the package docstring for the map).
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
from pathlib import Path

import aiosqlite

from monitor.core.errors import ArchiveError
from monitor.core.store.alerts import AlertStore
from monitor.core.store.base import WriteGate
from monitor.core.store.campaigns import CampaignStore
from monitor.core.store.channels import ChannelsMixin
from monitor.core.store.deliveries import DeliveryStore
from monitor.core.store.media import MediaMixin
from monitor.core.store.meta import MetaMixin
from monitor.core.store.posts import PostsMixin
from monitor.core.store.schema import SchemaMixin
from monitor.core.store.search import SearchMixin


class Archive(PostsMixin, MediaMixin, SearchMixin, ChannelsMixin, MetaMixin, SchemaMixin):
    """The SQLite archive. Open with ``await Archive.open(path)``; one instance per process."""

    @classmethod
    async def open(
        cls, path: Path | str, media_dir: Path | str | None = None, *, write_gate: WriteGate | None = None
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

    # The alert side's tables, each behind its own store (alerts/ decides, these read and write).
    @functools.cached_property
    def alerts(self) -> AlertStore:
        """Alerts, their content keys, the listing and acknowledging, countdown points."""
        return AlertStore(self)

    @functools.cached_property
    def deliveries(self) -> DeliveryStore:
        """One delivery per alert and sink: claims, retries, marks."""
        return DeliveryStore(self)

    @functools.cached_property
    def campaigns(self) -> CampaignStore:
        """The same poster or text in several channels: campaign rows and their members."""
        return CampaignStore(self)

    async def __aenter__(self) -> Archive:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
