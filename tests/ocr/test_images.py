"""Safe image loading: bad files become ImageError / failed outcomes with a reason, never a crash."""

from __future__ import annotations

import gzip
import re

import pytest
from PIL import Image, ImageDraw

from monitor.core.errors import ImageError
from ocr import OcrSettings, load_image, recognize_file, sniff_format
from tests.support.ocr import image_bytes, png_bomb


def write(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def text_card(mode: str = "RGB", size=(200, 80)) -> Image.Image:
    image = Image.new("RGB", size, "white")
    ImageDraw.Draw(image).rectangle((20, 20, 60, 60), fill="black")
    return image if mode == "RGB" else image.convert(mode)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty file"),
        (b"hello, this is not a poster\n", "not an image (text)"),
        (gzip.compress(b'{"tgs": 1, "layers": []}'), "gzip"),
        (b'{"v": "5.5.2", "layers": []}', "JSON"),
        (b"BM" + b"\x00" * 60, "unsupported image format"),
    ],
)
def test_not_images_are_refused_with_a_reason(tmp_path, data, reason):
    path = write(tmp_path, "poster.jpg", data)  # the name lies; the bytes decide
    with pytest.raises(ImageError, match=re.escape(reason)):
        load_image(path)
    outcome = recognize_file(path, OcrSettings())
    assert outcome.status == "failed"
    assert reason in outcome.reason


