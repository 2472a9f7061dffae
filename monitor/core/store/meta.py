"""The ``meta`` key/value table (watermarks, the index version) and the archive's counts."""

from __future__ import annotations

from typing import Any

from monitor.core.store.base import StoreBase


class MetaMixin(StoreBase):
    """Small facts about the archive as a whole."""

    async def get_meta(self, key: str) -> str | None:
        row = await self.fetchone("SELECT value FROM meta WHERE key = ?", (key,))
        return row[0] if row else None

    async def set_meta(self, key: str, value: str | None) -> None:
        await self.set_meta_many({key: value})

    async def set_meta_many(self, values: dict[str, str | None]) -> None:
        """Several ``meta`` keys in one transaction (the daemon's per-channel watermarks)."""
        if not values:
            return
        async with self.transaction() as conn:
            await conn.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                list(values.items()),
            )

    async def stats(self) -> dict[str, Any]:
        one = self.fetchone
        counts: dict[str, Any] = {}
        counts["channels"] = (await one("SELECT count(*) FROM channels"))[0]  # type: ignore[index]
        counts["posts"] = (await one("SELECT count(*) FROM posts"))[0]  # type: ignore[index]
        counts["deleted_posts"] = (await one("SELECT count(*) FROM posts WHERE deleted_at IS NOT NULL"))[0]  # type: ignore[index]
        counts["edited_versions"] = (await one("SELECT count(*) FROM post_versions"))[0]  # type: ignore[index]
        row = await one(
            "SELECT count(*), sum(ocr_status = 'done'), sum(ocr_status = 'failed'), sum(ocr_status = 'pending') "
            "FROM media WHERE is_image = 1"
        )
        assert row is not None
        counts["images"] = row[0]
        counts["ocr_done"] = row[1] or 0
        counts["ocr_failed"] = row[2] or 0
        # Clips (not images) wait in the same queue: what `ocr --pending` still has to read.
        clips = await one(
            "SELECT sum(ocr_status = 'pending'), sum(ocr_status = 'done') FROM media WHERE is_image = 0"
        )
        assert clips is not None
        counts["ocr_pending"] = (row[3] or 0) + (clips[0] or 0)
        counts["clips_read"] = clips[1] or 0
        counts["media_missing"] = (await one("SELECT count(*) FROM post_media WHERE sha256 IS NULL"))[0]  # type: ignore[index]
        counts["alerts"] = (await one("SELECT count(*) FROM alerts"))[0]  # type: ignore[index]
        counts["pending_deliveries"] = (
            await one("SELECT count(*) FROM deliveries WHERE status IN ('pending', 'sending')")
        )[0]  # type: ignore[index]
        counts["health_problems"] = (await one("SELECT count(*) FROM health WHERE cleared_at IS NULL"))[0]  # type: ignore[index]
        counts["failed_deliveries"] = (await one("SELECT count(*) FROM deliveries WHERE status = 'failed'"))[
            0
        ]  # type: ignore[index]
        rows = await self.fetchall(
            "SELECT c.id, c.username, c.title, c.status, c.status_reason, c.last_gapfill_at, "
            "(SELECT max(message_id) FROM posts WHERE channel_id = c.id), "
            "(SELECT max(date) FROM posts WHERE channel_id = c.id), "
            "(SELECT count(*) FROM posts WHERE channel_id = c.id), k.mode, k.account, k.expected_delay "
            "FROM channels c LEFT JOIN collection k ON k.channel_id = c.id ORDER BY c.id"
        )
        counts["per_channel"] = [
            {
                "channel_id": r[0],
                "username": r[1],
                "title": r[2],
                "status": r[3],
                "status_reason": r[4],
                "last_gapfill_at": r[5],
                "last_message_id": r[6],
                "last_post_date": r[7],
                "posts": r[8],
                "mode": r[9],  # how the daemon collects it (issue 13): join | watch | None
                "account": r[10],
                "expected_delay_s": r[11],
            }
            for r in rows
        ]
        return counts
