"""One OCR worker process: reads JSON requests on stdin, answers one JSON line each on stdout.

Started by :class:`ocr.pool.OcrPool` as ``python -m ocr.worker SETTINGS_JSON`` in its own session
(so its own process group): on a timeout the pool kills the whole group, Tesseract included, and
removes the worker's private ``TMPDIR`` where pytesseract keeps its ``tess_*`` files.

Protocol (one JSON object per line):
  worker -> pool, once: ``{"ready": true}``
  pool -> worker: ``{"id": 1, "path": "/media/ab/abcd.jpg"}``
  worker -> pool: ``{"id": 1, "outcome": {...OcrOutcome...}}`` or ``{"id": 1, "error": "sentence"}``
"""

from __future__ import annotations

import json
import os
import shutil
import sys


def main(argv: list[str]) -> int:
    os.environ["OMP_THREAD_LIMIT"] = "1"
    from monitor.errors import OcrError
    from ocr.engine import recognize_file
    from ocr.settings import OcrSettings

    settings = OcrSettings.from_dict(json.loads(argv[0]) if argv else {})
    out = sys.stdout
    out.write(json.dumps({"ready": True}) + "\n")
    out.flush()
    for raw in sys.stdin:
        if not raw.strip():
            continue
        request = json.loads(raw)
        try:
            outcome = recognize_file(request["path"], settings)
            reply = {"id": request["id"], "outcome": outcome.to_dict()}
        except OcrError as exc:
            reply = {"id": request["id"], "error": str(exc)}
        out.write(json.dumps(reply, ensure_ascii=False) + "\n")
        out.flush()
    # End of input: the pool is gone or closing. Leave no empty private temp folder behind.
    tmpdir = os.environ.get("TMPDIR", "")
    if os.path.basename(tmpdir).startswith("tgmonitor-ocr-"):
        shutil.rmtree(tmpdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
