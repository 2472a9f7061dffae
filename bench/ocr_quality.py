"""OCR quality on the synthetic poster set: plain Tesseract against our pipeline, same images, same run.

Run: ``.venv/bin/python -m bench.ocr_quality [--n 48] [--seed 0] [--jobs 2] [--configs plain,ours]``

The posters come from ``scripts/posters.py`` (regenerated into a temporary folder, seeded).
Columns per configuration:
  * ``CER %``: character error rate, edit distance between the normalised truth (all lines) and
    the normalised OCR text, over the truth's length (junk the OCR adds counts as errors);
  * ``keyword %``: lexicon terms on the posters found as whole words in the normalised OCR text
    (punctuation counts as a word boundary, as in search and the detector);
  * ``hashtag %``: hashtags found (leniently: ``#`` and ``_`` are folded by ``normalize``);
  * ``countdown %``: posters with a countdown whose value and unit ``alerts.countdown`` recovers
    from the OCR text; ``false cd``: posters without a countdown where one was found anyway;
  * ``false kw``: lexicon terms found in the OCR text that are not on the poster (junk that
    reads like a threat word would raise a false alert);
  * ``E-digits %``: the countdown accuracy on posters written with Eastern Arabic digits only;
  * ``s/img``: seconds per image (two jobs share two cores: compare ratios, not absolutes).
Targets: keyword + hashtag recall >= 90 %, countdown accuracy >= 90 %, better than plain.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

from alerts.rules import load_rules
from monitor.core.text import normalize, words
from ocr.engine import recognize_file
from ocr.settings import READING_PASSES, OcrSettings
from scripts.posters import KEYWORDS

PLANES = ("grey", "red", "green", "blue")
SIX = (*PLANES, "white", "black")
PLAIN_EXTRAS = {"row_pass": False, "digits_pass": False, "glyph_digits": False}
NO_BLUE = READING_PASSES["quick"]["passes"]  # every plane but blue: the quick reading's planes


def as_shipped(settings: OcrSettings) -> OcrSettings:
    """``settings`` with the shipped rules' words, as the app reads posters (``monitor.ocr_settings``)."""
    return replace(settings, known_words=load_rules().vocabulary)


