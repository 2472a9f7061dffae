"""The live path's watermark state machine (:class:`handlers.intake.Progress`), tested directly.

The contract (module docstring of :mod:`handlers.intake`): per channel, ``safe()`` is a message
id such that every id at or below it is archived. The daemon saves it as the channel's
watermark (``save_watermarks``, for the channels in ``dirty``) and gap-fills from it after a
restart, so a mark that passed an id still in flight or failed would lose that message. It
moves past ids processed on a connection only once a gap-fill pass has run on that connection
(``synced``); ``unsync_all`` (a reconnect) takes that back.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from handlers.intake import Progress

A, B = 101, 202  # two channel ids


def live(base: int = 0, channel: int = A) -> Progress:
    """A channel watched from ``base`` whose gap-fill pass has run: live ids count."""
    progress = Progress()
    progress.set_base(channel, base)
    progress.synced(channel, base)
    progress.dirty.clear()
    return progress


def safe(progress: Progress, channel: int = A) -> int:
    return progress.of(channel).safe()


# --- base and synced ------------------------------------------------------------------------


def test_a_new_channel_starts_at_zero_and_the_base_only_rises():
    progress = Progress()
    assert safe(progress) == 0
    progress.set_base(A, 40)
    assert safe(progress) == 40
    progress.set_base(A, 25)  # an older saved mark never lowers what is known
    assert safe(progress) == 40


def test_live_successes_do_not_count_before_the_gap_fill_pass():
    progress = Progress()
    progress.set_base(A, 10)
    progress.begin(A, [50])
    progress.end(A, [50], ok=True)
    assert safe(progress) == 10  # 11..49 may be missing: only a gap-fill pass can vouch for them
    progress.synced(A, 20)
    assert safe(progress) == 50


def test_synced_raises_the_base_to_what_the_gap_fill_queued():
    progress = Progress()
    progress.set_base(A, 10)
    progress.synced(A, 30)
    assert safe(progress) == 30
    progress.synced(A, 20)  # an older pass never lowers it
    assert safe(progress) == 30


# --- in flight, successes, failures ----------------------------------------------------------


def test_contiguous_successes_advance_the_mark_one_by_one():
    progress = live(10)
    progress.begin(A, [11, 12, 13])
    marks = []
    for message_id in (11, 12, 13):
        progress.end(A, [message_id], ok=True)
        marks.append(safe(progress))
    assert marks == [11, 12, 13]


def test_the_mark_stops_below_a_message_still_in_flight():
    progress = live(10)
    progress.begin(A, [11])
    progress.begin(A, [12])
    assert safe(progress) == 10
    progress.end(A, [12], ok=True)
    assert safe(progress) == 10  # 11 is still being processed
    progress.end(A, [11], ok=True)
    assert safe(progress) == 12


def test_out_of_order_completion_moves_the_mark_only_when_the_lowest_finishes():
    progress = live(10)
    for message_id in range(11, 16):
        progress.begin(A, [message_id])
    marks = []
    for message_id in (15, 13, 12, 14, 11):
        progress.end(A, [message_id], ok=True)
        marks.append(safe(progress))
    assert marks == [10, 10, 10, 10, 15]


def test_a_failure_holds_the_mark_until_its_retry_succeeds_even_past_a_synced_top():
    progress = live(10)
    progress.begin(A, [11])
    progress.begin(A, [12])
    progress.end(A, [11], ok=False)
    progress.end(A, [12], ok=True)
    assert safe(progress) == 10
    assert progress.of(A).failed == {11}
    progress.synced(A, 30)  # a later gap-fill pass: the failed id still holds the mark
    assert safe(progress) == 10
    # The daemon's retry: the id leaves ``failed`` and is submitted (begun) again at once.
    progress.of(A).failed.discard(11)
    progress.begin(A, [11])
    assert safe(progress) == 10
    progress.end(A, [11], ok=True)
    assert safe(progress) == 30
    assert not progress.of(A).failed


def test_a_failed_retry_keeps_holding_and_a_message_deleted_meanwhile_releases():
    progress = live(10)
    progress.begin(A, [11])
    progress.begin(A, [12])
    progress.end(A, [12], ok=True)
    progress.end(A, [11], ok=False)
    progress.begin(A, [11])  # retried...
    progress.end(A, [11], ok=False)  # ...and failed again
    assert safe(progress) == 10 and progress.of(A).failed == {11}
    progress.of(A).failed.difference_update({11})  # retry_failed: gone from Telegram, nothing to keep
    assert safe(progress) == 12


def test_an_album_fails_or_succeeds_as_a_whole():
    progress = live(10)
    progress.begin(A, [11, 12, 13])
    progress.end(A, [11, 12, 13], ok=False)
    assert progress.of(A).failed == {11, 12, 13} and safe(progress) == 10
    progress.of(A).failed.difference_update({11, 12, 13})
    progress.begin(A, [11, 12, 13])
    progress.end(A, [11, 12, 13], ok=True)
    assert safe(progress) == 13


def test_an_id_held_by_two_units_holds_the_mark_until_both_end():
    # A late album part re-saves the album: its earlier parts are begun a second time.
    progress = live(10)
    progress.begin(A, [11])
    progress.begin(A, [11, 12])
    assert progress.in_flight() == 2  # distinct ids
    progress.end(A, [11], ok=True)
    assert safe(progress) == 10
    progress.end(A, [11, 12], ok=True)
    assert safe(progress) == 12
    assert progress.in_flight() == 0


def test_a_success_of_the_same_id_clears_its_earlier_failure():
    progress = live(10)
    progress.begin(A, [11])
    progress.begin(A, [11, 12])
    progress.end(A, [11], ok=False)
    assert safe(progress) == 10
    progress.end(A, [11, 12], ok=True)  # archived after all, by the other unit
    assert not progress.of(A).failed
    assert safe(progress) == 12


def test_an_old_id_in_flight_holds_the_mark_below_the_base():
    progress = live(40)
    progress.begin(A, [7])
    assert safe(progress) == 6
    progress.end(A, [7], ok=True)
    assert safe(progress) == 40


def test_in_flight_counts_pending_ids_not_failed_ones():
    progress = live(10)
    progress.set_base(B, 0)
    progress.begin(A, [11, 12])
    progress.begin(B, [5])
    assert progress.in_flight() == 3
    progress.end(A, [11, 12], ok=False)
    assert progress.in_flight() == 1  # failed ids wait for a retry, nothing to wait for at shutdown
    progress.end(B, [5], ok=True)
    assert progress.in_flight() == 0


# --- reconnects ------------------------------------------------------------------------------


def test_unsync_all_falls_back_to_the_last_synced_base_until_the_next_pass():
    progress = live(10)
    progress.set_base(B, 5)
    progress.synced(B, 5)
    for channel, message_id in ((A, 11), (A, 12), (B, 6)):
        progress.begin(channel, [message_id])
        progress.end(channel, [message_id], ok=True)
    assert (safe(progress, A), safe(progress, B)) == (12, 6)
    progress.unsync_all()  # reconnect: live updates of the lost connection no longer vouch
    assert (safe(progress, A), safe(progress, B)) == (10, 5)
    progress.begin(A, [13])
    progress.end(A, [13], ok=True)
    assert safe(progress, A) == 10
    progress.synced(A, 11)  # the gap-fill pass of the new connection
    assert safe(progress, A) == 13
    assert safe(progress, B) == 5  # B's pass has not run yet


# --- dirty --------------------------------------------------------------------------------


def test_dirty_marks_the_channels_whose_mark_may_have_moved():
    progress = Progress()
    progress.set_base(A, 10)
    progress.begin(A, [11])
    assert progress.dirty == set()  # neither a base nor a begin moves a mark to save
    progress.end(A, [11], ok=False)
    assert progress.dirty == {A}  # failures too: the daemon compares with the saved mark
    progress.dirty.clear()  # what save_watermarks does after reading the marks
    progress.synced(B, 3)
    assert progress.dirty == {B}
    progress.begin(A, [11])
    progress.end(A, [11], ok=True)
    assert progress.dirty == {A, B}
    progress.dirty.clear()
    progress.unsync_all()
    assert progress.dirty == set()


def test_save_watermarks_way_of_reading_marks_sees_each_moved_channel_once():
    progress = live(10)
    progress.set_base(B, 0)
    saved: dict[int, int] = {}

    def save() -> dict[int, int]:  # the loop of Daemon.save_watermarks, without the archive
        changed = {}
        for cid in list(progress.dirty):
            mark = progress.of(cid).safe()
            if saved.get(cid) != mark:
                changed[cid] = mark
        progress.dirty.clear()
        saved.update(changed)
        return changed

    progress.begin(A, [11, 12])
    assert save() == {}
    progress.end(A, [11, 12], ok=True)
    assert save() == {A: 12}
    assert save() == {}
    progress.begin(A, [13])
    progress.end(A, [13], ok=False)
    assert save() == {}  # dirty, but the mark did not move
    progress.synced(B, 4)
    assert save() == {B: 4}


# --- channels -------------------------------------------------------------------------------


def test_channels_are_independent():
    progress = live(10)
    progress.set_base(B, 100)
    progress.synced(B, 100)
    progress.begin(A, [11])
    progress.begin(B, [101, 102])
    progress.end(B, [101, 102], ok=True)
    assert (safe(progress, A), safe(progress, B)) == (10, 102)  # A's message in flight holds only A
    progress.end(A, [11], ok=False)
    progress.begin(B, [103])
    progress.end(B, [103], ok=True)
    assert (safe(progress, A), safe(progress, B)) == (10, 103)
    assert progress.of(B).failed == set() and progress.of(A).failed == {11}


# --- properties ---------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    units=st.lists(st.lists(st.integers(1, 40), min_size=1, max_size=4), min_size=1, max_size=12),
    data=st.data(),
)
def test_any_interleaving_keeps_the_mark_below_every_id_not_yet_archived(units, data):
    """Units begin and end (ok or failed) in any interleaving; a failed one is retried (twice at most)."""
    progress = live(0)
    failures: Counter[int] = Counter()  # unit -> times it failed
    waiting = list(range(len(units)))  # not begun yet
    running: list[int] = []
    held: Counter[int] = Counter()  # id -> units running that hold it
    failed: set[int] = set()
    archived: set[int] = set()
    while waiting or running:
        start = bool(waiting) and (not running or data.draw(st.booleans()))
        if start:
            index = waiting.pop(data.draw(st.integers(0, len(waiting) - 1)))
            progress.begin(A, units[index])
            held.update(units[index])
            running.append(index)
        else:
            index = running.pop(data.draw(st.integers(0, len(running) - 1)))
            ok = failures[index] >= 2 or not data.draw(st.booleans())
            progress.end(A, units[index], ok=ok)
            held.subtract(units[index])
            if ok:
                failed.difference_update(units[index])
                archived.update(units[index])
            else:
                failed.update(units[index])
                failures[index] += 1
                waiting.append(index)  # retried later
        not_archived = {i for i, n in held.items() if n > 0} | failed
        mark = safe(progress)
        assert all(mark < i for i in not_archived)
        assert mark == min([max(archived, default=0), *(i - 1 for i in not_archived)])
    assert safe(progress) == max(i for unit in units for i in unit)
    assert progress.in_flight() == 0 and not progress.of(A).failed


@dataclass
class _Model:
    """What one channel's mark may be, kept independently of the code under test."""

    base: int = 0
    high: int = 0
    synced: bool = False
    held: Counter[int] = field(default_factory=Counter)
    failed: set[int] = field(default_factory=set)

    def unarchived(self) -> set[int]:
        return {i for i, n in self.held.items() if n > 0} | self.failed

    def confirmed(self) -> int:
        return max(self.base, self.high) if self.synced else self.base


