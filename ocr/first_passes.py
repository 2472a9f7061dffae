"""The first passes of a one-image read, started before the rest of the engine is imported.

``check --image`` starts cold. Importing the engine (numpy, the line finder, the evidence step)
took 0.06-0.09 s of Python before the first Tesseract pass could start, with the second core
idle but for the models loading. Here, with only Pillow and the Tesseract binding imported, the
image is loaded and tested for text (``ocr.blank``), and the planes Pillow alone cuts
(``ocr.colour_planes``: grey, red, green, blue, the white and black masks) are read one after
the other on one pass thread, at once; the main thread imports the rest meanwhile.

:func:`ocr.engine.read_passes` then takes over: the same pool, the same planes (the very
images), the same runs (``ocr.tesseract.read_plane_images`` of one plane, as it starts a plane of
its own in process), so the same readings. The passes already begun are its own; those not yet
begun it starts itself, in its own order, with the rest. A plane with the pixels of one before
it is not started (``ocr.planes.twin_planes`` gives it that one's reading).

Only the library reads this way (the command reads planes in batches). A file that does not look
like an image (a clip) is left to the usual path, and so is an image that fails to load: the
engine loads it again and says why, in the same words. Measured: ``bench/README.md`` (OCR speed,
stop 40).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from PIL import Image

from monitor.core.errors import ImageError, OcrError
from ocr.blank import has_no_text
from ocr.colour_planes import CutPlanes, same_pixels
from ocr.images import LoadedImage, load_image, sniff_format
from ocr.pass_plan import WAYS, models_of
from ocr.readings import Word
from ocr.settings import OcrSettings
from ocr.tesseract import load_models, read_plane_images, usable_settings

__all__ = ["FirstPasses", "fulfil", "start_loading"]

Reading = list[list[Word]]
T = TypeVar("T")


class FirstPasses:
    """One image file's load and its first plane passes, started when this is made (see the module).

    ``settings`` are the caller's; the passes use them as :func:`ocr.engine.recognize_file` will
    (``usable_settings``). Nothing here raises for a bad file."""

    def __init__(self, path: Path | str, settings: OcrSettings) -> None:
        self.began = time.perf_counter()  # a read that takes these over counts its seconds from here
        self.path = Path(path)
        self.settings = settings
        self.image: LoadedImage | None = None
        self.cut: CutPlanes | None = None
        self.started: dict[str, Future[list[Reading]]] = {}
        self._pool: ThreadPoolExecutor | None = None
        self._blank = False
        try:  # Tesseract or a language missing: the read says so, where it always has
            self.settings = usable_settings(settings)
            start_loading(self.settings)
        except OcrError:
            return
        if not _looks_like_image(self.path):
            return
        try:
            self.image = load_image(
                self.path,
                max_bytes=self.settings.max_bytes,
                max_pixels=self.settings.max_pixels,
                max_side=self.settings.max_side,
            )
        except ImageError:
            return
        self._blank = self.settings.no_text_check and has_no_text(self.image.frames)
        if self.settings.tesseract == "library" and not self._blank:
            self._start(self.image.frames[0])

    @property
    def no_text(self) -> bool:
        """Whether the image loaded and failed the test for text (``ocr.blank``): nothing of it
        will be read, so a caller that needs only its text (``check --image``) has it now, and
        need not import the engine (numpy, 0.06 s) to fingerprint a picture it will not keep."""
        return self.image is not None and self._blank

    def without_text(self, loaded: LoadedImage) -> bool | None:
        """Whether ``loaded`` (this image, the very object) failed the test for text
        (``ocr.blank``, with ``no_text_check``); None for any other image."""
        return self._blank if self.image is not None and loaded is self.image else None

    def _start(self, frame: Image.Image) -> None:
        settings = self.settings
        if min(frame.size) < 8 or (settings.upscale_below and max(frame.size) < settings.upscale_below):
            return  # no planes, or planes of the frame doubled first: left to the engine
        self.cut = CutPlanes.of(frame, settings.passes)
        self._pool = ThreadPoolExecutor(WAYS, thread_name_prefix="ocr-pass")
        twins = same_pixels(self.cut.planes, self.cut.key)  # as the engine will find them
        lane: list[tuple[Future[list[Reading]], Image.Image]] = []
        for name, plane in self.cut.planes.items():
            if name not in twins:
                self.started[name] = Future()
                lane.append((self.started[name], plane))
        self._pool.submit(_one_after_another, lane, settings)

    def image_of(self, path: Path | str | bytes, settings: OcrSettings) -> LoadedImage | None:
        """The loaded image, when this is the load of ``path`` with ``settings``' limits; else None."""
        if self.image is None or not isinstance(path, Path | str) or Path(path) != self.path:
            return None
        limits = (settings.max_bytes, settings.max_pixels, settings.max_side)
        if limits != (self.settings.max_bytes, self.settings.max_pixels, self.settings.max_side):
            return None
        return self.image

    def take_over(self, frame: Image.Image, settings: OcrSettings) -> ThreadPoolExecutor | None:
        """The pool running the passes, for the read of ``frame`` (this image's first frame, the
        very object) with the same settings; None (and nothing to take) for any other read. From
        then on :attr:`started` holds the passes begun or done, the others are not run here."""
        if (
            self._pool is None
            or self.image is None
            or frame is not self.image.frames[0]
            # the words known beside the dictionary change no pass, only the finish (``ocr.dots``)
            or replace(settings, known_words=self.settings.known_words) != self.settings
        ):
            return None
        pool, self._pool = self._pool, None
        # The planes the lane has not begun are the engine's to start, in its own order (the line
        # stacks first, the planes on both threads): left on the lane, one after the other, they
        # held up the rows pass (up to +10 % on the largest posters).
        self.started = {name: run for name, run in self.started.items() if not run.cancel()}
        return pool


def start_loading(settings: OcrSettings) -> None:
    """Start loading the models ``ocr.engine.read_passes`` will use, in the background, and
    return at once (a model this process has made already is not made again)."""
    load_models(models_of(settings, WAYS), settings.tesseract)


def _one_after_another(lane: list[tuple[Future[list[Reading]], Image.Image]], settings: OcrSettings) -> None:
    """The first passes on one thread, in order: the main thread still imports and cuts planes on
    the other core. Both pool threads at once made three busy threads on two cores, and the passes
    took 0.1-0.15 s longer for nothing (the same end)."""
    for future, plane in lane:
        fulfil(future, read_plane_images, [plane], settings)


def fulfil(future: Future[T], run: Callable[..., T], *args: Any) -> None:
    """``run(*args)`` into ``future``, its result or its exception, as a pool would; nothing if the
    future was cancelled before it began (``FirstPasses.take_over``, the engine's queue)."""
    if not future.set_running_or_notify_cancel():
        return
    try:
        future.set_result(run(*args))
    except BaseException as exc:  # handed to whoever waits on the future
        future.set_exception(exc)


def _looks_like_image(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return sniff_format(handle.read(16)) is not None
    except OSError:
        return False
