"""Checking an evidence bundle offline: ``tgmonitor verify case.zip``, no archive needed.

The zip is read in place, never unpacked: each member is streamed through SHA-256 and compared
with ``SHA256SUMS``; nothing is written anywhere, so a member named ``../../etc/x`` cannot land
outside a folder (it is named as unsafe). A bundle that is not a zip, is truncated, has files
missing or added, a changed byte anywhere, or chain records whose items no longer hash to what
they say, gets one line per problem naming the file.
"""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from handlers.bundle import MANIFEST, SUMS
from monitor.core.store.blocks import parse_items
from monitor.core.store.chain import block_hash, digest, record_hash

_SUM_LINE = re.compile(r"([0-9a-f]{64}) [ *](.+)")
_BLOCK_NAME = re.compile(r"chain/block-[0-9]+\.json")


@dataclass
class BundleReport:
    path: Path
    files: int = 0
    posts: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def unsafe_name(name: str) -> bool:
    """Whether a member's name could leave the folder it is unpacked in (or is not a plain path)."""
    if not name or name.startswith(("/", "\\")) or "\\" in name or "\x00" in name:
        return True
    if re.match(r"[A-Za-z]:", name):
        return True
    return any(part == ".." for part in PurePosixPath(name).parts)


def verify_bundle(path: Path) -> BundleReport:
    """Check the bundle at ``path``; its :class:`BundleReport` lists what does not hold."""
    report = BundleReport(path)
    if not path.is_file():
        report.problems.append(f"{path} is not a file")
        return report
    if not zipfile.is_zipfile(path):
        report.problems.append(f"{path} is not a zip file (or it is truncated: its directory is missing)")
        return report
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        report.problems.append(f"{path} is damaged or truncated: {exc}")
        return report
    with zf:
        members = [info for info in zf.infolist() if not info.is_dir()]
        names = [info.filename for info in members]
        for name, times in sorted(Counter(names).items()):
            if times > 1:
                report.problems.append(
                    f"{name}: the zip holds it {times} times (one copy would hide another)"
                )
        for name in names:
            if unsafe_name(name):
                report.problems.append(f"{name!r}: unsafe path (it would leave the folder it is unpacked in)")
        if SUMS not in names:
            report.problems.append(
                f"{SUMS} is missing: this is not a tgmonitor evidence bundle, or it was cut"
            )
            return report
        listed = _read_sums(zf, report)
        if listed is None:
            return report
        present = set(names)
        for name in sorted(set(listed) - present):
            report.problems.append(f"{name}: missing from the bundle (listed in {SUMS})")
        for name in sorted(present - set(listed) - {SUMS}):
            report.problems.append(f"{name}: extra file (not listed in {SUMS})")
        for name, expected in listed.items():
            if name not in present or unsafe_name(name):
                continue
            actual = _hash_member(zf, name, report)
            if actual is None:
                continue
            report.files += 1
            if actual != expected:
                report.problems.append(f"{name}: changed (its SHA-256 is not the one in {SUMS})")
            elif name.startswith("media/") and PurePosixPath(name).stem != actual:
                report.problems.append(f"{name}: its bytes are not the file its name (a SHA-256) says")
        _check_manifest(zf, listed, report)
        blocks: dict[int, tuple[int, list[list[Any]], Any, Any]] = {}
        for name in listed:
            if _BLOCK_NAME.fullmatch(name) and name in present:
                _check_block(zf, name, report, blocks)
        for name in listed:
            if (
                name.startswith("posts/")
                and name.endswith(".json")
                and name in present
                and not unsafe_name(name)
            ):
                report.posts += 1
                _check_post(zf, name, report, blocks)
    return report


def _read_sums(zf: zipfile.ZipFile, report: BundleReport) -> dict[str, str] | None:
    try:
        text = zf.read(SUMS).decode("utf-8")
    except (zipfile.BadZipFile, OSError, UnicodeDecodeError, EOFError) as exc:
        report.problems.append(f"{SUMS}: cannot be read ({exc})")
        return None
    listed: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        match = _SUM_LINE.fullmatch(line)
        if match is None:
            report.problems.append(f"{SUMS} line {number}: not a '<sha256>  <path>' line")
            continue
        listed[match.group(2)] = match.group(1)
    return listed


