"""Real video clips for the tests and the bench: frames drawn with PIL, encoded by the ffmpeg command.

A clip is a list of scenes; a scene is a still (a poster drawn by ``scripts/posters.py``, with
its Arabic fonts) or a textless landscape of smooth colour noise that pans slowly, like a camera
moving over hills. Frames go to ``ffmpeg`` as PNG files and come out as H.264 MP4 (yuv420p,
25 fps, ``+faststart`` like Telegram's own videos), or VP9 WebM for a video sticker.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from scripts.posters import render_poster, to_eastern

SIZE = (720, 540)  # width, height: even, as yuv420p needs
FPS = 2  # frames drawn per second; ffmpeg repeats them up to 25 fps
PAN = 12  # pixels the camera moves per drawn frame over a textless landscape

THREAT_CARD = ["الانتقام قادم", f"باقي {to_eastern('59')} يوما", "#59daysleft"]
"""An end card: "revenge is coming", "59 days remain" (Eastern digits), the hashtag."""


@dataclass(frozen=True)
class Scene:
    seconds: float
    card: Sequence[str] = ()  # lines of a poster-like card; empty: a textless panning landscape
    seed: int = 0


def landscape(seed: int, width: int, height: int) -> Image.Image:
    """Smooth colour noise, wider than the frame so it can pan: no text, no edges of letters."""
    rng = np.random.default_rng(seed)
    planes = []
    for _ in range(3):
        grid = (rng.random((6, 10)) * 255).astype(np.uint8)
        planes.append(
            np.asarray(Image.fromarray(grid, "L").resize((width, height), Image.Resampling.BICUBIC))
        )
    return Image.fromarray(np.stack(planes, axis=-1), "RGB")


def card(lines: Sequence[str], seed: int) -> Image.Image:
    """A poster-like card filling the frame (``scripts.posters.render_poster``, dark background)."""
    poster = render_poster(list(lines), "dark", SIZE[0], seed=seed)
    frame = Image.new("RGB", SIZE, (12, 12, 16))
    poster.thumbnail(SIZE)
    frame.paste(poster, ((SIZE[0] - poster.width) // 2, (SIZE[1] - poster.height) // 2))
    return frame


def scene_frames(scene: Scene) -> list[Image.Image]:
    count = max(1, round(scene.seconds * FPS))
    if scene.card:
        still = card(scene.card, scene.seed)
        return [still] * count
    wide = landscape(scene.seed, SIZE[0] + count * PAN, SIZE[1])
    return [wide.crop((i * PAN, 0, i * PAN + SIZE[0], SIZE[1])) for i in range(count)]


def make_clip(path: Path, scenes: Sequence[Scene], *, webm: bool = False) -> Path:
    """Encode ``scenes`` into ``path`` with the ffmpeg command; returns ``path``."""
    with tempfile.TemporaryDirectory(prefix="clip-frames-") as tmp:
        number = 0
        for scene in scenes:
            for frame in scene_frames(scene):
                frame.save(Path(tmp) / f"f{number:05d}.png", compress_level=1)
                number += 1
        codec = (
            ["-c:v", "libvpx-vp9", "-b:v", "0", "-crf", "40", "-deadline", "realtime"]
            if webm
            else ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-movflags", "+faststart"]
        )
        subprocess.run(
            ["ffmpeg", "-hide_banner", "-v", "error", "-y", "-framerate", str(FPS), "-i", str(Path(tmp) / "f%05d.png"),
             "-r", "25", *codec, str(path)],
            check=True,
            timeout=300,
        )  # fmt: skip
    return path


def threat_clip(path: Path) -> Path:
    """20 s: two textless scenes (0-7 s, 7-14 s), then the threat end card from 0:14."""
    return make_clip(path, [Scene(7, seed=1), Scene(7, seed=2), Scene(6, THREAT_CARD, seed=4)])


def textless_clip(path: Path, seconds: float = 10) -> Path:
    """Two textless panning scenes, a cut half way."""
    return make_clip(path, [Scene(seconds / 2, seed=5), Scene(seconds / 2, seed=6)])


def sound_only_clip(path: Path, seconds: float = 1) -> Path:
    """An MP4 with a tone and no video stream: a clip with no picture to read."""
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-v", "error", "-y", "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
         "-c:a", "aac", str(path)],
        check=True,
        timeout=60,
    )  # fmt: skip
    return path


def transparent_sticker(path: Path, text: str = "HELL IS COMING") -> Path:
    """A 3 s VP9 WebM video sticker with an alpha channel: black text on a transparent field, as
    Telegram's video stickers are (the text is only visible once the alpha is kept)."""
    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf", 56)
    with tempfile.TemporaryDirectory(prefix="sticker-frames-") as tmp:
        for i in range(6):
            frame = Image.new("RGBA", (512, 512), (0, 0, 0, 0))
            ImageDraw.Draw(frame).text((30 + i, 220), text, font=font, fill=(0, 0, 0, 255))
            frame.save(Path(tmp) / f"f{i:03d}.png")
        subprocess.run(
            ["ffmpeg", "-hide_banner", "-v", "error", "-y", "-framerate", "2", "-i", str(Path(tmp) / "f%03d.png"),
             "-c:v", "libvpx-vp9", "-pix_fmt", "yuva420p", "-b:v", "0", "-crf", "40", "-deadline", "realtime",
             str(path)],
            check=True,
            timeout=300,
        )  # fmt: skip
    return path
