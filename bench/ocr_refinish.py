"""Stored OCR passes finished again by the code as it is, and scored on every set.

What follows the passes (the vote, the evidence step, the digit readers) is then measured on
the real images, the drawn pictures and five poster seeds in half a minute, not a full OCR run.

Run:
  ``.venv/bin/python -m bench.ocr_refinish store DIR [--real ../shared/real_images] [--seeds 0-4] [--pictures 0-4]
  [--textless FILE ...]``
  ``.venv/bin/python -m bench.ocr_refinish score DIR [--real ../shared/real_images] [--without PASS,...] [--texts OUT]``

``store`` reads every image once with every pass, as ``check --image`` does
(:func:`ocr.engine.read_passes`), and keeps what :func:`ocr.voting.finish` takes: the passes'
readings, and the planes the digit readers look at as files beside them. ``score`` finishes
each image with the code as it is now and prints:

* the real images (``--real``: the folder with ``truth.jsonl``, ``images/`` and ``score.py``; that
  script's own normalisation and word test are used): word recall per image and pooled, output
  tokens per truth token, as ``score.py`` prints them for ours;
* the drawn pictures without text (``scripts/pictures.py``), and real ones given to ``store`` with
  ``--textless`` (photos from an export, say): the words that reached their text;
* the synthetic posters of each seed (``scripts/posters.py``): keyword+hashtag, countdown and
  Eastern-digit countdown %, false countdowns and keywords, CER (``bench.ocr_quality``'s scoring).

``--without``: finish without these passes (a doubled plane goes with its plane; ``lines:*`` for a
prefix), a first screen of what a pass is worth: the rows and digit passes stay as read, from
every plane. A store holds the readings of the passes' code it was made with: store again after a
change to the passes themselves. Finishing stored passes gives the text the read gave
(``tests/ocr/test_refinish.py``). Stores are pickles: load only your own. To score another
checkout (a ``git worktree``) against the same store, run ``score`` from that checkout's folder:
``python -m`` puts the current folder first on the path, ahead of the installed project.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import pickle
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from bench.ocr_quality import as_shipped
from bench.ocr_quality import score as poster_score
from ocr.blank import has_no_text
from ocr.engine import read_passes
from ocr.images import load_image
from ocr.planes import DOUBLED_PREFIX, INK_PLANE, image_planes, open_plane, save_plane
from ocr.readings import PassResult
from ocr.settings import OcrSettings
from ocr.tesseract import usable_settings
from ocr.voting import finish
from scripts.pictures import write_pictures
from scripts.posters import make_poster_set

__all__ = ["Stored", "finish_stored", "left_out", "main", "real_truth", "score_module", "store_image"]

Stored = tuple[list[PassResult], list[str], list[PassResult]] | None
"""One image's passes, the names of the planes ``finish`` looks at (saved beside it), its second
passes; None for a picture without text (``ocr.blank``), which is not read."""


def store_image(path: Path, settings: OcrSettings, planes_dir: Path) -> Stored:
    """Read ``path`` as ``check --image`` does (a picture without text is not read) and keep
    what :func:`finish` takes: the planes the digit readers look at go to ``planes_dir``
    (``ocr.planes.save_plane``, a line stack's layout beside it)."""
    loaded = load_image(
        path, max_bytes=settings.max_bytes, max_pixels=settings.max_pixels, max_side=settings.max_side
    )
    if settings.no_text_check and has_no_text(loaded.frames):
        return None
    results, first, second = read_passes(loaded.frames, settings)
    kept = {**image_planes(first), **({INK_PLANE: first[INK_PLANE]} if INK_PLANE in first else {})}
    planes_dir.mkdir(parents=True, exist_ok=True)
    for name, plane in kept.items():
        save_plane(plane, planes_dir / f"{name}.png")
    return results, sorted(kept), second


def finish_stored(
    stored: Stored, planes_dir: Path, settings: OcrSettings, dropped: Callable[[str], bool] = lambda _: False
) -> str:
    """The text :func:`finish` makes of ``stored`` (its planes in ``planes_dir``) now, without
    the passes ``dropped`` names."""
    if stored is None:
        return ""
    results, names, second = stored
    planes = {name: open_plane(planes_dir / f"{name}.png") for name in names}
    return finish(
        [r for r in results if not dropped(r.plane)],
        planes,
        settings,
        [r for r in second if not dropped(r.plane)],
    ).text


def _seeds(text: str) -> list[int]:
    if not text:
        return []
    first, _, last = text.partition("-")
    return list(range(int(first), int(last or first) + 1))


def _store(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="tgm-refinish-") as tmp:  # the drawn images, read then gone
        for name, paths in _sets(args, Path(tmp)).items():
            (args.dir / name).mkdir(parents=True, exist_ok=True)
            for number, path in enumerate(paths, 1):
                target = args.dir / name / f"{path.name}.pickle"
                if not target.exists():
                    stored = store_image(path, args.settings, _planes_dir(target))
                    target.write_bytes(pickle.dumps(stored))
                print(f"\r{name}: {number}/{len(paths)}", end="", file=sys.stderr, flush=True)
            print(file=sys.stderr)
    return 0


def _sets(args: argparse.Namespace, work: Path) -> dict[str, list[Path]]:
    """Each set's images: the real ones where they are, the drawn ones made in ``work`` (a seed's
    truth is kept beside its store)."""
    sets: dict[str, list[Path]] = {}
    if args.real:
        sets["real"] = [args.real / "images" / entry["file"] for entry in real_truth(args.real)]
    for seed in _seeds(args.pictures):
        sets[f"pictures{seed}"] = write_pictures(work / f"pictures{seed}", seed=seed)
    if args.textless:
        sets["textless"] = list(args.textless)
    for seed in _seeds(args.seeds):
        folder = work / f"seed{seed}"
        make_poster_set(folder, seed=seed)
        sets[f"seed{seed}"] = sorted(p for p in folder.iterdir() if p.suffix in (".png", ".jpg"))
        (args.dir / f"seed{seed}").mkdir(parents=True, exist_ok=True)
        (args.dir / f"seed{seed}" / "truth.json").write_bytes((folder / "truth.json").read_bytes())
    return sets


def real_truth(real: Path) -> list[dict[str, Any]]:
    """The real set's ``truth.jsonl``, an entry per image."""
    return [json.loads(line) for line in (real / "truth.jsonl").read_text(encoding="utf-8").splitlines()]


def _planes_dir(stored: Path) -> Path:
    return stored.with_suffix(".planes")


def _texts(folder: Path, settings: OcrSettings, dropped: Callable[[str], bool]) -> dict[str, str]:
    return {
        path.name.removesuffix(".pickle"): finish_stored(
            pickle.loads(path.read_bytes()), _planes_dir(path), settings, dropped
        )
        for path in sorted(folder.glob("*.pickle"))
    }


def left_out(names: str) -> Callable[[str], bool]:
    """The test for the passes ``names`` leaves out (``gold,lines:*``): a name, a prefix with
    ``*``; a doubled plane (``x2:gold``) goes with its plane."""
    wanted = {name for name in names.split(",") if name}

    def dropped(plane: str) -> bool:
        own = plane.removeprefix(DOUBLED_PREFIX)
        return own in wanted or any(w.endswith("*") and own.startswith(w[:-1]) for w in wanted)

    return dropped


def score_module(real: Path) -> ModuleType:
    """The real set's own ``score.py``, imported from where it is (never copied here)."""
    spec = importlib.util.spec_from_file_location("real_images_score", real / "score.py")
    if spec is None or spec.loader is None:
        raise SystemExit(f"{real / 'score.py'}: cannot be imported")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _score(args: argparse.Namespace) -> int:
    settings = args.settings
    dropped = left_out(args.without)
    every: dict[str, dict[str, str]] = {}
    for folder in sorted(p for p in args.dir.iterdir() if p.is_dir()):
        texts = every[folder.name] = _texts(folder, settings, dropped)
        if folder.name == "real":
            if args.real is None:
                print("real: --real names the folder with truth.jsonl and score.py", file=sys.stderr)
                continue
            real = score_module(args.real)
            truth = real_truth(args.real)
            found = [[real.found(w, real.normalise(texts[t["file"]])) for w in t["words"]] for t in truth]
            per_image = 100 * sum(sum(f) / len(f) for f in found) / len(found)
            pooled = 100 * sum(map(sum, found)) / sum(map(len, found))
            tokens = sum(real.tokens(texts[t["file"]]) for t in truth) / sum(
                real.tokens(t["text"]) for t in truth
            )
            print(
                f"real ({len(truth)}): recall {per_image:.2f} % per image, {pooled:.1f} % pooled, {tokens:.3f} tokens per truth token"
            )
        elif folder.name.startswith("pictures") or folder.name == "textless":
            words = sum(len(text.split()) for text in texts.values())
            with_text = sum(1 for text in texts.values() if text.strip())
            told = "no text on any" if folder.name.startswith("pictures") else "given as without text"
            print(f"{folder.name} ({len(texts)}, {told}): {words} words on {with_text}")
        elif folder.name.startswith("seed"):
            truth = json.loads((folder / "truth.json").read_text(encoding="utf-8"))
            result = poster_score(truth, texts, dict.fromkeys(texts, 0.0))
            print(
                f"{folder.name} ({len(texts)}): kw+tag {result['kw+tag']:.1f} %, countdown {result['countdown']:.1f} %,"
                f" Eastern {result['eastern']:.1f} %, false countdowns {result['false_cd']}, false keywords"
                f" {result['false_kw']}, CER {result['cer']:.1f} %"
            )
    if args.texts:
        args.texts.write_text(json.dumps(every, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    store = commands.add_parser("store", help="read every image once and keep its passes")
    store.add_argument("dir", type=Path)
    store.add_argument("--real", type=Path, help="the real images' folder (truth.jsonl, images/)")
    store.add_argument("--seeds", default="0-4", help="synthetic poster seeds, e.g. 0-4 ('' for none)")
    store.add_argument("--pictures", default="0-4", help="drawn pictures' seeds ('' for none)")
    store.add_argument(
        "--textless",
        nargs="*",
        type=Path,
        default=[],
        help="real pictures with no text to read (set 'textless')",
    )
    score = commands.add_parser("score", help="finish the stored passes with this code and score them")
    score.add_argument("dir", type=Path)
    score.add_argument("--real", type=Path, help="the real images' folder (truth.jsonl, score.py)")
    score.add_argument("--without", default="", help="passes left out, e.g. gold,black-fill or lines:*")
    score.add_argument("--texts", type=Path, help="write every text to this JSON file")
    args = parser.parse_args(argv)
    args.settings = usable_settings(as_shipped(OcrSettings()))
    return _store(args) if args.command == "store" else _score(args)


if __name__ == "__main__":
    raise SystemExit(main())
