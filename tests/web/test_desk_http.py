"""The desk over real HTTP (aiohttp's test server on a real archive): pages, the API's shapes,
CSRF, headers, images by sha256, hostile text, logins, rate limits and tokens."""

from __future__ import annotations

import asyncio
import json
import re

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from click.testing import CliRunner

from monitor.cli import main
from monitor.core.config import Config, parse_config
from monitor.core.errors import ConfigError, MonitorError
from monitor.core.store import Archive
from monitor.web import build_app
from monitor.web.auth import new_token
from monitor.web.desk import Desk, check_bind
from tests.web.desk_support import CH1, PASSWORD, add_alerting_post, add_desk_user, build_archive

SEARCH_KEYS = {"channel", "channel_id", "message_id", "date", "text", "ocr_text", "url", "snippet"}


@pytest_asyncio.fixture
async def built(tmp_path):
    return await build_archive(tmp_path)


async def _client(built, *, login: bool = False) -> tuple[TestClient, Desk]:
    archive = await Archive.open(built.db, built.media)
    desk = Desk(archive=archive, config=Config(), require_login=await check_bind(archive, "127.0.0.1"))
    assert desk.require_login is login
    client = TestClient(TestServer(build_app(desk)))
    await client.start_server()
    return client, desk


async def _csrf(client: TestClient, path: str = "/") -> str:
    page = await (await client.get(path)).text()
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, page[:500]
    return found.group(1)


@pytest.mark.asyncio
async def test_pages_answer_with_strict_headers(built):
    client, desk = await _client(built)
    try:
        for path in (
            "/",
            "/search?q=الانتقام",
            f"/post/{CH1.id}/3",
            f"/channel/{CH1.id}",
            "/countdowns",
            "/campaigns",
            "/check",
            "/?severity=high&state=new&category=revenge",
        ):
            response = await client.get(path)
            assert response.status == 200, (path, await response.text())
            csp = response.headers["Content-Security-Policy"]
            assert "default-src 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
            assert response.headers["X-Content-Type-Options"] == "nosniff"
            assert "cdn" not in (await response.text()).lower()
        missing = await client.get(f"/post/{CH1.id}/999")
        assert missing.status == 404 and "no archived post 999" in await missing.text()
        rebound = await client.get("/api/alerts", headers={"Host": "attacker.example"})
        assert rebound.status == 403 and "answers only to its own address" in (await rebound.json())["error"]
        assert (await client.get("/", headers={"Host": "localhost:8750"})).status == 200
        bad = await client.get("/?severity=urgent")
        assert bad.status == 400 and "severity must be one of" in await bad.text()
        assert "Traceback" not in await bad.text()
    finally:
        await client.close()
        await desk.archive.close()


