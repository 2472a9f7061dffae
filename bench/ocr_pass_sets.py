"""Sets of passes on the real images, in one process, against plain Tesseract in the same run.

Run: ``.venv/bin/python -m bench.ocr_pass_sets --real ../shared/real_images [--configs ours,ours-six,ours-four]``

What a smaller set of passes buys and costs where the time is paid once the models are loaded (the
daemon's workers, the bot, the web desk): each image of ``truth.jsonl`` is read by plain
``tesseract IMG - -l ara+eng`` and by each configuration (``bench.ocr_quality.CONFIGS``: ``ours``
is the pipeline, ``ours-six`` without the gold and filled masks, ``ours-four`` grey, red and the
white and black masks, ``ours-noblue`` without the blue plane, ``ours-rowsgrey`` with the rows
re-read cut from the grey plane alone), one after the other, image by image. Printed per
configuration: wall and CPU seconds per image and their ratio to plain's, word recall per image
and pooled, and output tokens per truth token, with the real set's own ``score.py`` normalisation
and word test (imported from where it is). The synthetic posters of the same configurations:
``python -m bench.ocr_quality --configs ours,ours-six,ours-four,ours-noblue,ours-rowsgrey --seed N``.

Plain pays its model loading in every run and ours only once, so this is not ``score.py``'s ratio
(one process per image for both); bench/README.md, "Stop 43", has both.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

from bench.ocr_quality import CONFIGS, as_shipped, plain_tesseract
from bench.ocr_refinish import real_truth, score_module
from bench.ocr_speed import cpu_seconds
from ocr.engine import recognize_file
from ocr.settings import OcrSettings


class Tally:
    """One configuration's seconds, words found and tokens written over the images."""

    def __init__(self) -> None:
        self.wall = self.cpu = 0.0
        self.recalls: list[float] = []
        self.found = self.words = self.tokens = 0
        self.truth_tokens = 0

    def add_text(self, found: list[bool], tokens: int, truth_tokens: int) -> None:
        self.recalls.append(sum(found) / len(found))
        self.found += sum(found)
        self.words += len(found)
        self.tokens += tokens
        self.truth_tokens += truth_tokens


def timed(run: Callable[[], str]) -> tuple[str, float, float]:
    started, used = time.perf_counter(), cpu_seconds()
    text = run()
    return text, time.perf_counter() - started, cpu_seconds() - used


def measure(real: Path, configs: list[str], every: int = 1) -> dict[str, Tally]:
    """Every ``every``-th image of ``real``'s truth read by plain Tesseract and each configuration."""
    scorer = score_module(real)
    chosen = real_truth(real)[::every]
    settings = {name: as_shipped(CONFIGS[name] or OcrSettings()) for name in configs}
    for name in configs:  # the models loaded before the clock starts, as in a worker
        recognize_file(real / "images" / chosen[0]["file"], settings[name])
    tallies = {name: Tally() for name in ["plain", *configs]}
    for entry in chosen:
        path = real / "images" / entry["file"]
        runs: list[tuple[str, Callable[[], str]]] = [("plain", lambda path=path: plain_tesseract(path))]
        runs += [
            (name, lambda path=path, name=name: recognize_file(path, settings[name]).text) for name in configs
        ]
        for name, run in runs:
            text, wall, cpu = timed(run)
            tally = tallies[name]
            tally.wall += wall
            tally.cpu += cpu
            norm = scorer.normalise(text)
            found = [scorer.found(word, norm) for word in entry["words"]]
            tally.add_text(found, scorer.tokens(text), scorer.tokens(entry["text"]))
    return tallies


def report(tallies: dict[str, Tally]) -> list[str]:
    plain = tallies["plain"]
    images = len(plain.recalls)
    lines = []
    for name, tally in tallies.items():
        lines.append(
            f"{name:12s} {tally.wall / images:6.3f} s per image ({tally.wall / plain.wall:4.2f}x plain),"
            f" CPU {tally.cpu / images:6.3f} s ({tally.cpu / plain.cpu:4.2f}x);"
            f" recall {100 * sum(tally.recalls) / images:5.2f} % per image, {100 * tally.found / tally.words:4.1f} %"
            f" pooled, {tally.tokens / tally.truth_tokens:.3f} tokens per truth token"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--real", type=Path, required=True, help="the real images' folder (truth.jsonl, images/, score.py)"
    )
    parser.add_argument("--configs", default="ours,ours-six,ours-four")
    parser.add_argument("--every", type=int, default=1, help="every n-th image only")
    args = parser.parse_args(argv)
    configs = [name for name in args.configs.split(",") if name]
    unknown = [name for name in configs if name not in CONFIGS or CONFIGS[name] is None]
    if unknown:
        parser.error(f"unknown configurations {unknown}: bench/ocr_quality.py's CONFIGS names them")
    tallies = measure(args.real, configs, args.every)
    print(f"{len(tallies['plain'].recalls)} real images, in one process, plain Tesseract in the same run:")
    print("\n".join(report(tallies)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
