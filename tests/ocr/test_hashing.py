"""Perceptual hashes: a resized, recompressed or slightly cropped poster stays close."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from ocr import SIMILAR_DISTANCE, hamming, perceptual_hash, sha256_bytes
from scripts.posters import render_poster


@pytest.fixture(scope="module")
def poster():
    return render_poster(["الرد قادم", "#باقي_٥٩_يوما"], "fire", 800, seed=5)


def recompress(image: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


def test_hamming():
    assert hamming("ffff", "ffff") == 0
    assert hamming("ff00", "00ff") == 16
    assert hamming("8000000000000000", "0000000000000000") == 1
    with pytest.raises(ValueError):
        hamming("ff", "fff")


def test_phash_is_16_hex_digits(poster):
    value = perceptual_hash(poster)
    assert len(value) == 16 and int(value, 16) >= 0
    assert len(sha256_bytes(b"x")) == 64


def test_near_duplicates_are_close_and_others_far(poster):
    original = perceptual_hash(poster)
    smaller = poster.resize((420, int(420 * poster.height / poster.width)), Image.Resampling.BILINEAR)
    variants = {
        "resized+recompressed": recompress(smaller, 45),
        "recompressed": recompress(poster, 40),
        "cropped 3%": poster.crop((12, 12, poster.width - 12, poster.height - 12)),
    }
    for name, variant in variants.items():
        assert hamming(original, perceptual_hash(variant)) <= SIMILAR_DISTANCE, name
    others = [
        render_poster(["VENGEANCE IS COMING"], "flag", 800, seed=1),
        render_poster(["الانتقام قادم"], "light", 800, seed=2),
        render_poster(["#59daysleft"], "noise", 800, seed=3),
    ]
    for other in others:
        assert hamming(original, perceptual_hash(other)) > SIMILAR_DISTANCE


def test_the_same_picture_at_another_size_or_compression(poster):
    from ocr.hashing import same_picture

    smaller = recompress(poster.resize((560, round(560 * poster.height / poster.width))), 45)
    assert same_picture(poster, smaller)
    assert same_picture(smaller, recompress(poster, 30))
    # the next poster of the same countdown series: as near in pHash, but another picture
    nextday = render_poster(["الرد قادم", "#باقي_٥٨_يوما"], "fire", 800, seed=5)
    assert hamming(perceptual_hash(poster), perceptual_hash(nextday)) <= SIMILAR_DISTANCE
    assert not same_picture(poster, nextday)
    assert not same_picture(poster, recompress(nextday, 45))
    # a crop is another picture (other lines may be cut off)
    assert not same_picture(poster, poster.crop((0, 0, poster.width, poster.height * 3 // 4)))


def test_nearest_ranks_within_the_distance_and_skips_other_lengths():
    from ocr import nearest

    wanted = "ffff0000ffff0000"
    hashes = [
        ("far", "0000ffff0000ffff"),  # 64 bits away
        ("two", "ffff0000ffff0003"),
        ("same", wanted),
        ("old", "ffff"),  # an older hasher's length: not comparable
    ]
    assert nearest(wanted, hashes, 10) == [(0, "same", wanted), (2, "two", "ffff0000ffff0003")]
    assert nearest(wanted, hashes, 1) == [(0, "same", wanted)]


@pytest.mark.parametrize("background", ["fire", "flag", "noise", "dark", "gradient", "light"])
def test_the_hash_is_imagehash_phash(background):
    """``perceptual_hash`` makes its DCT without scipy; the bits are imagehash's, so hashes
    stored by earlier versions still find their re-posts. Posters at three sizes, recompressed,
    and a grain picture."""
    import imagehash

    for seed, width in ((1, 1080), (2, 640), (3, 300)):
        poster = render_poster(
            ["الانتقام قادم", "#باقي_٥٩_يوما", "Vengeance is Coming"], background, width, seed=seed
        )
        for image in (poster, recompress(poster, 40), Image.effect_noise((width, width // 2), 60)):
            assert perceptual_hash(image) == str(imagehash.phash(image))


def test_a_plain_picture_hashes_as_with_imagehash():
    """Equal coefficients (a plain colour: every one but the mean is 0) stay equal: scipy's FFT
    gives exact zeros there, and so does the rounding here."""
    import imagehash

    for colour in ((0, 0, 0), (128, 128, 128), (255, 255, 255), (200, 30, 30)):
        plain = Image.new("RGB", (300, 200), colour)
        assert perceptual_hash(plain) == str(imagehash.phash(plain))
