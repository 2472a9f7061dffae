"""Writing an evidence bundle: one zip with the selected posts and everything that proves them.

Layout (``README.txt`` inside says the same to whoever receives it)::

    README.txt            how to check the bundle with sha256sum alone
    SHA256SUMS            "<sha256>  <path>" for every other file (sha256sum -c reads it)
    manifest.json         tool and version, when, what was selected, the chain's head and daily
                          heads (with their RFC 3161 tokens), and the sha256 of every file
    index.html            the list of posts
    posts/<id>.json       the post as archived: raw message, text, versions, files, OCR,
                          alerts, and the chain records that prove it (with the hashed items)
    posts/<id>.html       the same to read: right to left, images inline, edits and deletion shown
    chain/block-<n>.json  each block of the chain that holds records of those posts (written once)
    media/<sha256>.<ext>  the files, named by their hash

Large selections stream: posts are read a page at a time (:data:`~monitor.core.store.evidence.PAGE`),
each file goes into the zip as it is made, and the lists that grow with the selection (sums,
index lines) wait in temporary files, not in memory. The zip is written beside ``out`` and moved
into place at the end, so a stopped export never leaves half a bundle under the real name.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import pickle
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import IO, Any

from handlers.bundle_html import INDEX_TAIL, index_head, index_line, post_page
from monitor.core.errors import MonitorError
from monitor.core.store import Archive
from monitor.core.store.evidence import EvidenceItem, Selection
from monitor.core.times import iso, now_iso

README = """tgmonitor evidence bundle
=========================

Every file in this bundle is listed in SHA256SUMS with its SHA-256. To check the bundle with
standard tools alone, unzip it into an empty folder and run there:

    sha256sum -c SHA256SUMS

Every line must say OK. manifest.json says which tool made the bundle, when, what was
selected, and lists the same hashes; with tgmonitor, `tgmonitor verify case.zip` checks the
zip itself without unpacking it (no archive needed).

posts/<id>.json holds each post as archived, and under "chain" the records of the archive's
hash chain that prove it: each record's "value" is the item it hashes (its SHA-256 of the JSON
array, written without spaces, is "item_hash"). JSON here is always written without spaces,
in UTF-8, as Python's json.dumps(value, ensure_ascii=False, separators=(",", ":")) writes it.

A record with a "block" number is one of the records of that block, chain/block-<n>.json: its
"items" (a string) is the JSON array of the block's records, each [kind, post_id, item, sha256,
item_hash], record seq_first + k at position k (from 0); the record must be there as written in
the post. The block's "hash" is the SHA-256 of the JSON array [previous, seq_first, count,
account, recorded_at, items_sha256], where items_sha256 is the SHA-256 (hex) of the "items"
string's UTF-8 bytes and "previous" the hash of the block (or record) before it.

A record without "block" (archives chained record by record, before the blocks) has its own
"hash": the SHA-256 of the JSON array [previous, seq, kind, post_id, item, sha256, item_hash,
account, recorded_at]. The chain's head
at export time and its daily heads (with RFC 3161 time-stamp tokens, base64, when the archive
has them) are in manifest.json: a head held by someone else, or a token, fixes the chain up to
that point in time. A file in media/ is named by the SHA-256 of its bytes.
"""

SUMS = "SHA256SUMS"
MANIFEST = "manifest.json"
FORMAT = "tgmonitor-evidence-bundle/1"


def tool_version() -> str:
    try:
        return version("tgmonitor")
    except PackageNotFoundError:  # run from a source tree without an install
        return "unknown"


@dataclass
class BundleSummary:
    path: Path
    posts: int
    files: int
    media: int
    bytes: int


class _SpilledInfos:
    """``ZipFile.filelist`` kept in a temporary file instead of memory.

    zipfile keeps one ``ZipInfo`` (about 350 bytes) per member until ``close()`` writes the
    central directory from them: 70 MB for a 100,000-post bundle, 700 MB for a million. zipfile
    only appends to this list, takes its length and iterates it once at the end, so the infos
    are pickled to disk as they come and read back one at a time then (``bench/evidence.py``).
    """

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile()  # noqa: SIM115 (closed by close(), after the zip)
        self._count = 0

    def append(self, info: zipfile.ZipInfo) -> None:
        self._file.seek(0, os.SEEK_END)
        pickle.dump(info, self._file, protocol=pickle.HIGHEST_PROTOCOL)
        self._count += 1

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[zipfile.ZipInfo]:
        self._file.seek(0)
        for _ in range(self._count):
            yield pickle.load(self._file)  # our own file, written just above: not untrusted data

    def close(self) -> None:
        self._file.close()


class _NoNames(dict):  # type: ignore[type-arg]
    """``ZipFile.NameToInfo`` that keeps nothing: it only serves zipfile's warning about a name
    written twice, and a bundle's names are unique (post ids, media by hash)."""

    def __setitem__(self, key: str, value: object) -> None:
        return None