CONFIGS: dict[str, OcrSettings | None] = {
    "plain": None,  # tesseract IMAGE - -l ara+eng
    "grey-psm11": OcrSettings(passes=("grey",), min_confidence=0, **PLAIN_EXTRAS),
    "planes": OcrSettings(passes=PLANES, min_confidence=0, **PLAIN_EXTRAS),
    "planes+conf30": OcrSettings(passes=PLANES, min_confidence=30, **PLAIN_EXTRAS),
    "planes+conf60": OcrSettings(passes=PLANES, min_confidence=60, **PLAIN_EXTRAS),
    "planes+min+conf30": OcrSettings(passes=(*PLANES, "min"), **PLAIN_EXTRAS),
    # the study's best + the script-model digits pass
    "planes+digits": OcrSettings(passes=PLANES, row_pass=False, glyph_digits=False),
    # the pipeline: 9 planes + row re-read + glyph digits + script-model digits pass (ocr.engine)
    "ours": OcrSettings(),
    "ours-norows": OcrSettings(row_pass=False),
    # the pipeline with fewer plane passes (bench/ocr_pass_sets.py; bench/README.md, "Stop 43")
    "ours-six": OcrSettings(passes=SIX),  # no gold or filled masks
    "ours-four": OcrSettings(passes=("grey", "red", "white", "black")),
    # one colour plane fewer: the real set's floors hold, seed 3 loses a countdown ("Stop 45")
    "ours-noblue": OcrSettings(passes=NO_BLUE),
    # the rows re-read cut from grey alone: every floor holds, two countdowns read wrong ("Stop 46")
    "ours-rowsgrey": OcrSettings(row_planes=("grey",)),
    # both together, ``[ocr] reading = "quick"``: every floor holds, 1.35-1.41x plain in one
    # process on the real set ("Stop 51", "Stop 53")
    "ours-quick": OcrSettings(**READING_PASSES["quick"]),
    "ours-6planes": OcrSettings(passes=SIX, row_pass=False),  # no gold and fill masks, no rows
    "ours-noglyph": OcrSettings(glyph_digits=False),
    "ours-noscript": OcrSettings(digits_pass=False),
    # the pipeline before issue 4's second round: 6 planes + script-model digits pass
    "before": OcrSettings(passes=SIX, row_pass=False, glyph_digits=False),
    "ours-nodigits": OcrSettings(digits_pass=False, glyph_digits=False),
    "ours-upscale480": OcrSettings(passes=SIX, row_pass=False, glyph_digits=False, upscale_below=480),
    "ours-digits-page": OcrSettings(passes=SIX, row_pass=False, glyph_digits=False, digits_scope="page"),
    "grey+masks": OcrSettings(passes=("grey", "white", "black"), row_pass=False, glyph_digits=False),
    "grey+masks-nodigits": OcrSettings(
        passes=("grey", "white", "black"), row_pass=False, digits_pass=False, glyph_digits=False
    ),
    "grey+masks-page": OcrSettings(
        passes=("grey", "white", "black"), row_pass=False, glyph_digits=False, digits_scope="page"
    ),
    "ours-conf60": OcrSettings(min_confidence=60),
    # the pipeline with Tesseract in process (ocr.library, the default) or as commands (ocr.tesseract)
    "ours-library": OcrSettings(tesseract="library"),
    "ours-command": OcrSettings(tesseract="command"),
    # the pipeline before the clean line crops (ocr.lines) and the many-font glyph reader
    "ours-nolines": OcrSettings(line_pass=False),
}


def levenshtein(a: str, b: str) -> int:
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def countdown_of(text: str) -> tuple[int, str] | None:
    try:
        from alerts.countdown import find_countdown
    except ImportError:  # the detection module is not there: a small regex instead
        import re

        m = re.search(r"(\d+)\s*(days?|يوما|يوم|ايام|hours?|ساعه)", normalize(text))
        if not m:
            return None
        return int(m.group(1)), "hour" if m.group(2).startswith(("hour", "ساع")) else "day"
    found = find_countdown(text, source="ocr")  # as the detector reads poster text
    return (found.value, found.unit) if found else None


def plain_tesseract(path: Path) -> str:
    env = dict(os.environ, OMP_THREAD_LIMIT="1")
    out = subprocess.run(
        ["tesseract", str(path), "-", "-l", "ara+eng"], capture_output=True, text=True, env=env, check=False
    )
    return out.stdout


def read_one(args: tuple[str, str, dict | None]) -> tuple[str, str, float]:
    name, path, settings = args
    started = time.perf_counter()
    if settings is None:
        text = plain_tesseract(Path(path))
    else:
        outcome = recognize_file(path, OcrSettings.from_dict(settings))
        text = outcome.text if outcome.status == "done" else ""
    return name, text, time.perf_counter() - started


def _as_words(text: str) -> str:
    """Normalised words, space-joined and padded: what search and the detector match on (both
    take punctuation for word boundaries, so ``-الرد قادم`` holds the phrase ``الرد قادم``)."""
    return f" {' '.join(words(normalize(text)))} "


