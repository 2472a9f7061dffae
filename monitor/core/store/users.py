"""The web desk's users and API tokens (issue 14).

Passwords are stored only as argon2 hashes and API tokens only as their SHA-256 (a token is a
random 256-bit secret, so a plain hash is enough to check it and useless to a thief of the
archive); hashing is the caller's (:mod:`monitor.web.auth`), this module keeps the rows.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: the archive hands this store out (no import cycle)
    from monitor.core.store import Archive


class UserStore:
    """The ``web_users`` and ``web_tokens`` tables."""

    def __init__(self, archive: Archive) -> None:
        self.archive = archive

    async def names(self) -> list[str]:
        rows = await self.archive.fetchall("SELECT name FROM web_users ORDER BY name")
        return [r[0] for r in rows]

    async def count(self) -> int:
        row = await self.archive.fetchone("SELECT count(*) FROM web_users")
        return int(row[0]) if row else 0

    async def password_hash(self, name: str) -> str | None:
        row = await self.archive.fetchone("SELECT password_hash FROM web_users WHERE name = ?", (name,))
        return row[0] if row else None

    async def put(self, name: str, password_hash: str, when: str) -> bool:
        """Add the user or set a new password; True when the user is new."""
        async with self.archive.transaction() as tx:
            async with tx.execute("SELECT 1 FROM web_users WHERE name = ?", (name,)) as cur:
                known = await cur.fetchone() is not None
            await tx.execute(
                "INSERT INTO web_users (name, password_hash, created_at) VALUES (?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET password_hash = excluded.password_hash",
                (name, password_hash, when),
            )
        return not known

    async def set_hash(self, name: str, password_hash: str) -> None:
        """A rehash of the same password with newer parameters (argon2's ``check_needs_rehash``)."""
        async with self.archive.transaction() as tx:
            await tx.execute("UPDATE web_users SET password_hash = ? WHERE name = ?", (password_hash, name))

    async def remove(self, name: str) -> bool:
        """Remove the user and their tokens; False when there was no such user."""
        async with self.archive.transaction() as tx:
            await tx.execute("DELETE FROM web_tokens WHERE name = ?", (name,))
            cur = await tx.execute("DELETE FROM web_users WHERE name = ?", (name,))
            return cur.rowcount == 1

    async def add_token(self, name: str, token_sha256: str, when: str) -> None:
        async with self.archive.transaction() as tx:
            await tx.execute(
                "INSERT INTO web_tokens (token_sha256, name, created_at) VALUES (?, ?, ?)",
                (token_sha256, name, when),
            )

    async def token_owner(self, token_sha256: str) -> str | None:
        row: sqlite3.Row | None = await self.archive.fetchone(
            "SELECT t.name FROM web_tokens t JOIN web_users u ON u.name = t.name WHERE t.token_sha256 = ?",
            (token_sha256,),
        )
        return row[0] if row else None
