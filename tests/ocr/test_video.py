"""Clips cut into key frames by the real ffmpeg command, and the text of many frames merged."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import time
from pathlib import Path

import pytest
from PIL import Image

from monitor.core.errors import OcrError
from ocr import OcrPool, load_image, video
from ocr.clips import ClipReader, MediaReader, is_clip_file
from ocr.video import (
    NO_PICTURE,
    VideoFailed,
    VideoSettings,
    choose_frames,
    format_time,
    key_frames,
    merge_readings,
    parse_scene_scores,
    video_text,
)
from tests.support.clips import (
    THREAT_CARD,
    Scene,
    make_clip,
    sound_only_clip,
    textless_clip,
    threat_clip,
    transparent_sticker,
)

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("clips")
    threat = threat_clip(folder / "threat.mp4")
    truncated = folder / "truncated.mp4"
    truncated.write_bytes(threat.read_bytes()[: threat.stat().st_size // 2])
    not_video = folder / "notes.mp4"
    not_video.write_text("باقي ٥٩ يوما: this is a text file, not a video\n", encoding="utf-8")
    sound = sound_only_clip(folder / "sound.mp4")
    return {"threat": threat, "truncated": truncated, "not_video": not_video, "sound": sound}


# --- key frames -------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_key_frames_are_both_ends_of_every_scene(clips, tmp_path):
    frames = await key_frames(clips["threat"], tmp_path / "frames", VideoSettings())
    times = [f.seconds for f in frames]
    assert times[0] < 1.0, times  # the start, settled
    assert times[-1] > 19.5, times  # the last frame
    assert any(6.5 <= t < 7.0 for t in times) and any(7.0 <= t < 8.0 for t in times), times  # the cut at 7 s
    assert any(14.0 <= t < 15.0 for t in times), times  # the end card
    assert len(frames) <= 8
    assert all(f.path.exists() and f.path.suffix == ".png" for f in frames)


@pytest.mark.asyncio
async def test_the_frame_cap_keeps_the_strongest_cuts(tmp_path):
    scenes = [Scene(2, seed=s) for s in range(10, 15)]  # five scenes, four cuts
    clip = make_clip(tmp_path / "cuts.mp4", scenes)
    frames = await key_frames(clip, tmp_path / "frames", VideoSettings(max_frames=4))
    assert 1 <= len(frames) <= 4
    assert frames[0].seconds < 1.0


def test_choose_frames_from_printed_scores():
    printed = "\n".join(
        f"frame:{n}    pts:{n * 512}   pts_time:{n * 0.04:g}\nlavfi.scene_score={0.9 if n in (50, 100) else 0.01:f}"
        for n in range(150)
    )
    frames = parse_scene_scores(printed)
    assert len(frames) == 150 and frames[50][2] == pytest.approx(0.9)
    chosen = choose_frames(frames, VideoSettings())
    numbers = [n for n, _ in chosen]
    # each scene settled 0.5 s in (12 frames) and at its last frame
    assert numbers == [13, 49, 63, 99, 113, 149]
    assert [n for n, _ in choose_frames(frames, VideoSettings(max_frames=2))] == [13, 149]
    assert [n for n, _ in choose_frames(frames[:1], VideoSettings())] == [0]


@pytest.mark.asyncio
async def test_a_webm_video_sticker_is_cut_too(tmp_path):
    clip = make_clip(tmp_path / "sticker.webm", [Scene(2, seed=3)], webm=True)
    frames = await key_frames(clip, tmp_path / "frames", VideoSettings())
    assert frames and frames[-1].seconds > 1.0


@pytest.mark.asyncio
async def test_a_transparent_video_sticker_keeps_its_alpha_so_black_text_stays_visible(tmp_path):
    sticker = transparent_sticker(tmp_path / "sticker.webm")
    frames = await key_frames(sticker, tmp_path / "frames", VideoSettings())
    assert frames
    with Image.open(frames[0].path) as image:
        assert image.mode == "RGBA"
        flattened = load_image(frames[0].path).frames[0]  # what the OCR pool reads
    grey = flattened.convert("L")
    assert grey.getpixel((5, 5)) == 128  # the transparent field: a sticker's, mid-grey
    assert grey.crop((30, 220, 480, 290)).getextrema()[0] < 60  # the black text


@pytest.mark.asyncio
async def test_truncated_and_non_video_files_fail_with_ffmpegs_reason(clips, tmp_path):
    with pytest.raises(VideoFailed) as truncated:
        await key_frames(clips["truncated"], tmp_path / "a", VideoSettings())
    assert "truncated" in truncated.value.reason and "partial file" in truncated.value.reason
    with pytest.raises(VideoFailed) as garbage:
        await key_frames(clips["not_video"], tmp_path / "b", VideoSettings())
    assert "Invalid data found when processing input" in garbage.value.reason
    for reason in (truncated.value.reason, garbage.value.reason):
        assert "\n" not in reason and str(tmp_path) not in reason and "@ 0x" not in reason


@pytest.mark.asyncio
async def test_ffmpeg_is_stopped_at_the_clips_timeout(tmp_path):
    stuck = tmp_path / "stuck.mp4"
    os.mkfifo(stuck)  # a file whose data never comes: ffmpeg waits on it until it is killed
    started = time.monotonic()
    with pytest.raises(VideoFailed) as timed_out:
        await key_frames(stuck, tmp_path / "frames", VideoSettings(timeout=1.0))
    assert timed_out.value.reason == "ffmpeg took longer than 1s ([ocr] video_timeout)"
    assert time.monotonic() - started < 30


@pytest.mark.asyncio
async def test_a_missing_ffmpeg_is_a_setup_error_not_a_bad_clip(clips, tmp_path, monkeypatch):
    monkeypatch.setattr(video, "FFMPEG", str(tmp_path / "no-such-ffmpeg"))
    with pytest.raises(OcrError, match="apt-get install -y ffmpeg"):
        await MediaReader(OcrPool()).recognize(clips["threat"])


# --- merging ----------------------------------------------------------------------------------


def test_a_line_on_many_frames_is_one_line_at_its_first_time():
    readings = [
        (0.5, "صورة"),  # junk of one frame
        (14.5, "الانتقام قادم\nباقي ٥٩ يوما\n#59daysleft"),
        (15.0, "الإنتقام قادم\nباقي 59 يوما\n#59daysleft"),  # alef variant, Western digits
        (16.0, "الانتقامُ قادمٌ\nباقى ٥٩ يوما\n#59daysIeft"),  # diacritics, ى, a misread letter
        (19.9, "الانتقام قادم\nباقي ٥٩ يوما\n7"),
    ]
    merged = merge_readings(readings)
    assert merged == [(14.5, "الانتقام قادم"), (14.5, "باقي ٥٩ يوما"), (14.5, "#59daysleft")]


def test_a_countdown_that_ticks_stays_two_lines():
    readings = [(1.0, "باقي ٥٩ يوما"), (2.0, "باقي ٥٩ يوما"), (3.0, "باقي ٥٨ يوما"), (4.0, "باقي ٥٨ يوما")]
    assert [line for _, line in merge_readings(readings)] == ["باقي ٥٩ يوما", "باقي ٥٨ يوما"]


def test_a_single_frame_clip_keeps_its_lines():
    assert merge_readings([(0.0, "الرد قادم")]) == [(0.0, "الرد قادم")]
    assert merge_readings([]) == []


def test_times_and_stored_text():
    assert [format_time(s) for s in (0, 0.99, 17.4, 61, 3723)] == ["0:00", "0:00", "0:17", "1:01", "1:02:03"]
    assert video_text([(17.2, "باقي ٥٩ يوما")]) == "[video 0:17] باقي ٥٩ يوما"


# --- the clip reader's outcomes without OCR ---------------------------------------------------


def test_clip_files_are_told_by_their_stored_suffix():
    assert is_clip_file("ab/abcd.mp4") and is_clip_file("x.WEBM") and is_clip_file("s.tgs")
    assert not is_clip_file("ab/abcd.jpg") and not is_clip_file("ab/abcd.bin")


@pytest.mark.asyncio
async def test_outcomes_that_need_no_ocr(clips, tmp_path):
    reader = MediaReader(OcrPool(), VideoSettings(max_bytes=50_000))  # never started: no frame is read
    over = await reader.recognize(clips["threat"])
    assert over.status == "skipped"
    size = clips["threat"].stat().st_size // 1024
    assert over.reason == f"video of {size} KB is over the 48 KB cap ([ocr] video_max_bytes)"
    lottie = tmp_path / "sticker.tgs"  # an animated sticker with no frame to draw: no OCR either
    lottie.write_bytes(gzip.compress(json.dumps({"v": "5.5.2", "fr": 60, "layers": []}).encode()))
    sticker = await reader.recognize(lottie)
    assert sticker.status == "failed" and "rlottie can draw" in sticker.reason
    for name in ("truncated", "not_video"):
        outcome = await MediaReader(OcrPool()).recognize(clips[name])
        assert outcome.status == "failed" and outcome.reason.count("\n") == 0
        assert outcome.reason.startswith(("the video is truncated", "ffmpeg:"))
    off = await ClipReader(OcrPool(), VideoSettings(max_bytes=0)).recognize(clips["threat"])
    assert off.status == "skipped" and "video_max_bytes = 0" in off.reason
    # sound alone: nothing wrong with the file and nothing to read, now or later (not "failed")
    sound = await MediaReader(OcrPool()).recognize(clips["sound"])
    assert (sound.status, sound.reason) == ("skipped", NO_PICTURE)


# --- read through the real OCR pool -----------------------------------------------------------


@pytest.mark.slow
@pytest.mark.asyncio
async def test_a_threat_end_card_is_read_with_its_time_and_a_textless_clip_has_no_text(clips, tmp_path):
    textless = textless_clip(tmp_path / "textless.mp4")
    async with OcrPool(workers=2) as pool:
        reader = MediaReader(pool)
        threat = await reader.recognize(clips["threat"])
        plain = await reader.recognize(textless)
    assert threat.status == "done", threat.reason
    lines = threat.text.splitlines()
    card = [line for line in lines if "59daysleft" in line or "قادم" in line]
    assert card and all(line.startswith("[video 0:14] ") for line in card), threat.text
    assert THREAT_CARD[0] in threat.text
    assert len(lines) == len(set(lines))
    assert plain.status == "done" and plain.text == "", plain.text
