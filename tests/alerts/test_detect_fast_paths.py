"""The detector's shortcuts must never change its answer.

Imports detect thousands of posts a second through two shortcuts: a quick test before the
countdown regexes, and ``explain=False``, which skips locating matches in posts that raise no
alert. Both are checked here against the slow, plain answer on lexicon phrases, countdown
examples and look-alikes mixed with ordinary words, in Arabic and English.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.backtest import Prefilter
from alerts.countdown import _ANCHOR_SCAN, _FAR, _NEAR, _WORTH_A_LOOK, _merged, _windows, _worth_a_look
from alerts.detect import Detector
from alerts.rules import load_rules
from monitor.core.text import normalize
from tests.support.detect import LEXICON  # the tests' copy of shared/research/lexicon.json

PHRASES = [
    *(k["term"] for k in LEXICON["keywords"]),
    *(c["text"] for c in LEXICON["countdown_examples"]),
    *(n["text"] if isinstance(n, dict) else str(n) for n in LEXICON["negative_examples"]),
]
FILLER = "اليوم في بغداد الشعب والحكومة today the market left ظلام بقية ساعة يوم ٥٩ 3 ثلاثة and a day".split()
POST = st.lists(st.one_of(st.sampled_from(PHRASES), st.sampled_from(FILLER)), min_size=1, max_size=8).map(
    " ".join
)


@functools.cache
def detector(min_severity: str) -> Detector:
    return Detector(load_rules(), min_severity=min_severity)


@settings(max_examples=300, deadline=None)
@given(text=POST, lo=st.integers(0, 200), width=st.integers(0, 250))
def test_countdown_quick_filter_agrees(text, lo, width):
    norm = normalize(text)
    lo = min(lo, len(norm))
    hi = min(len(norm), lo + width)
    assert _worth_a_look(norm, lo, hi) == (_WORTH_A_LOOK.search(norm, lo, hi) is not None)


@settings(max_examples=300, deadline=None)
@given(text=POST)
def test_countdown_windows_skipped_by_their_far_window_would_say_no(text):
    """A near window is skipped without a look when the far window with its end said no."""
    norm = normalize(text)
    anchors = sorted((end + 1 - length, end + 1) for end, length in _ANCHOR_SCAN.iter(norm))
    plain = {
        reach: [w for w in _merged(norm, anchors, reach) if _WORTH_A_LOOK.search(norm, w[0], w[1])]
        for reach in (_FAR, _NEAR)
    }
    assert _windows(norm, anchors, {_FAR, _NEAR}) == plain


@settings(max_examples=300, deadline=None)
@given(text=POST, ocr=st.one_of(st.none(), POST), floor=st.sampled_from(["low", "medium", "high"]))
def test_a_quiet_verdict_is_the_full_verdict(text, ocr, floor):
    date = datetime(2021, 11, 2, tzinfo=UTC)
    full = detector(floor).detect(text, ocr_text=ocr, date=date)
    quick = detector(floor).detect(text, ocr_text=ocr, date=date, explain=False)
    assert (quick.alert, quick.severity, quick.countdown) == (full.alert, full.severity, full.countdown)
    if full.alert:  # an alert is always explained
        assert quick.matches == full.matches


@settings(max_examples=300, deadline=None)
@given(text=POST, ocr=st.one_of(st.none(), POST), floor=st.sampled_from(["low", "medium", "high"]))
def test_a_post_the_prefilter_rules_out_detects_alike_without_the_terms(text, ocr, floor):
    """The backtest detects such a post with ``terms=False`` (its countdown only)."""
    rules = load_rules()
    if Prefilter([rules]).may_match(text, ocr):
        return
    date = datetime(2021, 11, 2, tzinfo=UTC)
    for explain in (False, True):
        full = detector(floor).detect(text, ocr_text=ocr, date=date, explain=explain)
        bare = detector(floor).detect(text, ocr_text=ocr, date=date, explain=explain, terms=False)
        assert bare == full


def test_every_countdown_expression_compiles_once_where_it_is_first_used():
    from alerts import countdown

    lazy = [
        *(pattern for _, pattern in countdown._PATTERNS),
        *(pattern for pattern, _ in countdown._DATE_PATTERNS),
        countdown._WORTH_A_LOOK,
        countdown._BENIGN,
        countdown._THREAT,
    ]
    for pattern in lazy:
        compiled = pattern._pattern()  # a typo in an expression fails here, not in a post
        assert compiled is pattern._pattern()
    assert countdown._BENIGN.search("عيد مبارك") is not None
