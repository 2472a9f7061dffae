"""The aiohttp application: middlewares (headers, errors, who is asking, CSRF) and the routes.

The URLs are a contract (bookmarks, scripts and alert links rely on them): ``/``, ``/search``,
``/post/<channel_id>/<message_id>``, ``/channel/<channel_id>``, ``/countdowns``, ``/campaigns``,
``/check``, and ``/api/search``, ``/api/alerts``, ``/api/posts/<channel_id>/<message_id>``,
``/api/stats``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from aiohttp import web

from monitor.core.errors import MonitorError
from monitor.core.escape import dumps_json
from monitor.web import (
    api,
    page_alerts,
    page_channel,
    page_check,
    page_login,
    page_post,
    page_search,
    page_series,
)
from monitor.web.auth import token_user
from monitor.web.desk import DESK, Desk
from monitor.web.render import JINJA, make_environment, redirect, render
from monitor.web.security import (
    CALLER,
    HEADERS,
    SAFE_METHODS,
    SESSION_COOKIE,
    Caller,
    caller,
    csrf_ok,
    is_tls,
    set_session_cookie,
)

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
UPLOAD_LIMIT = 26 * 1024 * 1024  # a poster to check: the OCR's own limit (25 MB) plus the form
OPEN_PATHS = ("/login", "/static/")  # reachable before logging in
SESSIONLESS = ("/api/", "/media/", "/static/")  # no session is started for these (scripts, images)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
UNSLOTTED = ("/static/", "/media/", "/check")  # files, and the poster check (it has its own lock)


@web.middleware
async def headers_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Security headers on every answer, and our errors as one sentence (never a traceback)."""
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        if exc.status >= 400:
            response = _problem(request, exc.status, exc.text or exc.reason)
        else:
            response = web.Response(status=exc.status, headers=exc.headers)
    except MonitorError as exc:
        response = _problem(request, 400, str(exc))
    response.headers.update(HEADERS)
    if not request.path.startswith("/static/") and not request.path.startswith("/media/"):
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def _problem(request: web.Request, status: int, message: str) -> web.StreamResponse:
    if request.path.startswith("/api/"):
        return web.json_response({"error": message}, status=status, dumps=dumps_json)
    return render(request, "error.html", status=status, message=message)


@web.middleware
async def slots_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """At most :data:`~monitor.web.desk.DESK_SLOTS` requests worked on at once (the desk yields)."""
    if request.path.startswith(UNSLOTTED):
        return await handler(request)
    async with request.app[DESK].slots:
        return await handler(request)


@web.middleware
async def identity_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Who is asking (a session, or an API token), and the CSRF check of every state change."""
    desk: Desk = request.app[DESK]
    if not desk.require_login and not host_allowed(request.host, desk):
        # DNS rebinding: a web page whose name now points at 127.0.0.1 must not read a desk
        # that has no login. The browser sends that page's name as the Host.
        return _problem(
            request, 403, "this desk answers only to its own address (open it as http://127.0.0.1:PORT/)"
        )
    bearer = request.headers.get("Authorization", "")
    if request.path.startswith("/api/") and bearer.startswith("Bearer "):
        user = await token_user(desk.archive, bearer.removeprefix("Bearer ").strip())
        if user is None:
            return web.json_response({"error": "the API token is not valid"}, status=401)
        request[CALLER] = Caller(user, None)
        return await handler(request)  # no cookie involved: nothing to forge across sites

    fresh = None
    session = desk.sessions.get(request.cookies.get(SESSION_COOKIE))
    if session is None and not request.path.startswith(SESSIONLESS):
        session = fresh = desk.sessions.new()  # a page: its forms need a CSRF token
    who = (session.user if session is not None else None) if desk.require_login else desk.local_user
    request[CALLER] = Caller(who, session)

    if request.method not in SAFE_METHODS:
        offered = request.headers.get("X-CSRF-Token")
        if offered is None and request.content_type in (
            "application/x-www-form-urlencoded",
            "multipart/form-data",
        ):
            offered = (await request.post()).get("csrf")  # type: ignore[assignment]
        if (
            session is None
            or fresh is not None
            or not csrf_ok(session, offered if isinstance(offered, str) else None)
        ):
            response = _problem(
                request,
                403,
                "this form has expired or did not come from the desk: reload the page and try again",
            )
            _keep(response, fresh, request, desk)
            return response

    if desk.require_login and request[CALLER].user is None and not request.path.startswith(OPEN_PATHS):
        if request.path.startswith("/api/"):
            response = web.json_response(
                {"error": "log in, or send an API token: Authorization: Bearer TOKEN"}, status=401
            )
        else:
            target = "/login" if request.path == "/" else "/login?" + urlencode({"next": request.path_qs})
            response = redirect(target)
    else:
        response = await handler(request)
    _keep(response, fresh, request, desk)
    return response


LOCAL_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})


def host_allowed(host: str, desk: Desk) -> bool:
    """Whether the request's Host names this desk: a loopback name, the address it listens on,
    or the host of ``[web] base_url``."""
    try:
        name = urlsplit("//" + host).hostname or ""
    except ValueError:  # a malformed Host header
        return False
    allowed = set(LOCAL_NAMES) | {desk.config.web.host.strip("[]").lower()}
    if desk.config.web.base_url:
        allowed.add(urlsplit(desk.config.web.base_url).hostname or "")
    return name in allowed


def _keep(response: web.StreamResponse, fresh: object, request: web.Request, desk: Desk) -> None:
    session = caller(request).session
    if fresh is not None and session is not None and not caller(request).replaced:
        set_session_cookie(response, session, is_tls(request, desk.config.web.base_url))


def build_app(desk: Desk) -> web.Application:
    """The desk's aiohttp application (serve it with :func:`monitor.web.desk.run_desk`)."""
    app = web.Application(
        middlewares=[headers_middleware, slots_middleware, identity_middleware], client_max_size=UPLOAD_LIMIT
    )
    app[DESK] = desk

    async def close_reads(_: web.Application) -> None:
        desk.close()

    app.on_cleanup.append(close_reads)
    app[JINJA] = make_environment()
    app.router.add_get("/", page_alerts.alerts_page, name="alerts")
    app.router.add_get("/alerts/cards", page_alerts.alert_cards)
    app.router.add_post("/alerts/{alert_id:\\d+}/decide", page_alerts.decide_alert)
    app.router.add_get("/search", page_search.search_page)
    app.router.add_get("/post/{channel_id:-?\\d+}/{message_id:-?\\d+}", page_post.post_page)
    app.router.add_get("/media/{sha256:[0-9a-f]{64}}", page_post.media_file)
    app.router.add_get("/channel/{channel_id:-?\\d+}", page_channel.channel_page)
    app.router.add_get("/countdowns", page_series.countdowns_page)
    app.router.add_get("/campaigns", page_series.campaigns_page)
    app.router.add_get("/check", page_check.check_page)
    app.router.add_post("/check", page_check.check_upload)
    app.router.add_get("/login", page_login.login_page)
    app.router.add_post("/login", page_login.login_submit)
    app.router.add_post("/logout", page_login.logout)
    app.router.add_get("/api/search", api.search)
    app.router.add_get("/api/alerts", api.alerts)
    app.router.add_post("/api/alerts/{alert_id:\\d+}/decide", api.decide)
    app.router.add_get("/api/posts/{channel_id:-?\\d+}/{message_id:-?\\d+}", api.post)
    app.router.add_get("/api/stats", api.stats)
    app.router.add_static("/static/", STATIC, show_index=False, follow_symlinks=False)
    return app
