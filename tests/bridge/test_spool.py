"""The SQLite spool on real files: seq, durability, acks, commit policy, bound, corruption."""

from __future__ import annotations

import json
import logging
import math
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from iot_monitor_bridge.config import SpoolConfig, validate
from iot_monitor_bridge.model import Reading
from iot_monitor_bridge.runtime.spool import SEQ_BLOCK, Spool

T0 = 1_800_000_000.0
T0_MS = int(T0 * 1000)


class Clock:
    """A wall clock the test moves by hand."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def reading(n: int, ts_ms: int = T0_MS, device: str = "fleet-01") -> Reading:
    return Reading(device, "temperature", {"n": n, "v": 21.5}, ts_ms + n)


def crash(spool: Spool) -> None:
    """What a kill -9 leaves of the running spool: its open transaction is never committed."""
    spool._db.close()


def seqs_of(readings: list[Reading]) -> list[int]:
    return [r.seq for r in readings]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "spool.db"


def test_append_assigns_increasing_seqs_and_keeps_the_reading(path: Path, clock: Clock) -> None:
    spool = Spool(path, SpoolConfig(), clock)
    out = [spool.append(reading(n)) for n in range(5)]
    assert path.parent.is_dir()
    assert seqs_of(out) == list(range(out[0].seq, out[0].seq + 5))
    assert out[0].seq == int(T0 * 1_000_000), "a new spool file starts seq from the clock"
    assert out[3] == Reading("fleet-01", "temperature", {"n": 3, "v": 21.5}, T0_MS + 3, out[3].seq)
    assert spool.pending(10) == out, "uncommitted readings are pending too"
    assert spool.depth == 5
    spool.close()
    spool.close()  # a second close does nothing


@pytest.mark.parametrize(("synchronous", "level"), [("off", 0), ("normal", 1), ("full", 2)])
def test_wal_exclusive_and_synchronous_setting(
    path: Path, clock: Clock, synchronous: str, level: int
) -> None:
    spool = Spool(path, validate({"synchronous": synchronous}, SpoolConfig), clock)
    spool.append(reading(0))  # reserves a seq block with synchronous = FULL, then restores
    assert spool._db.execute("PRAGMA synchronous").fetchone()[0] == level
    assert spool._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert path.with_name("spool.db-wal").exists()
    assert not path.with_name("spool.db-shm").exists(), (
        "exclusive mode keeps the WAL index in memory"
    )
    spool.close()


def test_a_second_spool_on_the_same_file_is_refused(path: Path, clock: Clock) -> None:
    spool = Spool(path, SpoolConfig(), clock)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        Spool(path, SpoolConfig(), clock)
    spool.close()
    Spool(path, SpoolConfig(), clock).close()


def test_committed_readings_and_seq_survive_reopen(path: Path, clock: Clock) -> None:
    spool = Spool(path, SpoolConfig(), clock)
    before = [spool.append(reading(n)) for n in range(3)]
    spool.close()

    spool = Spool(path, SpoolConfig(), clock)
    assert spool.pending(10) == before
    assert spool.depth == 3
    after = spool.append(reading(3))
    assert after.seq >= before[0].seq + SEQ_BLOCK, "a reopened spool starts above the reserved mark"
    spool.close()


def test_crash_loses_only_uncommitted_work_and_never_reuses_seq(path: Path, clock: Clock) -> None:
    spool = Spool(path, SpoolConfig(), clock)
    committed = [spool.append(reading(n)) for n in range(3)]
    spool.commit()
    spool.ack([committed[0].seq])  # acked but not committed: comes back, a duplicate at worst
    lost = spool.append(reading(3))
    crash(spool)

    spool = Spool(path, SpoolConfig(), clock)
    assert spool.pending(10) == committed
    assert spool.append(reading(4)).seq > lost.seq
    spool.close()


CHILD = """
import json, os, signal, sys
from pathlib import Path
from iot_monitor_bridge.config import SpoolConfig
from iot_monitor_bridge.model import Reading
from iot_monitor_bridge.runtime.spool import Spool

spool = Spool(Path(sys.argv[1]), SpoolConfig())
first = None
for n in range(int(sys.argv[2])):
    seq = spool.append(Reading("fleet-01", "counter", n, 1_800_000_000_000 + n)).seq
    first = seq if first is None else first
    if spool.commit_due():
        spool.commit()
