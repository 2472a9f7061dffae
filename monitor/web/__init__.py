"""The analyst's desk in a browser (``tgmonitor serve``, and inside ``tgmonitor run``).

Server-rendered pages (aiohttp + Jinja2, autoescaped, every archive string also through
:func:`monitor.core.escape.for_html`) and a JSON API under ``/api/`` with the CLI's shapes.
Nothing is fetched from a third party: CSS, JS and charts are served from ``static/``.

Modules, one job each: ``desk`` (what a running desk holds and how it opens), ``app`` (the
aiohttp application, its middlewares and routes), ``security`` (headers, sessions, CSRF, login
rate limiting), ``auth`` (passwords and API tokens), ``render`` (templates and the highlighting
of matched terms), one ``page_*`` module per page family and ``api`` for ``/api/``.
"""

from monitor.web.app import build_app
from monitor.web.desk import Desk, open_desk, run_desk

__all__ = ["Desk", "build_app", "open_desk", "run_desk"]
