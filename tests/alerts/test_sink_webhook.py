"""The webhook sink against a real local HTTP server: 200, 500, slow, dropped connections."""

from __future__ import annotations

import asyncio
import json

import pytest
import pytest_asyncio

from alerts.outbox import Outbox
from alerts.sinks import JsonlSink, OutgoingAlert, WebhookSink, parse_retry_after, sign
from monitor.core.config import AlertsConfig, SinkConfig
from monitor.core.errors import ConfigError, DeliveryError
from monitor.core.models import Channel
from monitor.core.store import Archive
from tests.support.alerts import ARABIC_THREAT, WebhookServer, add_post, detection_for, read_jsonl, wait_until

CH = Channel(id=2001, username="sabreen_sn", title="صابرين")
SECRET = "s3cret-ﺱ"


@pytest_asyncio.fixture
async def archive(tmp_path):
    arch = await Archive.open(tmp_path / "archive.db")
    yield arch
    await arch.close()


@pytest_asyncio.fixture
async def server():
    srv = await WebhookServer(secret=SECRET).start()
    yield srv
    await srv.stop()


def webhook(server, monkeypatch, **kwargs) -> WebhookSink:
    monkeypatch.setenv("TGM_TEST_HOOK_SECRET", SECRET)
    return WebhookSink(
        SinkConfig(type="webhook", url=server.url, secret_env="TGM_TEST_HOOK_SECRET", **kwargs)
    )


async def one_alert(archive, outbox, message_id=1, text=ARABIC_THREAT):
    post = await add_post(archive, CH, message_id, text)
    (alert_id,) = await outbox.record(post, detection_for(text, {"الانتقامُ قادمٌ": "revenge"}))
    return alert_id


@pytest.mark.asyncio
async def test_signed_json_body_of_the_design_contract(archive, server, monkeypatch):
    sink = webhook(server, monkeypatch)
    outbox = Outbox(archive, [sink], AlertsConfig())
    alert_id = await one_alert(archive, outbox)
    try:
        assert await outbox.deliver_pending() == 1
    finally:
        await outbox.close()
    assert server.bad_signatures == 0 and len(server.accepted) == 1
    got = server.accepted[0]
    assert got.headers["X-Tgmonitor-Signature"] == sign(SECRET, got.body)
    assert got.headers["Idempotency-Key"].startswith("tgm-")
    body = got.json
    for key in (
        "alert_id",
        "kind",
        "severity",
        "channel",
        "channel_id",
        "message_id",
        "url",
        "date",
        "text",
        "matches",
        "countdown",
        "ocr_excerpt",
        "channels",
    ):
        assert key in body, key
    assert body["alert_id"] == alert_id and body["text"] == ARABIC_THREAT  # raw text: JSON needs no escaping
    assert body["url"] == "https://t.me/sabreen_sn/1"


@pytest.mark.asyncio
async def test_wrong_secret_is_refused_by_the_server_and_stops_the_sink(archive, server, monkeypatch):
    monkeypatch.setenv("TGM_TEST_WRONG", "not-the-secret")
    sink = WebhookSink(SinkConfig(type="webhook", url=server.url, secret_env="TGM_TEST_WRONG"))
    outbox = Outbox(archive, [sink], AlertsConfig())
    alert_id = await one_alert(archive, outbox)
    try:
        assert await outbox.deliver_pending() == 0
    finally:
        await outbox.close()
    assert server.bad_signatures == 1
    row = await archive.fetchone("SELECT status, last_error FROM deliveries WHERE alert_id = ?", (alert_id,))
    assert row[0] == "failed" and "401" in row[1]
    assert sink.name in outbox.disabled


@pytest.mark.asyncio
async def test_500_then_dropped_connection_then_200_retries_with_backoff(archive, server, monkeypatch):
    server.script = ["500", "drop", "429", "ok"]
    sink = webhook(server, monkeypatch)
    outbox = Outbox(archive, [sink], AlertsConfig(retry_max_seconds=0.2), retry_base=0.05)
    alert_id = await one_alert(archive, outbox)
    stop = asyncio.Event()
    task = asyncio.create_task(outbox.run(stop))
    try:
        await server.wait_for(lambda: len(server.accepted) == 1)
        await wait_until(lambda: _status(archive, alert_id, "delivered"))
    finally:
        stop.set()
        await task
        await outbox.close()
    assert len(server.received) == 4
    assert len({r.headers["Idempotency-Key"] for r in server.received}) == 1  # same key on every retry
    row = await archive.fetchone(
        "SELECT attempts, last_error, sent_at FROM deliveries WHERE alert_id = ?", (alert_id,)
    )
    assert row[0] == 4 and row[1] is None and row[2]


async def _status(archive, alert_id, status):
    row = await archive.fetchone("SELECT status FROM deliveries WHERE alert_id = ?", (alert_id,))
    return row is not None and row[0] == status