@pytest.mark.asyncio
async def test_api_has_the_cli_shapes(built, tmp_path, no_user_config):
    client, desk = await _client(built)
    try:
        # the same Arabic query, without diacritics or the attached و, finds the post
        hits = await (await client.get("/api/search", params={"q": "الانتقام"})).json()
        assert {(h["channel_id"], h["message_id"]) for h in hits} >= {(CH1.id, 1), (CH1.id, 3)}
        assert all(set(h) == SEARCH_KEYS for h in hits)
        cli = await asyncio.to_thread(
            CliRunner().invoke, main, ["--db", str(built.db), "search", "الانتقام", "--json"]
        )
        assert cli.exit_code == 0, cli.output
        assert [(h["channel_id"], h["message_id"]) for h in json.loads(cli.output)] == [
            (h["channel_id"], h["message_id"]) for h in hits
        ]
        only_images = await (await client.get("/api/search", params={"q": "الانتقام", "image": "1"})).json()
        assert [(h["channel_id"], h["message_id"]) for h in only_images] == [(CH1.id, 3)]
        with_alert = await (await client.get("/api/search", params={"q": "الطقس", "alert": "1"})).json()
        assert with_alert == []

        alerts = await (await client.get("/api/alerts")).json()
        cli = await asyncio.to_thread(CliRunner().invoke, main, ["--db", str(built.db), "alerts", "--json"])
        assert [a["alert_id"] for a in alerts] == [a["alert_id"] for a in json.loads(cli.output)]
        assert set(json.loads(cli.output)[0]) <= set(alerts[0])
        assert alerts[0]["state"] == "new" and alerts[0]["decisions"] == []
        newest = alerts[0]["alert_id"]
        assert await (await client.get("/api/alerts", params={"after": newest})).json() == []
        assert [
            a["alert_id"] for a in await (await client.get("/api/alerts", params={"before": newest})).json()
        ] == [a["alert_id"] for a in alerts[1:]]

        post = await (await client.get(f"/api/posts/{CH1.id}/3")).json()
        assert SEARCH_KEYS - {"snippet"} <= set(post)
        assert (
            post["media"][0]["sha256"] == built.poster_sha
            and post["media"][0]["url"] == f"/media/{built.poster_sha}"
        )
        assert post["alerts"] and post["alerts"][0]["message_id"] == 3

        stats = await (await client.get("/api/stats")).json()
        assert {
            "channels",
            "posts",
            "images",
            "ocr_done",
            "ocr_failed",
            "alerts",
            "pending_deliveries",
        } <= set(stats)
        assert stats["posts"] == 5
        problem = await client.get("/api/search")
        assert problem.status == 400 and "give a query" in (await problem.json())["error"]
    finally:
        await client.close()
        await desk.archive.close()


@pytest.mark.asyncio
async def test_decisions_need_the_csrf_token(built):
    client, desk = await _client(built)
    try:
        alert_id = built.alert_ids[0]
        refused = await client.post(f"/alerts/{alert_id}/decide", data={"action": "ack"})
        assert refused.status == 403 and "did not come from the desk" in await refused.text()
        token = await _csrf(client)
        wrong = await client.post(f"/alerts/{alert_id}/decide", data={"action": "ack", "csrf": token[::-1]})
        assert wrong.status == 403
        assert (await desk.archive.decisions.history(alert_id)) == []

        done = await client.post(
            f"/alerts/{alert_id}/decide",
            data={"action": "fp", "note": "خطبة تقتبس الآية", "csrf": token, "next": "/?state=fp"},
            allow_redirects=False,
        )
        assert done.status == 303 and done.headers["Location"].startswith("/?state=fp")
        [decision] = await desk.archive.decisions.history(alert_id)
        assert (decision.value, decision.desk, decision.note) == ("fp", "web", "خطبة تقتبس الآية")
        page = await (await client.get("/?state=fp")).text()
        assert f'id="alert-{alert_id}"' in page and "false positive by" in page and "خطبة تقتبس الآية" in page
        # a second press finds the first decision (told on the page), nothing new is written
        await client.post(f"/alerts/{alert_id}/decide", data={"action": "tp", "csrf": token})
        assert len(await desk.archive.decisions.history(alert_id)) == 1
        # an open redirect through "next" is not possible
        out = await client.post(
            f"/alerts/{alert_id}/decide",
            data={"action": "ack", "csrf": token, "next": "//evil.example/"},
            allow_redirects=False,
        )
        assert out.headers["Location"].startswith("/#alert-")
    finally:
        await client.close()
        await desk.archive.close()


