"""Passwords (argon2id through argon2-cffi: a well-kept, memory-hard hash; we write no crypto of
our own) and API tokens (random 256-bit secrets; only their SHA-256 is stored)."""

from __future__ import annotations

import hashlib
import re
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from monitor.core.errors import MonitorError
from monitor.core.store import Archive
from monitor.core.times import iso, now_utc

_HASHER = PasswordHasher()
_NAME = re.compile(r"[A-Za-z0-9_.@-]{1,64}")
MIN_PASSWORD = 10  # characters

# A hash of a password nobody has, checked when the user is unknown, so a login for a missing
# user takes as long as one with a wrong password (no user enumeration by timing).
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))


def check_name(name: str) -> str:
    """A user name: letters, digits and ``_ . @ -``, at most 64 characters."""
    if not _NAME.fullmatch(name):
        raise MonitorError(f"{name!r} is not a usable user name: use letters, digits, _ . @ - (at most 64)")
    return name


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise MonitorError(f"the password is too short: at least {MIN_PASSWORD} characters")
    return password


async def add_user(archive: Archive, name: str, password: str) -> bool:
    """Add a user (or set a new password); True when the user is new."""
    check_name(name)
    check_password(password)
    return await archive.users.put(name, _HASHER.hash(password), iso(now_utc()) or "")


async def verify_user(archive: Archive, name: str, password: str) -> bool:
    """Whether ``password`` is ``name``'s; an outdated hash is rehashed on success."""
    stored = await archive.users.password_hash(name) if _NAME.fullmatch(name) else None
    try:
        _HASHER.verify(stored or _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return False
    if stored is None:
        return False
    if _HASHER.check_needs_rehash(stored):
        await archive.users.set_hash(name, _HASHER.hash(password))
    return True


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


async def new_token(archive: Archive, name: str) -> str:
    """A new API token for ``name``: shown once, stored only as its SHA-256."""
    if await archive.users.password_hash(name) is None:
        raise MonitorError(f"there is no user {name!r}: add one with tgmonitor users add {name}")
    token = "tgm_" + secrets.token_urlsafe(32)
    await archive.users.add_token(name, token_digest(token), iso(now_utc()) or "")
    return token


async def token_user(archive: Archive, token: str) -> str | None:
    """The user an API token belongs to, or None."""
    if not token.startswith("tgm_") or len(token) > 200:
        return None
    return await archive.users.token_owner(token_digest(token))
