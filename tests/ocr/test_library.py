"""Tesseract in process (``ocr.library``): the same passes as the command, with the CPU limit."""

from __future__ import annotations

import ctypes
import dataclasses
import json
import os
import struct
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from PIL import Image

from monitor.core.errors import OcrError
from monitor.core.text import normalize
from ocr import OcrSettings, library, tesseract
from ocr.passes import read_plane
from ocr.planes import plane_sets
from tests.support.ocr import write_poster


def _cpu_has(*needed: str) -> bool:
    """Whether the processor has these instruction sets (``/proc/cpuinfo``'s flags)."""
    with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        flags = next((line.split() for line in cpuinfo if line.startswith("flags")), [])
    return set(needed) <= set(flags)


def _has_vnni() -> bool:
    """Whether the processor has what ocr/tesseract_matrix.c's weight products need."""
    return _cpu_has("avx2", "avx512f", "avx512bw", "avx512vl", "avx512vnni")


@pytest.fixture(scope="module")
def grain(tmp_path_factory):
    """A grain whose psm 11 pass takes well over 1 s of CPU (eng: 4.7 s read whole). A 1600 px
    grain took 1.0 s for its Recognize once the network was faster (stop 39): a limit of 1 s then
    kept or skipped it by a few milliseconds."""
    path = tmp_path_factory.mktemp("grain") / "grain.pgm"
    Image.fromarray(np.random.default_rng(3).integers(0, 256, (2000, 2000), dtype=np.uint8)).save(path)
    return path


@pytest.mark.slow
def test_a_library_pass_over_its_cpu_time_is_skipped(grain, caplog):
    with caplog.at_level("INFO", logger="ocr.library"):
        assert tesseract.tesseract_words(grain, "ara+eng", 11, 1.0, "library") == []
    assert "ran over 1s of CPU" in caplog.text


@pytest.mark.slow
def test_a_library_pass_in_a_thread_over_its_cpu_time_is_skipped(grain, caplog):
    found: list = [None]
    worker = threading.Thread(
        target=lambda: found.__setitem__(0, tesseract.tesseract_words(grain, "eng", 11, 1.0, "library"))
    )
    with caplog.at_level("INFO", logger="ocr.library"):
        worker.start()
        worker.join(timeout=120)
    assert not worker.is_alive() and found[0] == []
    assert "ran over 1s of CPU" in caplog.text


@pytest.mark.slow
def test_a_thread_pass_is_stopped_when_its_cpu_time_is_up_not_at_its_end(tmp_path, caplog):
    # Read whole, this grain takes eng psm 11 about 8 s of CPU. With 1 s allowed, the pass used to
    # get the command's wall-clock deadline (4 x 1 s + 1 s = 5 s), yet ran to its end (8.2 s of
    # CPU: Tesseract looks at its deadline only at some steps) and was dropped then. Now its first
    # deadline is 1.5 s of wall time. Its words are read within it (layout 1.1 s, words 0.3 s);
    # then Tesseract looks for paragraphs with no deadline (4.6 s of CPU), which a pass already
    # past its CPU seconds skips: it stops after about 1.5 s of CPU.
    from ocr import _tesseract_calls

    big = tmp_path / "grain.pgm"
    Image.fromarray(np.random.default_rng(5).integers(0, 256, (2400, 2400), dtype=np.uint8)).save(big)
    found: list = [None, None, None]

    def read() -> None:
        started, skipped = time.thread_time(), _tesseract_calls.paragraphs_skipped()
        found[0] = tesseract.tesseract_words(big, "eng", 11, 1.0, "library")
        found[1] = time.thread_time() - started
        found[2] = _tesseract_calls.paragraphs_skipped() - skipped

    worker = threading.Thread(target=read)
    with caplog.at_level("INFO", logger="ocr.library"):
        worker.start()
        worker.join(timeout=120)
    assert not worker.is_alive() and found[0] == []
    assert "ran over 1s of CPU" in caplog.text
    assert found[1] < 3.0
    assert found[2] in (0, 1)  # 1 when the words were read within the deadline, as here on an idle machine


