"""The durable inbox of webhook events (Aiwyn's): SQLite in WAL mode beside the warehouse (issue 13).

The receiver stores each verified event (:meth:`Inbox.store`) before it answers 2xx; the service claims
batches of pending events (:meth:`Inbox.claim`), runs the targeted sync, then marks them processed
(:meth:`Inbox.mark_processed`) or hands them back (:meth:`Inbox.release`). A separate SQLite file, so a
running DuckDB sync (which holds the warehouse) never blocks the receiver, and WAL, so readers (metrics)
never block the writer.

Durability: ``store`` commits with ``synchronous=FULL`` before it returns, so an event it accepted survives
``kill -9`` and a power cut. Claims belong to the :class:`Inbox` object that made them (its ``session``):
an event claimed by a batch that never finished (the process was killed) is pending again for the next
``Inbox`` opened on the file, with no recovery step. One consumer at a time (the service holds the
warehouse lock); any number of producers. Processed events are kept (``eventId`` de-duplication outlives
Aiwyn's ~13 min of retries) until :meth:`Inbox.purge`.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipelines.warehouse import Warehouse, as_warehouse
from sources._webhooks import WebhookEvent

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL,
    event_id TEXT NOT NULL UNIQUE,
    subscription_id TEXT NOT NULL,
    entity_type TEXT NOT NULL,
    operation TEXT NOT NULL,
    entity_id INTEGER NOT NULL,
    occurred_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    received_at REAL NOT NULL,
    payload BLOB NOT NULL,
    claimed_by TEXT,
    batch TEXT,
    processed_at REAL
);
CREATE INDEX IF NOT EXISTS events_open ON events (processed_at, seq);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO counters VALUES ('stored', 0), ('duplicates', 0), ('processed', 0);
"""
_COLUMNS = ("seq, received_at, source, event_id, subscription_id, entity_type, operation, entity_id, occurred_at, "
            "updated_at, payload")
_OPEN = "processed_at IS NULL AND (claimed_by IS NULL OR claimed_by <> :session)"
"""Pending for this session: not processed, and unclaimed or claimed by a session that is gone."""


@dataclass(frozen=True)
class InboxEvent:
    """A stored event: ``seq`` (arrival order), ``received_at`` (epoch s, when it was stored) and the event
    (with its raw payload)."""

    seq: int
    received_at: float
    event: WebhookEvent


@dataclass(frozen=True)
class Batch:
    """Events claimed together (``id`` names the batch in the file; empty ``events``: nothing was pending)."""

    id: str
    events: tuple[InboxEvent, ...]


@dataclass(frozen=True)
class InboxCounters:
    """Since the file was created: events stored, duplicates dropped (same ``eventId``), events processed;
    and the depth now (stored, not processed)."""

    stored: int
    duplicates: int
    processed: int
    depth: int


def inbox_path(warehouse: Warehouse | Path) -> Path:
    """The inbox of ``warehouse`` (or of the DuckDB file at that path): ``inbox.sqlite`` in its state folder
    (``.arwip/<db file name>/`` beside a DuckDB file)."""
    return as_warehouse(warehouse).state_dir / "inbox.sqlite"


def _event(row: tuple[Any, ...]) -> InboxEvent:
    seq, received, source, event_id, sub, entity, op, entity_id, occurred, updated, payload = row
    occurred_at, updated_at = datetime.fromisoformat(occurred), datetime.fromisoformat(updated)
    event = WebhookEvent(event_id, sub, entity, op, entity_id, occurred_at, updated_at, payload, source)
    return InboxEvent(seq, received, event)


