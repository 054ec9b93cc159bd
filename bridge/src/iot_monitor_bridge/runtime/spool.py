"""The SQLite spool: every reading is stored here before it is published.

A reading enters with ``append`` (which assigns its ``seq``) and leaves with ``ack`` once the
broker has acknowledged it, so nothing is lost while no broker is reachable and the backlog
drains oldest first. Writes go into one open transaction that ``commit`` ends, so an SD card
sees one write burst per commit instead of one per reading. docs/spool.md gives the loss on a
power cut per setting, the bound policy and the ``seq`` reservation scheme.

One ``sqlite3`` connection, used only from the thread that opened the spool (the asyncio loop
thread), so there are no locks; ``check_same_thread`` stays on so misuse raises instead of
corrupting. The file is opened in exclusive locking mode: a second bridge on the same spool
fails to open it, and WAL needs no ``-shm`` file (one file fewer written to the card).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Final

import msgspec

from iot_monitor_bridge.config import Seconds, SpoolConfig
from iot_monitor_bridge.contract.readings import loads_strict
from iot_monitor_bridge.drivers.base import FaultLog
from iot_monitor_bridge.model import Reading

_LOGGER = logging.getLogger(__name__)

SEQ_BLOCK: Final = 10_000
"""Seqs reserved per durable write of the high-water mark: one forced fsync per block."""

WAL_AUTOCHECKPOINT_PAGES: Final = 1000
"""SQLite's default, set explicitly: docs/spool.md derives the fsync count from it."""

JOURNAL_SIZE_LIMIT_BYTES: Final = 16 * 1024 * 1024
"""The WAL is cut back to this after a checkpoint, e.g. after a large drop by the bound."""

_SCHEMA_VERSION: Final = 1
_SEQ_KEY: Final = "spool.seq_reserved_until"
_DROPPED_KEY: Final = "spool.dropped"
_RESERVED_PREFIX: Final = "spool."
_CORRUPTION_CODES: Final = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB})

_SCHEMA: Final = f"""
CREATE TABLE IF NOT EXISTS readings (
    seq INTEGER PRIMARY KEY,
    device_id TEXT NOT NULL,
    sensor_id TEXT NOT NULL,
    value TEXT NOT NULL,
    ts_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
PRAGMA user_version = {_SCHEMA_VERSION};
"""
_INSERT: Final = "INSERT INTO readings VALUES (?, ?, ?, ?, ?)"
_DELETE: Final = "DELETE FROM readings WHERE seq = ?"
_SELECT_AFTER: Final = (
    "SELECT seq, device_id, sensor_id, value, ts_ms FROM readings"
    " WHERE seq > ? ORDER BY seq LIMIT ?"
)
_SET_META: Final = "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)"


class _CorruptFileError(Exception):
    """The spool file is damaged beyond what skipping single rows can handle."""


def _encode_value(reading: Reading) -> str:
    try:
        return json.dumps(reading.value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"{reading.device_id}/{reading.sensor_id}: value is not JSON: {err}"
        ) from err


def _decode_row(row: tuple[Any, ...]) -> Reading:
    """Raise ``ValueError`` for a row no valid ``append`` could have written."""
    seq, device_id, sensor_id, value, ts_ms = row
    if not (
        isinstance(device_id, str)
        and isinstance(sensor_id, str)
        and isinstance(value, str)
        and isinstance(ts_ms, int)
    ):
        raise ValueError("a column has the wrong type")
    return Reading(device_id, sensor_id, loads_strict(value), ts_ms, seq)


