"""What the OCR keeps between processes, in ``$XDG_CACHE_HOME/tgmonitor`` (``~/.cache/tgmonitor``):
Tesseract's word lists folded (``ocr.lexicon``), the digit reader's examples and the fonts they
are drawn from (``ocr.glyphs``), the command's version and languages (``ocr.tesseract``).

Each file is named by a key of what it was made from (versions, source files' sizes and times),
so a change of those gives a new file instead of reading a stale one; and each is written beside
its name and moved into place, so a process reading at the same time finds the old file or the
new one, never half of it. A home that cannot be written is the caller's to allow for (it keeps
what it made in memory).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path

__all__ = ["cache_file", "file_stamps", "write_atomically"]


def cache_file(kind: str, made_from: object, suffix: str) -> Path:
    """The cache file of ``kind`` for what ``made_from`` (its ``repr``) describes."""
    key = hashlib.sha256(repr(made_from).encode()).hexdigest()[:16]
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "tgmonitor" / f"{kind}-{key}{suffix}"


def file_stamps(paths: list[Path]) -> list[tuple[str, int, int]]:
    """Each file's path, size and modification time (ns), for a key of what a cache was made
    from: a file added, removed or changed gives a new key. A file that cannot be read is
    (-1, -1)."""
    stamps = []
    for path in paths:
        try:
            info = path.stat()
        except OSError:
            stamps.append((str(path), -1, -1))
        else:
            stamps.append((str(path), info.st_size, info.st_mtime_ns))
    return stamps


def write_atomically(target: Path, data: bytes) -> None:
    """``data`` into ``target`` through a temporary file beside it (OSError if it cannot)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=target.suffix)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
