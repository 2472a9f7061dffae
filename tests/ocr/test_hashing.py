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