spool.commit()
last_committed = seq
for n in range(150):  # fewer than commit_every: stays in the open transaction
    seq = spool.append(Reading("fleet-01", "counter", -1, 0)).seq
print(json.dumps({"first": first, "last_committed": last_committed, "last": seq}), flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_kill_9_mid_stream(path: Path) -> None:
    count = SEQ_BLOCK + 2_345  # crosses a seq block: the crash happens in the second block
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), str(count)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr
    handed_out = json.loads(child.stdout)
    assert path.with_name("spool.db-wal").stat().st_size > 0, "the crash left a WAL to recover"

    spool = Spool(path, SpoolConfig())
    survived = spool.pending(count + 1_000)
    assert seqs_of(survived) == list(range(handed_out["first"], handed_out["last_committed"] + 1))
    assert [r.value for r in survived] == list(range(count))
    assert spool.depth == count
    assert spool.append(Reading("fleet-01", "counter", 0, 0)).seq > handed_out["last"]
    spool.close()


def test_pending_pages_in_seq_order(path: Path, clock: Clock) -> None:
    spool = Spool(path, SpoolConfig(), clock)
    appended = [spool.append(reading(n)) for n in range(4)]
    spool.commit()
    appended += [spool.append(reading(n)) for n in range(4, 7)]  # these stay uncommitted
    assert spool.pending(3) == appended[:3]
    assert spool.pending(3, after_seq=appended[2].seq) == appended[3:6]
    assert spool.pending(3, after_seq=appended[5].seq) == appended[6:]
    assert spool.pending(3, after_seq=appended[6].seq) == []
    assert spool.pending(0) == []
    spool.close()


def test_acks_remove_committed_and_uncommitted_readings(path: Path, clock: Clock) -> None:
    spool = Spool(path, SpoolConfig(), clock)
    committed = [spool.append(reading(n)) for n in range(3)]
    spool.commit()
    fresh = [spool.append(reading(n)) for n in range(3, 6)]
    spool.ack([committed[1].seq, fresh[0].seq, fresh[2].seq])
    spool.ack([fresh[0].seq, 12345, -7])  # repeated and unknown seqs change nothing
    spool.ack([])
    left = [committed[0], committed[2], fresh[1]]
    assert spool.pending(10) == left
    assert spool.depth == 3
    spool.close()

    spool = Spool(path, SpoolConfig(), clock)
    assert spool.pending(10) == left
    spool.close()


def test_commit_due_by_count(path: Path, clock: Clock) -> None:
    spool = Spool(path, SpoolConfig(commit_every=5), clock)
    assert not spool.commit_due()
    for n in range(4):
        spool.append(reading(n))
        assert not spool.commit_due()
    spool.append(reading(4))
    assert spool.commit_due()
    spool.commit()
    assert not spool.commit_due()
    spool.close()


def test_commit_due_by_interval_since_the_first_change(path: Path, clock: Clock) -> None:
    spool = Spool(path, SpoolConfig(commit_interval=1.0), clock)
    first = spool.append(reading(0))
    clock.now += 0.9
    spool.append(reading(1))
    assert not spool.commit_due()
    clock.now += 0.1
    assert spool.commit_due(), "measured from the first uncommitted change"
    spool.commit()

    spool.ack([123])  # removes nothing: nothing to commit
    clock.now += 5
    assert not spool.commit_due()
    spool.ack([first.seq])
    assert not spool.commit_due()
    clock.now += 1.0
    assert spool.commit_due(), "acks alone are committed after the interval"
    spool.commit()

    spool.append(reading(2))
    clock.now -= 3600  # the wall clock was set back (NTP at boot)
    assert spool.commit_due()
    spool.close()


def test_bound_by_count_drops_oldest_and_persists_dropped(path: Path, clock: Clock) -> None:
    config = SpoolConfig(max_readings=100)
    spool = Spool(path, config, clock)
    appended = [spool.append(reading(n)) for n in range(150)]
    assert spool.depth == 150, "the bound is applied at commit"
    spool.commit()
    assert (spool.depth, spool.dropped) == (100, 50)
    assert spool.pending(200) == appended[50:]
    spool.close()

    spool = Spool(path, config, clock)
    assert (spool.depth, spool.dropped) == (100, 50)
    spool.append(reading(150))
    spool.close()
    spool = Spool(path, config, clock)
    assert (spool.depth, spool.dropped) == (100, 51)
    assert spool.pending(1)[0] == appended[51]
    spool.close()


