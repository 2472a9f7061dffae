"""``tgmonitor verify`` and ``tgmonitor export`` end to end: a real import, a real archive file,
real zips checked by ``sha256sum``, networks read back by networkx, events loaded by PyMISP."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import shutil
import sqlite3
import subprocess
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import networkx as nx
import pytest
from click.testing import CliRunner
from pymisp import MISPEvent

from handlers.post_export import COLUMNS
from monitor.cli import main
from monitor.core.models import Channel, Post
from monitor.core.store import Archive
from tests.support.export import CHANNEL_ID, rich_channel

OTHER = Channel(id=2222, username="other_chan", title="قناة أخرى")


def run(*args: object, ok: bool = True):
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=True)
    if ok:
        assert result.exit_code == 0, (result.output, result.stderr, result.exception)
    return result


def one_line_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, (result.output, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


async def _extend(db: Path) -> None:
    """Edits, a deletion, a forward, a mention and a formula on top of the import."""
    async with await Archive.open(db) as archive:
        channel = (await archive.find_channel(CHANNEL_ID))["id"]
        mine = Channel(id=channel, username="sabereen_test")
        when = datetime(2021, 11, 10, 8, 0, tzinfo=UTC)
        await archive.save_posts(
            [
                Post(
                    channel=OTHER, message_id=1, date=when, text="بيان من @sabereen_test و t.me/ghost_channel"
                ),
                Post(
                    channel=mine,
                    message_id=900,
                    date=when,
                    text="منقول",
                    fwd_from_id=OTHER.id,
                    fwd_from_name="أخرى",
                ),
                Post(
                    channel=mine,
                    message_id=901,
                    date=when,
                    text='=HYPERLINK("http://x") ‮ <script>alert(1)</script>',
                ),
            ]
        )
        await archive.save_post(Post(channel=mine, message_id=900, date=when, text="منقولٌ (مُعدَّل) ٣"))
        await archive.mark_deleted(channel, [901])


@pytest.fixture
def db(no_user_config) -> Path:
    folder = no_user_config
    db = folder / "archive.db"
    run(
        "--db",
        db,
        "import",
        rich_channel(folder / "export"),
        "--no-ocr",
        "--json",
        "--username",
        "sabereen_test",
    )
    asyncio.run(_extend(db))
    return db


def test_verify_clean_then_names_a_tampered_post(db):
    result = run("--db", db, "verify")
    assert result.output.startswith("OK: ")
    assert run("--db", db, "verify", "--workers", "1").output.startswith("OK: ")
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE posts SET text = 'مزور' WHERE message_id = 2 AND channel_id != 2222")
    result = run("--db", db, "verify", ok=False)
    assert result.exit_code == 1
    assert "CHANGED post https://t.me/sabereen_test/2 (id" in result.output
    data = json.loads(run("--db", db, "verify", "--json", ok=False).output)
    assert data["ok"] is False and data["findings"][0]["problem"] == "changed"


def test_bundle_verifies_offline_and_with_sha256sum(db, tmp_path):
    case = tmp_path / "case.zip"
    result = run("--db", db, "export", "bundle", "--channel", "@sabereen_test", "--out", case)
    assert "posts" in result.output
    result = run("verify", case)
    assert ": OK (" in result.output
    folder = tmp_path / "unzipped"
    with zipfile.ZipFile(case) as zf:
        zf.extractall(folder)
        names = zf.namelist()
    checked = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=folder, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert any(n.startswith("media/") for n in names) and "manifest.json" in names and "README.txt" in names
    # the deleted, edited post: both texts, the deletion, RTL, chain records with their items
    pages = [
        json.loads((folder / n).read_text()) for n in names if n.startswith("posts/") and n.endswith(".json")
    ]
    edited = next(p for p in pages if p["message_id"] == 900)
    assert edited["versions"][0]["text"] == "منقول" and edited["text"].startswith("منقولٌ")
    assert [r["kind"] for r in edited["chain"]] == ["post", "edit"]
    assert all(r["value"] is not None for r in edited["chain"])
    html = (folder / f"posts/{edited['id']}.html").read_text()
    assert 'dir="auto"' in html and "منقولٌ (مُعدَّل) ٣" in html and "earlier versions" in html
    formula = next(p for p in pages if p["message_id"] == 901)
    assert formula["deleted_at"]
    page = (folder / f"posts/{formula['id']}.html").read_text()
    assert "deleted from the channel" in page and "&quot;" in page and "⟨U+202E⟩" in page
    assert "&lt;script&gt;" in page and "<script>" not in page
    assert any('<img src="../media/' in (folder / n).read_text() for n in names if n.endswith(".html"))
    # an existing output needs --force
    one_line_error(run("--db", db, "export", "bundle", "--out", case, ok=False), "--force")
    run("--db", db, "export", "bundle", "--out", case, "--force")


def _rewrite(src: Path, dst: Path, change) -> None:
    """Copy a zip member by member through ``change(name, data) -> data | None`` (None drops it)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = change(info.filename, zin.read(info.filename))
            if data is not None:
                zout.writestr(info.filename, data)