class _Writer:
    """The zip being written, with each file's hash noted as it goes in (to a temporary file)."""

    def __init__(self, zf: zipfile.ZipFile, sums: IO[str]):
        self.zf = zf
        self.sums = sums
        self.count = 0

    def add(self, name: str, data: bytes, *, compress: bool = True) -> None:
        kind = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        self.zf.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data, compress_type=kind)
        self.note(name, hashlib.sha256(data).hexdigest())

    def add_file(self, name: str, source: Path) -> None:
        digest = hashlib.sha256()
        info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_STORED  # images and videos are compressed already
        with open(source, "rb") as src, self.zf.open(info, "w", force_zip64=True) as dst:
            while block := src.read(1 << 20):
                digest.update(block)
                dst.write(block)
        self.note(name, digest.hexdigest())

    def add_parts(self, name: str, parts: Iterable[bytes], *, note: bool = True) -> None:
        """A file written piece by piece (the index, the manifest, the sums: they grow with the
        selection, so they are never held whole in memory)."""
        digest = hashlib.sha256()
        info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        with self.zf.open(info, "w", force_zip64=True) as dst:
            for part in parts:
                digest.update(part)
                dst.write(part)
        if note:
            self.note(name, digest.hexdigest())

    def note(self, name: str, sha256: str) -> None:
        self.sums.write(f"{sha256}  {name}\n")
        self.count += 1


async def write_bundle(
    archive: Archive,
    selection: Selection,
    out: Path,
    *,
    on_total: Callable[[int], None] | None = None,
    on_posts: Callable[[int], None] | None = None,
) -> BundleSummary:
    """Write the bundle of ``selection`` to ``out`` (replaced if it exists: the caller asks first)."""
    ids = await archive.evidence.select_ids(selection)
    if on_total:
        on_total(len(ids))
    head_seq, head_hash = await archive.evidence.head()
    heads = await archive.evidence.heads()
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "tool": "tgmonitor",
        "tool_version": tool_version(),
        "created_at": now_iso(),
        "archive": archive.path.name,
        "selection": {
            "channel_id": selection.channel_id,
            "since": iso(selection.since),
            "until": iso(selection.until),
            "query": selection.query,
            "alerts_only": selection.alerts_only,
        },
        "posts": len(ids),
        "chain_head": {"seq": head_seq, "hash": head_hash},
        "chain_heads": [
            {
                **{k: v for k, v in asdict(h).items() if k != "tsa_token"},
                "tsa_token": base64.b64encode(h.tsa_token).decode() if h.tsa_token else None,
            }
            for h in heads
        ],
        "genesis_at": await archive.get_meta("evidence:genesis"),
        "capture": "each post's first_seen_at and source, and each chain record's account, say when and how it was captured",
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".partial")
    os.close(fd)
    media_seen: dict[str, str] = {}
    infos = _SpilledInfos()
    try:
        with (
            tempfile.TemporaryFile("w+", encoding="utf-8") as sums,
            tempfile.TemporaryFile("w+", encoding="utf-8") as index,
            zipfile.ZipFile(partial, "w", allowZip64=True) as zf,
        ):
            zf.filelist = infos  # type: ignore[assignment]
            zf.NameToInfo = _NoNames()
            writer = _Writer(zf, sums)
            writer.add("README.txt", README.encode())
            blocks_seen: set[int] = set()
            async for page in archive.evidence.items(ids):
                for item in page:
                    _add_media(writer, archive, item, media_seen)
                    for block in item.blocks:
                        if block["id"] not in blocks_seen:
                            blocks_seen.add(block["id"])
                            writer.add(
                                f"chain/block-{block['id']}.json",
                                json.dumps(block, ensure_ascii=False, indent=1).encode(),
                            )
                    name = f"posts/{item.post.id}"
                    writer.add(
                        f"{name}.json", json.dumps(post_json(item), ensure_ascii=False, indent=1).encode()
                    )
                    writer.add(f"{name}.html", post_page(item, media_seen).encode())
                    channel = (
                        item.post.channel_username or item.post.channel_title or str(item.post.channel_id)
                    )
                    index.write(
                        index_line(
                            f"{name}.html", iso(item.post.date) or "", f"{channel} / {item.post.message_id}"
                        )
                    )
                if on_posts:
                    on_posts(len(page))
            writer.add_parts("index.html", _joined(index_head(manifest), index, INDEX_TAIL))
            manifest["files"] = writer.count
            writer.add_parts(MANIFEST, _manifest_parts(manifest, sums))
            writer.add_parts(SUMS, _lines(sums), note=False)
            files = writer.count
        os.replace(partial, out)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(partial)
        raise
    finally:
        infos.close()
    return BundleSummary(out, len(ids), files + 1, len(media_seen), out.stat().st_size)


