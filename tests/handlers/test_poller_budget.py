"""The polling budget: a token bucket per account, and how much it stretches each interval.

A clock is passed in (the poller's own seam for time), so the numbers are exact."""

from __future__ import annotations

import pytest

from handlers.poller import Budget, Entry, Poller
from monitor.core.config import TelegramConfig
from monitor.core.models import Channel


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_budget_stretches_every_interval_by_the_same_factor():
    clock = _Clock()
    settings = TelegramConfig(requests_per_minute=6, poll_min_seconds=10)
    poller = Poller(
        "main", None, None, None, None, settings, gapfill=None, sleep=None, stopping=None, clock=clock
    )  # type: ignore[arg-type]
    for cid in (1, 2, 3):
        poller.add(Channel(cid, f"chan{cid}"), "watch")
    # 3 channels x 6/min asked, 6/min allowed, planned at 85 % of it
    assert poller.stretch() == pytest.approx(3.0 / 0.85)
    # a post just missed waits for the poll after, its interval grown by a quarter; + one token
    assert poller.expected_delay(poller.entries[1]) == pytest.approx(12.5 * 3.0 / 0.85 + 10)
    for cid in (1, 2, 3):
        poller.entries[cid].due = clock.now + 1
    poller.entries[2].interval = poller.entries[3].interval = 1000  # quiet: the stretch goes
    poller.entries[1].interval = 10
    # three polls due in 1 s, one token every 10 s: the last one waits for the two before it
    assert poller.expected_delay(poller.entries[1]) == pytest.approx(max(3 * 10, 12.5 * 6.12 / 5.1) + 10)
    poller.entries[1] = Entry(Channel(1), "join", joined=True, interval=120)
    assert poller.expected_delay(poller.entries[1]) == 1.0  # pushed


def test_the_budget_hands_out_tokens_at_its_rate():
    clock = _Clock()
    budget = Budget(60, clock=clock)  # one a second, no bursts
    assert budget.wait_time() == 0
    budget.take()
    assert budget.wait_time() == pytest.approx(1.0)
    clock.now += 0.5
    assert budget.wait_time() == pytest.approx(0.5)
    for _ in range(5):
        clock.now += 1.0
        assert budget.wait_time() == 0
        budget.take()
    assert budget.last_minute() == 6
    clock.now += 61
    assert budget.last_minute() == 0
