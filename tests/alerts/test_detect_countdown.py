"""Countdowns (English, MSA, Iraqi, Persian digits), benign look-alikes, and countdown series."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from alerts.countdown import find_countdown, parse_number, series_deadline
from monitor.core.detection import CountdownPoint
from tests.support.detect import LEXICON

POSTED = datetime(2021, 11, 2, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize("example", LEXICON["countdown_examples"], ids=lambda e: e["text"])
def test_lexicon_countdown_examples(example: dict) -> None:
    countdown = find_countdown(example["text"], POSTED)
    assert countdown is not None
    assert (countdown.value, countdown.unit) == (example["value"], example["unit"])


ISSUE_EXAMPLES = [
    ("#59daysleft", 59, "day"),
    ("#58DaysLeft", 58, "day"),
    ("59 days left", 59, "day"),
    ("Only 3 days remain", 3, "day"),
    ("T-minus 5 days", 5, "day"),
    ("two days left", 2, "day"),
    ("48 hours left", 48, "hour"),
    ("twenty-one days left", 21, "day"),
    ("3 weeks left", 21, "day"),
    ("باقي 59 يوما", 59, "day"),
    ("#باقي_٥٩_يوما", 59, "day"),
    ("#باقي٥٩يوما", 59, "day"),
    ("بقي ٧ أيام", 7, "day"),
    ("لم يتبقَّ سوى ٥٦ يوماً", 56, "day"),
    ("العد التنازلي: 10 أيام", 10, "day"),
    ("متبقي ٤٨ ساعة", 48, "hour"),
    ("باقي ثلاثة أيام", 3, "day"),
    ("باقي خمسة وعشرون يوما", 25, "day"),
    ("بقي يومان", 2, "day"),
    ("باقي يومين", 2, "day"),
    ("باقي ساعتين", 2, "hour"),
    ("باقي اسبوعين", 14, "day"),
    ("باقيلهم خمسطعش يوم", 15, "day"),  # Iraqi spoken teen
    ("ظل ٤٠ يوم", 40, "day"),
    ("۵۹ روز مانده", 59, "day"),
    ("#العد_التنازلي ٣", 3, "day"),
    ("#العد_التنازلي ٣ #الانتقام_قادم", 3, "day"),
    ("لا يفصلنا عن ٣١/١٢/٢٠٢١ سوى ٤٢ يوماً", 42, "day"),
]


@pytest.mark.parametrize(("text", "value", "unit"), ISSUE_EXAMPLES)
def test_countdown_phrasings(text: str, value: int, unit: str) -> None:
    countdown = find_countdown(text, POSTED)
    assert countdown is not None
    assert (countdown.value, countdown.unit) == (value, unit)
    assert countdown.alertable


@pytest.mark.parametrize(
    "text",
    [
        "مرور ٥ أيام على اغتيال القادة",  # five days *since*
        "قبل 3 أيام",
        "يوم الجمعة",
        "اليوم 5 شهداء",
        "باقي المحافظات",
        "in 5 days",
        "The clock is ticking on the budget deadline, lawmakers say",
        "He was killed 3 days before the attack",
        "بقي ٣ أيام في المستشفى قبل أن يغادر",  # "stayed three days in hospital"
        "ظل 5 أيام محاصرا في المدينة",
        "خلال 24 ساعة",
        "منذ 3 أيام",
        "العد التنازلي 2021",
        "العد التنازلي 10 دقائق",
        "countdown 5%",
        "",
        "   ",
    ],
)
def test_not_a_countdown(text: str) -> None:
    assert find_countdown(text, POSTED) is None


def test_deadline_is_post_date_plus_span() -> None:
    assert find_countdown("#59daysleft", POSTED).deadline == datetime(2021, 12, 31, 10, 0, tzinfo=UTC)
    assert find_countdown("باقي ٧٢ ساعة", POSTED).deadline == POSTED + timedelta(hours=72)
    assert find_countdown("#59daysleft").deadline is None  # no post date: no deadline


def test_explicit_date_wins_over_the_span() -> None:
    countdown = find_countdown(
        "لا يفصلنا عن ٣١/ ١٢/ ٢٠٢١ سوى ٤٢ يوماً فقط", datetime(2021, 11, 19, tzinfo=UTC)
    )
    assert countdown.explicit_date
    assert countdown.deadline == datetime(2021, 12, 31, tzinfo=UTC)
    english = find_countdown("only 42 days separate us from December 31, 2021")
    assert english.deadline == datetime(2021, 12, 31, tzinfo=UTC)  # known even without a post date


def test_naive_post_date_is_read_as_utc() -> None:
    countdown = find_countdown("باقي 3 أيام", datetime(2021, 11, 2, 10, 0))
    assert countdown.deadline == datetime(2021, 11, 5, 10, 0, tzinfo=UTC)


def test_span_indexes_the_original_text() -> None:
    text = "بيان: لم يتبقَّ سوى ٥٦ يوماً على انتهاء المهلة"
    countdown = find_countdown(text, POSTED)
    assert text[countdown.start : countdown.end] == "لم يتبقَّ سوى ٥٦ يوماً" == countdown.snippet


BENIGN = [
    "باقي ٥٩ يوماً على شهر رمضان المبارك",
    "#باقي_١٠_أيام على امتحانات السادس الإعدادي",
    "العد التنازلي لرأس السنة: ٣ أيام",
    "Only 59 days left until Christmas!",
    "Countdown to New Year: 10 days left",
    "3 days left until the product launch",
]


@pytest.mark.parametrize("text", BENIGN)
def test_benign_look_alikes_are_countdowns_but_not_alertable(text: str) -> None:
    countdown = find_countdown(text, POSTED)
    assert countdown is not None
    assert not countdown.alertable
    assert "benign" in countdown.reason


@pytest.mark.parametrize(
    "text",
    [
        "باقي ٥٩ يوماً على رأس السنة يا محتلين",
        "Only 59 days left until New Year for the occupiers",
        "العد التنازلي لرأس السنة: ٣ أيام والانتقام قادم",
    ],
)
def test_benign_look_alike_with_a_threat_nearby_is_alertable(text: str) -> None:
    countdown = find_countdown(text, POSTED)
    assert countdown.alertable
    assert countdown.threat


@pytest.mark.parametrize("text", [t for t in LEXICON["negative_examples"] if t not in BENIGN])
def test_lexicon_negatives_give_no_alertable_countdown(text: str) -> None:
    countdown = find_countdown(text, POSTED)
    assert countdown is None or not countdown.alertable


def test_bare_number_is_a_countdown_only_for_a_series() -> None:
    countdown = find_countdown("٥٩", POSTED)
    assert (countdown.value, countdown.bare, countdown.alertable) == (59, True, False)


@pytest.mark.parametrize(
    ("words", "value"),
    [("59", 59), ("ثلاثه", 3), ("عشره", 10), ("خمسه وعشرون", 25), ("احدي عشر", 11), ("twenty-one", 21),
     ("seven", 7), ("an", 1), ("كلمه", None)],
)  # fmt: skip
def test_parse_number(words: str, value: int | None) -> None:
    assert parse_number(words) == value


def day(n: int, hour: int = 10) -> datetime:
    return datetime(2021, 11, n, hour, tzinfo=UTC)


def test_series_deadline_of_a_daily_countdown() -> None:
    points = [
        CountdownPoint(day(2), 59, "day"),
        CountdownPoint(day(3), 58, "day"),
        CountdownPoint(day(5), 56, "day"),
    ]
    assert series_deadline(points) == day(5) + timedelta(days=56)
    assert series_deadline(points).date() == datetime(2021, 12, 31).date()


def test_series_tolerates_time_of_day() -> None:
    points = [CountdownPoint(day(2, 23), 59, "day"), CountdownPoint(day(3, 8), 58, "day")]
    assert series_deadline(points) == day(3, 8) + timedelta(days=58)


def test_series_in_any_order_and_with_noise() -> None:
    points = [
        CountdownPoint(day(4), 57, "day"),
        CountdownPoint(day(2), 59, "day"),
        CountdownPoint(day(3), 10, "day"),  # an unrelated countdown
        CountdownPoint(day(3), 58, "day"),
    ]
    assert series_deadline(points) == day(4) + timedelta(days=57)


@pytest.mark.parametrize(
    "points",
    [
        [],
        [CountdownPoint(day(2), 59, "day")],
        [CountdownPoint(day(2), 59, "day"), CountdownPoint(day(3), 50, "day")],  # not in step
        [CountdownPoint(day(2), 59, "day"), CountdownPoint(day(3), 59, "day")],  # not falling
        [CountdownPoint(day(2), 59, "day"), CountdownPoint(day(2), 59, "day")],  # a repost
    ],
)
def test_no_series(points: list[CountdownPoint]) -> None:
    assert series_deadline(points) is None


def test_series_in_hours() -> None:
    points = [CountdownPoint(day(2, 0), 72, "hour"), CountdownPoint(day(3, 0), 48, "hour")]
    assert series_deadline(points) == day(5, 0)


# Poster text: many OCR readings, one per line (ocr.engine puts the agreed countdown first).
@pytest.mark.parametrize(
    ("ocr_text", "value"),
    [
        ("VENGEANCE IS COMING\n#59daysleft", (59, "day")),
        ("باقي 79 يوما\nفى 79 يوما", (79, "day")),  # the next line is no "stayed ... in" context
        ("#العد_التنازلي\n55", None),  # a stray number on the next line is not its value
        ("#العد_التنازلي ٠", None),  # a lone ٠ is a dot, not a deadline
        ("الانتقام قادم\n59", None),  # a line that is only a number is junk, not a series
        ("junk 12\nباقي ٥٩ يوما\nباقي 9 يوما", (59, "day")),  # the first line with a countdown
    ],
)
def test_poster_text_countdowns_are_read_line_by_line(ocr_text: str, value: tuple[int, str] | None) -> None:
    found = find_countdown(ocr_text, source="ocr")
    assert (found and (found.value, found.unit)) == value or (found is None and value is None)
    if found is not None:
        assert ocr_text[found.start : found.end] == found.snippet  # offsets index the whole text


def test_a_look_alike_on_another_line_of_the_poster_still_counts() -> None:
    found = find_countdown("باقي 5 ايام\nرمضان كريم", source="ocr")
    assert found is not None and found.value == 5 and not found.alertable and found.benign == "رمضان"
    threat = find_countdown("رمضان كريم\nباقي 5 ايام\nالانتقام قادم", source="ocr")
    assert threat is not None and threat.alertable and threat.threat


def test_post_text_keeps_reading_across_lines() -> None:
    # a post's own text is one reading: a line break is only a space
    found = find_countdown("العد التنازلي\n55 يوما")
    assert found is not None and found.value == 55
