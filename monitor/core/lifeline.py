"""Worker processes die with the process that started them (import workers, OCR workers).

A ``kill -9`` of ``tgmonitor import`` used to leave its import workers running for a minute or
more, holding the archive's WAL files, and an OCR worker in the middle of a poster read on until
its passes ended. Two guards, because either alone has a gap:

* On Linux the kernel kills the worker when its parent dies (``PR_SET_PDEATHSIG``), at once
  and whatever the worker is doing.
* Elsewhere, and for the moment between the worker's start and that call, the worker checks
  that its parent is still the process that started it (:func:`parent_alive`) while it waits
  for work.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
import time
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int, signum: int = signal.SIGKILL) -> bool:
    """Ask the kernel to send ``signum`` (SIGKILL unless the worker has a handler for another)
    to this process when its parent dies; False where it cannot.

    Exits at once if the parent is already gone (it may have died before this call).
    """
    armed = False
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            armed = libc.prctl(_PR_SET_PDEATHSIG, signum, 0, 0, 0) == 0
        except (OSError, AttributeError):
            armed = False
    if not parent_alive(parent_pid):
        os._exit(1)
    return armed


def parent_alive(parent_pid: int) -> bool:
    """Whether the process that started this one is still its parent (an orphan is re-parented)."""
    return os.getppid() == parent_pid


def parent_stopped(parent_pid: int, within: float = 2.0) -> bool:
    """Whether the process that started this one has stopped running, waiting up to ``within``
    seconds for it to finish dying.

    The kernel's parent-death signal comes when the *thread* that started this process exits.
    When the whole parent is killed (``kill -9``), its threads exit one after another, and this
    process is first handed to another thread of the same dying parent: the parent's id is still
    this process's parent id for a moment (:func:`parent_alive` says yes). So a worker that must
    know the parent is really gone (to remove what the parent would have removed) waits for the
    parent to be re-parented away or to be a zombie."""
    deadline = time.monotonic() + within
    while True:
        if not parent_alive(parent_pid) or _state(parent_pid) in (None, "Z", "X"):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)


def _state(pid: int) -> str | None:
    """The process state letter from ``/proc/PID/stat`` (None: no such process, or no /proc)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    return stat.rsplit(")", 1)[-1].split()[0]
