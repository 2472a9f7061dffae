"""One OCR worker process: reads JSON requests on stdin, answers one JSON line each on stdout.

Started by :class:`ocr.pool.OcrPool` as ``python -m ocr.worker SETTINGS_JSON`` in its own session
(so its own process group): on a timeout the pool kills the whole group, Tesseract included, and
removes the worker's private ``TMPDIR``.

An image is read in three kinds of steps, so that the passes of one poster can run on several
workers at once (``ocr.pool``). Each step is a request; any worker can do any step, because the
steps share nothing but files in the image's job folder:

* ``prepare``: load and fingerprint the image, write its planes into ``dir`` as PGM files, and
  answer the meta data and the list of passes to run, a plane with the same pixels as an
  earlier one marked ``same_as`` it (``ocr.planes.twin_planes``: it is not read, it gets that
  reading), or the outcome itself: failed for a bad image, done with no text for a picture with
  nothing to read (``ocr.blank``);
* ``passes``: a batch of plane passes (``ocr.passes.plane_batches``: the colour planes and masks
  in one Tesseract run, or one stack of line crops); answers the lines of each;
* ``second``: one pass that needs the plane passes first (the row re-read, the script-model
  digits pass); answers its lines;
* ``finish``: merge all passes, read Eastern digits from the glyphs, answer the text.

``read`` does all three in this process (one image, one worker).

Protocol (one JSON object per line):
  worker -> pool, once: ``{"ready": true}``
  pool -> worker: ``{"id": 1, "op": "prepare", "path": "/media/ab/abcd.jpg", "dir": "/tmp/.../job-1"}``
  worker -> pool: ``{"id": 1, ...answer...}``, ``{"id": 1, "failed": "reason"}`` when Tesseract
  refused the image, or ``{"id": 1, "error": "sentence"}`` when Tesseract or a language is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from PIL import Image

from monitor.core.errors import OcrError
from monitor.core.lifeline import die_with_parent, parent_stopped
from ocr.digits import warm_up
from ocr.engine import load_for_ocr, nothing_to_read, recognize_file
from ocr.passes import nothing_to_reread, read_planes, read_second
from ocr.planes import is_pass, open_plane, plane_sets, save_plane, twin_planes
from ocr.readings import PassResult
from ocr.settings import OcrSettings
from ocr.tesseract import TesseractFailed, tesseract_failure
from ocr.voting import finish


class PlaneFiles(Mapping[str, Image.Image]):
    """The planes of an image's first frame, opened from the job folder only when asked for."""

    def __init__(self, files: dict[str, str]) -> None:
        self._files = files
        self._open: dict[str, Image.Image] = {}

    def __getitem__(self, name: str) -> Image.Image:
        if name not in self._open:
            if name not in self._files:
                raise KeyError(name)
            self._open[name] = open_plane(self._files[name])
        return self._open[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._files)

    def __len__(self) -> int:
        return len(self._files)


def plane_file(folder: Path, frame: int, name: str, image: Image.Image) -> Path:
    suffix = "pgm" if image.mode in ("L", "1") else "ppm"
    return folder / f"f{frame}-{name}.{suffix}"


def handle(request: dict[str, Any], settings: OcrSettings) -> dict[str, Any]:
    """Answer one request (see the module docstring)."""
    op = request.get("op", "read")
    if op == "read":
        return {"outcome": recognize_file(request["path"], settings).to_dict()}
    try:
        if op == "prepare":
            outcome, loaded = load_for_ocr(request["path"], settings)
            if loaded is None or nothing_to_read(outcome, loaded, settings):
                return {"outcome": outcome.to_dict()}
            folder = Path(request["dir"])
            folder.mkdir(exist_ok=True)  # in the pool's job folder: gone with a killed pool, not made again
            units = []
            for frame, planes in enumerate(plane_sets(loaded.frames, settings)):
                written: dict[int, Path] = {}  # one line stack serves each language's pass
                twins = twin_planes(planes)  # read once, each twin given the reading
                for name, plane in planes.items():
                    target = written.get(id(planes[twins.get(name, name)]))  # a twin: the same pixels
                    if target is None:
                        target = written[id(plane)] = plane_file(folder, frame, name, plane)
                        save_plane(plane, target)
                    unit = {"frame": frame, "plane": name, "file": str(target), "read": is_pass(name)}
                    units.append(unit | ({"same_as": twins[name]} if name in twins else {}))
            return {"meta": outcome.to_dict(), "units": units}
        if op == "passes":  # a batch of plane passes (ocr.passes.plane_batches): one Tesseract run
            units = request["units"]
            found = read_planes([(u["plane"], u["file"]) for u in units], settings)
            return {
                "results": [
                    PassResult(u["frame"], u["plane"], lines).to_json()
                    for u, lines in zip(units, found, strict=True)
                ]
            }
        if op in ("second", "finish"):
            results = [PassResult.from_json(r) for r in request["results"]]
            first = PlaneFiles({u["plane"]: u["file"] for u in request["units"] if u["frame"] == 0})
            if op == "second":
                if nothing_to_reread(results, first, settings):  # as ocr.engine.read_passes decides
                    return {"result": PassResult(0, request["name"], []).to_json(), "read": False}
                return {"result": read_second(request["name"], results, first, settings).to_json()}
            second = [PassResult.from_json(r) for r in request.get("second", [])]
            if "known_words" in request:  # the pool's words as of this read (``OcrPool.use_words``)
                settings = replace(settings, known_words=tuple(request["known_words"]))
            read = finish(results, first, settings, second)
            return {"text": read.text, "doubtful": read.doubtful}
    except TesseractFailed as exc:
        return {"failed": tesseract_failure(exc)}
    except OSError as exc:  # a plane file gone: the job was given up (timed out) meanwhile
        return {"failed": f"OCR step failed: {exc}"}
    raise ValueError(f"unknown OCR worker request {op!r}")


