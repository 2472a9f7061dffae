"""numpy's OpenBLAS runs one thread in our processes (``monitor/__init__.py`` says why): its
spinning threads took CPU from Tesseract's. Each case is a fresh interpreter, since OpenBLAS reads
the setting once, when numpy loads; the first import names the way each kind of process starts
(an OCR command, the web desk, which imports numpy for its hash popcounts before any OCR)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

# One product, then the threads of the process: OpenBLAS makes its pool when numpy loads.
_COUNT_THREADS = """
import os, sys
import {first}
import numpy as np
a = np.ones((64, 64))
a @ a
print(len(os.listdir("/proc/self/task")), os.environ.get("OPENBLAS_NUM_THREADS"))
"""


def _threads_after(first: str, **env: str) -> tuple[int, str]:
    environ = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
    done = subprocess.run(
        [sys.executable, "-c", _COUNT_THREADS.format(first=first)],
        env={**environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    count, setting = done.stdout.split()
    return int(count), setting


needs_cores = pytest.mark.skipif(
    (os.cpu_count() or 1) < 2, reason="OpenBLAS starts no extra thread on one core: nothing to tell apart"
)


@needs_cores
@pytest.mark.parametrize("first", ["ocr", "monitor.web.desk", "monitor.cli"])
def test_numpy_runs_one_blas_thread_in_our_processes(first):
    assert _threads_after(first) == (1, "1")


@needs_cores
def test_numpy_alone_would_start_more():
    """The check above can fail: numpy imported before any of ours starts a thread per core."""
    count, setting = _threads_after("json")
    assert setting == "None"
    assert count > 1


def test_the_callers_own_setting_wins():
    assert _threads_after("ocr", OPENBLAS_NUM_THREADS="2")[1] == "2"
