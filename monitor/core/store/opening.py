"""How the archive file is met on disk: created private, opened read-only, found damaged.

The archive holds what the channels posted and what the analyst made of it: it is created for
its owner only (file 0600, folders 0700; SQLite gives its ``-wal``/``-shm`` the file's mode).
Commands that only read open it read-only, so an evidence copy on a read-only mount (or a file
marked immutable) can be searched; a command that writes is refused in one sentence there, and
refused too when the file is damaged (SQLite would write into a malformed file). The SQLite
errors that mean "damaged" or "read-only" are turned into :class:`ArchiveError` here, in words
that say what to do.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sqlite3
import threading
from pathlib import Path

from monitor.core.errors import ArchiveError

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700

# SQLite's primary result codes (the low byte of an extended code).
_SQLITE_READONLY = 8
_SQLITE_CORRUPT = 11


def make_private_dir(folder: Path) -> None:
    """Create ``folder`` (and missing parents) with the folders this creates 0700; existing ones
    keep their mode (``mkdir(parents=True)`` gives parents the umask's mode, hence one by one)."""
    missing: list[Path] = []
    current = folder
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for created in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another process made it meanwhile
            created.mkdir(mode=PRIVATE_DIR)
            created.chmod(PRIVATE_DIR)  # mode= is filtered by the umask


def create_private_file(path: Path) -> None:
    """Create an empty archive file 0600 before SQLite opens it (SQLite would use 0644 under
    umask 022); an existing file is left as it is."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    except FileExistsError:
        return
    os.close(fd)


def is_writable(path: Path) -> bool:
    """Whether SQLite can write ``path`` and create its ``-wal``/``-shm`` next to it (``os.access``
    says no for a read-only mount and for an immutable file, for root too)."""
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)


def read_only_uri(path: Path) -> str:
    """A ``mode=ro`` URI for ``path``; ``immutable=1`` too when nothing can be written there (no
    ``-shm`` could be created, so SQLite must be told that nobody changes the file)."""
    uri = f"{path.resolve().as_uri()}?mode=ro"
    return uri + "&immutable=1" if not is_writable(path) else uri


def readonly_error(path: Path) -> ArchiveError:
    return ArchiveError(
        f"the archive {path} is read-only (a read-only mount, an immutable file or no write permission): "
        "commands that only read (stats, search, alerts, similar, doctor) work on it; to change it, "
        "copy it to a writable place and point --db at the copy"
    )


def damaged_error(path: Path, detail: str = "") -> ArchiveError:
    detail = " ".join(detail.replace("*** in database main ***", "").split())  # quick_check's lines
    why = f" ({detail})" if detail else ""
    return ArchiveError(
        f"the archive {path} is damaged{why}: nothing more is written to it; keep it as it is and "
        f"recover what SQLite can still read with: sqlite3 {path} '.recover' | sqlite3 recovered.db "
        "then use --db recovered.db (and import the exports again to fill any gap)"
    )


def archive_error(exc: sqlite3.Error, path: Path) -> ArchiveError | None:
    """The :class:`ArchiveError` an SQLite error means for the archive at ``path``, or None if it
    is none of ours to explain (damaged file, read-only file). A file that is not SQLite at all
    (``SQLITE_NOTADB``) is not "damaged": the caller says it is no archive."""
    code = (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF
    text = str(exc)
    if code == _SQLITE_CORRUPT or "malformed" in text:
        return damaged_error(path, text)
    if code == _SQLITE_READONLY or "readonly database" in text:
        return readonly_error(path)
    return None


@functools.cache
def niced_connection(nice: int) -> type[sqlite3.Connection]:
    """A connection class that lowers the OS priority of the thread it is opened on by ``nice``.

    aiosqlite opens the connection on its own worker thread, where all of that connection's SQL
    then runs: on Linux a thread has its own nice value (``setpriority`` on its thread id), so
    the web desk's queries yield to the daemon's writes even when both are in one process.
    Elsewhere (no per-thread priority) the connection is opened as it is.
    """

    class NicedConnection(sqlite3.Connection):
        def __init__(self, *args: object, **kwargs: object) -> None:
            with contextlib.suppress(OSError, AttributeError):
                thread = threading.get_native_id()
                current = os.getpriority(os.PRIO_PROCESS, thread)
                os.setpriority(os.PRIO_PROCESS, thread, min(19, max(current, nice)))
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    return NicedConnection
