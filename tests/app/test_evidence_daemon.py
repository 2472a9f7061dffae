"""The chain through the real daemon: live posts with an image, edits, deletions and a restart
chained with the capturing account, and the archive verifies clean; a tampered edit is named."""

from __future__ import annotations

import sqlite3

import pytest

from monitor.core.store import Archive
from tests.support.daemon import (
    CHANNEL_ID,
    eventually,
    make_config,
    make_server,
    posts_at_least,
    running_daemon,
)
from tests.support.fake_telegram import png_bytes

pytestmark = pytest.mark.asyncio


async def test_live_capture_is_chained_and_verifies_after_a_restart(tmp_path):
    server = make_server()
    config = make_config(tmp_path)
    async with running_daemon(server, config) as daemon:
        first = server.post(CHANNEL_ID, "الموعد بعد ٣ أيام #العد_التنازلي")
        doomed = server.post(CHANNEL_ID, "بيان سيحذف", photo=png_bytes())
        await eventually(posts_at_least(daemon, 2))
        server.edit(CHANNEL_ID, first.id, "الموعد بعد يومين")
        server.delete(CHANNEL_ID, [doomed.id])
        archive = daemon.app.archive

        async def settled() -> bool:
            rows = await archive.fetchall(  # the kinds of the records in the chain's blocks
                "SELECT j.value ->> 0 FROM chain_blocks b, json_each(b.items) j"
            )
            return {"edit", "delete", "media"} <= {r[0] for r in rows}

        await eventually(settled, what="the edit, the deletion and the image chained")
        me = (await daemon.client.get_me(input_peer=True)).user_id
    server.post(CHANNEL_ID, "أثناء التوقف", push=False)
    async with running_daemon(server, config) as daemon:
        await eventually(posts_at_least(daemon, 3))
        await daemon.intake.drain(5)
    async with await Archive.open(config.archive.path, config.archive.media_dir, readonly=True) as archive:
        report = await archive.evidence.verify()
        assert report.ok, [str(f) for f in report.findings]
        assert report.posts == 3 and report.files == 1
        accounts = {
            r[0] for r in await archive.fetchall("SELECT account FROM chain_blocks WHERE seq_first > 1")
        }
    assert f"live:telegram:{me}" in accounts and f"gapfill:telegram:{me}" in accounts
    with sqlite3.connect(config.archive.path) as conn:
        conn.execute("UPDATE post_versions SET text = 'الموعد بعد أسبوع'")
    async with await Archive.open(config.archive.path, config.archive.media_dir, readonly=True) as archive:
        report = await archive.evidence.verify()
    assert [f.problem for f in report.findings] == ["changed"]
    assert f"https://t.me/militia_news/{first.id}" in str(report.findings[0])