def _hash_member(zf: zipfile.ZipFile, name: str, report: BundleReport) -> str | None:
    sha = hashlib.sha256()
    try:
        with zf.open(name) as member:
            while block := member.read(1 << 20):
                sha.update(block)
    except (zipfile.BadZipFile, OSError, EOFError, zipfile.LargeZipFile) as exc:
        report.problems.append(f"{name}: damaged or truncated in the zip ({exc})")
        return None
    return sha.hexdigest()


def _load_json(zf: zipfile.ZipFile, name: str, report: BundleReport) -> Any:
    try:
        return json.loads(zf.read(name))
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        report.problems.append(f"{name}: not readable JSON ({exc})")
        return None


def _check_manifest(zf: zipfile.ZipFile, listed: dict[str, str], report: BundleReport) -> None:
    if MANIFEST not in listed:
        report.problems.append(f"{MANIFEST}: missing from {SUMS}")
        return
    manifest = _load_json(zf, MANIFEST, report)
    if not isinstance(manifest, dict) or not isinstance(manifest.get("sha256"), dict):
        report.problems.append(f"{MANIFEST}: has no file list")
        return
    expected = {k: v for k, v in listed.items() if k != MANIFEST}
    if manifest["sha256"] != expected:
        differ = sorted(set(manifest["sha256"].items()) ^ set(expected.items()))
        report.problems.append(f"{MANIFEST}: its file list differs from {SUMS} (first: {differ[0][0]})")


def _check_block(
    zf: zipfile.ZipFile,
    name: str,
    report: BundleReport,
    blocks: dict[int, tuple[int, list[list[Any]], Any, Any]],
) -> None:
    """A block of the chain: its hash over what it holds; kept (its first seq and records) for the
    posts' records to be found in."""
    block = _load_json(zf, name, report)
    try:
        computed = block_hash(
            block["previous"], block["seq_first"], block["count"], block["account"], block["recorded_at"],
            block["items"],
        )  # fmt: skip
        entries = parse_items(block["items"])
        if computed != block["hash"]:
            report.problems.append(f"{name}: block {block['id']} does not hash to its hash")
        elif entries is None or len(entries) != block["count"]:
            report.problems.append(f"{name}: block {block['id']}'s items are not the records it counts")
        else:
            blocks[int(block["id"])] = (
                int(block["seq_first"]),
                entries,
                block["account"],
                block["recorded_at"],
            )
    except (KeyError, TypeError, ValueError):
        report.problems.append(f"{name}: the block is incomplete")


def _check_post(
    zf: zipfile.ZipFile,
    name: str,
    report: BundleReport,
    blocks: dict[int, tuple[int, list[list[Any]], Any, Any]],
) -> None:
    """Each chain record of a post: its item hashes to ``item_hash``, and it follows ``previous``
    (a per-record row) or is in its block as written (a block's record)."""
    post = _load_json(zf, name, report)
    if not isinstance(post, dict) or not isinstance(post.get("chain"), list):
        report.problems.append(f"{name}: has no chain records")
        return
    for record in post["chain"]:
        try:
            value = record["value"]
            if value is not None and digest(value) != record["item_hash"]:
                report.problems.append(
                    f"{name}: chain record {record['seq']}: its item does not hash to item_hash"
                )
            if "block" in record:
                _check_in_block(name, post["id"], record, blocks, report)
            elif record["previous"] is not None:
                computed = record_hash(
                    record["previous"], record["seq"], record["kind"], post["id"], record["item"],
                    record["sha256"], record["item_hash"], record["account"], record["recorded_at"],
                )  # fmt: skip
                if computed != record["hash"]:
                    report.problems.append(f"{name}: chain record {record['seq']} does not hash to its hash")
        except (KeyError, TypeError):
            report.problems.append(f"{name}: a chain record is incomplete")
            return


def _check_in_block(
    name: str,
    post_id: Any,
    record: dict[str, Any],
    blocks: dict[int, tuple[int, list[list[Any]], Any, Any]],
    report: BundleReport,
) -> None:
    seq, number = record["seq"], record["block"]
    if not isinstance(number, int) or number not in blocks:
        report.problems.append(
            f"{name}: chain record {seq}: its block {number} is not in the bundle (or does not hold)"
        )
        return
    seq_first, entries, account, recorded_at = blocks[number]
    k = seq - seq_first if isinstance(seq, int) else -1
    expected = [record["kind"], post_id, record["item"], record["sha256"], record["item_hash"]]
    if (
        not 0 <= k < len(entries)
        or entries[k] != expected
        or (record["account"], record["recorded_at"]) != (account, recorded_at)
    ):
        report.problems.append(f"{name}: chain record {seq} is not the one block {number} holds")
