"""``tgmonitor check`` end to end through click: readable output, --json shape, exit codes."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli import main

CONTRACT_KEYS = {"alert", "severity", "matches", "countdown", "ocr_text"}
MATCH_KEYS = {"rule", "term", "category", "severity", "source", "start", "end"}


def run(*args: str, stdin: str | None = None):
    return CliRunner().invoke(main, ["check", *args], input=stdin)


def test_json_shape_for_an_arabic_countdown_threat(no_user_config) -> None:
    text = "#باقي_٥٩_يوما #الانتقام_قادم"
    result = run(text, "--json", "--date", "2021-11-02")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert set(data) >= CONTRACT_KEYS
    assert (data["alert"], data["severity"], data["ocr_text"]) == (True, "high", None)
    (match,) = data["matches"]
    assert set(match) >= MATCH_KEYS
    assert (match["rule"], match["term"], match["source"]) == ("revenge-coming", "الانتقام قادم", "text")
    assert text[match["start"] : match["end"]] == "الانتقام_قادم"
    assert data["countdown"]["value"] == 59
    assert data["countdown"]["unit"] == "day"
    assert data["countdown"]["deadline"] == "2021-12-31T00:00:00+00:00"


def test_readable_output_explains_the_verdict(no_user_config) -> None:
    result = run("Vengeance is Coming #59daysleft", "--date", "2021-11-02T10:00")
    assert result.exit_code == 0
    out = result.output
    assert "ALERT" in out and "revenge-coming" in out
    assert "«Vengeance is Coming»" in out  # the match in its context
    assert "59 days left" in out and "2021-12-31T10:00:00+00:00" in out
    assert "why it alerts" in out


def test_readable_output_for_a_benign_countdown(no_user_config) -> None:
    result = run("باقي ٥٩ يوماً على شهر رمضان المبارك", "--date", "2021-11-02")
    assert result.exit_code == 0
    assert "no alert" in result.output
    assert "not alertable" in result.output and "رمضان" in result.output


def test_exit_code_flag(no_user_config) -> None:
    assert run("الانتقام قادم", "--exit-code").exit_code == 1
    assert run("مسيرة سلمية", "--exit-code").exit_code == 0
    assert run("الانتقام قادم").exit_code == 0


def test_text_from_stdin(no_user_config) -> None:
    result = run("-", "--json", stdin="قال تعالى: ورتّل القرآن ترتيلاً\n")
    data = json.loads(result.output)
    assert data["alert"] is False
    assert [m["rule"] for m in data["matches"]] == ["convoy-word"]


def test_min_severity_option(no_user_config) -> None:
    assert json.loads(run("قريباً", "--json", "--min-severity", "low").output)["alert"] is True
    assert json.loads(run("قريباً", "--json").output)["alert"] is False


def test_rules_option_replaces_the_default_rules(no_user_config, tmp_path: Path) -> None:
    rules = tmp_path / "mine.toml"
    rules.write_text('[[rule]]\nname = "ginger"\nseverity = "high"\nterms = ["زنجبيل"]\n', encoding="utf-8")
    data = json.loads(run("بالزنجبيل والانتقام قادم", "--json", "--rules", str(rules)).output)
    assert [m["rule"] for m in data["matches"]] == ["ginger"]


def test_rules_from_the_config(no_user_config, tmp_path: Path) -> None:
    rules = tmp_path / "mine.toml"
    rules.write_text('[[rule]]\nname = "ginger"\nseverity = "low"\nterms = ["زنجبيل"]\n', encoding="utf-8")
    config = tmp_path / "config.toml"
    config.write_text('[alerts]\nrules = "mine.toml"\nmin_severity = "low"\n', encoding="utf-8")
    result = CliRunner().invoke(main, ["--config", str(config), "check", "زنجبيل", "--json"])
    assert json.loads(result.output)["alert"] is True


def test_bad_rules_file_is_one_sentence(no_user_config, tmp_path: Path) -> None:
    rules = tmp_path / "bad.toml"
    rules.write_text('[[rule]]\nname = "x"\nseverity = "urgent"\nterms = ["a"]\n', encoding="utf-8")
    result = run("text", "--rules", str(rules))
    assert result.exit_code == 2
    assert f"{rules}: rule 'x' (#1): unknown severity 'urgent'" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("picture", ["poster", "blank"])
def test_bad_rules_file_with_an_image_is_one_sentence(no_user_config, tmp_path: Path, picture: str) -> None:
    """With --image the rules are read while Tesseract reads the poster (or, for a picture
    without text, after it is found to have none): the same one sentence, exit status 2."""
    from PIL import Image, ImageDraw, ImageFont

    rules = tmp_path / "bad.toml"
    rules.write_text('[[rule]]\nname = "x"\nseverity = "urgent"\nterms = ["a"]\n', encoding="utf-8")
    image = Image.new("RGB", (900, 200), "white")
    if picture == "poster":
        font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf", 60)
        ImageDraw.Draw(image).text((30, 60), "VENGEANCE", fill="black", font=font)
    path = tmp_path / f"{picture}.png"
    image.save(path)
    result = run("--image", str(path), "--rules", str(rules), "--json")
    assert result.exit_code == 2, result.output
    assert f"{rules}: rule 'x' (#1): unknown severity 'urgent'" in result.output
    assert "Traceback" not in result.output


def test_nothing_to_check_is_a_usage_error(no_user_config) -> None:
    result = run()
    assert result.exit_code == 2
    assert "give a TEXT" in result.output


def test_help_has_an_example(no_user_config) -> None:
    result = run("--help")
    assert result.exit_code == 0
    assert "Example:" in result.output and "--exit-code" in result.output


def _ocr_available() -> bool:
    try:
        from ocr.engine import recognize_file  # noqa: F401
        from ocr.settings import OcrSettings  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.skipif(not _ocr_available(), reason="the OCR package is not there yet")
def test_poster_text_is_checked(no_user_config, tmp_path: Path) -> None:
    from PIL import Image, ImageDraw, ImageFont

    poster = tmp_path / "poster.png"
    image = Image.new("RGB", (1200, 300), "white")
    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf", 72)
    ImageDraw.Draw(image).text((40, 100), "VENGEANCE IS COMING", fill="black", font=font)
    image.save(poster)
    result = run("#59daysleft", "--image", str(poster), "--json", "--date", "2021-11-02")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert "VENGEANCE" in (data["ocr_text"] or "").upper()
    assert any(m["source"] == "ocr" and m["rule"] == "revenge-coming" for m in data["matches"])


def test_unreadable_poster_without_text_is_one_sentence(no_user_config, tmp_path: Path) -> None:
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image at all")
    result = run("--image", str(junk))
    assert result.exit_code == 2
    assert result.output.startswith("error: ")
    assert "Traceback" not in result.output


def test_unreadable_poster_with_text_still_checks_the_text(no_user_config, tmp_path: Path) -> None:
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image at all")
    result = CliRunner().invoke(main, ["check", "الانتقام قادم", "--image", str(junk), "--json"])
    assert result.exit_code == 0
    assert "warning: " in result.stderr
    data = json.loads(result.stdout)
    assert data["alert"] is True and data["ocr_text"] is None


@pytest.mark.slow
def test_poster_read_by_the_library_when_the_config_says_so(no_user_config, tmp_path: Path) -> None:
    """``[ocr] tesseract = "library"`` reaches the reader: an Arabic poster read in process (tesserocr)
    alerts on its threat; a mode that does not exist is one sentence naming the key."""
    from monitor.core.config import load_config
    from ocr import OcrSettings
    from tests.support.ocr import write_poster

    poster = write_poster(tmp_path, "arabic-light")  # "الانتقام قادم" / "#الرد_قادم"
    config = tmp_path / "config.toml"
    config.write_text('[ocr]\ntesseract = "library"\n', encoding="utf-8")
    assert OcrSettings.from_config(load_config(config).ocr).tesseract == "library"
    _alerts_then_refuses(config, poster, 'tesseract = "tesserocr"', "ocr.tesseract", "command, library")


def _alerts_then_refuses(config: Path, poster: Path, nonsense: str, key: str, allowed: str) -> None:
    """``check --image`` with ``config`` reads the poster's threat and alerts on it; with the
    ``[ocr]`` line ``nonsense`` written instead, it exits 2 with one sentence naming ``key``."""
    result = run("--config", str(config), "--image", str(poster), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert "الانتقام" in (data["ocr_text"] or "")
    assert any(m["source"] == "ocr" for m in data["matches"])
    config.write_text(f"[ocr]\n{nonsense}\n", encoding="utf-8")
    result = run("--config", str(config), "--image", str(poster))
    assert result.exit_code == 2
    assert key in result.output and allowed in result.output


@pytest.mark.slow
def test_a_quick_reading_when_the_config_says_so(no_user_config, tmp_path: Path, monkeypatch) -> None:
    """``[ocr] reading = "quick"`` reaches the reader: the poster's planes are read without the
    blue one that the thorough reading reads, its rows are cut from the grey plane alone, and its
    threat still alerts; a reading that does not exist is one sentence naming the key."""
    import ocr.engine
    import ocr.passes
    from monitor.core.config import load_config
    from ocr import OcrSettings
    from ocr.engine import recognize_file
    from tests.support.ocr import write_poster

    poster = write_poster(tmp_path, "arabic-light")  # "الانتقام قادم" / "#الرد_قادم"
    config = tmp_path / "config.toml"
    read: list[str] = []  # the planes Tesseract was given, by name
    read_planes = ocr.engine.read_planes

    def noted(planes, settings):
        read.extend(name for name, _ in planes)
        return read_planes(planes, settings)

    rows_cut_from: set[str] = set()  # the planes the rows re-read cut its rows from
    rows_of_part = ocr.passes._rows_of_part

    def rows_noted(rows, areas, part):
        chosen = rows_of_part(rows, areas, part)
        rows_cut_from.update(name for _, cuts in chosen for name, _, _ in cuts)
        return chosen

    monkeypatch.setattr(ocr.engine, "read_planes", noted)
    monkeypatch.setattr(ocr.passes, "_rows_of_part", rows_noted)
    planes_of = {}
    for reading in ("thorough", "quick"):
        config.write_text(f'[ocr]\nreading = "{reading}"\n', encoding="utf-8")
        settings = OcrSettings.from_config(load_config(config).ocr)
        read.clear()
        rows_cut_from.clear()
        outcome = recognize_file(poster, settings)
        assert outcome.ok and "الانتقام" in outcome.text, (reading, outcome)
        planes_of[reading] = (set(read), set(rows_cut_from))
    (thorough, thorough_rows), (quick, quick_rows) = planes_of["thorough"], planes_of["quick"]
    assert "blue" in thorough and "blue" not in quick
    assert thorough - quick == {"blue"}  # every other plane and stack is read alike
    assert (thorough_rows, quick_rows) == ({"white-fill", "black-fill", "grey"}, {"grey"})

    # the quick reading, as last written
    _alerts_then_refuses(config, poster, 'reading = "fast"', "ocr.reading", "quick, thorough")


_ENTRY = """
import atexit, sys
atexit.register(lambda: print("teardown ran", file=sys.stderr))
from monitor.cli import entry
sys.argv = ["tgmonitor", *sys.argv[1:]]
entry()
"""


def _entry(*args: str) -> subprocess.CompletedProcess[bytes]:
    """``tgmonitor ARGS`` through the console script's entry, with a teardown that says it ran."""
    return subprocess.run(
        [sys.executable, "-c", _ENTRY, *args], capture_output=True, timeout=300, env=os.environ
    )


