"""Where a poster's time goes, and the no-text decision, against plain Tesseract in the same run.

Run: ``.venv/bin/python -m bench.ocr_speed [--posters 12] [--seed 0] [--real DIR] [--engine command|library]``

1. **No text** (``ocr.blank``): every picture of ``scripts/pictures.py`` (seeds 0-2, no text in
   any) read by :func:`ocr.recognize_file` (load, fingerprint, the no-text test, and the passes
   when it cannot tell) next to ``tesseract IMG - -l ara+eng`` on the same file; then how many
   images of the synthetic posters (``--seed``, 48) and of ``--real`` the test would skip (it
   must skip none that has text).
2. **Profile**: ``--posters`` synthetic posters (and ``--real`` images) read once with every
   pass counted: Tesseract runs per pass kind, seconds per kind, the planes and line finding
   (Python), the merge (Python), against plain Tesseract on the same images.
Run it on a quiet machine: the passes and plain share the cores with whatever else runs.
"""

from __future__ import annotations

import argparse
import collections
import os
import resource
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ocr.engine as engine
import ocr.tesseract as tesseract
from ocr.blank import has_no_text
from ocr.engine import NO_TEXT, recognize_file
from ocr.images import load_image
from ocr.settings import OcrSettings
from scripts.pictures import write_pictures
from scripts.posters import make_poster_set


def cpu_seconds() -> float:
    """CPU seconds used so far by this process and its finished children (Tesseract commands):
    on shared cores a far steadier measure than the wall clock."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def plain_seconds(path: Path) -> float:
    return plain_times(path)[0]


def plain_times(path: Path) -> tuple[float, float]:
    """Wall and CPU seconds of ``tesseract IMG - -l ara+eng`` on ``path``."""
    started, cpu = time.perf_counter(), cpu_seconds()
    subprocess.run(
        ["tesseract", str(path), "-", "-l", "ara+eng"],
        capture_output=True,
        check=False,
        env={**os.environ, "OMP_THREAD_LIMIT": "1"},
    )
    return time.perf_counter() - started, cpu_seconds() - cpu


def no_text_table(folder: Path, settings: OcrSettings) -> None:
    print("no-text pictures (scripts/pictures.py): ours s (verdict) / plain s")
    pictures = [p for seed in (0, 1, 2) for p in write_pictures(folder / "pictures", seed)]
    ours_total = plain_total = 0.0
    skipped = 0
    for path in pictures:
        outcome = recognize_file(path, settings)
        plain = plain_seconds(path)
        ours_total += outcome.seconds
        plain_total += plain
        verdict = "no text" if outcome.reason == NO_TEXT else f"read: {len(outcome.text.split())} words"
        skipped += outcome.reason == NO_TEXT
        print(f"  {path.name:18s} {outcome.seconds:6.2f} s ({verdict})  plain {plain:5.2f} s")
    print(
        f"  {skipped} of {len(pictures)} recorded as no text; mean {ours_total / len(pictures):.2f} s, plain {plain_total / len(pictures):.2f} s"
    )


def skipped_among(label: str, paths: list[Path], settings: OcrSettings) -> None:
    took = []
    for path in paths:
        loaded = load_image(
            path, max_bytes=settings.max_bytes, max_pixels=settings.max_pixels, max_side=settings.max_side
        )
        if has_no_text(loaded.frames):
            took.append(path.name)
    print(f"{label}: {len(took)} of {len(paths)} would be recorded as no text {took or ''}")


class Profile:
    """Counts Tesseract runs and their seconds per pass kind while ``ocr.engine`` reads images.

    The kind of a run is told by its arguments (languages, psm), so the count holds while the
    runs of one image go side by side on two threads; their seconds overlap, so they add up to
    more than the wall time of the image.
    """

    def __init__(self) -> None:
        self.stats: dict[str, list[float]] = collections.defaultdict(lambda: [0, 0.0])
        self.lock = threading.Lock()

    def _add(self, key: str, runs: int, seconds: float) -> None:
        with self.lock:
            self.stats[key][0] += runs
            self.stats[key][1] += seconds

    def _timed(self, key: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self._add(key, 1, time.perf_counter() - started)

        return run

    @staticmethod
    def kind(lang: str, psm: int) -> str:
        if lang == "Arabic":
            return "digits (script model)"
        if psm == 11:
            return "colour planes and masks (batched)"
        return "rows (second pass)" if "+" in lang else f"lines:{lang}"

    def install(self) -> None:
        batch = tesseract.tesseract_batch

        def counted(images: Any, lang: str, psm: int, *args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return batch(images, lang, psm, *args, **kwargs)
            finally:
                self._add(f"  tesseract runs: {self.kind(lang, psm)}", 1, time.perf_counter() - started)

        # every run: ``tesseract_words`` and the plane passes go through it
        tesseract.tesseract_batch = counted
        engine.frame_planes = self._timed("planes (Python)", engine.frame_planes)
        engine.line_planes = self._timed("line finding (Python, beside the first runs)", engine.line_planes)
        engine.finish = self._timed("merge, evidence, glyph digits (Python)", engine.finish)

    def report(self, images: int, total: float, plain: float, cpu: float, plain_cpu: float) -> None:
        print(
            f"{images} images: ours {total / images:.2f} s per image, plain {plain / images:.2f} s"
            f" ({total / max(plain, 1e-9):.1f}x); CPU s per image ours {cpu / images:.2f},"
            f" plain {plain_cpu / images:.2f} ({cpu / max(plain_cpu, 1e-9):.1f}x)"
        )
        for key, (runs, seconds) in sorted(self.stats.items()):
            print(
                f"  {key:44s} {runs / images:5.2f} per image  {seconds / images:6.2f} s  {100 * seconds / total:5.1f} %"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posters", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--real", type=Path, default=None, help="a folder of real images (shared/real_images/images)"
    )
    parser.add_argument("--engine", default=OcrSettings().tesseract, choices=("command", "library"))
    parser.add_argument(
        "--real-every", type=int, default=0, help="profile every n-th real image only (0: all)"
    )
    parser.add_argument("--skip-profile", action="store_true")
    parser.add_argument("--skip-pictures", action="store_true", help="leave out the no-text pictures")
    args = parser.parse_args(argv)
    settings = OcrSettings(tesseract=args.engine)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if not args.skip_pictures:
            no_text_table(folder, settings)
        make_poster_set(folder / "posters", 48, args.seed)
        posters = sorted(p for p in (folder / "posters").iterdir() if p.suffix in (".png", ".jpg"))
        skipped_among(f"synthetic posters (seed {args.seed})", posters, settings)
        real = sorted(p for p in args.real.iterdir() if p.is_file()) if args.real else []
        if real:
            skipped_among(f"real images ({args.real})", real, settings)
        if args.skip_profile:
            return 0
        profile = Profile()
        profile.install()
        chosen = posters[: args.posters] + (real[:: args.real_every] if args.real_every else real)
        total = plain = cpu = plain_cpu = 0.0
        for path in chosen:
            started, used = time.perf_counter(), cpu_seconds()
            recognize_file(path, settings)
            total += time.perf_counter() - started
            cpu += cpu_seconds() - used
            wall, plain_used = plain_times(path)
            plain += wall
            plain_cpu += plain_used
        profile.report(len(chosen), total, plain, cpu, plain_cpu)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
