"""What keeps the desk safe to open: response headers, sessions, CSRF tokens, login rate limits.

- Sessions live in the desk's memory (a restart logs everyone out, which is acceptable for a desk
  and keeps session secrets out of the archive); the cookie is HttpOnly, SameSite=Strict, and
  Secure when the desk is reached over TLS.
- Every session has a CSRF token (synchronizer pattern): every state-changing request must carry
  it (form field ``csrf`` or header ``X-CSRF-Token``). API requests made with a bearer token carry
  no cookie and are not open to CSRF.
- Logins are limited per client address and per user name (a sliding window of failures).
- The Content-Security-Policy allows nothing but this origin's own files: no inline script or
  style, no frames, no third parties.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import deque
from dataclasses import dataclass, field

from aiohttp import web

SESSION_COOKIE = "tgm_session"
SESSION_IDLE_S = 12 * 3600.0
MAX_SESSIONS = 10_000

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass
class Session:
    """One browser's session: who logged in (None: nobody yet), its CSRF token, when last seen."""

    key: str
    csrf: str
    user: str | None = None
    seen: float = field(default_factory=time.monotonic)
    flash: str | None = None  # one line shown on the next page (what a decision did)


class Sessions:
    """The desk's sessions, by the random key in the cookie."""

    def __init__(self, idle: float = SESSION_IDLE_S) -> None:
        self.idle = idle
        self._by_key: dict[str, Session] = {}

    def get(self, key: str | None) -> Session | None:
        if not key:
            return None
        session = self._by_key.get(key)
        now = time.monotonic()
        if session is None or now - session.seen > self.idle:
            self._by_key.pop(key, None)
            return None
        session.seen = now
        return session

    def new(self, user: str | None = None) -> Session:
        if len(self._by_key) >= MAX_SESSIONS:  # drop the longest idle: a flood cannot grow memory
            oldest = min(self._by_key.values(), key=lambda s: s.seen)
            self._by_key.pop(oldest.key, None)
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), user)
        self._by_key[session.key] = session
        return session

    def drop(self, key: str) -> None:
        self._by_key.pop(key, None)


@dataclass
class Caller:
    """Who a request comes from: the user (None: nobody logged in) and the browser's session
    (None for API calls with a token, images and static files)."""

    user: str | None
    session: Session | None
    replaced: bool = False  # a login or logout set its own cookie


CALLER: web.RequestKey[Caller] = web.RequestKey("caller", Caller)


def caller(request: web.Request) -> Caller:
    """The request's :class:`Caller` (an anonymous one before the middleware ran, e.g. a 404)."""
    return request.get(CALLER) or Caller(None, None)


def csrf_ok(session: Session | None, offered: str | None) -> bool:
    """Whether ``offered`` is the session's CSRF token (compared in constant time)."""
    return bool(session and offered and hmac.compare_digest(session.csrf.encode(), offered.encode()))


def is_tls(request: web.Request, base_url: str | None) -> bool:
    """Whether the browser reaches the desk over TLS (directly, or behind the configured https
    address of a reverse proxy)."""
    return request.secure or bool(base_url and base_url.startswith("https://"))


def set_session_cookie(response: web.StreamResponse, session: Session, secure: bool) -> None:
    response.set_cookie(
        SESSION_COOKIE, session.key, httponly=True, samesite="Strict", secure=secure, path="/"
    )


class LoginLimiter:
    """At most ``limit`` failed logins per ``window`` seconds, per client address and per name."""

    def __init__(self, limit: int = 5, window: float = 300.0) -> None:
        self.limit = limit
        self.window = window
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str) -> deque[float]:
        times = self._failures.setdefault(key, deque())
        cutoff = time.monotonic() - self.window
        while times and times[0] < cutoff:
            times.popleft()
        return times

    def blocked(self, *keys: str) -> float:
        """Seconds to wait before another try (0: go ahead)."""
        wait = 0.0
        for key in keys:
            times = self._recent(key)
            if len(times) >= self.limit:
                wait = max(wait, times[0] + self.window - time.monotonic())
        return wait

    def failed(self, *keys: str) -> None:
        if len(self._failures) > 50_000:  # forget the oldest entries rather than grow without bound
            self._failures.clear()
        for key in keys:
            self._recent(key).append(time.monotonic())

    def succeeded(self, *keys: str) -> None:
        for key in keys:
            self._failures.pop(key, None)


def safe_next(target: str | None) -> str:
    """Where to go after logging in: a path of this desk only (never ``//host`` or a scheme)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target