def _group_taker(parent: int) -> Callable[[int, Any], None]:
    """The SIGTERM handler of a worker the pool started: the kernel sends SIGTERM when the pool's
    process dies (``die_with_parent``)."""

    def take_the_group_down(signum: int, frame: Any) -> None:
        """Kill this worker's process group (its Tesseract runs too), which the pool would have
        done had it lived (``OcrWorker.kill``), and first remove what it would have removed: this
        worker's ``TMPDIR`` and, once the pool's process has stopped (``parent_stopped``; a
        SIGTERM from anyone else leaves it), the pool's job folder, with the planes of the posters
        being read.
        A pool killed with SIGKILL (the OOM killer, ``kill -9``) left both in /tmp for good."""
        _remove_own(os.environ.get("TMPDIR", ""), "tgmonitor-ocr-")
        if parent_stopped(parent):
            _remove_own(os.environ.get("TGMONITOR_OCR_JOBS", ""), "tgmonitor-ocr-jobs-")
        os.killpg(os.getpgrp(), signal.SIGKILL)

    return take_the_group_down


_LIFELINE: list[socket.socket] = []  # the wakeup socket pair, kept open for the process's life


def _arm_lifeline(parent: int) -> None:
    """Take the group down (``_group_taker``) as soon as SIGTERM comes, from a thread of its own.

    Python runs a signal's handler on the main thread only, between two of its steps; the main
    thread may be inside Tesseract for seconds without one (the page layout before the words, the
    paragraphs after them: a grain pass was still there 5 s after its import was killed, once the
    words themselves had become fast). Python's own C handler writes each signal's number to the
    wakeup socket at once, whichever thread the kernel chose, and this thread waits on it. The
    handler stays installed for the main thread too (both may run it: it removes and kills what is
    there)."""
    take = _group_taker(parent)
    signal.signal(signal.SIGTERM, take)
    reader, writer = socket.socketpair()
    writer.setblocking(False)
    signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    _LIFELINE[:] = [reader, writer]

    def watch() -> None:
        while data := reader.recv(64):
            if signal.SIGTERM in data:  # other signals (the passes' SIGPROF) come here too
                take(signal.SIGTERM, None)

    threading.Thread(target=watch, name="lifeline", daemon=True).start()


def _remove_own(folder: str, prefix: str) -> None:
    """Remove ``folder`` if it is one the pool made (its name starts with ``prefix``)."""
    if folder and os.path.basename(folder).startswith(prefix):
        shutil.rmtree(folder, ignore_errors=True)


def main(argv: list[str]) -> int:
    os.environ["OMP_THREAD_LIMIT"] = "1"
    parent = os.environ.get("TGMONITOR_OCR_PARENT", "")
    if parent.isdigit() and os.getpgrp() == os.getpid():  # started by the pool, in its own group
        _arm_lifeline(int(parent))
        die_with_parent(int(parent), signal.SIGTERM)
    settings = OcrSettings.from_dict(json.loads(argv[0]) if argv else {})
    out = sys.stdout
    out.write(json.dumps({"ready": True}) + "\n")
    out.flush()
    if settings.glyph_digits:
        # Draw the digit templates (about a second) while the first passes run in Tesseract,
        # rather than in the middle of the first poster with a countdown.
        threading.Thread(target=warm_up, name="digit-templates", daemon=True).start()
    for raw in sys.stdin:
        if not raw.strip():
            continue
        request = json.loads(raw)
        try:
            reply = {"id": request["id"], **handle(request, settings)}
        except OcrError as exc:
            reply = {"id": request["id"], "error": str(exc)}
        out.write(json.dumps(reply, ensure_ascii=False) + "\n")
        out.flush()
    # End of input: the pool is gone or closing. Leave no empty private temp folder behind.
    _remove_own(os.environ.get("TMPDIR", ""), "tgmonitor-ocr-")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
