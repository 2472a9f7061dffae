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
from monitor.core.store.collection import CollectionMixin
from monitor.core.store.decisions import DecisionStore
from monitor.core.store.deliveries import DeliveryStore
from monitor.core.store.desk import DeskStore
from monitor.core.store.evidence import EvidenceStore
from monitor.core.store.media import MediaMixin
from monitor.core.store.meta import MetaMixin
from monitor.core.store.mutes import MuteStore
from monitor.core.store.opening import (
    archive_error,
    create_private_file,
    damaged_error,
    is_writable,
    make_private_dir,
    niced_connection,
    read_only_uri,
    readonly_error,
)
from monitor.core.store.posts import PostsMixin
from monitor.core.store.scans import ScanStore
from monitor.core.store.schema import MIGRATIONS, SchemaMixin
from monitor.core.store.search import SearchMixin
from monitor.core.store.users import UserStore
from monitor.core.text import INDEX_VERSION


class Archive(PostsMixin, MediaMixin, SearchMixin, ChannelsMixin, CollectionMixin, MetaMixin, SchemaMixin):
    """The SQLite archive. Open with ``await Archive.open(path)``; one instance per process."""

    @classmethod
    async def open(
        cls,
        path: Path | str,
        media_dir: Path | str | None = None,
        *,
        write_gate: WriteGate | None = None,
        readonly: bool = False,
        verify: bool = True,
        quiet_checkpoints: bool = False,
        nice: int = 0,
    ) -> Archive:
        """Open (creating and migrating) the archive at ``path``.

        ``write_gate`` is a ``multiprocessing`` lock shared by processes that write at once
        (the import workers); held for the length of each write transaction.
        ``readonly`` opens an existing archive for reading only (see :mod:`.opening`): nothing is
        created or written, and a read-only mount or an immutable file can be read. (An archive
        of an older schema that can be written is opened to write once, to be upgraded.)
        Opening to write refuses a read-only archive, and a damaged one when ``verify`` (``PRAGMA
        quick_check``, about 1.7 ms per MB: the import's workers skip it, their command checked).
        ``quiet_checkpoints`` is for a live writer (the daemon): the WAL is checkpointed right
        after a commit, at most once a second (see :data:`~monitor.core.store.base.QUIET_CHECKPOINT_S`).
        ``nice`` lowers the OS priority of the connection's thread, where its SQL runs (Linux:
        the web desk's reads yield the cores to the daemon's writes, also inside its process).
        """
        path = Path(path).expanduser()
        media = Path(media_dir).expanduser() if media_dir else path.parent / "media"
        if readonly:
            if path.is_dir():
                raise ArchiveError(f"cannot open the archive {path}: it is a directory, not an archive file")
            if not path.is_file():
                raise ArchiveError(
                    f"there is no archive at {path}: run tgmonitor import PATH first, or point --db at one"
                )
            target, uri = read_only_uri(path), True
        else:
            _prepare_for_writing(path)
            target, uri = str(path), False
        factory = niced_connection(nice) if nice > 0 else sqlite3.Connection
        pending = aiosqlite.connect(target, isolation_level=None, uri=uri, factory=factory)
        try:
            conn = await pending
        except sqlite3.Error as exc:
            # aiosqlite stops its worker thread without waiting for it; if the loop closes first
            # the thread prints a traceback (https://github.com/omnilib/aiosqlite/issues/241).
            await asyncio.to_thread(pending._thread.join, 5)
            raise archive_error(exc, path) or ArchiveError(f"cannot open the archive {path}: {exc}") from None
        conn.row_factory = sqlite3.Row  # rows by name too: fetchone/fetchall promise sqlite3.Row
        archive = cls(conn, path, media, write_gate)
        try:
            await conn.execute("PRAGMA busy_timeout = 10000")
            await conn.execute("PRAGMA cache_size = -65536")
            await conn.execute("PRAGMA foreign_keys = ON")
            if readonly:
                if await archive._up_to_date() or not is_writable(path):
                    await archive._check_readable()
                    return archive
                await conn.close()
                return await cls.open(path, media_dir, write_gate=write_gate, verify=False, nice=nice)
            await conn.execute("PRAGMA journal_mode = WAL")
            await conn.execute("PRAGMA synchronous = NORMAL")
            # Measured on imports (bench/import_speed.py): checkpointing every 1,000 pages (the
            # default) made every commit of a 2,000-post batch copy and sync the WAL; every
            # 10,000 pages (a WAL of up to 40 MB) cut the time per post by a fifth. The larger
            # page cache keeps the FTS index's hot pages between batches.
            await conn.execute("PRAGMA wal_autocheckpoint = 10000")
            archive.quiet_checkpoints = quiet_checkpoints
            if verify:
                await archive.check_intact()
            await archive._migrate()
            await archive._check_index()
            await archive.evidence.ensure_genesis()  # an archive from before the chain: chained once
        except sqlite3.DatabaseError as exc:
            await conn.close()
            raise archive_error(exc, path) or ArchiveError(
                f"{path} is not a usable tgmonitor archive: {exc}"
            ) from None
        except BaseException:
            await conn.close()
            raise
        return archive

    async def check_intact(self) -> None:
        """Raise :class:`ArchiveError` if the file is damaged. Run before writing (SQLite writes
        around a malformed page and the damage spreads) and by ``doctor``. ``quick_check`` reads every page once (no index cross-checks): see
        ``bench/archive_open.py`` for its cost."""
        rows = await self.fetchall("PRAGMA quick_check(1)")
        verdict = str(rows[0][0]) if rows else "ok"
        if verdict != "ok":
            raise damaged_error(self.path, verdict)

    async def _up_to_date(self) -> bool:
        """Whether the schema and the search index are this version's (nothing to migrate)."""
        async with self._conn.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        version = int(row[0]) if row else 0
        return version == len(MIGRATIONS) and await self.get_meta("index_version") == INDEX_VERSION

    async def _check_readable(self) -> None:
        """A read-only open cannot migrate or reindex: an archive that needs it is refused."""
        if not await self._up_to_date():
            raise ArchiveError(
                f"the archive {self.path} was written by another tgmonitor version and "
                "needs an upgrade that a read-only open cannot make: open it once with a writing command "
                "(tgmonitor import) on a writable copy"
            )

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
    def decisions(self) -> DecisionStore:
        """What analysts decided about alerts (acknowledged, true/false positive), from any desk."""
        return DecisionStore(self)

    @functools.cached_property
    def scans(self) -> ScanStore:
        """Reads for tuning detection: posts in chunks (backtests), recent texts, verdicts."""
        return ScanStore(self)

    @functools.cached_property
    def mutes(self) -> MuteStore:
        """Rules muted in one channel for a while (the bot desk's button); the outbox honours them."""
        return MuteStore(self)

    @functools.cached_property
    def campaigns(self) -> CampaignStore:
        """The same poster or text in several channels: campaign rows and their members."""
        return CampaignStore(self)

    @functools.cached_property
    def evidence(self) -> EvidenceStore:
        """The hash chain's genesis and daily heads, verifying, and the reads of exports."""
        return EvidenceStore(self)

    @functools.cached_property
    def desk(self) -> DeskStore:
        """What the web desk's pages read: channel activity, campaigns, raw messages."""
        return DeskStore(self)

    @functools.cached_property
    def users(self) -> UserStore:
        """The web desk's users and API tokens."""
        return UserStore(self)

    async def __aenter__(self) -> Archive:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def _prepare_for_writing(path: Path) -> None:
    """Create a new archive's folder (0700) and empty file (0600); refuse one that cannot be written."""
    if path.exists():
        if not is_writable(path):
            raise readonly_error(path)
        return
    try:
        make_private_dir(path.parent)
        create_private_file(path)
    except OSError as exc:
        raise ArchiveError(f"cannot create the archive {path}: {exc.strerror}") from None