@pytest.mark.slow
def test_a_poster_check_ends_without_the_teardown_and_with_all_its_output(
    no_user_config, tmp_path: Path
) -> None:
    """``check --image`` ends without the interpreter's teardown (``monitor.cli.entry``: freeing
    the models took 0.2 s a poster), and still with everything it printed, the same as in
    process (the Arabic JSON, the readable verdict), and the command's exit status (1:
    ``--exit-code`` and an alert). A check of text alone ends the usual way."""
    from tests.support.ocr import write_poster

    poster = write_poster(tmp_path, "arabic-light")  # "الانتقام قادم" / "#الرد_قادم"
    for output in (["--json"], []):
        args = ["check", "--image", str(poster), *output, "--exit-code", "--date", "2021-11-02"]
        done = _entry(*args)
        in_process = CliRunner().invoke(main, args)
        assert gc.isenabled()  # stopped only in the console script, which exits right after
        assert done.returncode == in_process.exit_code == 1, done.stderr.decode()
        assert "teardown ran" not in done.stderr.decode()
        assert done.stdout.decode() == in_process.stdout
        assert "الانتقام" in done.stdout.decode()
    text_only = _entry("check", "الانتقام قادم", "--json")
    assert text_only.returncode == 0 and "teardown ran" in text_only.stderr.decode()


