"""The chain's daily head: recorded once a day, stamped by a REAL RFC 3161 authority (``openssl ts``
behind a local HTTP endpoint, with a CA and a TSA certificate made here), verified by ``openssl
ts -verify``, and sent to a sink."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp import web

from alerts.sinks.jsonl import JsonlSink
from handlers.timestamping import TimestampError, head_data, request_token
from monitor.core.config import EvidenceConfig, SinkConfig
from monitor.core.models import Channel, Post
from monitor.core.store import Archive
from monitor.evidence_head import record_daily_head

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI needed")

TSA_CONFIG = """
[ tsa ]
default_tsa = tsa_config1

[ tsa_config1 ]
dir = {dir}
serial = $dir/tsaserial
crypto_device = builtin
signer_cert = $dir/tsa.crt
certs = $dir/tsa.crt
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = 1.2.3.4.1
other_policies = 1.2.3.4.5.6
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = yes
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_tsa(folder: Path) -> Path:
    """A CA and a TSA certificate it signed (time stamping only), and the ``openssl ts`` config."""
    folder.mkdir()
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
        "-subj", "/CN=tgmonitor test CA", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=folder,
    )  # fmt: skip
    _openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "tsa.key",
        "-out",
        "tsa.csr",
        "-subj",
        "/CN=test TSA",
        cwd=folder,
    )
    (folder / "tsa.ext").write_text(
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=critical,timeStamping\n"
    )
    _openssl(
        "x509", "-req", "-in", "tsa.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "tsa.crt",
        "-days", "2", "-extfile", "tsa.ext", cwd=folder,
    )  # fmt: skip
    (folder / "tsaserial").write_text("01\n")
    (folder / "tsa.cnf").write_text(TSA_CONFIG.format(dir=folder))
    return folder


@pytest_asyncio.fixture
async def tsa(tmp_path):
    """``http://127.0.0.1:PORT/tsa``: each request answered by ``openssl ts -reply``."""
    folder = make_tsa(tmp_path / "tsa")
    seen: list[bytes] = []

    async def reply(request: web.Request) -> web.Response:
        query = await request.read()
        seen.append(query)
        (folder / "request.tsq").write_bytes(query)
        process = await asyncio.create_subprocess_exec(
            "openssl", "ts", "-reply", "-config", str(folder / "tsa.cnf"), "-queryfile", "request.tsq",
            "-out", "reply.tsr", cwd=folder, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        await process.communicate()
        if process.returncode != 0:
            return web.Response(status=500)
        return web.Response(
            body=(folder / "reply.tsr").read_bytes(), content_type="application/timestamp-reply"
        )

    app = web.Application()
    app.router.add_post("/tsa", reply)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}/tsa", folder, seen
    finally:
        await runner.cleanup()


def openssl_verify(folder: Path, data: bytes, token: bytes) -> subprocess.CompletedProcess:
    (folder / "head.txt").write_bytes(data)
    (folder / "token.der").write_bytes(token)
    return subprocess.run(
        ["openssl", "ts", "-verify", "-data", "head.txt", "-in", "token.der", "-token_in", "-CAfile", "ca.crt",
         "-untrusted", "tsa.crt"],
        cwd=folder, capture_output=True, text=True,
    )  # fmt: skip


@pytest.mark.asyncio
async def test_daily_head_is_stamped_verified_by_openssl_and_sent(tmp_path, tsa):
    url, folder, seen = tsa
    archive = await Archive.open(tmp_path / "archive.db", tmp_path / "media")
    try:
        await archive.save_post(
            Post(
                channel=Channel(1, "sabereen_test"),
                message_id=1,
                date=datetime(2021, 11, 2, tzinfo=UTC),
                text="الانتقامُ قادمٌ ٣",
            )
        )
        sink = JsonlSink(SinkConfig(type="jsonl", name="witness", path=tmp_path / "heads.jsonl"))
        config = EvidenceConfig(tsa_url=url, head_sinks=["witness"])
        day = datetime(2026, 12, 3, 10, tzinfo=UTC)
        head = await record_daily_head(archive, config, {"witness": sink}, now=day)
        assert head.day == "2026-12-03" and head.tsa_token and head.sent_to == ["witness"]
        assert (head.seq, head.hash) == await archive.evidence.head()
        checked = openssl_verify(folder, head_data(head.hash), head.tsa_token)
        assert checked.returncode == 0 and "Verification: OK" in checked.stdout, (
            checked.stdout + checked.stderr
        )
        # a token is about this head only: another hash fails
        assert openssl_verify(folder, head_data("0" * 64), head.tsa_token).returncode != 0
        sent = [json.loads(line) for line in (tmp_path / "heads.jsonl").read_text().splitlines()]
        assert sent[0]["kind"] == "chain-head" and sent[0]["hash"] == head.hash and sent[0]["timestamped"]
        # once a day: a second run (after more saves) changes nothing, stamps and sends nothing
        await archive.save_post(
            Post(
                channel=Channel(1, "sabereen_test"),
                message_id=2,
                date=datetime(2021, 11, 3, tzinfo=UTC),
                text="ب",
            )
        )
        again = await record_daily_head(archive, config, {"witness": sink}, now=day)
        assert (
            again == head and len(seen) == 1 and len((tmp_path / "heads.jsonl").read_text().splitlines()) == 1
        )
        # and verify checks the recorded head against the chain
        report = await archive.evidence.verify()
        assert report.ok, [str(f) for f in report.findings]
    finally:
        await archive.close()


@pytest.mark.asyncio
async def test_a_tsa_that_fails_leaves_the_head_unstamped_for_the_next_run(tmp_path, tsa):
    url, _folder, _seen = tsa
    archive = await Archive.open(tmp_path / "archive.db", tmp_path / "media")
    try:
        config = EvidenceConfig(tsa_url=url.replace("/tsa", "/nothing-here"))
        head = await record_daily_head(archive, config, None, now=datetime(2026, 12, 3, tzinfo=UTC))
        assert head.tsa_token is None
        head = await record_daily_head(
            archive, EvidenceConfig(tsa_url=url), None, now=datetime(2026, 12, 3, tzinfo=UTC)
        )
        assert head.tsa_token is not None
        with pytest.raises(TimestampError, match="cannot reach"):
            await request_token("http://127.0.0.1:9/tsa", b"x", timeout=5)
    finally:
        await archive.close()
