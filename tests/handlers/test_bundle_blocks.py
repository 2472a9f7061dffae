"""Bundles of an archive chained record by record before the blocks and in blocks after: each
post's records proven by whichever form holds them, offline."""

from __future__ import annotations

import json
import zipfile

import pytest

from handlers.bundle import write_bundle
from handlers.bundle_check import verify_bundle
from monitor.core.store import Archive
from monitor.core.store.evidence import Selection
from tests.core.test_evidence_chain import ARABIC, CHANNEL, as_per_record, filled, post


@pytest.mark.asyncio
async def test_a_bundle_of_records_of_both_forms_verifies(tmp_path):
    db = await filled(tmp_path)
    last = as_per_record(db)
    case = tmp_path / "case.zip"
    async with await Archive.open(db, tmp_path / "media") as archive:
        await archive.save_posts([post(6, "جديد ٦ إ"), post(1, ARABIC + " (مُعدَّل) ٢")])
        old = await archive.evidence.chain_record(3)
        new = await archive.evidence.chain_record(last + 1)
        await write_bundle(archive, Selection(channel_id=CHANNEL.id), case)
    assert old is not None and "block" not in old and old["seq"] == 3
    assert new is not None and new["block"] == 1 and new["kind"] == "post"
    report = verify_bundle(case)
    assert report.ok, report.problems
    with zipfile.ZipFile(case) as zf:
        pages = [
            json.loads(zf.read(n)) for n in zf.namelist() if n.startswith("posts/") and n.endswith(".json")
        ]
        blocks = [n for n in zf.namelist() if n.startswith("chain/")]
    first = next(p for p in pages if p["message_id"] == 1)
    assert ["block" in r for r in first["chain"]] == [False, False, True]  # post, edit; the new edit
    assert [r["kind"] for r in first["chain"]] == ["post", "edit", "edit"]
    assert blocks == ["chain/block-1.json"]
