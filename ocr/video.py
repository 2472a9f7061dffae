"""Key frames of a video clip, cut out with FFmpeg, and the text of many frames merged into one.

A clip is read at a handful of frames, not at every frame: the start of the clip, each scene
change (a cut: FFmpeg's ``scene`` score of a frame against the one before it), and the last
frame, at most ``max_frames`` of them (the strongest cuts win when there are more). Each scene is
read twice: ``settle`` seconds after its cut (text overlays and end cards are usually animated
in over the first few frames of a scene) and at its last frame (just before the next cut). So
the first and last frames of the clip and both sides of every cut are read.

FFmpeg runs as a command (Debian's ``ffmpeg``), two short runs per clip, each in its own process
off the event loop and killed at the clip's deadline:

1. the whole clip scaled down to 160 px, every frame's scene score and time printed by the
   ``metadata`` filter (cheap: no image is written);
2. the chosen frames, picked by number with the ``select`` filter, written as PNG files that
   the OCR pool reads like any poster.

Why the command rather than PyAV: the work is decoding either way (each run takes about 1 s of
CPU on a 20 s 720x540 clip, half of it decoding, measured with ``-vf null``; reading one poster
takes about 11 s on the same loaded machine, ``bench/video_ocr.py``), PyAV's wheel would bring a
second FFmpeg build next to Debian's, and a decoder stuck inside our own process cannot be
killed at the deadline, while a command can.

Merging (:func:`merge_readings`): the same line read on several frames is one line, kept with
the time of the first frame that shows it. Two readings of a line count as the same when their
normalised text is alike (a character or two of OCR noise between frames) and holds the same
digits, so a countdown that ticks from ٥٩ to ٥٨ stays two lines. A line read on one frame only
is dropped: words on screen stay, while what OCR makes of a moving picture (the junk lines of
clouds and hills) changes from frame to frame; reading each scene at both ends is what gives
every line a second chance to be seen.
"""

from __future__ import annotations

import contextlib
import difflib
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitor.core.errors import OcrError
from monitor.core.models import VIDEO_LINE_PREFIX
from monitor.core.text import normalize

__all__ = [
    "NO_PICTURE",
    "KeyFrame",
    "NoPicture",
    "VideoFailed",
    "VideoSettings",
    "choose_frames",
    "ffmpeg_info",
    "format_time",
    "key_frames",
    "merge_readings",
    "parse_scene_scores",
    "run_bounded",
    "video_text",
]

FFMPEG = "ffmpeg"
ANALYSIS_WIDTH = 160  # scene scores are worked out on a small copy: the same cuts, a fraction of the work


@dataclass(frozen=True)
class VideoSettings:
    """How clips are read: the size cap, how many frames, what a cut is, how long FFmpeg may take."""

    max_bytes: int = 20 * 1024 * 1024
    max_frames: int = 8
    scene_threshold: float = 0.3  # FFmpeg's scene score (0-1) from which a frame starts a new scene
    settle: float = 0.5  # seconds after a cut at which the frame is taken (overlays fade in)
    timeout: float = 60.0  # seconds for both FFmpeg runs of one clip together

    @classmethod
    def from_config(cls, config: Any) -> VideoSettings:
        """Settings from ``monitor.core.config.OcrConfig`` (``video_*`` keys)."""
        return cls(
            max_bytes=config.video_max_bytes,
            max_frames=config.video_max_frames,
            timeout=config.video_timeout,
        )


@dataclass(frozen=True)
class KeyFrame:
    """One frame chosen for reading: its number in the clip, its time, its PNG file."""

    number: int
    seconds: float
    path: Path


