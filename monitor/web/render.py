"""Templates and the text helpers they use.

Jinja2 autoescapes every template; on top of that every string a template prints goes through
:func:`monitor.core.escape.for_html` (the ``finalize`` hook), so a bidi override or a control
character in a post shows as ``⟨U+202E⟩``/``␛`` instead of acting, exactly as in the terminal.
Highlighted text is built here piece by piece, each piece escaped by the same function.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from aiohttp import web
from markupsafe import Markup

from alerts.format import merge_spans, terms_summary, text_spans
from monitor.core.escape import for_html
from monitor.web.desk import DESK
from monitor.web.security import caller

TEMPLATES = Path(__file__).resolve().parent / "templates"


_PLAIN = re.compile(r"[A-Za-z0-9 _.,:/#@+=()-]*")
"""Text that neither HTML nor a terminal treats specially (ids, dates, tokens, our own labels):
printed as is (autoescape still runs), the rest through :func:`for_html` (measured: a queue of 50
cards prints ~1,500 values, most of them plain)."""


def _finalize(value: Any) -> Any:
    """Every printed value: strings through for_html (Markup we built ourselves passes as is)."""
    if isinstance(value, Markup):
        return value
    if isinstance(value, str):
        if _PLAIN.fullmatch(value):
            return value
        return Markup(for_html(value))
    if value is None:
        return ""
    return value


def highlight(text: str | None, spans: Iterable[Sequence[int]] = ()) -> Markup:
    """``text`` escaped, with each span (start, end) in ``<mark>``."""
    text = text or ""
    out: list[str] = []
    cursor = 0
    for start, end in merge_spans((max(0, int(s)), min(len(text), int(e))) for s, e, *_ in spans):
        if start < cursor or start >= end:
            continue
        out.append(for_html(text[cursor:start]))
        out.append(f"<mark>{for_html(text[start:end])}</mark>")
        cursor = end
    out.append(for_html(text[cursor:]))
    return Markup("".join(out))


def short_date(value: str | None) -> str:
    """``2021-11-02T12:30:00+00:00`` -> ``2021-11-02 12:30``."""
    return (value or "")[:16].replace("T", " ")


def telegram_link(url: str | None) -> str | None:
    """A t.me link we made (never a scheme an attacker chose), or None."""
    if url and re.fullmatch(r"https://t\.me/[A-Za-z0-9_/+-]+", url):
        return url
    return None


def query_string(params: dict[str, Any], **changes: Any) -> str:
    """``params`` with ``changes`` as a query string (empty values dropped)."""
    merged = {**params, **changes}
    return urlencode({k: v for k, v in merged.items() if v not in (None, "", False)})


def pretty_json(text: str | None) -> str:
    if not text:
        return ""
    try:
        return json.dumps(json.loads(text), ensure_ascii=False, indent=2)
    except ValueError:
        return text


JINJA: web.AppKey[jinja2.Environment] = web.AppKey("jinja", jinja2.Environment)


def make_environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        finalize=_finalize,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        highlight=highlight,
        short_date=short_date,
        tg_link=telegram_link,
        pretty_json=pretty_json,
        spans=text_spans,
        terms=lambda matches: terms_summary(matches, 8),
        ocr_spans=lambda matches: [(m["start"], m["end"]) for m in matches if m.get("source") == "ocr"],
    )
    env.globals.update(query_string=query_string)
    return env


def render(request: web.Request, name: str, status: int = 200, **context: Any) -> web.Response:
    """A page: the template with the desk's common context (who, CSRF token, nav)."""
    env = request.app[JINJA]
    who = caller(request)
    session = who.session
    html = env.get_template(name).render(
        user=who.user,
        login_required=request.app[DESK].require_login,
        csrf=session.csrf if session else "",
        path=request.path,
        **context,
    )
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")


def redirect(location: str) -> web.Response:
    """A 303 to a path of this desk (after a form, or to the login page)."""
    return web.Response(status=303, headers={"Location": location})
