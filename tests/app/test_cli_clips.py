"""`tgmonitor ocr CLIP` and `check --image CLIP`: a video file read at its key frames from the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli import main
from ocr.video import NO_PICTURE
from tests.support.clips import THREAT_CARD, sound_only_clip, threat_clip

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed"),
]


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return threat_clip(tmp_path_factory.mktemp("clips") / "threat.mp4")


def test_ocr_of_a_clip_prints_its_lines_with_their_times(clip, no_user_config):
    result = CliRunner().invoke(main, ["ocr", str(clip), "--json"])
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.output)
    assert row["status"] == "done", row
    assert any(
        line.startswith("[video 0:14] ") and THREAT_CARD[0] in line for line in row["text"].splitlines()
    )


def test_check_of_a_clip_alerts_on_its_end_card(clip, no_user_config, tmp_path):
    truncated = tmp_path / "cut.mp4"
    truncated.write_bytes(clip.read_bytes()[:4000])
    result = CliRunner().invoke(main, ["check", "--image", str(clip), "--json", "--date", "2021-11-02"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert "[video 0:14]" in data["ocr_text"]
    assert data["countdown"] and data["countdown"]["value"] == 59, data
    assert any(m["source"] == "ocr" for m in data["matches"]), data["matches"]
    bad = CliRunner().invoke(main, ["check", "--image", str(truncated)])
    assert bad.exit_code == 2 and "cut.mp4" in bad.output and "Traceback" not in bad.output


def test_ocr_says_which_files_failed_and_which_were_skipped(tmp_path, no_user_config):
    sound = sound_only_clip(tmp_path / "tone.mp4")  # nothing wrong with it: no picture to read
    broken = tmp_path / "cut.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n")  # a PNG signature and nothing after it
    result = CliRunner().invoke(main, ["ocr", str(sound), str(broken)])
    assert result.exit_code == 0, result.output
    assert f"== {sound}: skipped: {NO_PICTURE}" in result.output
    assert f"== {broken}: failed: " in result.output