class VideoFailed(Exception):
    """FFmpeg could not read the clip; ``reason`` is one line for the archive."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NoPicture(VideoFailed):
    """The file holds no picture to read (a clip of sound alone): nothing is wrong with it, and
    reading it again would find nothing either, so it is recorded as skipped, not failed."""


NO_PICTURE = "the clip has no picture (sound only): nothing to read"


# --- FFmpeg ------------------------------------------------------------------------------------

_LOG_PREFIX = re.compile(r"^\[[^\]]* @ 0x[0-9a-f]+\]\s*")


def ffmpeg_reason(stderr: str, path: Path) -> str:
    """FFmpeg's complaint as one line: its distinct messages, without the ``[demuxer @ 0x..]``
    prefixes and with the stored file's path shortened to ``video``."""
    messages: list[str] = []
    for raw in stderr.splitlines():
        line = _LOG_PREFIX.sub("", raw.strip()).replace(str(path), "video")
        if line and line not in messages:
            messages.append(line)
    if not messages:
        return "ffmpeg failed without a message"
    text = "; ".join(messages[:2] if len(messages) <= 2 else [messages[0], messages[-1]])
    return text if len(text) <= 240 else text[:237] + "..."


async def _ffmpeg(args: Sequence[str], deadline: float, budget: float) -> tuple[int, str]:
    """Run ``ffmpeg`` with ``args``; its exit code and stderr. Killed at ``deadline`` (monotonic),
    ``budget`` seconds after the clip's first run started.

    A missing ``ffmpeg`` is a set-up problem, not a bad clip: :class:`OcrError` (the clip stays
    unread and is read once FFmpeg is installed), like a missing Tesseract in the pool."""
    try:
        code, _, err = await run_bounded(
            [FFMPEG, "-hide_banner", "-nostdin", "-v", "error", *args], deadline, budget, "ffmpeg"
        )
    except FileNotFoundError:
        raise OcrError(
            "ffmpeg is not installed: run `apt-get install -y ffmpeg` to read video clips"
        ) from None
    return code, err


async def run_bounded(
    argv: Sequence[str], deadline: float, budget: float, name: str
) -> tuple[int, bytes, str]:
    """Run the command ``argv``; its exit code (negative: the signal that ended it), stdout and
    stderr. Killed at ``deadline`` (monotonic): :class:`VideoFailed` says that ``name`` took
    longer than ``budget`` seconds. A decoder or renderer that hangs or crashes on a hostile
    file ends in its own process, never in ours."""
    import asyncio  # why: loaded by the caller's event loop; ``check --image`` on a poster skips it (0.02 s)

    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), max(0.1, deadline - time.monotonic()))
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        raise VideoFailed(f"{name} took longer than {budget:g}s ([ocr] video_timeout)") from None
    except asyncio.CancelledError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        raise
    return process.returncode or 0, out, err.decode("utf-8", errors="replace")