class Spool:
    """Readings not yet acknowledged by a broker, in ``seq`` order, in one SQLite file."""

    def __init__(
        self, path: Path, settings: SpoolConfig, clock: Callable[[], float] = time.time
    ) -> None:
        self._path = path
        self._settings = settings
        self._clock = clock
        self._faults = FaultLog(_LOGGER, f"spool {path}")
        self._uncommitted = 0
        """Readings appended since the last commit."""
        self._dirty_since: float | None = None
        """When the first change since the last commit was made; ``None`` if there is none."""
        self._closed = False
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = self._open()
        except _CorruptFileError as err:
            self._set_aside(str(err))
            self._db = self._open()
        self._depth: int = self._db.execute("SELECT count(*) FROM readings").fetchone()[0]
        self._dropped = self._meta_int(_DROPPED_KEY) or 0
        max_seq = self._db.execute("SELECT max(seq) FROM readings").fetchone()[0]
        reserved = self._meta_int(_SEQ_KEY)
        start = self._fresh_seq_start() if reserved is None else reserved
        self._next_seq = start if max_seq is None else max(start, max_seq + 1)
        self._reserved_until = self._next_seq
        """Seqs below this may be handed out; nothing of this run's is reserved yet."""

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self._path, isolation_level=None, timeout=1.0)
        try:
            db.execute("PRAGMA locking_mode = EXCLUSIVE")  # before WAL: no -shm file
            db.execute(f"PRAGMA synchronous = {self._settings.synchronous}")  # before WAL too
            db.execute("PRAGMA journal_mode = WAL")
            db.execute(f"PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT_PAGES}")
            db.execute(f"PRAGMA journal_size_limit = {JOURNAL_SIZE_LIMIT_BYTES}")
            db.executescript(_SCHEMA)  # also takes the exclusive lock
            problems = [str(row[0]) for row in db.execute("PRAGMA quick_check")]
        except sqlite3.DatabaseError as err:
            db.close()
            if err.sqlite_errorcode in _CORRUPTION_CODES:
                raise _CorruptFileError(str(err)) from err
            raise
        if problems != ["ok"]:
            db.close()
            raise _CorruptFileError("; ".join(problems[:3]))
        return db

    def _set_aside(self, reason: str) -> None:
        """Keep a corrupt file for inspection and start an empty spool in its place."""
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(self._clock()))
        for suffix in ("", "-wal"):
            source = self._path.with_name(self._path.name + suffix)
            if source.exists():
                source.replace(self._path.with_name(f"{self._path.name}.corrupt-{stamp}{suffix}"))
        _LOGGER.error(
            "spool %s is corrupt (%s): moved aside as %s.corrupt-%s, starting an empty spool",
            self._path,
            reason,
            self._path.name,
            stamp,
        )

    def _fresh_seq_start(self) -> int:
        """First seq of a new spool file: the wall clock in microseconds.

        A spool file that was deleted or set aside for corruption took its high-water mark
        with it; starting from the clock keeps new seqs above the old ones unless the old
        file handed out more than a million seqs per second of its life or the clock is wrong.
        """
        return int(self._clock() * 1_000_000)

    def _meta_int(self, key: str) -> int | None:
        text = self.get_meta(key)
        if text is None:
            return None
        try:
            return int(text)
        except ValueError:
            self._faults.fault("corrupt_meta", f"{key} = {text!r} is not an integer")
            return None

    def _begin(self) -> None:
        if not self._db.in_transaction:
            self._db.execute("BEGIN")

    def _changed(self) -> None:
        if self._dirty_since is None:
            self._dirty_since = self._clock()

    def append(self, reading: Reading) -> Reading:
        """Store ``reading`` (durable at the next commit) and return it with its seq.

        Raises ``ValueError`` if the value cannot be sent as JSON (NaN, infinity, other
        types); no seq is used up then.
        """
        value = _encode_value(reading)
        if self._next_seq >= self._reserved_until:
            self._reserve_seqs()
        seq = self._next_seq
        self._begin()
        self._db.execute(_INSERT, (seq, reading.device_id, reading.sensor_id, value, reading.ts_ms))
        self._next_seq = seq + 1
        self._depth += 1
        self._uncommitted += 1
        self._changed()
        return msgspec.structs.replace(reading, seq=seq)

    def _reserve_seqs(self) -> None:
        """Make the new high-water mark durable before any seq below it is handed out.

        The mark is written in its own transaction with ``synchronous = FULL`` whatever the
        setting, so it survives a power cut; a transaction's WAL sync also makes every
        earlier one durable, so the commit before it loses nothing by being ordinary.
        """
        self.commit()  # the synchronous level cannot change inside a transaction
        until = self._next_seq + SEQ_BLOCK
        self._db.execute("PRAGMA synchronous = FULL")
        self._db.execute(_SET_META, (_SEQ_KEY, str(until)))
        self._db.execute(f"PRAGMA synchronous = {self._settings.synchronous}")
        self._reserved_until = until

    def pending(self, limit: int, after_seq: int = -1) -> list[Reading]:
        """Up to ``limit`` unacknowledged readings with ``seq > after_seq``, lowest seq first.

        A row that cannot be decoded is removed, counted in ``corrupt`` and skipped.
        """
        readings: list[Reading] = []
        while len(readings) < limit:
            rows = self._db.execute(_SELECT_AFTER, (after_seq, limit - len(readings))).fetchall()
            if not rows:
                break
            for row in rows:
                try:
                    readings.append(_decode_row(row))
                except ValueError as err:
                    self._remove_corrupt(row[0], err)
            after_seq = rows[-1][0]
        return readings

    def _remove_corrupt(self, seq: int, err: ValueError) -> None:
        self._faults.fault("corrupt_row", f"seq {seq} skipped and removed: {err}")
        self._begin()
        self._depth -= self._db.execute(_DELETE, (seq,)).rowcount
        self._changed()

    def ack(self, seqs: Iterable[int]) -> None:
        """Remove readings the broker acknowledged; unknown or already removed seqs are ignored."""
        rows = [(seq,) for seq in seqs]
        if not rows:
            return
        self._begin()
        removed = self._db.executemany(_DELETE, rows).rowcount
        if removed > 0:
            self._depth -= removed
            self._changed()

    def set_commit_interval(self, seconds: float) -> None:
        """Change ``commit_interval`` while running (remote ``set_config``)."""
        self._settings = msgspec.structs.replace(self._settings, commit_interval=Seconds(seconds))

    def commit_due(self) -> bool:
        """Whether the commit policy says to commit now.

        True after ``commit_every`` appends, or ``commit_interval`` seconds after the first
        uncommitted change (or if the clock went back since).
        """
        if self._dirty_since is None:
            return False
        if self._uncommitted >= self._settings.commit_every:
            return True
        elapsed = self._clock() - self._dirty_since
        return elapsed >= self._settings.commit_interval or elapsed < 0

    def commit(self) -> None:
        """Apply the bound, then make appends, acks and drops durable (per ``synchronous``)."""
        self._begin()
        dropped = self._drop_expired() + self._drop_excess()
        if dropped:
            self._dropped += dropped
            self._db.execute(_SET_META, (_DROPPED_KEY, str(self._dropped)))
            self._faults.fault(
                "dropped",
                f"{dropped} oldest readings dropped by the bound ({self._dropped} in all)",
            )
        self._db.execute("COMMIT")
        self._uncommitted = 0
        self._dirty_since = None

    def _drop_expired(self) -> int:
        """Drop the readings before the first one (by seq) younger than ``max_age``."""
        cutoff_ms = int((self._clock() - self._settings.max_age) * 1000)
        row = self._db.execute(
            "SELECT seq FROM readings WHERE typeof(ts_ms) = 'integer' AND ts_ms >= ?"
            " ORDER BY seq LIMIT 1",
            (cutoff_ms,),
        ).fetchone()
        if row is None:
            removed = self._db.execute("DELETE FROM readings").rowcount
        else:
            removed = self._db.execute("DELETE FROM readings WHERE seq < ?", row).rowcount
        self._depth -= removed
        return removed

    def _drop_excess(self) -> int:
        """Drop the oldest readings beyond ``max_readings``."""
        excess = self._depth - self._settings.max_readings
        if excess <= 0:
            return 0
        removed = self._db.execute(
            "DELETE FROM readings WHERE seq IN (SELECT seq FROM readings ORDER BY seq LIMIT ?)",
            (excess,),
        ).rowcount
        self._depth -= removed
        return removed

    def close(self) -> None:
        """Commit and close; later calls do nothing."""
        if self._closed:
            return
        self.commit()
        self._db.close()
        self._closed = True

    @property
    def depth(self) -> int:
        """Readings stored and not yet acknowledged, committed or not."""
        return self._depth

    @property
    def dropped(self) -> int:
        """Readings dropped by the bound since the spool file was created."""
        return self._dropped

    @property
    def corrupt(self) -> int:
        """Rows removed since start because they could not be decoded."""
        return self._faults.counts["corrupt_row"]

    def oldest_age_s(self) -> float | None:
        """Age by event time of the first reading in spool order; ``None`` when empty."""
        row = self._db.execute(
            "SELECT ts_ms FROM readings WHERE typeof(ts_ms) = 'integer' ORDER BY seq LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        ts_ms: int = row[0]
        return max(0.0, self._clock() - ts_ms / 1000)

    def get_meta(self, key: str) -> str | None:
        """The value ``set_meta`` stored under ``key``; ``None`` if there is none."""
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        """Store a small value and commit at once (rare writes, expected to stick)."""
        if key.startswith(_RESERVED_PREFIX):
            raise ValueError(f"meta keys starting with {_RESERVED_PREFIX!r} belong to the spool")
        self._begin()
        self._db.execute(_SET_META, (key, value))
        self.commit()
