"""A running desk: its own connection to the archive, its sessions, and how it starts and stops.

The desk opens its own connection, so its reads never queue behind the daemon's writes on the
daemon's connection (SQLite's WAL lets one process read while another writes); its only writes
(decisions, users) are short transactions.

The desk yields to collection (issue 14: fifty busy analysts must not slow the daemon's writes):
its connection's thread runs at a lower OS priority (:data:`DESK_NICE`; ``tgmonitor serve`` lowers
its whole process), at most :data:`DESK_SLOTS` requests are worked on at once (inside the daemon
they share its event loop), and identical reads share one answer while the archive is unchanged
(:mod:`monitor.web.fresh`).
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import ipaddress
import logging
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from aiohttp import web

from monitor.core.config import Config
from monitor.core.errors import MonitorError
from monitor.core.store import Archive, ChangeMark
from monitor.web.fresh import FreshReads
from monitor.web.security import LoginLimiter, Sessions

log = logging.getLogger(__name__)

PHASH_CACHE_S = 60.0
DESK_NICE = 10
"""How much lower than the daemon's the desk's OS priority is (``nice``; 10 of 19): its SQL
thread, and all of ``tgmonitor serve``. A busy desk then takes the cores the daemon leaves."""
DESK_SLOTS = 4
"""Requests worked on at once; the others wait their turn (costing nothing). Inside the daemon the
desk's handlers share the daemon's event loop: fifty at once would put fifty steps between two
steps of an archive write."""
_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def _popcount(values: np.ndarray) -> np.ndarray:
    """Set bits of each uint64: numpy's own (2.0 and later, ~0.3 ms for 100,000), else by bytes."""
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(values)
    return _POPCOUNT[values.view(np.uint8)].reshape(-1, 8).sum(axis=1)


def hash_index(rows: list[tuple[str, str]]) -> tuple[list[str], np.ndarray]:
    """The 64-bit perceptual hashes (16 hex digits) as one array, with their images' sha256."""
    shas, values = [], []
    for sha, phash in rows:
        if len(phash) == 16:
            try:
                values.append(int(phash, 16))
            except ValueError:
                continue
            shas.append(sha)
    return shas, np.array(values, dtype=np.uint64)


def lower_priority(nice: int) -> None:
    """Lower this process's OS priority by ``nice``, every thread of it: Linux keeps a nice value
    per thread and ``os.nice`` changes only the caller's (threads started earlier, by a library or
    the interpreter, would stay where they were). A system that refuses leaves it as it is."""
    tasks = Path("/proc/self/task")
    ids = [int(t.name) for t in tasks.iterdir()] if tasks.is_dir() else [0]  # 0: the whole process
    for tid in ids:
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, tid, min(19, max(nice, os.getpriority(os.PRIO_PROCESS, tid))))


def is_loopback(host: str) -> bool:
    """Whether ``host`` only listens on this machine (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass
class Desk:
    """What the web application works with (one per running desk)."""

    archive: Archive
    config: Config
    require_login: bool
    local_user: str = field(default_factory=getpass.getuser)
    sessions: Sessions = field(default_factory=Sessions)
    limiter: LoginLimiter = field(default_factory=LoginLimiter)
    # One poster checked at a time: OCR is seconds of CPU, the daemon's pool must keep its cores.
    check_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _hashes: tuple[float, tuple[list[str], np.ndarray] | None] = (0.0, None)
    _detector: Any = None
    _categories: tuple[str, ...] | None = None
    stats_cache: tuple[float, dict[str, Any] | None] = (0.0, None)
    slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(DESK_SLOTS))
    _changes: ChangeMark | None = None
    _reads: FreshReads | None = None

    @property
    def reads(self) -> FreshReads:
        """The archive reads shared while the archive is unchanged (opened on first use)."""
        if self._reads is None:
            self._changes = ChangeMark(self.archive.path)
            self._reads = FreshReads(self._changes.mark)
        return self._reads

    def close(self) -> None:
        """Close the change mark's connection (the archive is its opener's to close)."""
        if self._changes is not None:
            self._changes.close()
            self._changes = self._reads = None

    @property
    def media_dir(self) -> Path:
        return self.archive.media_dir

    async def near_images(self, phash: str, limit: int, max_distance: int) -> list[tuple[int, str]]:
        """``(distance, sha256)`` of the archived images within ``max_distance`` bits of ``phash``,
        nearest first. The hashes are read at most once a minute and compared as one numpy array
        (100,000 images in a few ms; one Python comparison each took ~100 ms)."""
        at, index = self._hashes
        if time.monotonic() - at > PHASH_CACHE_S or index is None:
            index = hash_index(await self.archive.desk.image_hashes())
            self._hashes = (time.monotonic(), index)
        shas, values = index
        try:
            wanted = np.uint64(int(phash, 16))
        except (ValueError, OverflowError):
            return []
        if not shas:
            return []
        distances = _popcount(values ^ wanted)
        close = np.flatnonzero(distances <= max_distance)
        ranked = sorted((int(distances[i]), shas[i]) for i in close)
        return ranked[:limit]

    def detector(self) -> Any:
        """The configured detector, built on first use (the check page)."""
        if self._detector is None:
            from monitor.app import build_detector  # why: rules compile (~0.2 s) only when checking

            self._detector = build_detector(self.config)
        return self._detector

    def categories(self) -> tuple[str, ...]:
        """The rule categories (the alerts queue's filter), from the configured rules."""
        if self._categories is None:
            from alerts.rules import load_rules

            try:
                rules = load_rules(self.config.alerts.rules)
            except MonitorError as exc:  # the queue still works; the filter takes any text
                log.warning("rules for the category filter: %s", exc)
                self._categories = ()
            else:
                self._categories = tuple(sorted({r.category for r in rules.rules}))
        return self._categories


DESK: web.AppKey[Desk] = web.AppKey("desk", Desk)
"""Where the application keeps its :class:`Desk` (``request.app[DESK]``)."""


async def check_bind(archive: Archive, host: str) -> bool:
    """Whether logins are required; listening beyond this machine without users is refused."""
    users = await archive.users.count()
    if not is_loopback(host) and users == 0:
        raise MonitorError(
            f"the desk would listen on {host}, beyond this machine, and no user can log in: "
            "add one first with tgmonitor users add NAME (or listen on 127.0.0.1)"
        )
    return users > 0


@contextlib.asynccontextmanager
async def open_desk(
    config: Config,
    db_path: Path,
    media_dir: Path | None,
    *,
    host: str,
    verify: bool = True,
    nice: int = DESK_NICE,
) -> AsyncIterator[Desk]:
    """Open the desk's own archive connection (its thread niced by ``nice``) and check the bind
    address against the users."""
    archive = await Archive.open(db_path, media_dir, verify=verify, nice=nice)
    desk = None
    try:
        require_login = await check_bind(archive, host)
        desk = Desk(archive=archive, config=config, require_login=require_login)
        yield desk
    finally:
        if desk is not None:
            desk.close()
        await archive.close()


async def run_desk(desk: Desk, host: str, port: int) -> web.AppRunner:
    """Start serving ``desk`` on ``host:port``; the caller cleans the runner up."""
    from monitor.web.app import build_app

    runner = web.AppRunner(build_app(desk), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise MonitorError(f"the desk cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    log.info("web desk on http://%s:%d/ (logins %s)", host, port, "required" if desk.require_login else "off")
    return runner