CHANNELS = st.sampled_from([A, B])
IDS = st.lists(st.integers(1, 60), min_size=1, max_size=4)


class ProgressMachine(RuleBasedStateMachine):
    """Every operation the intake and the daemon perform, in any order, on two channels."""

    @initialize()
    def start(self) -> None:
        self.progress = Progress()
        self.model = {A: _Model(), B: _Model()}
        self.running: list[tuple[int, list[int]]] = []
        self.dirty: set[int] = set()

    @rule(channel=CHANNELS, value=st.integers(0, 60))
    def set_base(self, channel: int, value: int) -> None:
        self.progress.set_base(channel, value)
        self.model[channel].base = max(self.model[channel].base, value)

    @rule(channel=CHANNELS, ids=IDS)
    def begin(self, channel: int, ids: list[int]) -> None:
        self.progress.begin(channel, ids)
        self.model[channel].held.update(ids)
        self.running.append((channel, ids))

    @precondition(lambda self: self.running)
    @rule(data=st.data(), ok=st.booleans())
    def end(self, data: st.DataObject, ok: bool) -> None:
        channel, ids = self.running.pop(data.draw(st.integers(0, len(self.running) - 1)))
        self.progress.end(channel, ids, ok=ok)
        model = self.model[channel]
        model.held.subtract(ids)
        if ok:
            model.failed.difference_update(ids)
            model.high = max([model.high, *ids])
        else:
            model.failed.update(ids)
        self.dirty.add(channel)

    @rule(channel=CHANNELS, top=st.integers(0, 60))
    def synced(self, channel: int, top: int) -> None:
        self.progress.synced(channel, top)
        model = self.model[channel]
        model.base = max(model.base, top)
        model.synced = True
        self.dirty.add(channel)

    @rule()
    def reconnect(self) -> None:
        self.progress.unsync_all()
        for model in self.model.values():
            model.synced = False

    @precondition(lambda self: any(m.failed for m in self.model.values()))
    @rule(data=st.data())
    def deleted_meanwhile(self, data: st.DataObject) -> None:
        """retry_failed finds a failed message gone from Telegram: it stops holding the mark."""
        channel = data.draw(st.sampled_from([c for c, m in self.model.items() if m.failed]))
        message_id = data.draw(st.sampled_from(sorted(self.model[channel].failed)))
        self.progress.of(channel).failed.discard(message_id)
        self.model[channel].failed.discard(message_id)

    @rule()
    def save_watermarks(self) -> None:
        self.progress.dirty.clear()
        self.dirty.clear()

    @invariant()
    def the_mark_never_passes_an_unarchived_id(self) -> None:
        for channel, model in self.model.items():
            mark = self.progress.of(channel).safe()
            unarchived = model.unarchived()
            assert all(mark < i for i in unarchived), (channel, mark, sorted(unarchived))
            assert mark <= model.confirmed()  # live ids count only after a gap-fill pass
            # ... and it goes as far as that allows.
            assert mark == min([model.confirmed(), *(i - 1 for i in unarchived)])

    @invariant()
    def dirty_and_in_flight_follow(self) -> None:
        assert self.progress.dirty == self.dirty
        assert self.progress.in_flight() == sum(
            len({i for i, n in m.held.items() if n > 0}) for m in self.model.values()
        )


ProgressMachine.TestCase.settings = settings(max_examples=100, stateful_step_count=40, deadline=None)
test_progress_state_machine = ProgressMachine.TestCase