def test_bound_by_age_drops_the_oldest_prefix(path: Path, clock: Clock) -> None:
    spool = Spool(path, SpoolConfig(max_age=3600), clock)
    assert spool.oldest_age_s() is None
    old = [spool.append(reading(n, ts_ms=T0_MS - 7_200_000)) for n in range(3)]
    young = spool.append(reading(0, ts_ms=T0_MS - 10_000))
    late_old = spool.append(reading(0, ts_ms=T0_MS - 7_200_000))  # arrived late, behind `young`
    assert spool.oldest_age_s() == pytest.approx(7200)
    spool.commit()
    assert spool.pending(10) == [young, late_old], "drops by seq order up to the first young one"
    assert spool.dropped == len(old)
    assert spool.oldest_age_s() == pytest.approx(10)

    clock.now += 3600
    spool.commit()
    assert (spool.depth, spool.dropped, spool.oldest_age_s()) == (0, 5, None)
    spool.close()


def test_oldest_age_is_never_negative(path: Path, clock: Clock) -> None:
    spool = Spool(path, SpoolConfig(), clock)
    spool.append(reading(0, ts_ms=T0_MS + 60_000))  # a device clock ahead of ours
    assert spool.oldest_age_s() == 0.0
    spool.close()


def test_meta_persists_and_spool_keys_are_reserved(path: Path, clock: Clock) -> None:
    spool = Spool(path, SpoolConfig(), clock)
    assert spool.get_meta("discovery") is None
    spool.set_meta("discovery", '["fleet-01"]')
    spool.set_meta("discovery", '["fleet-01","door"]')
    with pytest.raises(ValueError, match="belong to the spool"):
        spool.set_meta("spool.dropped", "0")
    crash(spool)  # set_meta commits at once

    spool = Spool(path, SpoolConfig(), clock)
    assert spool.get_meta("discovery") == '["fleet-01","door"]'
    spool.close()


@pytest.mark.parametrize("value", [math.nan, math.inf, object(), {1: {2, 3}}])
def test_values_that_are_not_json_are_refused_without_using_a_seq(
    path: Path, clock: Clock, value: object
) -> None:
    spool = Spool(path, SpoolConfig(), clock)
    before = spool.append(reading(0))
    with pytest.raises(ValueError, match="fleet-01/temperature: value is not JSON"):
        spool.append(Reading("fleet-01", "temperature", value, T0_MS))  # type: ignore[arg-type]
    assert spool.append(reading(1)).seq == before.seq + 1
    assert spool.depth == 2
    spool.close()