def test_a_flipped_byte_in_any_file_of_a_bundle_is_named(db, tmp_path):
    case = tmp_path / "case.zip"
    run("--db", db, "export", "bundle", "--out", case)
    with zipfile.ZipFile(case) as zf:
        names = [n for n in zf.namelist() if n != "SHA256SUMS"]
    for name in names:
        bad = tmp_path / "bad.zip"

        def flip(member: str, data: bytes, target: str = name) -> bytes:
            if member != target:
                return data
            changed = bytearray(data)
            changed[len(changed) // 2] ^= 0x01
            return bytes(changed)

        _rewrite(case, bad, flip)
        result = run("verify", bad, ok=False)
        assert result.exit_code == 1
        assert f"FAILED {name}: changed" in result.output, (name, result.output)


def test_bad_bundles_are_named_and_nothing_is_extracted(db, tmp_path):
    case = tmp_path / "case.zip"
    run("--db", db, "export", "bundle", "--out", case)
    text = tmp_path / "notes.zip"
    text.write_text("not a zip at all")
    assert "is not a zip file" in run("verify", text, ok=False).output
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(case.read_bytes()[: case.stat().st_size // 2])
    result = run("verify", truncated, ok=False)
    assert result.exit_code == 1 and "truncated" in result.output
    missing = tmp_path / "missing.zip"
    _rewrite(case, missing, lambda n, d: None if n == "index.html" else d)
    assert "FAILED index.html: missing from the bundle" in run("verify", missing, ok=False).output
    extra = tmp_path / "extra.zip"
    shutil.copy(case, extra)
    with zipfile.ZipFile(extra, "a") as zf:
        zf.writestr("posts/planted.html", "<script>alert(1)</script>")
        zf.writestr("../../escape.txt", "out")
    output = run("verify", extra, ok=False).output
    assert "FAILED posts/planted.html: extra file" in output
    assert "'../../escape.txt': unsafe path" in output
    assert not (tmp_path.parent / "escape.txt").exists() and not (tmp_path / "escape.txt").exists()
    twice = tmp_path / "twice.zip"
    shutil.copy(case, twice)
    with zipfile.ZipFile(twice, "a") as zf, pytest.warns(UserWarning, match="Duplicate name"):
        zf.writestr("index.html", "<p>another index</p>")
    output = run("verify", twice, ok=False).output
    assert "FAILED index.html: the zip holds it 2 times" in output


def test_export_posts_ndjson_and_csv(db, tmp_path):
    lines = run("--db", db, "export", "posts", "--format", "ndjson").output.splitlines()
    rows = [json.loads(line) for line in lines]
    assert {r["message_id"] for r in rows} >= {2, 900, 901}
    edited = next(r for r in rows if r["message_id"] == 900)
    assert edited["text"] == "منقولٌ (مُعدَّل) ٣" and edited["fwd_from_id"] == 2222
    assert any(r["alerts"] and r["alerts"][0]["rules"] for r in rows)
    out = tmp_path / "posts.csv"
    run("--db", db, "export", "posts", "--format", "csv", "--channel", "@other_chan", "--out", out)
    table = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert list(table[0].keys()) == COLUMNS and len(table) == 1
    run("--db", db, "export", "posts", "--format", "csv", "--since", "2021-11-10", "--out", out, "--force")
    table = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    formula = next(r for r in table if r["message_id"] == "901")
    assert (
        formula["text"].startswith("'=HYPERLINK")
        and "⟨U+202E⟩" in formula["text"]
        and formula["deleted"] == "1"
    )
    one_line_error(run("--db", db, "export", "posts", "--out", out, ok=False), "exists already")
    one_line_error(run("--db", db, "export", "posts", "--channel", "@nobody_here", ok=False), "no channel")


@pytest.mark.parametrize("fmt", ["gexf", "graphml"])
def test_export_network_reads_back_in_networkx(db, tmp_path, fmt):
    out = tmp_path / f"network.{fmt}"
    run("--db", db, "export", "network", "--format", fmt, "--out", out)
    graph = nx.read_gexf(out) if fmt == "gexf" else nx.read_graphml(out)
    with sqlite3.connect(db) as conn:
        mine = str(conn.execute("SELECT id FROM channels WHERE id != 2222").fetchone()[0])
    assert {mine, "2222", "@ghost_channel"} <= set(graph.nodes)
    edges = {(u, v, d["kind"]): d for u, v, d in graph.edges(data=True)}
    forward = edges[("2222", mine, "forward")]
    assert float(forward["weight"]) == 1 and forward["first_date"].startswith("2021-11-10")
    assert ("2222", mine, "mention") in edges and ("2222", "@ghost_channel", "mention") in edges
    assert graph.nodes["2222"]["label"] == "قناة أخرى"


def test_export_misp_loads_in_pymisp(db, tmp_path):
    out = tmp_path / "events.json"
    run("--db", db, "export", "misp", "--out", out)
    events = json.loads(out.read_text())["response"]
    assert events
    tags = {t["name"] for e in events for t in e["Event"]["Tag"]}
    assert 'tgmonitor:rule="revenge"' in tags or any(t.startswith("tgmonitor:rule=") for t in tags)
    hashes = {a["value"] for e in events for a in e["Event"]["Attribute"] if a["type"] == "sha256"}
    with sqlite3.connect(db) as conn:
        stored = {r[0] for r in conn.execute("SELECT sha256 FROM post_media WHERE sha256 IS NOT NULL")}
    assert hashes <= stored
    for raw in events:
        event = MISPEvent()
        event.load(raw)
        assert event.uuid == raw["Event"]["uuid"] and event.info.startswith("tgmonitor alert")
        types = {a.type for a in event.attributes}
        assert "link" in types
        assert any(t.name.startswith(("tgmonitor:rule=", "tgmonitor:countdown=")) for t in event.tags)
        assert json.loads(event.to_json())["uuid"] == event.uuid
    again = tmp_path / "again.json"
    run("--db", db, "export", "misp", "--out", again)
    assert json.loads(again.read_text()) == json.loads(out.read_text())  # stable UUIDs: MISP updates


def _resealed(src: Path, dst: Path, change) -> None:
    """Like :func:`_rewrite`, then SHA256SUMS and the manifest's hashes made to match again (a
    forger who rewrites the sums): only the chain can tell."""
    members: dict[str, bytes] = {}
    with zipfile.ZipFile(src) as zin:
        for name in zin.namelist():
            members[name] = change(name, zin.read(name))
    sums = {
        n: hashlib.sha256(d).hexdigest()
        for n, d in members.items()
        if n not in ("SHA256SUMS", "manifest.json")
    }
    manifest = json.loads(members["manifest.json"])
    manifest["sha256"] = sums
    members["manifest.json"] = json.dumps(manifest).encode()
    sums["manifest.json"] = hashlib.sha256(members["manifest.json"]).hexdigest()
    members["SHA256SUMS"] = "".join(f"{h}  {n}\n" for n, h in sums.items()).encode()
    with zipfile.ZipFile(dst, "w") as zout:
        for name, data in members.items():
            zout.writestr(name, data)


def test_a_bundle_carries_the_blocks_that_prove_its_records(db, tmp_path):
    case = tmp_path / "case.zip"
    run("--db", db, "export", "bundle", "--channel", "@sabereen_test", "--out", case)
    with zipfile.ZipFile(case) as zf:
        files = {n: zf.read(n) for n in zf.namelist()}
    blocks = {n: json.loads(d) for n, d in files.items() if n.startswith("chain/block-")}
    posts = [json.loads(d) for n, d in files.items() if n.startswith("posts/") and n.endswith(".json")]
    assert blocks and posts
    # What README.txt says, done with json and hashlib alone: each block's hash, each record in it.
    canonical = lambda value: json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()  # noqa: E731
    by_id = {}
    for block in blocks.values():
        items_sha256 = hashlib.sha256(block["items"].encode()).hexdigest()
        head = [
            block["previous"],
            block["seq_first"],
            block["count"],
            block["account"],
            block["recorded_at"],
            items_sha256,
        ]
        assert hashlib.sha256(canonical(head)).hexdigest() == block["hash"]
        by_id[block["id"]] = block
    for post in posts:
        for record in post["chain"]:
            block = by_id[record["block"]]
            entry = json.loads(block["items"])[record["seq"] - block["seq_first"]]
            assert entry == [
                record["kind"],
                post["id"],
                record["item"],
                record["sha256"],
                record["item_hash"],
            ]
            assert hashlib.sha256(canonical(record["value"])).hexdigest() == record["item_hash"]
    # Sums rewritten to match: a block altered, or a post's record no longer its block's, is named.
    name = next(iter(blocks))

    def alter_block(member: str, data: bytes) -> bytes:
        if member != name:
            return data
        block = json.loads(data)
        block["recorded_at"] = "2000-01-01T00:00:00+00:00"
        return json.dumps(block).encode()

    bad = tmp_path / "bad.zip"
    _resealed(case, bad, alter_block)
    result = run("verify", bad, ok=False)
    assert f"{name}: block {blocks[name]['id']} does not hash to its hash" in result.output, result.output
    edited = next(p for p in posts if p["message_id"] == 900)
    member = f"posts/{edited['id']}.json"

    def alter_record(member_name: str, data: bytes) -> bytes:
        if member_name != member:
            return data
        page = json.loads(data)
        page["chain"][0]["item"] = 7
        return json.dumps(page, ensure_ascii=False).encode()

    _resealed(case, bad, alter_record)
    result = run("verify", bad, ok=False)
    seq = edited["chain"][0]["seq"]
    assert (
        f"{member}: chain record {seq} is not the one block {edited['chain'][0]['block']} holds"
        in result.output
    )