class Inbox:
    """One inbox file (created with its folder when missing). Thread-safe; ``close()`` when done, or use
    ``with Inbox(path) as inbox``.

    Args:
        path: the SQLite file, e.g. :func:`inbox_path` of the warehouse.
        busy_timeout_s: how long a call waits for another process's write to finish (seconds).

    Raises:
        sqlite3.Error: the file cannot be opened or is not an inbox.
    """

    def __init__(self, path: Path | str, busy_timeout_s: float = 10.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.session = uuid.uuid4().hex
        self._lock = threading.Lock()
        self._con = sqlite3.connect(self.path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False)
        self._con.execute("PRAGMA journal_mode=WAL")
        self._con.execute("PRAGMA synchronous=FULL")
        with self._transaction() as con:
            for statement in filter(str.strip, _SCHEMA.split(";")):
                con.execute(statement)

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE``: takes the write lock at once), under the thread lock."""
        with self._lock:
            self._con.execute("BEGIN IMMEDIATE")
            try:
                yield self._con
            except BaseException:
                self._con.execute("ROLLBACK")
                raise
            self._con.execute("COMMIT")

    def _bump(self, con: sqlite3.Connection, name: str, by: int = 1) -> None:
        con.execute("UPDATE counters SET value = value + ? WHERE name = ?", (by, name))

    def store(self, event: WebhookEvent) -> bool:
        """Store ``event`` durably (committed before this returns). Returns False, storing nothing, when an
        event with the same ``event_id`` is already in the inbox (a redelivery)."""
        row = (event.source, event.event_id, event.subscription_id, event.entity_type, event.operation,
               event.entity_id, event.occurred_at.astimezone(UTC).isoformat(),
               event.updated_at.astimezone(UTC).isoformat(), time.time(), event.payload)
        with self._transaction() as con:
            cur = con.execute("INSERT OR IGNORE INTO events (source, event_id, subscription_id, entity_type, "
                              "operation, entity_id, occurred_at, updated_at, received_at, payload) "
                              "VALUES (?,?,?,?,?,?,?,?,?,?)", row)
            stored = cur.rowcount == 1
            self._bump(con, "stored" if stored else "duplicates")
        return stored

    def pending(self, limit: int = 1000) -> list[InboxEvent]:
        """Up to ``limit`` events this session has neither processed nor claimed, oldest first."""
        with self._lock:
            rows = self._con.execute(f"SELECT {_COLUMNS} FROM events WHERE {_OPEN} ORDER BY seq LIMIT :limit",
                                     {"session": self.session, "limit": limit}).fetchall()
        return [_event(r) for r in rows]

    def claim(self, limit: int = 10_000) -> Batch:
        """Claim up to ``limit`` pending events (oldest first) as one batch, for this session."""
        batch = uuid.uuid4().hex
        with self._transaction() as con:
            rows = con.execute(
                f"UPDATE events SET claimed_by = :session, batch = :batch WHERE seq IN "
                f"(SELECT seq FROM events WHERE {_OPEN} ORDER BY seq LIMIT :limit) RETURNING {_COLUMNS}",
                {"session": self.session, "batch": batch, "limit": limit}).fetchall()
        return Batch(batch, tuple(sorted((_event(r) for r in rows), key=lambda e: e.seq)))

    def mark_processed(self, batch: Batch) -> int:
        """Mark the events of ``batch`` processed (their work is done). Returns how many were marked."""
        with self._transaction() as con:
            n = con.execute("UPDATE events SET processed_at = ? WHERE batch = ? AND claimed_by = ? "
                            "AND processed_at IS NULL", (time.time(), batch.id, self.session)).rowcount
            self._bump(con, "processed", n)
        return n

    def release(self, batch: Batch) -> int:
        """Hand the unprocessed events of ``batch`` back (its sync failed): pending again. Returns how many."""
        with self._transaction() as con:
            return con.execute("UPDATE events SET claimed_by = NULL, batch = NULL WHERE batch = ? "
                               "AND claimed_by = ? AND processed_at IS NULL", (batch.id, self.session)).rowcount

    def depth(self) -> int:
        """Events stored and not processed yet (claimed ones included)."""
        with self._lock:
            return int(self._con.execute("SELECT count(*) FROM events WHERE processed_at IS NULL").fetchone()[0])

    def counters(self) -> InboxCounters:
        """Stored, duplicates and processed since the file was created, and the depth now."""
        with self._lock:
            values = dict(self._con.execute("SELECT name, value FROM counters").fetchall())
        return InboxCounters(values["stored"], values["duplicates"], values["processed"], self.depth())

    def purge(self, older_than_s: float = 7 * 86_400.0) -> int:
        """Delete events processed more than ``older_than_s`` seconds ago (past any redelivery). Returns how many."""
        with self._transaction() as con:
            return con.execute("DELETE FROM events WHERE processed_at < ?", (time.time() - older_than_s,)).rowcount

    def close(self) -> None:
        """Close the file (idempotent)."""
        with self._lock:
            self._con.close()

    def __enter__(self) -> Inbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