@pytest.mark.asyncio
async def test_hostile_post_is_text_everywhere(built):
    client, desk = await _client(built)
    try:
        for path in (f"/post/{CH1.id}/2", "/", "/search?q=markup"):
            page = await (await client.get(path)).text()
            assert "<script>window.__pwned" not in page and "<img src=x" not in page, path
            assert "[bold red]" in page, path  # Rich markup is plain text too
            if "search" not in path:  # (the snippet is a window around the query's word)
                assert "&lt;script&gt;window.__pwned" in page, path
            assert "\u202e" not in page and "⟨U+202E⟩" in page, path
            assert 'href="javascript:' not in page
        csv_text = await (await client.get("/search", params={"q": "markup", "format": "csv"})).text()
        assert "\u202e" not in csv_text and "⟨U+202E⟩" in csv_text
        assert not any(line.startswith(("=", "+", "@")) for line in csv_text.splitlines())
        data = await (await client.get("/search", params={"q": "markup", "format": "json"})).text()
        assert "\u202e" not in data and "\\u202e" in data
    finally:
        await client.close()
        await desk.archive.close()


@pytest.mark.asyncio
async def test_images_only_by_sha256_with_their_real_type(built):
    client, desk = await _client(built)
    try:
        image = await client.get(f"/media/{built.poster_sha}")
        assert image.status == 200 and image.headers["Content-Type"] == "image/png"
        assert image.headers["X-Content-Type-Options"] == "nosniff"
        assert (await image.read()).startswith(b"\x89PNG")
        for path in (
            "/media/../archive.db",
            "/media/" + "0" * 64,
            "/media/" + built.poster_sha.upper(),
            "/media/archive.db",
        ):
            assert (await client.get(path)).status == 404, path
        # a stored file that is not an image a browser shows is never served, whatever its label
        record = await desk.archive.media(built.poster_sha)
        assert record is not None
        record.path.write_bytes(b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>")
        fake = await client.get(f"/media/{built.poster_sha}")
        assert fake.status == 404
    finally:
        await client.close()
        await desk.archive.close()


@pytest.mark.asyncio
async def test_new_alert_cards_arrive_after_an_id(built):
    client, desk = await _client(built)
    try:
        newest = max(built.alert_ids)
        quiet = await client.get("/alerts/cards", params={"after": newest})
        assert "article" not in await quiet.text() and "X-Newest-Alert" not in quiet.headers
        [fresh] = await add_alerting_post(built, 50, "الانتقام قادم يا أعداء الله")
        cards = await client.get("/alerts/cards", params={"after": newest})
        html = await cards.text()
        assert f'id="alert-{fresh}"' in html and cards.headers["X-Newest-Alert"] == str(fresh)
        assert "<mark>" in html
        other = await (
            await client.get("/alerts/cards", params={"after": newest, "channel": str(CH1.id)})
        ).text()
        assert "article" not in other
    finally:
        await client.close()
        await desk.archive.close()


@pytest.mark.asyncio
async def test_logins_sessions_rate_limit_and_tokens(built):
    await add_desk_user(built.db)
    client, desk = await _client(built, login=True)
    try:
        page = await client.get("/search?q=x", allow_redirects=False)
        assert page.status == 303 and page.headers["Location"].startswith("/login?next=")
        api = await client.get("/api/alerts")
        assert api.status == 401
        token = await _csrf(client, "/login")
        bad = await client.post("/login", data={"name": "alice", "password": "wrong", "csrf": token})
        assert bad.status == 401 and "wrong name or password" in await bad.text()
        ok = await client.post(
            "/login",
            data={"name": "alice", "password": PASSWORD, "csrf": token, "next": "/campaigns"},
            allow_redirects=False,
        )
        assert ok.status == 303 and ok.headers["Location"] == "/campaigns"
        cookie = ok.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie
        home = await client.get("/")
        assert home.status == 200 and "alice" in await home.text()
        assert (await client.get("/api/stats")).status == 200  # the logged-in browser reads the API too
        token = await _csrf(client)
        await client.post("/logout", data={"csrf": token})
        assert (await client.get("/", allow_redirects=False)).status == 303

        # five failures, then the name and the address wait (even with the right password)
        token = await _csrf(client, "/login")
        for _ in range(5):
            await client.post("/login", data={"name": "alice", "password": "nope", "csrf": token})
        blocked = await client.post("/login", data={"name": "alice", "password": PASSWORD, "csrf": token})
        assert blocked.status == 429 and "too many failed logins" in await blocked.text()
        assert int(blocked.headers["Retry-After"]) > 0

        api_token = await new_token(desk.archive, "alice")
        client.session.cookie_jar.clear()
        headers = {"Authorization": f"Bearer {api_token}"}
        rows = await (await client.get("/api/alerts", headers=headers)).json()
        assert len(rows) == len(built.alert_ids)
        decided = await client.post(
            f"/api/alerts/{rows[0]['alert_id']}/decide", json={"action": "tp", "note": "n"}, headers=headers
        )
        body = await decided.json()
        assert body["recorded"] and body["decision"]["by"] == "alice" and body["decision"]["desk"] == "web"
        assert (await client.get("/api/alerts", headers={"Authorization": "Bearer tgm_nope"})).status == 401
        row = await desk.archive.fetchone("SELECT * FROM web_tokens")
        assert api_token not in tuple(row) and "alice" in tuple(row)
        stored = await desk.archive.users.password_hash("alice")
        assert stored.startswith("$argon2id$") and PASSWORD not in stored
    finally:
        await client.close()
        await desk.archive.close()


@pytest.mark.asyncio
async def test_listening_beyond_this_machine_needs_users(built):
    archive = await Archive.open(built.db)
    try:
        assert await check_bind(archive, "127.0.0.1") is False
        assert await check_bind(archive, "::1") is False
        with pytest.raises(MonitorError, match="add one first with tgmonitor users add NAME"):
            await check_bind(archive, "0.0.0.0")
    finally:
        await archive.close()
    await add_desk_user(built.db)
    archive = await Archive.open(built.db)
    try:
        assert await check_bind(archive, "0.0.0.0") is True
    finally:
        await archive.close()


def test_users_and_serve_commands(tmp_path, no_user_config):
    built = asyncio.run(build_archive(tmp_path))
    runner = CliRunner()
    db = str(built.db)
    result = runner.invoke(main, ["--db", db, "serve", "--host", "0.0.0.0", "--port", "8799"])
    assert result.exit_code == 2 and "tgmonitor users add NAME" in result.output
    result = runner.invoke(main, ["--db", db, "users", "add", "bob", "--password-stdin"], input="short\n")
    assert result.exit_code == 2 and "too short" in result.output
    result = runner.invoke(
        main, ["--db", db, "users", "add", "bob", "--password-stdin"], input=PASSWORD + "\n"
    )
    assert result.exit_code == 0 and "added user bob" in result.output
    result = runner.invoke(main, ["--db", db, "users", "token", "bob"])
    assert result.exit_code == 0 and result.output.startswith("tgm_")
    assert runner.invoke(main, ["--db", db, "users", "list"]).output.strip() == "bob"
    result = runner.invoke(main, ["--db", db, "users", "add", "bad name", "--password-stdin"], input=PASSWORD)
    assert result.exit_code == 2 and "not a usable user name" in result.output
    for args in (
        ["serve", "--help"],
        ["users", "--help"],
        ["users", "add", "--help"],
        ["users", "token", "--help"],
    ):
        assert "Example:" in runner.invoke(main, args).output


def test_web_config_is_checked():
    web = parse_config({"web": {"enabled": True, "port": 8000, "base_url": "https://desk.example.org"}}).web
    assert (web.enabled, web.host, web.port) == (True, "127.0.0.1", 8000)
    for bad, said in (
        ({"port": 0}, "'web.port' must be between 1 and 65535"),
        ({"host": "0.0.0.0; rm"}, "'web.host'"),
        ({"base_url": "javascript:alert(1)"}, "'web.base_url' must be the desk's http(s) address"),
        ({"colour": "red"}, "unknown key 'web.colour'"),
    ):
        with pytest.raises(ConfigError, match=re.escape(said)):
            parse_config({"web": bad})