def _lines(body: IO[str]) -> Iterator[bytes]:
    """A temporary file's text from its start, a line at a time."""
    body.seek(0)
    for line in body:
        yield line.encode()


def _joined(head: str, body: IO[str], tail: str) -> Iterator[bytes]:
    yield head.encode()
    yield from _lines(body)
    yield tail.encode()


def _manifest_parts(manifest: dict[str, Any], sums: IO[str]) -> Iterator[bytes]:
    """The manifest with every file's hash so far (all but itself and SHA256SUMS), streamed:
    ``{...the manifest..., "sha256": {"<path>": "<sha256>", ...}}``."""
    yield json.dumps(manifest, ensure_ascii=False, indent=1)[:-2].encode()
    yield b',\n "sha256": {'
    first = True
    for line in _lines(sums):
        sha256, _, name = line.decode().rstrip("\n").partition("  ")
        yield (
            (b"\n  " if first else b",\n  ") + json.dumps(name).encode() + b": " + json.dumps(sha256).encode()
        )
        first = False
    yield b"\n }\n}\n"
    sums.seek(0, os.SEEK_END)


def _add_media(writer: _Writer, archive: Archive, item: EvidenceItem, seen: dict[str, str]) -> None:
    for media in item.media:
        sha256, path = media["sha256"], media["path"]
        if not sha256 or not path or sha256 in seen:
            continue
        name = f"media/{sha256}{Path(path).suffix}"
        try:
            writer.add_file(name, archive.media_dir / path)
        except FileNotFoundError:
            raise MonitorError(
                f"the file {archive.media_dir / path} of post {item.post.url} is missing from the media store: "
                "run tgmonitor verify to see what else changed"
            ) from None
        seen[sha256] = name


def post_json(item: EvidenceItem) -> dict[str, Any]:
    """A post as ``posts/<id>.json`` holds it."""
    post = item.post
    return {
        "id": post.id,
        "channel": {"id": post.channel_id, "username": post.channel_username, "title": post.channel_title},
        "message_id": post.message_id,
        "url": post.url,
        "date": iso(post.date),
        "text": post.text,
        "entities": post.entities,
        "edit_date": iso(post.edit_date),
        "views": post.views,
        "forwards": post.forwards,
        "fwd_from_id": post.fwd_from_id,
        "fwd_from_name": post.fwd_from_name,
        "reply_to": post.reply_to,
        "grouped_id": post.grouped_id,
        "author": post.author,
        "source": post.source,
        "first_seen_at": item.first_seen_at,
        "deleted_at": item.deleted_at,
        "ocr_text": post.ocr_text,
        "raw": item.raw,
        "versions": item.versions,
        "media": item.media,
        "alerts": item.alerts,
        "chain": item.records,
    }
