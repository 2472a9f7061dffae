"""Video OCR cost: a clip without text against one poster, read through the same pool, same run.

Run: ``.venv/bin/python -m bench.video_ocr [--repeat 3] [--posters 4] [--workers 2]``

Clips are made by ``tests/support/clips.py`` (frames drawn with PIL, encoded by the ``ffmpeg``
command); posters are the test posters of ``tests/support/ocr.py`` (``scripts/posters.py``).
One OCR pool (``--workers``, no outcome cache, warmed up first) reads, one at a time so each
uses every worker as a live alert would:

* each poster, ``--repeat`` times: the median is *one poster*;
* a 10 s clip without text (two panning landscapes, one cut), ``--repeat`` times: key frames
  cut by FFmpeg, every frame read by the pool, lines merged (``ocr.clips.ClipReader``);
* the 20 s clip with the threat end card, for reference;
* FFmpeg alone on each clip (``ocr.video.key_frames``): the cost of cutting the frames;
* two animated stickers (Lottie ``.tgs``, ``tests/support/stickers.py``), one without text and
  one with a threat and a countdown, read the same way (their frames drawn by rlottie in a child
  process, ``ocr.lottie``), and the drawing alone.

Prints a table and the ratios ``textless clip / one poster`` and ``textless sticker / one poster``
(target <= 3, issue 18).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from ocr import OcrPool, OcrSettings
from ocr.clips import ClipReader
from ocr.lottie import lottie_key_frames
from ocr.video import VideoSettings, key_frames
from tests.support.clips import textless_clip, threat_clip
from tests.support.ocr import POSTERS, write_poster
from tests.support.stickers import THREAT_STICKER, write_sticker


async def timed(make) -> tuple[float, object]:
    started = time.perf_counter()
    result = await make()
    return time.perf_counter() - started, result


async def run(repeat: int, posters: int, workers: int, folder: Path) -> dict[str, object]:
    names = list(POSTERS)[:posters]
    poster_paths = [write_poster(folder, name) for name in names]
    textless = textless_clip(folder / "textless.mp4")
    threat = threat_clip(folder / "threat.mp4")
    stickers = {
        "textless_sticker": write_sticker(folder / "disc.tgs", []),
        "threat_sticker": write_sticker(folder / "threat.tgs", THREAT_STICKER),
    }
    settings = VideoSettings()
    results: dict[str, object] = {}
    cut: dict[str, float] = {}
    cutters = [(name, clip, key_frames) for name, clip in (("textless", textless), ("threat", threat))]
    cutters += [(name, sticker, lottie_key_frames) for name, sticker in stickers.items()]
    for name, clip, cutter in cutters:  # FFmpeg's key frames of a clip, rlottie's of a sticker
        times = []
        for i in range(repeat):
            seconds, frames = await timed(
                lambda c=clip, i=i, cutter=cutter: cutter(c, folder / f"cut-{c.stem}-{i}", settings)
            )
            times.append(seconds)
        cut[name] = statistics.median(times)
        results[f"{name}_key_frames"] = len(frames)  # type: ignore[arg-type]
    async with OcrPool(OcrSettings(), workers=workers, queue_size=8, cache_size=0) as pool:
        await asyncio.gather(*(pool.recognize(poster_paths[-1]) for _ in range(workers)))  # warm up
        poster_times = []
        for path in poster_paths:
            for _ in range(repeat):
                seconds, _ = await timed(lambda p=path: pool.recognize(p))
                poster_times.append(seconds)
        reader = ClipReader(pool, settings)
        clip_times: dict[str, list[float]] = {"textless": [], "threat": [], **{name: [] for name in stickers}}
        texts: dict[str, str] = {}
        for name, clip in (("textless", textless), ("threat", threat), *stickers.items()):
            for _ in range(1 if name == "threat" else repeat):
                seconds, outcome = await timed(lambda c=clip: reader.recognize(c))
                clip_times[name].append(seconds)
                texts[name] = outcome.text  # type: ignore[attr-defined]
    one_poster = statistics.median(poster_times)
    median = {name: statistics.median(times) for name, times in clip_times.items()}
    lines = {name: len([t for t in text.splitlines() if t]) for name, text in texts.items()}
    textless_s = median["textless"]
    results.update(
        {
            "posters": len(poster_paths),
            "workers": workers,
            "one_poster_s": round(one_poster, 2),
            "textless_clip_s": round(textless_s, 2),
            "threat_clip_s": round(clip_times["threat"][0], 2),
            "ffmpeg_textless_s": round(cut["textless"], 3),
            "ffmpeg_threat_s": round(cut["threat"], 3),
            "textless_over_poster": round(textless_s / one_poster, 2),
            "threat_over_poster": round(clip_times["threat"][0] / one_poster, 2),
            "textless_text_lines": lines["textless"],
            "threat_text_lines": lines["threat"],
            "textless_sticker_s": round(median["textless_sticker"], 2),
            "threat_sticker_s": round(median["threat_sticker"], 2),
            "rlottie_textless_s": round(cut["textless_sticker"], 3),
            "rlottie_threat_s": round(cut["threat_sticker"], 3),
            "textless_sticker_over_poster": round(median["textless_sticker"] / one_poster, 2),
            "textless_sticker_text_lines": lines["textless_sticker"],
            "threat_sticker_has_countdown": "yes" if "باقي ٥٩ يوما" in texts["threat_sticker"] else "no",
        }
    )
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--posters", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-video-") as tmp:
        results = asyncio.run(run(args.repeat, args.posters, args.workers, Path(tmp)))
    if args.json:
        print(json.dumps(results))
        return 0
    print(f"{'measure':<34} {'result':>10}")
    for key, label in (
        ("one_poster_s", "one poster (median), s"),
        ("textless_clip_s", "10 s clip without text, s"),
        ("threat_clip_s", "20 s clip with end card, s"),
        ("ffmpeg_textless_s", "ffmpeg key frames, textless, s"),
        ("ffmpeg_threat_s", "ffmpeg key frames, threat, s"),
        ("textless_key_frames", "key frames, textless clip"),
        ("threat_key_frames", "key frames, threat clip"),
        ("textless_text_lines", "lines read, textless clip"),
        ("threat_text_lines", "lines read, threat clip"),
        ("textless_sticker_s", "sticker without text, s"),
        ("threat_sticker_s", "sticker with a threat, s"),
        ("rlottie_textless_s", "rlottie key frames, textless, s"),
        ("rlottie_threat_s", "rlottie key frames, threat, s"),
        ("textless_sticker_text_lines", "lines read, textless sticker"),
        ("threat_sticker_has_countdown", "countdown read, threat sticker"),
    ):
        print(f"{label:<34} {results[key]:>10}")
    ratio = results["textless_over_poster"]
    sticker = results["textless_sticker_over_poster"]
    print(
        f"textless clip / one poster: {ratio}x (target <= 3x)  threat clip / one poster: {results['threat_over_poster']}x"
    )
    print(f"textless sticker / one poster: {sticker}x (target <= 3x)")
    return 0 if isinstance(ratio, float) and ratio <= 3 and isinstance(sticker, float) and sticker <= 3 else 1


if __name__ == "__main__":
    sys.exit(main())
