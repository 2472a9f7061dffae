"""tgmonitor. This package is the first of ours that every process imports (``monitor.core`` is
inside it, and ``ocr``, ``alerts`` and ``handlers`` build on that), so process-wide settings that
must come before a library loads live here.

numpy's OpenBLAS starts a thread per core, and each spins for a while after every product it
runs, taking CPU from Tesseract's threads and from the other OCR worker: 0.13 s of the 3.3 s of
CPU a poster takes in ``check --image``, for the same output. Our products are tiny (the pHash's
32 x 32 DCT, the glyph reader's distances), so one thread does them. OpenBLAS reads this once,
when numpy is imported; a setting of the caller's own wins.
"""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