def test_undecodable_rows_are_skipped_counted_and_removed(
    path: Path, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    spool = Spool(path, SpoolConfig(), clock)
    good = [spool.append(reading(n)) for n in range(3)]
    spool.close()
    base = good[-1].seq
    with sqlite3.connect(path) as db:
        db.executemany(
            "INSERT INTO readings VALUES (?, ?, ?, ?, ?)",
            [
                (base + 1, "fleet-01", "temperature", "{not json", T0_MS),
                (base + 2, "fleet-01", "temperature", "NaN", T0_MS),
                (base + 3, "fleet-01", "temperature", "1", "yesterday"),
                (base + 4, b"\xff", "temperature", "1", T0_MS),  # a blob, not text
            ],
        )
        db.execute("UPDATE readings SET value = '[1,' WHERE seq = ?", (good[1].seq,))
    db.close()

    caplog.set_level(logging.WARNING, logger="iot_monitor_bridge.runtime.spool")
    spool = Spool(path, SpoolConfig(), clock)
    assert spool.depth == 7
    assert spool.pending(2) == [good[0], good[2]], "skipped rows do not shorten the page"
    assert spool.pending(10, after_seq=good[2].seq) == []
    assert (spool.corrupt, spool.depth) == (5, 2)
    assert len([r for r in caplog.records if "corrupt_row" in r.getMessage()]) == 1, "one burst"
    spool.close()

    spool = Spool(path, SpoolConfig(), clock)
    assert (spool.depth, spool.corrupt) == (2, 0), "removed for good at the commit"
    spool.close()


def test_a_file_that_is_not_a_database_is_set_aside(path: Path, clock: Clock) -> None:
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\x00garbage" * 1000)
    spool = Spool(path, SpoolConfig(), clock)
    assert spool.depth == 0
    assert spool.append(reading(0)).seq == int(T0 * 1_000_000)
    spool.close()
    aside = list(path.parent.glob("spool.db.corrupt-*"))
    assert [p.name for p in aside] == ["spool.db.corrupt-20270115T080000"]
    assert aside[0].read_bytes().startswith(b"\x00garbage")


def test_a_damaged_table_is_set_aside(path: Path, clock: Clock) -> None:
    spool = Spool(path, SpoolConfig(), clock)
    for n in range(2_000):
        spool.append(reading(n))
    spool.close()
    page_size = 4096
    data = bytearray(path.read_bytes())
    assert len(data) > 8 * page_size
    data[4 * page_size : 6 * page_size] = b"\xa5" * (2 * page_size)
    path.write_bytes(bytes(data))

    clock.now += 1
    spool = Spool(path, SpoolConfig(), clock)
    assert spool.depth == 0
    assert spool.append(reading(0)).seq == int(clock.now * 1_000_000)
    spool.close()
    assert list(path.parent.glob("spool.db.corrupt-*"))


class SpoolMachine(RuleBasedStateMachine):
    """Random appends, acks, commits, reopens and crashes against a model of the spool."""

    MAX_READINGS = 100

    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="spool-machine-"))
        self.path = self.dir / "spool.db"
        self.config = SpoolConfig(max_readings=self.MAX_READINGS, synchronous="off")
        self.clock = Clock()
        self.spool = Spool(self.path, self.config, self.clock)
        # The model: live state, and the state as of the last commit (what a crash goes back to).
        self.live: dict[int, Reading] = {}
        self.appended = self.acked = self.dropped = 0
        self.durable: tuple[dict[int, Reading], int, int, int] = ({}, 0, 0, 0)
        self.highest_seq = -1
        self.fresh_open = True

    def teardown(self) -> None:
        self.spool.close()
        shutil.rmtree(self.dir)

    def model_commit(self) -> None:
        excess = len(self.live) - self.MAX_READINGS
        for seq in sorted(self.live)[: max(excess, 0)]:
            del self.live[seq]
            self.dropped += 1
        self.durable = (dict(self.live), self.appended, self.acked, self.dropped)

    @initialize()
    def start(self) -> None:
        assert self.spool.depth == 0

    @rule(count=st.integers(1, 40))
    def append(self, count: int) -> None:
        if self.fresh_open:  # the first append after opening reserves seqs, which commits
            self.model_commit()
            self.fresh_open = False
        for n in range(count):
            out = self.spool.append(reading(n))
            assert out.seq > self.highest_seq, "seqs strictly increase and are never reused"
            self.highest_seq = out.seq
            self.live[out.seq] = out
            self.appended += 1

    @precondition(lambda self: self.highest_seq >= 0)
    @rule(data=st.data())
    def ack(self, data: st.DataObject) -> None:
        known = st.sampled_from(sorted(self.live)) if self.live else st.nothing()
        other = st.integers(self.highest_seq - 300, self.highest_seq + 5)
        seqs = data.draw(st.lists(known | other, max_size=30))
        self.spool.ack(seqs)
        for seq in set(seqs) & self.live.keys():
            del self.live[seq]
            self.acked += 1

    @rule()
    def commit(self) -> None:
        self.spool.commit()
        self.model_commit()

    @rule()
    def reopen(self) -> None:
        self.spool.close()
        self.model_commit()
        self.spool = Spool(self.path, self.config, self.clock)
        self.fresh_open = True

    @rule()
    def crash(self) -> None:
        crash(self.spool)
        live, self.appended, self.acked, self.dropped = self.durable
        self.live = dict(live)
        self.spool = Spool(self.path, self.config, self.clock)
        self.fresh_open = True

    @invariant()
    def matches_the_model(self) -> None:
        assert self.spool.depth == self.appended - self.acked - self.spool.dropped
        assert self.spool.dropped == self.dropped
        assert self.spool.pending(10_000) == [self.live[seq] for seq in sorted(self.live)]


SpoolMachine.TestCase.settings = settings(max_examples=40, stateful_step_count=25, deadline=None)
test_spool_state_machine = SpoolMachine.TestCase
