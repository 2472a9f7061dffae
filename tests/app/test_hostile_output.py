"""Property: whatever a channel writes, every output path shows it and nothing obeys it (issue 20).

Arbitrary text (any code point, plus ESC/CSI/OSC sequences, rich markup, bidi controls, formulas,
Arabic) goes through each medium: the terminal function, rich panels and tables rendered to a
forced terminal, CSV, HTML and Telegram HTML, Slack and Discord text. What comes out carries no
control character but newlines (rich's own colour codes aside), no raw bidi control, no
unescaped ``<``/``&`` in HTML outside our tags and no CSV cell a spreadsheet reads as a formula;
plain Arabic and English text comes out unchanged.
"""

from __future__ import annotations

import asyncio
import csv
import html
import io
import json
import re

from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console
from rich.text import Text
from telethon.extensions import html as tl_html

from alerts import format as fmt
from alerts.sinks import ConsoleSink, render_rich
from alerts.sinks.base import OutgoingAlert
from monitor.cmd_alerts import _table
from monitor.core import escape

HOSTILE = [
    "\x1b[2J\x1b[H",
    "\x1b]0;owned\x07",
    "\x1b]8;;https://evil.example/\x1b\\x\x1b]8;;\x1b\\",
    "\x1bP1;2|data\x1b\\",
    "\x9b31m",
    "\x90dcs\x9c",
    "\r",
    "\r\n",
    "\t",
    "\x7f",
    "\x00",
    "[/]",
    "[link=file:///etc/passwd]x[/link]",
    "[bold red]",
    ":smile:",
    "\u202e",
    "\u202a",
    "\u2066",
    "\u2069",
    "\u200f",
    "\u2028",
    "=HYPERLINK(",
    "+",
    "-",
    "@",
    "<b>",
    "</blockquote>",
    "&amp;",
    "&",
    "*_~`|>#",
    "الانْتِقَامُ",
    "أإآ",
    "٥٩",
    "ـ",
    "\ud800",
]
hostile_text = st.lists(st.one_of(st.text(max_size=12), st.sampled_from(HOSTILE)), max_size=12).map("".join)
plain_text = st.text(
    alphabet=st.sampled_from(
        list("abcXYZ019 .,:!?'\"()") + list("الانتقامقادمأإآىةـًٌٍَُِّْ٠١٢٣٤٥٦٧٨٩") + ["\u200f", "\u200d"]
    ),
    max_size=40,
)

SGR = re.compile(r"\x1b\[[0-9;]*m")
CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029\ud800-\udfff]")
OUR_TAGS = re.compile(r"</?(?:b|i|blockquote)>|<a href=\"[^\"<>]*\">|</a>")
ENTITY = re.compile(r"&(?:amp|lt|gt|quot|#x27|#\d+);")


def inert(out: str) -> bool:
    return CONTROL.search(out) is None


def body_of(text: str, title: str, term: str) -> dict:
    return {
        "kind": "post",
        "severity": "high",
        "alert_id": 3,
        "channel": "chan",
        "channel_title": title,
        "channel_id": 1,
        "url": "https://t.me/chan/3",
        "date": "2021-11-02T12:00:00+00:00",
        "text": text,
        "matches": [
            {"term": term, "rule": term, "category": "revenge", "source": "text", "start": 0, "end": 3}
        ],
        "ocr_excerpt": text,
        "ocr_highlights": [[1, 4]],
        "channels": [{"title": title, "channel": "chan", "url": "https://t.me/chan/3"}],
        "deliveries": [{"sink": title, "status": "failed"}],
        "created_at": "2021-11-02T12:00:00+00:00",
    }


def rich_output(*renderables) -> str:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, color_system="truecolor", width=120)
    for renderable in renderables:
        console.print(renderable)
    return SGR.sub("", buffer.getvalue())


def console_sink_output(body: dict) -> str:
    buffer = io.StringIO()
    sink = ConsoleSink(console=Console(file=buffer, force_terminal=True, color_system="truecolor", width=120))
    alert = OutgoingAlert(delivery_id=1, alert_id=3, kind="post", severity="high", body=body, key="k")
    asyncio.run(sink.send(alert))
    asyncio.run(sink.send_digest([alert], "k"))
    return SGR.sub("", buffer.getvalue())


@settings(max_examples=100, deadline=None)
@given(text=hostile_text, title=hostile_text, term=hostile_text, plain=plain_text)
def test_every_output_path_shows_hostile_text_and_keeps_plain_text(text, title, term, plain):
    # terminal: the function, and rich (panel, alerts table, console sink) on a forced terminal
    for value in (text, title, term):
        assert inert(escape.for_terminal(value))
        assert "\n" not in escape.for_terminal(value, newlines=False)
    shown, spans = escape.terminal_spans(text, [(0, 3), (2, 9), (5, 4)])
    assert inert(shown) and len(spans) == 3 and all(0 <= s <= e <= len(shown) for s, e in spans)
    body = body_of(text, title, term)
    campaign = {**body, "kind": "campaign"}
    assert inert(rich_output(render_rich(body), render_rich(campaign), _table([body, campaign])))
    assert inert(console_sink_output(body))

    # CSV: no control, no formula, numbers untouched
    buffer = io.StringIO()
    csv.writer(buffer).writerow([escape.for_csv(v) for v in (text, title, term, -100123, 7, None)])
    row = next(csv.reader(io.StringIO(buffer.getvalue())))
    for cell in row[:3]:
        assert inert(cell) and not cell.lstrip().startswith(escape.FORMULA_START)
    assert row[3:] == ["-100123", "7", ""]

    # HTML: the function, and the Telegram message (tags ours only, what Telegram shows inert)
    for value in (text, title, term):
        out = escape.for_html(value)
        assert inert(out) and "<" not in out and ">" not in out
        assert "&" not in ENTITY.sub("", out)
    for markup in (
        fmt.render_html(body),
        fmt.render_html(campaign),
        fmt.render_html(body, fmt.CAPTION_LIMIT),
        fmt.render_digest_html([body]),
    ):
        outside = OUR_TAGS.sub("", markup)
        assert "<" not in outside and ">" not in outside and "&" not in ENTITY.sub("", outside)
        shown_text, _ = tl_html.parse(markup)
        assert inert(shown_text)

    # Slack, Discord, plain text
    slack = fmt.render_text(body, mark="*", escape=fmt.slack_escape)
    assert inert(slack) and "<" not in slack and ">" not in slack
    discord = fmt.render_text(body, mark="**", escape=fmt.discord_escape)
    assert inert(discord)
    for value in (text, title, term):
        assert re.search(r"(?<!\\)[*_~`|>#\[\]()-]", re.sub(r"\\.", "", escape.for_discord(value))) is None
    assert inert(fmt.render_text(body)) and inert(fmt.render_digest_text([body]))
    assert inert(fmt.render_text(campaign, mark="*", escape=fmt.slack_escape))

    # JSON: inert in the terminal, the same data read back
    assert inert(escape.dumps_json(body)) and inert(escape.dumps_json(body, indent=2))
    assert json.loads(escape.dumps_json(body)) == body

    # plain Arabic and English pass unchanged
    assert escape.for_terminal(plain) == plain
    assert escape.for_html(plain) == html.escape(plain)
    assert escape.terminal_spans(plain, [(0, 2)]) == (plain, [(0, min(2, len(plain)))])
    if not plain.lstrip().startswith(escape.FORMULA_START):
        assert escape.for_csv(plain) == plain
    assert plain.strip() in rich_output(Text(escape.for_terminal(plain)))
