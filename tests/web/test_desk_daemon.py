"""The desk inside ``tgmonitor run`` (``[web] enabled``): a live post's alert is on the desk, and
its message links to the post's page there."""

from __future__ import annotations

import json
import socket

import aiohttp
import pytest

from monitor.core.config import parse_config
from tests.support.daemon import CHANNEL_ID, eventually, make_server, running_daemon

pytestmark = pytest.mark.asyncio


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _config(tmp_path, port: int):
    return parse_config(
        {
            "telegram": {"channels": ["@militia_news"]},
            "archive": {"path": str(tmp_path / "archive.db")},
            "ocr": {"enabled": False},
            "alerts": {"sink": [{"type": "jsonl", "path": str(tmp_path / "alerts.jsonl")}]},
            "web": {"enabled": True, "port": port, "base_url": f"http://127.0.0.1:{port}"},
        }
    )


async def test_the_daemon_serves_the_desk(tmp_path):
    port = _free_port()
    config = _config(tmp_path, port)
    server = make_server()
    async with running_daemon(server, config, detect=True) as daemon, aiohttp.ClientSession() as http:
        assert daemon.desk is not None and not daemon.desk.require_login
        server.post(CHANNEL_ID, "بيانٌ: والانتقامُ قادمٌ")

        async def on_the_desk() -> bool:
            async with http.get(f"http://127.0.0.1:{port}/api/alerts") as response:
                return response.status == 200 and len(await response.json()) == 1

        await eventually(on_the_desk, timeout=20, what="the alert on the desk")
        async with http.get(f"http://127.0.0.1:{port}/search", params={"q": "الانتقام"}) as response:
            assert response.status == 200 and f"/post/{CHANNEL_ID}/1" in await response.text()

        async def delivered() -> bool:
            path = tmp_path / "alerts.jsonl"
            return path.exists() and bool(path.read_text().strip())

        await eventually(delivered, timeout=20, what="the alert delivered")
        [line] = [json.loads(x) for x in (tmp_path / "alerts.jsonl").read_text().splitlines()]
        assert line["desk_url"] == f"http://127.0.0.1:{port}/post/{CHANNEL_ID}/1"
        async with http.get(line["desk_url"]) as response:
            assert response.status == 200 and "والانتقامُ" in await response.text()
    with pytest.raises(aiohttp.ClientConnectionError):  # the desk stops with the daemon
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/"):
            pass


async def test_a_desk_process_that_dies_is_said_and_restarted(tmp_path):
    import os
    import signal
    import sqlite3

    port = _free_port()
    config = _config(tmp_path, port)
    server = make_server()
    async with running_daemon(server, config, detect=True) as daemon, aiohttp.ClientSession() as http:
        first = daemon.desk.pid
        os.kill(first, signal.SIGKILL)  # what the OOM killer does

        async def serving_again() -> bool:
            if daemon.desk.pid == first or not daemon.desk.alive:
                return False
            try:
                async with http.get(f"http://127.0.0.1:{port}/api/stats") as response:
                    return response.status == 200
            except aiohttp.ClientConnectionError:
                return False

        await eventually(serving_again, timeout=60, what="the desk restarted")

        def said() -> list[str]:
            with sqlite3.connect(tmp_path / "archive.db") as conn:
                return [
                    r[0] for r in conn.execute("SELECT body FROM alerts WHERE kind = 'health' ORDER BY id")
                ]

        async def both_said() -> bool:
            return len(said()) == 2

        await eventually(both_said, timeout=20, what="the problem and its recovery")
        problem, recovered = (json.loads(b) for b in said())
        assert "killed by signal 9" in problem["text"] and problem["state"] == "problem"
        assert recovered["state"] == "recovered" and "serves again" in recovered["text"]
