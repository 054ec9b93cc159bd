"""The machines' ledger in SQLite: every entry and the current state, one commit per step.

``commit(machine, entries, state)`` writes a step's ledger entries (``machines/vending.py``'s
``Entry``: sales, refunds, restocks, price changes, overrides, transitions, each with its
``seq`` and ``ts``) and the machine's state after the step in **one** transaction, so after a
crash (``kill -9``, a power cut) the stored state and the entries always agree, and
``load(machine, kind)`` gives back the state of the last committed step: the current state,
the credit and any order in flight.

Durability: WAL with ``synchronous = FULL``, so every commit is on the card (fsync) before
``commit`` returns. A vending machine makes a few steps a minute; each costs one fsync of the
WAL (docs/machines.md has the figure). The file is the bridge's own, beside the spool
(``<state_dir>/ledger.db``), because the spool holds its database in exclusive mode.

A thin adapter: it stores what the pure model decided and reads it back; it decides nothing.
One connection, used from the thread that opened it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Final, TypeVar

import msgspec

from iot_monitor_bridge.machines.recorded import Entry

_T = TypeVar("_T", bound=msgspec.Struct)

SCHEMA_VERSION: Final = 1
_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS ledger (
    machine TEXT NOT NULL,
    seq INTEGER NOT NULL,
    ts INTEGER NOT NULL,
    kind TEXT NOT NULL,
    amount INTEGER NOT NULL DEFAULT 0,
    slot TEXT,
    order_id INTEGER,
    count INTEGER NOT NULL DEFAULT 0,
    detail TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (machine, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS machine_state (
    machine TEXT PRIMARY KEY,
    state BLOB NOT NULL
) WITHOUT ROWID;
"""


class LedgerError(Exception):
    """The ledger cannot be used (an unknown schema version, entries out of order)."""


class Ledger:
    """The ledger file: ``commit`` per step, ``load`` at start, ``entries`` to replay."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None)  # transactions are explicit
        try:
            self._db.execute("PRAGMA synchronous = FULL")  # before WAL, as the spool does
            self._db.execute("PRAGMA journal_mode = WAL")
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, SCHEMA_VERSION):
                raise LedgerError(f"{path}: ledger schema {version}, expected {SCHEMA_VERSION}")
            self._db.executescript(_SCHEMA)
            self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except BaseException:
            self._db.close()
            raise

    def close(self) -> None:
        """Close the file (a crash that never calls this loses nothing committed)."""
        self._db.close()

    def commit(self, machine: str, entries: Iterable[Entry], state: msgspec.Struct | None) -> None:
        """Store a step: its entries and the state after it, in one durable transaction."""
        rows = [
            (machine, e.seq, e.ts, e.kind, e.amount, e.slot, e.order, e.count, e.detail)
            for e in entries
        ]
        if not rows and state is None:
            return
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            if rows:
                last = db.execute(
                    "SELECT MAX(seq) FROM ledger WHERE machine = ?", (machine,)
                ).fetchone()[0]
                if last is not None and rows[0][1] <= last:
                    raise LedgerError(
                        f"machine {machine}: entry seq {rows[0][1]} after {last} is out of order"
                    )
                db.executemany("INSERT INTO ledger VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            if state is not None:
                db.execute(
                    "INSERT INTO machine_state VALUES (?, ?) "
                    "ON CONFLICT(machine) DO UPDATE SET state = excluded.state",
                    (machine, msgspec.json.encode(state)),
                )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def load(self, machine: str, kind: type[_T]) -> _T | None:
        """The state the last committed step left, or ``None`` (a first start)."""
        row = self._db.execute(
            "SELECT state FROM machine_state WHERE machine = ?", (machine,)
        ).fetchone()
        return None if row is None else msgspec.json.decode(row[0], type=kind)

    def entries(self, machine: str, *, after: int = 0, limit: int = 1000) -> list[Entry]:
        """The machine's entries with a ``seq`` above ``after``, in ``seq`` order."""
        rows = self._db.execute(
            "SELECT seq, ts, kind, amount, slot, order_id, count, detail FROM ledger "
            "WHERE machine = ? AND seq > ? ORDER BY seq LIMIT ?",
            (machine, after, limit),
        ).fetchall()
        return [
            Entry(seq, ts, kind, amount=amount, slot=slot, order=order, count=count, detail=detail)
            for seq, ts, kind, amount, slot, order, count, detail in rows
        ]