def test_truncated_jpeg_is_refused(tmp_path):
    data = image_bytes(text_card(size=(400, 300)), "JPEG", quality=90)
    path = write(tmp_path, "cut.jpg", data[: len(data) // 2])
    with pytest.raises(ImageError, match="truncated"):
        load_image(path)
    outcome = recognize_file(path)
    assert outcome.status == "failed" and "truncated" in outcome.reason
    assert outcome.sha256 is not None  # the archive can still name it


def test_corrupt_png_is_refused(tmp_path):
    data = bytearray(image_bytes(text_card(), "PNG"))
    data[40:60] = b"\xff" * 20
    with pytest.raises(ImageError, match="PNG"):
        load_image(write(tmp_path, "bad.png", bytes(data)))


def test_png_bomb_is_refused_before_decoding(tmp_path):
    data = png_bomb(30000, 30000)
    assert len(data) < 200_000  # tiny on disk, 900 megapixels claimed
    path = write(tmp_path, "bomb.png", data)
    with pytest.raises(ImageError, match=r"decompression bomb|too many pixels"):
        load_image(path)
    outcome = recognize_file(path)
    assert outcome.status == "failed" and "bomb" in outcome.reason


def test_pillow_bomb_warning_is_an_error_too(tmp_path):
    # Under our own limit but over Pillow's warning threshold: the warning must not be shrugged off.
    path = write(tmp_path, "bomb.png", png_bomb(9600, 9600))
    previous = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = 50_000_000
    try:
        with pytest.raises(ImageError, match="decompression bomb"):
            load_image(path, max_pixels=200_000_000)
    finally:
        Image.MAX_IMAGE_PIXELS = previous


def test_byte_limit(tmp_path):
    path = write(tmp_path, "big.png", image_bytes(text_card(size=(600, 600)), "PNG"))
    with pytest.raises(ImageError, match="file too large"):
        load_image(path, max_bytes=100)


def test_sniffing_ignores_the_extension(tmp_path):
    png = image_bytes(text_card(), "PNG")
    assert sniff_format(png[:16]) == "PNG"
    loaded = load_image(write(tmp_path, "really-a-png.jpg", png))
    assert loaded.format == "PNG"
    assert loaded.frames[0].mode == "RGB"


def test_a_transparent_sticker_is_laid_on_grey_so_dark_and_light_letters_both_show(tmp_path):
    # Black ink and white ink on a transparent sticker: convert("RGB") alone would give black on
    # black; on white the white ink would vanish. On mid-grey both stand out.
    image = Image.new("RGBA", (120, 60), (0, 0, 0, 0))
    ImageDraw.Draw(image).rectangle((10, 10, 50, 50), fill=(0, 0, 0, 255))
    ImageDraw.Draw(image).rectangle((70, 10, 110, 50), fill=(255, 255, 255, 255))
    frame = load_image(write(tmp_path, "sticker.png", image_bytes(image, "PNG"))).frames[0]
    assert frame.getpixel((60, 55)) == (128, 128, 128)
    assert frame.getpixel((30, 30)) == (0, 0, 0) and frame.getpixel((90, 30)) == (255, 255, 255)


def test_a_picture_with_a_few_soft_pixels_stays_on_white(tmp_path):
    # an opaque poster whose corners are antialiased: not a sticker, read as before
    image = Image.new("RGBA", (100, 100), (200, 40, 40, 255))
    for corner in ((0, 0), (99, 0), (0, 99), (99, 99)):
        image.putpixel(corner, (200, 40, 40, 0))
    frame = load_image(write(tmp_path, "poster.png", image_bytes(image, "PNG"))).frames[0]
    assert frame.getpixel((0, 0)) == (255, 255, 255) and frame.getpixel((50, 50)) == (200, 40, 40)


def test_palette_with_transparency_and_grey_alpha(tmp_path):
    p_image = text_card().convert("P")
    p_image.info["transparency"] = p_image.getpixel((0, 0))
    frame = load_image(
        write(tmp_path, "p.png", image_bytes(p_image, "PNG", transparency=p_image.getpixel((0, 0))))
    ).frames[0]
    assert frame.mode == "RGB" and frame.getpixel((1, 1)) == (128, 128, 128)  # the card's field: a sticker's
    la = text_card().convert("LA")
    frame = load_image(write(tmp_path, "la.png", image_bytes(la, "PNG"))).frames[0]
    assert frame.mode == "RGB" and frame.getpixel((30, 30)) == (0, 0, 0)


def test_cmyk_jpeg_is_converted(tmp_path):
    data = image_bytes(text_card().convert("CMYK"), "JPEG", quality=95)
    loaded = load_image(write(tmp_path, "cmyk.jpg", data))
    frame = loaded.frames[0]
    assert frame.mode == "RGB"
    assert sum(frame.getpixel((40, 40))) < 150 and sum(frame.getpixel((150, 10))) > 600


def test_sixteen_bit_png(tmp_path):
    image = Image.new("I;16", (64, 32), 65535)
    ImageDraw.Draw(image).rectangle((5, 5, 20, 20), fill=0)
    frame = load_image(write(tmp_path, "deep.png", image_bytes(image, "PNG"))).frames[0]
    assert frame.getpixel((10, 10)) == (0, 0, 0) and frame.getpixel((50, 25)) == (255, 255, 255)


def test_exif_orientation_is_applied(tmp_path):
    image = Image.new("RGB", (300, 100), "white")
    ImageDraw.Draw(image).rectangle((0, 0, 50, 100), fill="black")  # black on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: display rotated 90 degrees clockwise
    loaded = load_image(write(tmp_path, "rotated.jpg", image_bytes(image, "JPEG", exif=exif, quality=95)))
    frame = loaded.frames[0]
    assert frame.size == (100, 300)
    assert (loaded.width, loaded.height) == (100, 300)
    assert sum(frame.getpixel((50, 10))) < 100  # the black band is now at the top


def test_animated_webp_gives_first_and_middle_frame(tmp_path):
    frames = []
    for i in range(5):
        frame = Image.new("RGB", (120, 80), "white")
        ImageDraw.Draw(frame).rectangle((i * 20, 10, i * 20 + 15, 70), fill="black")
        frames.append(frame)
    data = image_bytes(
        frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=100, lossless=True
    )
    loaded = load_image(write(tmp_path, "anim.webp", data))
    assert loaded.format == "WEBP" and loaded.n_frames == 5
    assert len(loaded.frames) == 2
    assert loaded.frames[0].getpixel((5, 40)) == (0, 0, 0)  # first frame: bar at x 0-15
    assert loaded.frames[1].getpixel((45, 40)) == (0, 0, 0)  # middle frame (2): bar at x 40-55


def test_animated_gif(tmp_path):
    frames = [Image.new("L", (60, 40), 255 - 60 * i).convert("P") for i in range(3)]
    data = image_bytes(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)
    loaded = load_image(write(tmp_path, "anim.gif", data))
    assert loaded.format == "GIF" and len(loaded.frames) == 2


def test_long_side_is_capped(tmp_path):
    path = write(tmp_path, "wide.png", image_bytes(Image.new("RGB", (4000, 1000), "white"), "PNG"))
    loaded = load_image(path, max_side=1600)
    assert loaded.frames[0].size == (1600, 400)
    assert (loaded.width, loaded.height) == (4000, 1000)  # the stored size is what the archive keeps


def test_huge_jpeg_is_decoded_small(tmp_path):
    data = image_bytes(Image.new("RGB", (5000, 3000), "white"), "JPEG", quality=50)
    loaded = load_image(write(tmp_path, "huge.jpg", data), max_side=1200)
    assert max(loaded.frames[0].size) == 1200


def test_tiny_image_reads_as_empty_text(tmp_path):
    outcome = recognize_file(write(tmp_path, "dot.png", image_bytes(Image.new("RGB", (2, 2)), "PNG")))
    assert outcome.status == "done" and outcome.text == ""
    assert (outcome.width, outcome.height) == (2, 2)


def test_missing_file_is_a_failed_outcome(tmp_path):
    outcome = recognize_file(tmp_path / "gone.jpg")
    assert outcome.status == "failed" and "not found" in outcome.reason