def ffmpeg_info() -> tuple[str, str, bool] | None:
    """``(version, path, VP9 alpha)`` of the ``ffmpeg`` command, or None when it is not installed
    (``tgmonitor doctor``). VP9 alpha: FFmpeg has libvpx's decoder, which keeps the transparency
    of a video sticker (its own VP9 decoder drops it)."""
    import shutil  # why: the doctor is the only caller of these
    import subprocess

    path = shutil.which(FFMPEG)
    if path is None:
        return None
    try:
        banner = subprocess.run(
            [path, "-hide_banner", "-version"], capture_output=True, text=True, timeout=10
        )
        decoders = subprocess.run(
            [path, "-hide_banner", "-decoders"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    words = banner.stdout.split()
    version = words[2] if len(words) > 2 and words[:2] == ["ffmpeg", "version"] else "(unknown version)"
    return version, path, "libvpx-vp9" in decoders.stdout


_FRAME_LINE = re.compile(r"^frame:(\d+)\s+pts:\S+\s+pts_time:(\S+)")
_SCORE_LINE = re.compile(r"^lavfi\.scene_score=([0-9.]+)")


def parse_scene_scores(text: str) -> list[tuple[int, float, float]]:
    """``(frame number, seconds, scene score)`` of every frame printed by FFmpeg's ``metadata``."""
    frames: list[tuple[int, float, float]] = []
    for line in text.splitlines():
        head = _FRAME_LINE.match(line)
        if head:
            try:
                seconds = float(head.group(2))
            except ValueError:  # "NOPTS": a frame without a time, placed after the one before
                seconds = frames[-1][1] if frames else 0.0
            frames.append((int(head.group(1)), seconds, 0.0))
            continue
        score = _SCORE_LINE.match(line)
        if score and frames:
            number, seconds, _ = frames[-1]
            frames[-1] = (number, seconds, float(score.group(1)))
    return frames


def choose_frames(
    frames: Sequence[tuple[int, float, float]], settings: VideoSettings
) -> list[tuple[int, float]]:
    """The frames to read: each scene at its start (``settle`` seconds in) and at its end, so the
    first and last frames of the clip and both sides of every cut; at most ``max_frames``, the
    strongest cuts kept when there are more scenes than that allows."""
    if not frames:
        return []
    cap = max(1, settings.max_frames)
    starts = [0] + [i for i, (_, _, score) in enumerate(frames) if i and score >= settings.scene_threshold]
    scenes = max(1, cap // 2)  # two frames a scene
    if len(starts) > scenes:
        strongest = sorted(starts[1:], key=lambda i: frames[i][2], reverse=True)[: scenes - 1]
        starts = [0, *sorted(strongest)]
    chosen: list[int] = []
    for k, start in enumerate(starts):
        end = (starts[k + 1] if k + 1 < len(starts) else len(frames)) - 1  # the scene's last frame
        settled = frames[start][1] + settings.settle
        index = start
        while index < end and frames[index][1] < settled:
            index += 1
        chosen.append(index)
        if frames[end][1] - frames[index][1] >= settings.settle:  # a second view of the scene
            chosen.append(end)
    picked = sorted(set(chosen))[:cap]
    return [(frames[i][0], frames[i][1]) for i in picked]


async def key_frames(path: Path, folder: Path, settings: VideoSettings) -> list[KeyFrame]:
    """Cut the key frames of the clip at ``path`` into ``folder`` as PNG files.

    Raises :class:`VideoFailed` with FFmpeg's reason when the file is no video, is truncated or
    corrupt, or takes longer than ``settings.timeout``.
    """
    deadline = time.monotonic() + settings.timeout
    folder.mkdir(parents=True, exist_ok=True)
    scores = folder / "scenes.txt"
    analysis = (
        f"scale={ANALYSIS_WIDTH}:-2,select='gte(scene\\,0)',metadata=mode=print:file={_filter_path(scores)}"
    )
    code, err = await _ffmpeg(
        ["-i", str(path), "-map", "0:v:0", "-an", "-sn", "-dn", "-vf", analysis, "-f", "null", "-"],
        deadline,
        settings.timeout,
    )
    if code != 0 and "matches no streams" in err:  # ``-map 0:v:0``: the file has no video stream
        raise NoPicture(NO_PICTURE)
    if code != 0:
        raise VideoFailed(f"ffmpeg: {ffmpeg_reason(err, path)}")
    if "partial file" in err:  # the container says the data stops early: a truncated download
        raise VideoFailed(f"the video is truncated (ffmpeg: {ffmpeg_reason(err, path)})")
    frames = parse_scene_scores(
        scores.read_text(encoding="utf-8", errors="replace") if scores.exists() else ""
    )
    if not frames:
        reason = ffmpeg_reason(err, path) if err.strip() else "no frame could be decoded"
        raise VideoFailed(f"ffmpeg: {reason}")
    chosen = choose_frames(frames, settings)
    pick = "+".join(f"eq(n\\,{number})" for number, _ in chosen)
    pattern = folder / "key-%03d.png"
    inputs = ["-i", str(path), "-map", "0:v:0", "-an", "-sn", "-dn"]
    output = ["-vf", f"select='{pick}'", "-fps_mode", "passthrough", "-f", "image2", str(pattern)]
    written: list[Path] = []
    if path.suffix.lower() == ".webm":
        # A video sticker is VP9 with an alpha channel, which only libvpx decodes: FFmpeg's own
        # decoder drops it and black text on a transparent sticker becomes black on black. The
        # PNG keeps the alpha and the OCR loader lays it on grey, as a WebP sticker (``ocr.images``).
        code, err = await _ffmpeg([*_VP9_ALPHA, *inputs, *output], deadline, settings.timeout)
        written = sorted(folder.glob("key-*.png")) if code == 0 else []
    if not written:  # any other clip, or a WebM that is not VP9
        code, err = await _ffmpeg([*inputs, *output], deadline, settings.timeout)
        written = sorted(folder.glob("key-*.png"))
    if code != 0 or not written:
        raise VideoFailed(f"ffmpeg: {ffmpeg_reason(err, path)}")
    return [KeyFrame(number, seconds, file) for (number, seconds), file in zip(chosen, written, strict=False)]


_VP9_ALPHA = ("-c:v", "libvpx-vp9")


def _filter_path(path: Path) -> str:
    """A file name inside a filter graph: its special characters escaped (our temp folder's
    names have none, but a TMPDIR may)."""
    return re.sub(r"([\\:',;\[\]=])", r"\\\1", str(path))


# --- merging the frames' text ------------------------------------------------------------------

_DIGITS = re.compile(r"\d+")
_SAME_LINE = 0.8  # difflib ratio from which two readings of normalised text are one line


def _same_line(a: str, b: str) -> bool:
    """Two readings of one line (same digits: a countdown that ticks is news, however alike the
    words). difflib's two cheap upper bounds go first: most pairs of a junk-heavy frame differ in
    length or letters, and the full ratio of every pair blocked for seconds (8 frames of 60 lines)."""
    if a == b:
        return True
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    return (
        matcher.real_quick_ratio() >= _SAME_LINE
        and matcher.quick_ratio() >= _SAME_LINE
        and matcher.ratio() >= _SAME_LINE
    )


def merge_readings(readings: Iterable[tuple[float, str]], *, confirm: int = 2) -> list[tuple[float, str]]:
    """One ``(seconds, line)`` per distinct line of the frames' texts, at its first appearance.

    ``readings`` are ``(frame time, OCR text)``, one per frame read. Lines are compared
    normalised (``monitor.core.text.normalize``: diacritics, alef variants and Eastern digits
    folded), so a line read on forty frames, with a letter of noise here and there, is one line.
    A line counts when ``confirm`` frames show it (fewer when fewer frames were read): words on
    the screen stay for a while, while what OCR makes of moving pictures changes from one frame
    to the next. A line needs two letters: lone digits and marks are what OCR makes of texture.
    """
    frames = sorted(readings, key=lambda r: r[0])
    need = max(1, min(confirm, len(frames)))
    groups: list[tuple[str, float, str, set[int]]] = []  # key, first time, first reading, frames
    by_digits: dict[tuple[str, ...], list[int]] = {}  # only lines with the same digits can be one
    for number, (seconds, text) in enumerate(frames):
        for raw in text.splitlines():
            line = " ".join(raw.split())
            key = normalize(line)
            if sum(c.isalpha() for c in key) < 2:
                continue
            alike = by_digits.setdefault(tuple(_DIGITS.findall(key)), [])
            for index in alike:
                if _same_line(key, groups[index][0]):
                    groups[index][3].add(number)
                    break
            else:
                alike.append(len(groups))
                groups.append((key, seconds, line, {number}))
    return [(seconds, line) for _, seconds, line, seen in groups if len(seen) >= need]


def format_time(seconds: float) -> str:
    """``0:17``, ``12:05``, ``1:02:03``: where in the clip, to the second (rounded down)."""
    whole = max(0, int(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def video_text(lines: Sequence[tuple[float, str]]) -> str:
    """The clip's text as stored with the media: one line each, led by the time it appears
    (``[video 0:17] ...``), so search, the post page and every alert show where to look."""
    return "\n".join(f"{VIDEO_LINE_PREFIX}{format_time(seconds)}] {line}" for seconds, line in lines)