def score(truth: list[dict], texts: dict[str, str], seconds: dict[str, float]) -> dict:
    chars = errors = kw_total = kw_found = tag_total = tag_found = 0
    cd_total = cd_ok = false_cd = east_total = east_ok = false_kw = 0
    misses: list[str] = []
    for entry in truth:
        text = texts[entry["file"]]
        norm = _as_words(text)
        ref = normalize(" ".join(entry["lines"]))
        chars += len(ref)
        errors += levenshtein(ref, normalize(text))
        false_kw += sum(1 for term in KEYWORDS if term not in entry["keywords"] and _as_words(term) in norm)
        for term in entry["keywords"]:
            kw_total += 1
            if _as_words(term) in norm:
                kw_found += 1
            else:
                misses.append(f"{entry['file']}: keyword {term}")
        for tag in entry["hashtags"]:
            tag_total += 1
            if _as_words(tag) in norm:
                tag_found += 1
            else:
                misses.append(f"{entry['file']}: hashtag {tag}")
        found = countdown_of(text)
        if entry["countdown"]:
            cd_total += 1
            want = (entry["countdown"]["value"], entry["countdown"]["unit"])
            ok = found == want
            cd_ok += ok
            if entry["eastern_digits"]:
                east_total += 1
                east_ok += ok
            if not ok:
                misses.append(f"{entry['file']}: countdown {want} got {found}")
        elif found:
            false_cd += 1
            misses.append(f"{entry['file']}: false countdown {found}")
    return {
        "cer": 100 * errors / max(1, chars),
        "keyword": 100 * kw_found / max(1, kw_total),
        "hashtag": 100 * tag_found / max(1, tag_total),
        "kw+tag": 100 * (kw_found + tag_found) / max(1, kw_total + tag_total),
        "countdown": 100 * cd_ok / max(1, cd_total),
        "false_cd": false_cd,
        "false_kw": false_kw,
        "eastern": 100 * east_ok / max(1, east_total),
        "s_per_img": sum(seconds.values()) / max(1, len(seconds)),
        "misses": misses,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=48)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--configs", default="plain,before,ours")
    parser.add_argument("--posters", type=Path, help="an existing poster folder with truth.json")
    parser.add_argument("--misses", action="store_true", help="list what each configuration missed")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    from scripts.posters import make_poster_set

    with tempfile.TemporaryDirectory(prefix="tgm-posters-") as tmp:
        folder = args.posters or Path(tmp)
        if args.posters is None:
            make_poster_set(folder, args.n, args.seed)
        truth = json.loads((folder / "truth.json").read_text(encoding="utf-8"))
        results = {}
        with ProcessPoolExecutor(args.jobs) as executor:
            for config in args.configs.split(","):
                settings = CONFIGS[config]
                payload = as_shipped(settings).to_dict() if settings is not None else None
                jobs = [(e["file"], str(folder / e["file"]), payload) for e in truth]
                texts, seconds = {}, {}
                for name, text, secs in executor.map(read_one, jobs):
                    texts[name], seconds[name] = text, secs
                results[config] = score(truth, texts, seconds)
                print(f"  {config}: done", file=sys.stderr)

    if args.json:
        print(json.dumps({k: {m: v for m, v in r.items() if m != "misses"} for k, r in results.items()}))
    print(f"{len(truth)} posters, {sum(1 for e in truth if e['countdown'])} with a countdown "
          f"({sum(1 for e in truth if e['countdown'] and e['eastern_digits'])} in Eastern Arabic digits)")  # fmt: skip
    header = f"{'configuration':<20} {'CER %':>6} {'keyword %':>9} {'hashtag %':>9} {'kw+tag %':>8} {'countdown %':>11} {'E-digits %':>10} {'false cd':>8} {'false kw':>8} {'s/img':>6}"
    print(header)
    print("-" * len(header))
    for config, r in results.items():
        print(
            f"{config:<20} {r['cer']:6.1f} {r['keyword']:9.1f} {r['hashtag']:9.1f} {r['kw+tag']:8.1f} "
            f"{r['countdown']:11.1f} {r['eastern']:10.1f} {r['false_cd']:8d} {r['false_kw']:8d} {r['s_per_img']:6.2f}"
        )
    if args.misses:
        for config, r in results.items():
            print(f"\n== {config} missed:")
            for miss in r["misses"]:
                print("  ", miss)
    return 0


if __name__ == "__main__":
    sys.exit(main())
