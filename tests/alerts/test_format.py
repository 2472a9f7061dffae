"""Rendering: escaped channel text, highlights in context, clean cuts under Telegram's limits."""

from __future__ import annotations

import html
from html.parser import HTMLParser

from hypothesis import given, settings
from hypothesis import strategies as st
from telethon.extensions import html as tl_html

from alerts import format as fmt

ARABIC = "ابتثجحخدذرزسشصضطظعغفقكلمنهوي ًٌٍَُِّْ ـ أإآة ٠١٢٣٤٥٦٧٨٩"
TEXT = st.text(alphabet=st.sampled_from(list(ARABIC + "<>&;\"'/bscript =\n😀#_abc")), max_size=3000)


class _Balance(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.ok = True

    def handle_starttag(self, tag, attrs):
        self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack.pop() != tag:
            self.ok = False


def balanced(markup: str) -> bool:
    parser = _Balance()
    parser.feed(markup)
    parser.close()
    return parser.ok and not parser.stack


def body(text: str, ocr: str | None = None, spans=((0, 5),)) -> dict:
    matches = [
        {"rule": "r", "term": text[s:e] or "x", "severity": "high", "source": "text", "start": s, "end": e}
        for s, e in spans
    ]
    return {
        "alert_id": 7,
        "kind": "post",
        "severity": "high",
        "channel": "chan_name",
        "channel_title": "قناة <b>&amp;</b>",
        "channel_id": 1,
        "message_id": 2,
        "url": "https://t.me/chan_name/2",
        "date": "2026-11-22T01:00:00+00:00",
        "text": text,
        "matches": matches,
        "countdown": {"value": 3, "unit": "day", "deadline": "2026-11-25T00:00:00+00:00"},
        "ocr_excerpt": ocr,
        "ocr_highlights": [[0, 4]] if ocr else [],
        "channels": [],
    }


@settings(max_examples=150, deadline=None)
@given(
    TEXT,
    st.sampled_from([fmt.CAPTION_LIMIT, fmt.MESSAGE_LIMIT, 200]),
    st.integers(0, 3000),
    st.integers(0, 40),
)
def test_rendered_html_is_balanced_escaped_and_within_the_limit(text, limit, start, width):
    start = min(start, len(text))
    markup = fmt.render_html(
        body(text, ocr=text[:900] or None, spans=[(start, min(len(text), start + width))]), limit
    )
    assert balanced(markup)
    plain, entities = tl_html.parse(markup)
    assert fmt.ulen(plain) <= limit
    assert fmt.ulen(fmt.visible_text(markup)) <= limit
    for entity in entities:
        assert entity.offset + entity.length <= fmt.ulen(plain)
    # the only tags are ours: whatever the channel wrote came through as text
    assert "<script" not in markup and "قناة &lt;b&gt;&amp;amp;&lt;/b&gt;" in markup


@settings(max_examples=200, deadline=None)
@given(TEXT, st.integers(1, 500))
def test_truncate_html_never_breaks_a_tag_or_entity(text, limit):
    markup = f'<b>{html.escape(text)}</b> <a href="https://t.me/x/1">{html.escape(text[:50])}</a>'
    cut = fmt.truncate_html(markup, limit)
    assert balanced(cut)
    assert fmt.ulen(fmt.visible_text(cut)) <= limit
    for piece in cut.split("&")[1:]:
        assert piece.startswith(("amp;", "lt;", "gt;", "quot;", "#x27;"))


def test_highlight_in_context_of_a_long_arabic_post():
    text = ("كلام عادي " * 300) + "الانتقامُ قادمٌ" + (" وبعده كلام" * 300)
    start = text.index("الانتقامُ")
    markup = fmt.render_html(body(text, spans=[(start, start + len("الانتقامُ قادمٌ"))]))
    assert "<b>الانتقامُ قادمٌ</b>" in markup and "…" in markup
    assert fmt.ulen(fmt.visible_text(markup)) <= fmt.MESSAGE_LIMIT


def test_digest_is_cut_cleanly_with_a_pointer_to_the_rest():
    bodies = [body(f"تهديد <{i}> & الانتقام قادم " * 20) | {"alert_id": i} for i in range(300)]
    markup = fmt.render_digest_html(bodies)
    assert balanced(markup) and fmt.ulen(fmt.visible_text(markup)) <= fmt.MESSAGE_LIMIT
    assert "more" in markup and "tgmonitor alerts --since" in markup
    text = fmt.render_digest_text(bodies, limit=2000, escape=fmt.slack_escape)
    assert len(text) <= 2000 and not text.rstrip("…").endswith("&")


def test_slack_and_discord_escape_channel_text_but_keep_our_marks():
    text = "*bold* <@U123> & `code` الانتقام قادم"
    start = text.index("الانتقام")
    b = body(text, spans=[(start, start + len("الانتقام قادم"))])
    slack = fmt.render_text(b, mark="*", escape=fmt.slack_escape)
    assert "&lt;@U123&gt;" in slack and "*الانتقام قادم*" in slack
    discord = fmt.render_text(b, mark="**", escape=fmt.discord_escape)
    assert "\\*bold\\*" in discord and "\\`code\\`" in discord and "**الانتقام قادم**" in discord


def test_dates_and_countdown_lines():
    assert fmt.format_date("2026-11-22T01:05:09+00:00") == "2026-11-22 01:05 UTC"
    assert fmt.countdown_line({"value": 1, "unit": "day", "deadline": None}) == "1 day left"
    assert "deadline 2026-11-25 00:00 UTC" in fmt.countdown_line(body("x")["countdown"])


def test_console_panel_shows_channel_text_literally():
    import io

    from rich.console import Console

    from alerts.sinks import render_rich

    b = body("الانتقامُ قادمٌ [bold red]ليس تنسيقاً[/] <script>", spans=[(0, 15)])
    console = Console(file=io.StringIO(), width=120)
    console.print(render_rich(b))
    out = console.file.getvalue()
    assert "[bold red]ليس تنسيقاً[/]" in out and "<script>" in out
    assert "قناة <b>&amp;</b>" in out and "https://t.me/chan_name/2" in out and "alert #7" in out


POSTER_READINGS = "\n".join(
    ["#باقي_٥٨_يوما", "۰.", "ow", "روا", "هع", "الانتقام ياد", "الانتقام قادح", "الانتقامُ قادمٌ", "als", "ىم"]
)


def _spans_of(text: str, *words: str) -> list[tuple[int, int]]:
    return [(text.index(w), text.index(w) + len(w)) for w in words]


def test_poster_excerpt_is_the_lines_that_matched_not_the_junk_around_them():
    spans = _spans_of(POSTER_READINGS, "الانتقامُ قادمٌ", "#باقي_٥٨_يوما")
    excerpt, highlights = fmt.ocr_excerpt(POSTER_READINGS, spans)
    assert excerpt == "#باقي_٥٨_يوما\nالانتقامُ قادمٌ"
    assert [excerpt[s:e] for s, e in highlights] == ["#باقي_٥٨_يوما", "الانتقامُ قادمٌ"]


def test_poster_excerpt_of_a_phrase_read_across_two_lines_keeps_both():
    text = "ow\nالانتقام\nقادم\nهع"
    start = text.index("الانتقام")
    excerpt, highlights = fmt.ocr_excerpt(text, [(start, text.index("قادم") + 4)])
    assert excerpt == "الانتقام\nقادم"
    assert [excerpt[s:e] for s, e in highlights] == ["الانتقام", "قادم"]


def test_poster_excerpt_stays_within_its_budget_and_cuts_a_long_line_around_the_match():
    lines = [f"الانتقام قادم {i}" for i in range(100)]
    text = "\n".join(lines)
    spans = [(text.index(line), text.index(line) + len("الانتقام")) for line in lines]
    excerpt, highlights = fmt.ocr_excerpt(text, spans)
    assert len(excerpt) <= fmt.OCR_EXCERPT_CHARS
    assert (
        all(excerpt[s:e] == "الانتقام" for s, e in highlights) and len(highlights) == excerpt.count("\n") + 1
    )
    long_line = "ابت " * 400 + "الثأر" + " ثجح" * 400
    excerpt, highlights = fmt.ocr_excerpt(f"ow\n{long_line}", _spans_of(f"ow\n{long_line}", "الثأر"))
    assert len(excerpt) <= fmt.OCR_EXCERPT_CHARS and [excerpt[s:e] for s, e in highlights] == ["الثأر"]


def test_poster_excerpt_without_matches_is_none():
    assert fmt.ocr_excerpt(POSTER_READINGS, []) == (None, [])
    assert fmt.ocr_excerpt("", [(0, 3)]) == (None, [])


def test_poster_text_without_a_match_is_shown_in_whole_lines_within_its_budget():
    text = "\n".join(["الانتقام قادم", *(f"سطر {i}" for i in range(200))])
    shown = fmt._first_lines(text, 300)
    assert shown.startswith("الانتقام قادم\n") and len(shown) <= 300
    assert all(line in text.split("\n") for line in shown.split("\n"))  # no line cut in two
    assert fmt._first_lines("ا" * 1000, 300) == "ا" * 300


def test_clip_text_is_called_video_text_in_every_medium():
    import io

    from rich.console import Console

    from alerts.sinks import render_rich

    clip = "[video 0:14] باقي ٥٩ يوما\n[video 0:17] الانتقام قادم"
    b = body("بيان", ocr=clip)
    console = Console(file=io.StringIO(), width=120)
    console.print(render_rich(b))
    for rendered in (fmt.render_html(b), fmt.render_text(b), console.file.getvalue()):
        assert "Video text" in rendered and "Poster text" not in rendered
        assert "0:14" in rendered
    poster = body("بيان", ocr="الانتقام قادم")
    assert "Poster text" in fmt.render_html(poster) and "Video text" not in fmt.render_html(poster)
    both = body("بيان", ocr="الانتقام قادم\n[video 0:03] باقي ٥٩ يوما")
    assert "Poster and video text" in fmt.render_text(both)
