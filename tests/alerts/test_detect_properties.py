"""Properties: normalisation is idempotent, decorated terms are still found, nothing crashes."""

from __future__ import annotations

import functools
from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alerts.countdown import find_countdown
from alerts.detect import Detector
from alerts.matcher import PhraseMatcher
from alerts.rules import load_rules
from monitor.core.text import normalize

TERMS = [
    "الانتقام قادم",
    "عبوة ناسفة",
    "سرايا أولياء الدم",
    "إن غدا لناظره قريب",
    "الاحتلال الأمريكي",
    "رتل الدعم اللوجستي",
    "نحن أقرب مما تتصورون",
    "vengeance is coming",
    "legitimate target",
    "Islamic Resistance in Iraq",
]

DIACRITICS = [chr(c) for c in (*range(0x064B, 0x0653), 0x0670)]
ALEF_VARIANTS = {"ا": "اأإآ", "ي": "يى", "ه": "هة", "ك": "كک"}
SAFE_WORDS = st.text(alphabet="ابتثجحدرزسطعفقمنوي abcdefghxyz0123456789٠١٢٣", min_size=0, max_size=30)


@functools.cache
def matcher() -> PhraseMatcher:
    return PhraseMatcher([(t, t) for t in TERMS])


@functools.cache
def default_detector() -> Detector:
    return Detector(load_rules(), min_severity="low")


@st.composite
def decorated(draw: st.DrawFn, term: str) -> str:
    """``term`` with random diacritics, tatweel, letter variants and Latin case (per word)."""
    term = draw(st.sampled_from([str.lower, str.upper, str.title, str]))(term)
    out = []
    for ch in term:
        if ch in ALEF_VARIANTS and draw(st.booleans()):
            ch = draw(st.sampled_from(ALEF_VARIANTS[ch]))
        out.append(ch)
        if "\u0600" <= ch <= "\u06ff" and ch != " ":
            if draw(st.integers(0, 3)) == 0:
                out.append(draw(st.sampled_from(DIACRITICS)))
            if draw(st.integers(0, 5)) == 0:
                out.append("\u0640")  # tatweel
    return "".join(out)


@given(st.text(max_size=200))
@settings(max_examples=300)
def test_normalize_is_idempotent(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once


@given(st.data())
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_decorated_term_embedded_in_random_text_is_found(data: st.DataObject) -> None:
    term = data.draw(st.sampled_from(TERMS))
    before = data.draw(SAFE_WORDS)
    after = data.draw(SAFE_WORDS)
    sep_before = data.draw(st.sampled_from([" ", "\n", " #", "، ", ": ", "\n\n"]))
    sep_after = data.draw(st.sampled_from([" ", "\n", "!", "، ", ".", " 🔥"]))
    shown = data.draw(decorated(term))
    if data.draw(st.booleans()):
        shown = "#" + shown.replace(" ", "_")
    text = before + sep_before + shown + sep_after + after
    hits = [h for h in matcher().find(text) if h.payload == term]
    assert hits, text
    assert any(normalize(text[h.start : h.end]).replace("#", "") == normalize(term) for h in hits)


@given(st.text(max_size=300), st.one_of(st.none(), st.text(max_size=200)))
@settings(max_examples=300, deadline=None)
def test_random_text_never_crashes_the_detector(text: str, ocr: str | None) -> None:
    detection = default_detector().detect(text, ocr_text=ocr, date=datetime(2021, 11, 2, tzinfo=UTC))
    for m in detection.matches:
        body = text if m.source == "text" else ocr
        assert 0 <= m.start <= m.end <= len(body)
    detection.to_json()


COUNTDOWNISH = st.lists(
    st.sampled_from(
        ["باقي", "بقي", "لم يتبق سوى", "٥٩", "59", "يوما", "أيام", "ساعة", "يومين", "ثلاثة", "العد التنازلي",
         "#", "_", ":", "days", "left", "T-minus", "hours", "لا يفصلنا عن", "٣١/١٢/٢٠٢١", "عشر", "و", "رمضان",
         " ", "\n", "only", "twenty-one", "week", "99999999"]
    ),
    max_size=12,
).map("".join)  # fmt: skip


@given(st.one_of(st.text(max_size=200), COUNTDOWNISH))
@settings(max_examples=400)
def test_random_text_never_crashes_the_countdown_parser(text: str) -> None:
    countdown = find_countdown(text, datetime(2021, 11, 2, tzinfo=UTC))
    if countdown is not None:
        assert countdown.unit in ("day", "hour")
        assert 0 <= countdown.start <= countdown.end <= len(text)
        assert countdown.value >= 0