@pytest.mark.slow
@pytest.mark.parametrize(
    ("poster", "plane"),
    [
        ("arabic-light", "grey"),
        ("arabic-light", "white-fill"),
        ("arabic-light", "lines:ara"),
        ("english-dark", "red"),
        ("english-dark", "lines:eng"),
    ],
)
def test_the_library_reads_a_plane_exactly_as_the_command_does(tmp_path, poster, plane):
    # tesserocr built against Debian's libtesseract (./dev) runs the command's own Tesseract:
    # every word, its box and its confidence come out the same. Arabic with a hashtag, English.
    assert tesseract.library_version() == tesseract.tesseract_info()["version"]
    with Image.open(write_poster(tmp_path, poster)) as image:
        planes = plane_sets([image.convert("RGB")], OcrSettings())[0]
    library = read_plane(planes[plane], OcrSettings(tesseract="library"), plane)
    command = read_plane(planes[plane], OcrSettings(tesseract="command"), plane)
    assert library and library == command
    if poster == "arabic-light" and plane == "grey":
        assert {"الانتقام", "قادم"} & {normalize(w.text) for line in library for w in line}


@pytest.mark.slow
def test_tesseracts_calls_into_openmp_and_leptonica_come_to_ocr_tesseract_calls(tmp_path):
    # libtesseract's calls into libgomp and Leptonica are bound to ocr/_tesseract_calls.c, loaded
    # before it: a read runs its OpenMP regions there, on this thread, and keeps its line images
    # uncompressed, and reads as the command does, with libgomp and Leptonica's own (the test
    # above). Tesseract's own LSTM::Forward enters a region at every time step of every layer (a
    # child that leaves the network to Tesseract); ocr/tesseract_layers.c runs the steps without
    # one, which leaves a few.
    from ocr import _tesseract_calls

    with Image.open(write_poster(tmp_path, "arabic-light")) as image:
        grey = image.convert("L")
    regions, raw, png = (
        _tesseract_calls.regions(),
        _tesseract_calls.raw_lines(),
        _tesseract_calls.stored_lines(),
    )
    assert read_plane(grey, OcrSettings(tesseract="library"), "grey")
    assert _tesseract_calls.regions() - regions > 0
    # every line image kept raw (8 bpp grey): none went through a PNG, not even one at level 0
    assert _tesseract_calls.raw_lines() - raw > 0 and _tesseract_calls.stored_lines() == png
    grey.save(tmp_path / "grey.png")
    child = subprocess.run(
        [sys.executable, "-c", _REGIONS_IN_A_CHILD, str(tmp_path / "grey.png")],
        env=os.environ | {"TGMONITOR_TESSERACT_NETWORK": "tesseract"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert int(child.stdout) > 1000


_REGIONS_IN_A_CHILD = """
import sys
from PIL import Image
from ocr import _tesseract_calls, tesseract
assert tesseract.tesseract_words(Image.open(sys.argv[1]), "ara+eng", 11, None, "library")
print(_tesseract_calls.regions())
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    ("poster", "plane", "model"),
    [
        ("eastern-hashtag-fire", "grey", "ara+eng"),  # flames: many junk lines, windows off the line's edge
        ("canonical", "blue", "ara+eng"),  # a flag, English and a hashtag
        ("eastern-countdown", "grey", "Arabic"),  # the script model of the digits pass
        ("english-dark", "white", "eng"),
    ],
)
def test_the_network_run_by_ocr_tesseract_network_gives_the_commands_numbers(tmp_path, poster, plane, model):
    # ocr/tesseract_network.c runs the LSTM network's bookkeeping (the convolution window, the
    # int8 time steps, the max-pool, the activations of the tanh layer and of the LSTM's gates) on
    # the Tesseract ./dev installs; the command runs Tesseract's
    # own code. Every word, box and confidence (the network's output) must be the same, on every
    # model the passes use.
    from ocr import _tesseract_calls

    with Image.open(write_poster(tmp_path, poster)) as image:
        planes = plane_sets([image.convert("RGB")], OcrSettings())[0]
    windows, steps = _tesseract_calls.convolutions(), _tesseract_calls.lstm_steps()
    products, layers = _tesseract_calls.matrix_products(), _tesseract_calls.lstm_lines()
    pools = _tesseract_calls.maxpool_lines()
    library = tesseract.tesseract_words(planes[plane], model, 11, None, "library")
    assert _tesseract_calls.network_is_ours(), _tesseract_calls.network_code()
    assert _tesseract_calls.convolutions() - windows > 0  # the lines' networks ran here
    assert _tesseract_calls.lstm_steps() - steps > 1000  # and their LSTMs' gates
    assert _tesseract_calls.lstm_lines() - layers > 0  # and their LSTM layers (ocr/tesseract_layers.c)
    assert _tesseract_calls.maxpool_lines() - pools > 0  # and their max-pools
    if _has_vnni():  # and their weight products (ocr/tesseract_matrix.c)
        assert _tesseract_calls.matrix_products() - products > 4 * 1000
    command = tesseract.tesseract_words(planes[plane], model, 11, None, "command")
    assert library and library == command


_READ_IN_A_CHILD = """
import dataclasses, json, sys
from PIL import Image
from ocr import _tesseract_calls, tesseract
words = tesseract.tesseract_words(Image.open(sys.argv[1]), "ara+eng", 11, None, "library")
print(json.dumps({"ours": _tesseract_calls.network_is_ours(), "products": _tesseract_calls.matrix_products(),
                  "layers": _tesseract_calls.lstm_lines(), "pools": _tesseract_calls.maxpool_lines(),
                  "words": [[dataclasses.astuple(w) for w in line] for line in words]}))
"""


@pytest.mark.slow
@pytest.mark.parametrize("way", ["scalar", "avx2", "tesseract"])
def test_the_network_without_avx2_or_left_to_tesseract_gives_the_commands_numbers(tmp_path, way):
    # The other ways the network runs: ours without AVX2 (a processor without it), ours with AVX2
    # but without VNNI (the weight products then Tesseract's own kernel), and Tesseract's own
    # functions, as with a libtesseract whose code is not the build checked (every call goes on to
    # libtesseract's own). Each reads the flames as the command does.
    with Image.open(write_poster(tmp_path, "eastern-hashtag-fire")) as image:
        grey = plane_sets([image.convert("RGB")], OcrSettings())[0]["grey"]
    grey.save(tmp_path / "grey.png")
    child = subprocess.run(
        [sys.executable, "-c", _READ_IN_A_CHILD, str(tmp_path / "grey.png")],
        env=os.environ | {"TGMONITOR_TESSERACT_NETWORK": way},
        capture_output=True,
        text=True,
        check=True,
    )
    read = json.loads(child.stdout)
    assert read["ours"] == (way != "tesseract")
    assert read["products"] == 0  # ocr/tesseract_matrix.c left the weight products to Tesseract
    assert (read["layers"] > 0) == (
        way == "avx2" and _cpu_has("avx2")
    )  # ocr/tesseract_layers.c's LSTMs need AVX2
    assert (read["pools"] > 0) == (way != "tesseract")  # its max-pools do not
    command = tesseract.tesseract_words(grey, "ara+eng", 11, None, "command")
    assert read["words"] and read["words"] == [
        [list(dataclasses.astuple(w)) for w in line] for line in command
    ]


def test_the_network_code_checked_is_libtesseracts_own():
    # The functions replaced are checked against the build their offsets were read from: each
    # hash is of libtesseract's own function (found in its own scope), not of this module's.
    from ocr import _tesseract_calls

    assert library.library_version()  # tesserocr, and with it libtesseract, loaded
    code = _tesseract_calls.network_code()
    assert len(code) == 29 and all(found for _, found, _ in code)
    assert all(found == expected for _, found, expected in code), code


def test_a_model_load_builds_no_universal_ambiguities():
    # The legacy engine's table of universal ambiguities (74 % of a model load) is not built:
    # once per language of the set. The readings stay the command's (the tests above).
    from ocr import _tesseract_calls

    tessdata = tesseract.tesseract_info()["tessdata"]
    before = _tesseract_calls.universal_skipped()
    api = library._new_api("ara+eng", tessdata)
    try:
        assert _tesseract_calls.universal_skipped() - before == 2
    finally:
        api.End()


def _leptonica(lib: ctypes.CDLL) -> ctypes.CDLL:
    """``lib`` (the process's global scope, or Leptonica's own library) with the signatures of the
    Leptonica functions these tests call."""
    lib.pixCreate.restype = ctypes.c_void_p
    lib.pixCreate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.pixDestroy.argtypes = [ctypes.POINTER(ctypes.c_void_p)]
    lib.pixSetAll.argtypes = [ctypes.c_void_p]
    lib.pixSetPadBits.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.pixGetData.restype = ctypes.POINTER(ctypes.c_uint32)
    lib.pixGetData.argtypes = [ctypes.c_void_p]
    lib.pixGetWpl.argtypes = [ctypes.c_void_p]
    lib.pixGetWidth.argtypes = [ctypes.c_void_p]
    lib.pixWriteMem.argtypes = [
        ctypes.POINTER(ctypes.c_void_p),
        ctypes.POINTER(ctypes.c_size_t),
        ctypes.c_void_p,
        ctypes.c_int,
    ]
    lib.lept_free.argtypes = [ctypes.c_void_p]
    lib.setMsgSeverity.argtypes = [ctypes.c_int]
    return lib


def test_a_png_leptonica_writes_for_anyone_else_is_its_own():
    # Only libtesseract's line images are written at zlib level 0: the same call from elsewhere
    # (here ctypes, through the process's global scope, where the replacement sits) gets
    # Leptonica's compressed PNG.
    from ocr import _tesseract_calls

    everyone = _leptonica(ctypes.CDLL(None))
    pix = ctypes.c_void_p(everyone.pixCreate(400, 400, 8))  # all black: deflate makes it tiny
    data, size = ctypes.c_void_p(), ctypes.c_size_t()
    lines = _tesseract_calls.stored_lines()
    try:
        assert everyone.pixWriteMem(ctypes.byref(data), ctypes.byref(size), pix, 3) == 0  # IFF_PNG
        assert ctypes.string_at(data, 8) == b"\x89PNG\r\n\x1a\n"
        assert size.value < 2_000  # compressed: stored, 160,000 pixels would take more
        assert _tesseract_calls.stored_lines() == lines
    finally:
        everyone.lept_free(data)
        everyone.pixDestroy(ctypes.byref(pix))


@pytest.mark.parametrize("width", [1, 2, 3, 4, 5, 31, 33, 257])
@pytest.mark.parametrize(
    ("xres", "yres"), [(0, 0), (70, 70), (72, 96), (300, 300), (300, 0), (0, 300), (1, 7)]
)
def test_a_line_kept_raw_comes_back_as_its_png_would(width, xres, yres):
    # The image GetPixInternal gets from a raw line is the one Leptonica makes of the PNG it
    # replaces: every word (the pad bits after each row cleared, as the PNG leaves them), the size,
    # one sample per pixel, the resolution through pixels per metre (none if either is 0), PNG as
    # the input format.
    from ocr import _tesseract_calls

    assert _tesseract_calls.raw_line_like_png(width, 1 + width % 9, xres, yres, width * 7 + xres)


def test_a_raw_line_is_read_back_only_for_libtesseracts_line_images(capfd):
    # pixReadMem makes an image of a raw line only for ImageData::GetPixInternal: the same bytes
    # handed to it from anywhere else (here ctypes) are Leptonica's to judge, and it knows no
    # such format.
    everyone = _leptonica(ctypes.CDLL(None))
    everyone.pixReadMem.restype = ctypes.c_void_p
    everyone.pixReadMem.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
    head = b"tgmonitor:raw8\n\0" + struct.pack("<4i", 4, 1, 0, 0)
    line = head + bytes([0, 128, 255, 7])  # one row of four pixels: one word
    assert everyone.pixReadMem(line, len(line)) is None
    assert everyone.pixReadMem(b"\x89PNG\r\n\x1a\n" + bytes(8), 16) is None  # a PNG still goes to Leptonica
    capfd.readouterr()


def test_leptonicas_complaints_stay_out_of_the_terminal(capfd):
    # Leptonica prints its errors on stderr (the command's went to a pipe); the library quiets the
    # Leptonica tesserocr uses, found in the process's global scope.
    everyone = _leptonica(ctypes.CDLL(None))
    library._quiet_leptonica()
    everyone.pixGetWidth(None)  # "Error in pixGetWidth: pix not defined" when loud
    assert "pix not defined" not in capfd.readouterr().err
    try:
        everyone.setMsgSeverity(3)  # L_SEVERITY_INFO, Leptonica's default: loud again
        everyone.pixGetWidth(None)
        assert "pix not defined" in capfd.readouterr().err  # it would have printed
    finally:
        everyone.setMsgSeverity(library._LEPTONICA_QUIET)


def test_the_pad_bits_are_leptonicas():
    # pixSetPadBits here (reached through the global scope, as Leptonica's pixCreate and
    # libtesseract reach it) sets the same bits as Leptonica's own, found in its own library:
    # at every depth with padding, for either value, on rows that end inside a word.
    from ocr import _tesseract_calls

    everyone = _leptonica(ctypes.CDLL(None))
    leptonica = _leptonica(ctypes.CDLL("liblept.so.5", mode=os.RTLD_NOLOAD))  # its own definitions first
    address = lambda function: ctypes.cast(function, ctypes.c_void_p).value  # noqa: E731
    assert address(everyone.pixSetPadBits) != address(leptonica.pixSetPadBits)

    def words_after(lib, width, height, depth, val):
        pix = ctypes.c_void_p(everyone.pixCreate(width, height, depth))
        try:
            if val == 0:
                everyone.pixSetAll(pix)  # every bit set: clearing the pad shows
            assert lib.pixSetPadBits(pix, val) == 0
            return list(everyone.pixGetData(pix)[: everyone.pixGetWpl(pix) * height])
        finally:
            everyone.pixDestroy(ctypes.byref(pix))

    before = _tesseract_calls.pads_set()
    for width, depth in ((33, 1), (70, 2), (45, 4), (13, 8), (7, 16), (64, 1), (101, 32)):
        for val in (0, 1):
            ours = words_after(everyone, width, 5, depth, val)
            assert ours == words_after(leptonica, width, 5, depth, val), (width, depth, val)
            assert len(set(ours)) > 1 or width * depth % 32 == 0  # the pad differs from the pixels
    assert _tesseract_calls.pads_set() > before  # the calls above (and each pixCreate's) came here


@pytest.mark.slow
def test_a_pillow_plane_reads_as_the_command_reads_its_pgm(tmp_path):
    # tesserocr hands a Pillow image to Leptonica as a BMP, and a BMP carries a resolution (96 dpi
    # unless the source recorded one), which Tesseract then uses instead of estimating one from
    # the letters as it does for the command's PGM: the grey plane of this poster (and the grey,
    # red and green planes of a real one) read differently. The library now gets the PGM.
    with Image.open(write_poster(tmp_path, "eastern-countdown")) as image:
        grey = image.convert("L")
    library = read_plane(grey, OcrSettings(tesseract="library"), "grey")
    assert library and library == read_plane(grey, OcrSettings(tesseract="command"), "grey")


def test_an_engine_is_lent_to_one_pass_at_a_time_and_kept_for_the_next():
    tessdata = tesseract.tesseract_info()["tessdata"]
    with library._engine("eng", tessdata) as first, library._engine("eng", tessdata) as second:
        assert first is not second  # two passes at once: two engines
    seen = []

    def later() -> None:
        with library._engine("eng", tessdata) as api:
            seen.append(api)

    worker = threading.Thread(target=later)
    worker.start()
    worker.join(timeout=60)
    assert seen and seen[0] in (first, second)  # another thread, later: a kept one, models loaded


def test_preloaded_models_are_the_ones_the_passes_are_lent():
    # ``eng+ara`` (not the passes' ``ara+eng``): no other test has made one in this process
    tessdata = tesseract.tesseract_info()["tessdata"]
    library.preload({"eng+ara": 2}, tessdata)
    library.preload({"eng+ara": 2}, tessdata)  # already on their way: nothing more to load
    with library._engine("eng+ara", tessdata) as first, library._engine("eng+ara", tessdata) as second:
        assert first is not second
        assert library._made["eng+ara"] == 2  # the passes waited for the preloaded two
    library.preload({"eng+ara": 2}, tessdata)
    assert library._made["eng+ara"] == 2 and library._loading["eng+ara"] == 0


def test_a_model_that_fails_to_preload_fails_the_pass_that_needs_it():
    tessdata = tesseract.tesseract_info()["tessdata"]
    library.preload({"nosuchlang": 1}, tessdata)  # returns at once; the load fails on its thread
    with pytest.raises(OcrError, match="nosuchlang"), library._engine("nosuchlang", tessdata):
        pass
    assert library._made["nosuchlang"] == 0 and library._loading["nosuchlang"] == 0


def test_models_load_in_the_order_the_passes_need_them_one_per_core(monkeypatch):
    """``preload`` loads in the order it is given (the plane passes' model first, the digits'
    last) on at most ``_LOADERS`` threads: five at once made the first passes wait for all five."""
    tessdata = tesseract.tesseract_info()["tessdata"]
    started: list[str] = []
    running, most = [0], [0]
    lock = threading.Lock()
    real = library._new_api

    def recorded(lang: str, folder: str):
        if threading.current_thread().name != "ocr-model":  # a pass loading its own, not preload
            return real(lang, folder)
        with lock:
            started.append(lang)
            running[0] += 1
            most[0] = max(most[0], running[0])
        try:
            return real(lang, folder)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(library, "_new_api", recorded)
    monkeypatch.setattr(library, "_LOADERS", 1)
    wanted = {"nosuch-a": 2, "nosuch-b": 1, "nosuch-c": 1}  # each fails to load, in its turn
    library.preload(wanted, tessdata)
    with pytest.raises(OcrError), library._engine("nosuch-c", tessdata):
        pass
    assert started == ["nosuch-a", "nosuch-a", "nosuch-b", "nosuch-c"]
    assert most[0] == 1
    monkeypatch.setattr(library, "_LOADERS", 2)
    library.preload({"nosuch-d": 1, "nosuch-e": 1, "nosuch-f": 1}, tessdata)
    with pytest.raises(OcrError), library._engine("nosuch-f", tessdata):
        pass
    assert most[0] <= 2


def test_a_tesserocr_of_another_tesseract_leaves_the_reading_to_the_command(monkeypatch, caplog):
    # a wheel bundles its own Tesseract (5.5), which reads Debian's models a little differently
    monkeypatch.setattr(tesseract, "library_version", lambda: "5.5.4")
    tesseract._library_matches.cache_clear()
    try:
        with caplog.at_level("WARNING", logger="ocr.tesseract"):
            settings = tesseract.usable_settings(OcrSettings(tesseract="library"))
            again = tesseract.usable_settings(OcrSettings(tesseract="library"))
        assert settings.tesseract == again.tesseract == "command"
        assert caplog.text.count("--no-binary tesserocr") == 1  # said once, not for every image
    finally:
        monkeypatch.undo()
        tesseract._library_matches.cache_clear()
    assert tesseract.usable_settings(OcrSettings(tesseract="library")).tesseract == "library"


def test_the_tsv_of_both_is_read_alike():
    header = "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext"
    rows = [
        "5\t1\t1\t1\t1\t1\t10\t20\t30\t40\t91.5\tاموي_٥٩_يقاب#",
        "5\t1\t1\t1\t1\t2\t50\t20\t30\t40\t88\tإلى",
    ]
    command = tesseract.words_from_tsv("\n".join([header, *rows]))
    library = tesseract.words_from_tsv("\n".join(rows))  # the library gives no header line
    assert command == library
    assert [w.text for w in command[0]] == ["#باقي_٥٩_يوما", "إلى"]
