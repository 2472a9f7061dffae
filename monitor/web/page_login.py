"""Logging in and out (only when the desk has users)."""

from __future__ import annotations

import math

from aiohttp import web

from monitor.web.auth import verify_user
from monitor.web.desk import DESK, Desk
from monitor.web.render import redirect, render
from monitor.web.security import caller, is_tls, safe_next, set_session_cookie


async def login_page(request: web.Request) -> web.StreamResponse:
    desk: Desk = request.app[DESK]
    if not desk.require_login:
        raise web.HTTPSeeOther("/")
    return render(request, "login.html", next=safe_next(request.query.get("next")), error=None)


async def login_submit(request: web.Request) -> web.StreamResponse:
    desk: Desk = request.app[DESK]
    if not desk.require_login:
        raise web.HTTPSeeOther("/")
    form = await request.post()
    name = str(form.get("name", "")).strip()[:64]
    password = str(form.get("password", ""))[:1024]
    target = safe_next(str(form.get("next", "/")))
    keys = (f"ip:{request.remote}", f"user:{name.lower()}")
    wait = desk.limiter.blocked(*keys)
    if wait > 0:
        response = render(
            request,
            "login.html",
            status=429,
            next=target,
            error=f"too many failed logins: try again in {math.ceil(wait / 60)} minutes",
        )
        response.headers["Retry-After"] = str(math.ceil(wait))
        return response
    if not name or not await verify_user(desk.archive, name, password):
        desk.limiter.failed(*keys)
        return render(request, "login.html", status=401, next=target, error="wrong name or password")
    desk.limiter.succeeded(*keys)
    old = caller(request).session
    if old is not None:
        desk.sessions.drop(old.key)  # a new session key on login: a planted cookie is worthless
    session = desk.sessions.new(user=name)
    caller(request).replaced = True
    response = redirect(target)
    set_session_cookie(response, session, is_tls(request, desk.config.web.base_url))
    return response


async def logout(request: web.Request) -> web.StreamResponse:
    desk: Desk = request.app[DESK]
    who = caller(request)
    if who.session is not None:
        desk.sessions.drop(who.session.key)
    who.replaced = True
    response = redirect("/login" if desk.require_login else "/")
    response.del_cookie("tgm_session", path="/")
    return response