@pytest.mark.asyncio
async def test_transient_failure_is_recorded_and_scheduled_not_dropped(archive, server, monkeypatch):
    server.default = "500"
    sink = webhook(server, monkeypatch)
    outbox = Outbox(archive, [sink], AlertsConfig(retry_max_seconds=600), retry_base=30)
    alert_id = await one_alert(archive, outbox)
    try:
        assert await outbox.deliver_pending() == 0
        assert await outbox.deliver_pending() == 0  # backing off: not retried at once
    finally:
        await outbox.close()
    assert len(server.received) == 1
    row = await archive.fetchone(
        "SELECT status, attempts, last_error, next_attempt_at FROM deliveries WHERE alert_id = ?", (alert_id,)
    )
    assert row[0] == "pending" and row[1] == 1 and "HTTP 500" in row[2] and row[3] is not None


@pytest.mark.asyncio
async def test_client_error_is_permanent_for_that_alert(archive, server, monkeypatch):
    server.script = ["400"]
    sink = webhook(server, monkeypatch)
    outbox = Outbox(archive, [sink], AlertsConfig())
    first = await one_alert(archive, outbox, 1)
    second = await one_alert(archive, outbox, 2, ARABIC_THREAT + " ٢")
    try:
        assert await outbox.deliver_pending() == 1
    finally:
        await outbox.close()
    assert await _status(archive, first, "failed") and await _status(archive, second, "delivered")


@pytest.mark.asyncio
async def test_slow_sink_does_not_block_the_other_sinks(archive, server, monkeypatch, tmp_path):
    server.default = "slow"
    hook = webhook(server, monkeypatch, timeout=30)
    jsonl = JsonlSink(SinkConfig(type="jsonl", path=tmp_path / "a.jsonl"))
    outbox = Outbox(archive, [hook, jsonl], AlertsConfig())
    stop = asyncio.Event()
    task = asyncio.create_task(outbox.run(stop))
    try:
        ids = [await one_alert(archive, outbox, i, f"{ARABIC_THREAT} {i}") for i in range(1, 4)]
        await wait_until(lambda: len(read_jsonl(tmp_path / "a.jsonl")) == 3)
        assert len(server.received) == 1 and not server.accepted  # the webhook is still on the first
        server.release.set()
        await server.wait_for(lambda: len(server.accepted) == 3)
        for alert_id in ids:
            await wait_until(lambda a=alert_id: _status_all(archive, a))
    finally:
        stop.set()
        await task
        await outbox.close()


async def _status_all(archive, alert_id):
    rows = await archive.fetchall("SELECT status FROM deliveries WHERE alert_id = ?", (alert_id,))
    return rows and all(r[0] == "delivered" for r in rows)


@pytest.mark.asyncio
async def test_timeout_is_transient(server, monkeypatch):
    server.default = "slow"
    sink = webhook(server, monkeypatch, timeout=0.2)
    alert = OutgoingAlert(1, 1, "post", "high", {"alert_id": 1, "text": "نص"}, key="k1")
    try:
        with pytest.raises(DeliveryError) as info:
            await sink.send(alert)
    finally:
        await sink.close()
    assert not info.value.permanent and "0.2" in str(info.value)


@pytest.mark.asyncio
async def test_slack_and_discord_text_variants(server, monkeypatch):
    body = {
        "alert_id": 9,
        "kind": "post",
        "severity": "high",
        "channel": "x",
        "channel_title": "قناة <b>&",
        "channel_id": 1,
        "message_id": 2,
        "url": "https://t.me/x/2",
        "date": "2026-11-22T01:00:00+00:00",
        "text": "@everyone الانتقام قادم <script>",
        "matches": [
            {
                "rule": "revenge",
                "term": "الانتقام قادم",
                "source": "text",
                "start": 10,
                "end": 23,
                "severity": "high",
            }
        ],
        "countdown": None,
        "ocr_excerpt": None,
        "channels": [],
    }
    alert = OutgoingAlert(1, 9, "post", "high", body, key="k")
    for variant in ("slack", "discord"):
        sink = webhook(server, monkeypatch, format=variant)
        try:
            await sink.send(alert)
        finally:
            await sink.close()
    slack, discord = server.accepted[-2].json, server.accepted[-1].json
    assert (
        "*الانتقام قادم*" in slack["text"]
        and "&lt;script&gt;" in slack["text"]
        and "<script>" not in slack["text"]
    )
    assert "**الانتقام قادم**" in discord["content"] and discord["allowed_mentions"] == {"parse": []}
    assert len(discord["content"]) <= 2000


def test_retry_after_and_config_errors(monkeypatch):
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert parse_retry_after("soon") is None
    monkeypatch.delenv("TGM_MISSING_SECRET", raising=False)
    with pytest.raises(ConfigError):
        WebhookSink(SinkConfig(type="webhook", url="http://127.0.0.1:1/x", secret_env="TGM_MISSING_SECRET"))


def test_webhook_name_never_contains_the_url_secret():
    sink = WebhookSink(SinkConfig(type="webhook", url="https://hooks.slack.com/services/T0/B0/SECRETTOKEN"))
    assert "SECRETTOKEN" not in sink.name and sink.name.startswith("webhook:hooks.slack.com#")
    assert json.dumps(sink.name)