def test_a_failed_poster_check_still_says_why_and_exits_2(no_user_config, tmp_path: Path) -> None:
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image at all")
    done = _entry("check", "--image", str(junk))
    assert done.returncode == 2
    assert done.stderr.decode().startswith("error: ") and "junk.png" in done.stderr.decode()
    assert "teardown ran" not in done.stderr.decode()


def test_only_the_console_script_stops_the_garbage_collector(monkeypatch) -> None:
    from monitor import cli_context

    monkeypatch.setattr(cli_context, "_quick_exit", False)
    monkeypatch.setattr(cli_context, "_console_script", False)
    cli_context.end_without_teardown()  # a caller of main (a test, a desk): it goes on afterwards
    assert gc.isenabled() and cli_context.quick_exit_asked()
    monkeypatch.setattr(cli_context, "_console_script", True)
    try:
        cli_context.end_without_teardown()  # the tgmonitor command, which exits when it is done
        assert not gc.isenabled()
    finally:
        gc.enable()


_IMPORTS = """
import sys
from monitor.cli import main
main(["check", *sys.argv[1:]], standalone_mode=False)
print("engine imported" if "ocr.engine" in sys.modules else "engine not imported", file=sys.stderr)
"""


def test_a_picture_without_text_is_checked_without_the_engine(no_user_config, tmp_path: Path) -> None:
    """A smooth picture fails the test for text (``ocr.blank``) as it loads, before the engine is
    imported: its check gives the empty poster text and the verdict of the text given, and never
    imports the engine (numpy and the passes, 0.06 s of a check that may take 0.3 s). A poster
    with text still is read by it."""
    from scripts.pictures import draw_picture
    from tests.support.ocr import write_poster

    picture = tmp_path / "sky.jpg"
    draw_picture("gradient", seed=7).save(picture, "JPEG", quality=80)
    args = ["الانتقام قادم", "--image", str(picture), "--json"]
    done = subprocess.run([sys.executable, "-c", _IMPORTS, *args], capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode()
    data = json.loads(done.stdout)
    assert (data["ocr_text"], data["alert"], data["matches"][0]["source"]) == ("", True, "text")
    assert data == json.loads(CliRunner().invoke(main, ["check", *args]).output)  # as in process
    assert "engine not imported" in done.stderr.decode()
    poster = write_poster(tmp_path, "arabic-light")
    read = subprocess.run(
        [sys.executable, "-c", _IMPORTS, "--image", str(poster), "--json"], capture_output=True, timeout=300
    )
    assert "engine imported" in read.stderr.decode() and "الانتقام" in json.loads(read.stdout)["ocr_text"]


@pytest.mark.parametrize(
    ("seed", "index", "slogan", "as_the_planes_read"),
    [
        (2, 46, "نحن أقرب مما تتصورون", "نحن أقرب مما نتصورون"),  # a clean crop read the dots
        (25, 35, "نحن أقرب مما تتصورون", "نحن أقرب مما نتصورون"),  # no pass read them
        (33, 35, "ثأر المهندس", "تأر المهندس"),  # no pass read them
        (17, 20, "#ترقبوا", "#ترقيوا"),  # nor here, in a hashtag
    ],
)
def test_a_poster_is_read_with_the_words_of_the_rules(
    no_user_config, tmp_path: Path, seed, index, slogan, as_the_planes_read
) -> None:
    """A slogan on synthetic posters whose planes lost a dot: Tesseract's dictionary spells
    neither ``تتصورون`` nor ``نتصورون``, and no pass of two posters read the dots at all. The
    shipped rules spell the slogan (``OcrSettings.known_words``), so ``check --image`` reads it
    and matches it. Checked with rules that lack those words, the planes' reading stays."""
    from scripts.posters import poster_specs, write_poster

    spec = poster_specs(48, seed)[index]
    assert slogan in spec.lines
    path = tmp_path / write_poster(spec, tmp_path)["file"]

    shipped = run("--image", str(path), "--json")
    assert shipped.exit_code == 0, shipped.output
    data = json.loads(shipped.output)
    assert slogan in data["ocr_text"].splitlines(), data["ocr_text"]
    term = slogan.lstrip("#").replace("_", " ")  # a hashtag matches as its words
    assert term in {m["term"] for m in data["matches"] if m["source"] == "ocr"}

    other = tmp_path / "other.toml"
    other.write_text('[[rule]]\nname = "x"\nseverity = "low"\nterms = ["زنجبيل"]\n', encoding="utf-8")
    without = json.loads(run("--image", str(path), "--rules", str(other), "--json").output)
    assert as_the_planes_read in without["ocr_text"].splitlines(), without["ocr_text"]
    assert slogan not in without["ocr_text"].splitlines()
