"""The push ledger: every row of every push, in the warehouse (``push.ledger``), and the pushes (``push.runs``).

The ledger is append-only. A row sent to a vendor gets two entries: ``pending`` (the intent, written before the
request leaves) and its outcome (``applied`` or ``failed``, with the vendor's code, field and message); a row
not sent gets one (``invalid``: it failed the local checks; ``unchanged``: its payload equals the one last
applied). A push killed between the two leaves ``pending`` entries: the next push of the same target and object
settles them first (``applied`` when the vendor shows the change holds, else ``interrupted``, and sent again).
The state of a key is its newest entry; what is live at the vendor is its newest ``applied`` entry.

``push.ledger`` columns: ``seq`` (order of writing), ``push_id``, ``target`` (the push target's name), ``object``
(record type, employer id or ``''``), ``key``, ``payload_sha256`` (hex, of the canonical JSON payload; null for a
delete), ``operation`` (``create | update | delete | none``), ``status`` (:data:`STATUSES`), ``error_code``,
``error_field``, ``message``, ``attempt`` (how many times this change of the key has been sent, this one
included; 0 when not sent), ``recorded_at`` (UTC). ``push.runs``: ``push_id, target, object, started_at,
finished_at, outcome`` (``running | done | failed | interrupted``), ``message``.

Writes happen under the warehouse lock (one writer). The SQL is plain and portable (DuckDB and PostgreSQL); only
:func:`_append` is DuckDB-specific (an Arrow table inserted in one statement). Nothing secret is ever stored:
keys, hashes and the vendors' messages.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb
import pyarrow as pa

SCHEMA = "push"
STATUSES = ("pending", "applied", "failed", "invalid", "unchanged", "interrupted")
OPEN = ("failed", "invalid", "interrupted", "pending")
"""Statuses of keys that did not reach the vendor as wanted: what ``status --failed`` lists and ``--retry-failed``
resends (``pending``: in doubt until the next push of its target settles it)."""
IN_DOUBT = ("pending", "interrupted")
"""Statuses whose change may or may not hold at the vendor."""
LIVE = ("create", "update")

_DDL = (
    f"create schema if not exists {SCHEMA}",
    f"""create table if not exists {SCHEMA}.ledger (
        seq bigint not null,
        push_id varchar not null,
        target varchar not null,
        object varchar not null,
        key varchar not null,
        payload_sha256 varchar,
        operation varchar not null,
        status varchar not null,
        error_code varchar,
        error_field varchar,
        message varchar,
        attempt integer not null,
        recorded_at timestamp with time zone not null
    )""",
    f"""create table if not exists {SCHEMA}.runs (
        push_id varchar not null,
        target varchar not null,
        object varchar not null,
        started_at timestamp with time zone not null,
        finished_at timestamp with time zone,
        outcome varchar not null,
        message varchar
    )""",
)
_ARROW = pa.schema([
    ("seq", pa.int64()), ("push_id", pa.string()), ("target", pa.string()), ("object", pa.string()),
    ("key", pa.string()), ("payload_sha256", pa.string()), ("operation", pa.string()), ("status", pa.string()),
    ("error_code", pa.string()), ("error_field", pa.string()), ("message", pa.string()), ("attempt", pa.int32()),
    ("recorded_at", pa.timestamp("us", "UTC")),
])
_COLUMNS = ", ".join(_ARROW.names)


@dataclass(frozen=True, slots=True)
class Entry:
    """One ledger entry to write for ``key`` (see the module docstring for the columns)."""

    key: str
    operation: str
    status: str
    payload_sha256: str | None = None
    error_code: str | None = None
    error_field: str | None = None
    message: str | None = None
    attempt: int = 0


@dataclass(slots=True)
class KeyState:
    """What the ledger knows of a key: its newest entry's ``status``, ``attempt``, ``operation`` and payload hash
    (``sha``), and of its newest ``applied`` entry the payload hash and whether the record is ``live`` (created
    or updated, not deleted)."""

    status: str
    attempt: int
    operation: str
    sha: str | None
    applied_sha: str | None
    live: bool


def exists(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the warehouse has a ledger yet."""
    (found,) = con.execute("select count(*) from information_schema.tables where table_schema = ? and "
                           "table_name = ?", [SCHEMA, "ledger"]).fetchall()
    return bool(found[0])


def ensure(con: duckdb.DuckDBPyConnection) -> None:
    """Create the ledger's schema and tables when missing."""
    for statement in _DDL:
        con.execute(statement)


def now() -> datetime:
    return datetime.now(UTC)


class Ledger:
    """The ledger of one push (``push_id``) of ``target`` into ``object``, on a read-write connection whose
    warehouse lock the caller holds (see the module docstring)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, push_id: str, target: str, object_: str) -> None:
        ensure(con)
        self.con, self.push_id, self.target, self.object = con, push_id, target, object_
        ((last,),) = con.execute(f"select coalesce(max(seq), 0) from {SCHEMA}.ledger").fetchall()
        self._seq = int(last)
        self._queue: list[tuple[list[Entry], asyncio.Future[None]]] = []
        self._draining: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Record the push as running; pushes left ``running`` by a process that died become ``interrupted``."""
        self.con.execute(f"update {SCHEMA}.runs set outcome = 'interrupted' where outcome = 'running'")
        self.con.execute(f"insert into {SCHEMA}.runs values (?, ?, ?, ?, null, 'running', null)",
                         [self.push_id, self.target, self.object, now()])

    def finish(self, outcome: str, message: str) -> None:
        """Record how the push ended (``done`` or ``failed``) with a one-line summary."""
        self.con.execute(f"update {SCHEMA}.runs set finished_at = ?, outcome = ?, message = ? where push_id = ?",
                         [now(), outcome, message, self.push_id])

    async def append(self, entries: Sequence[Entry]) -> None:
        """:meth:`record` off the event loop, returning once ``entries`` are committed. Concurrent calls share
        commits (group commit): while one commit runs, the entries of every caller that arrives meanwhile wait
        and go in the next one, so a commit's fixed cost (the WAL's fsync, ~5 ms) is paid per round, not per
        batch. The connection is only ever used by one commit at a time."""
        if not entries:
            return
        done = asyncio.get_running_loop().create_future()
        self._queue.append((list(entries), done))
        if self._draining is None:
            self._draining = asyncio.create_task(self._drain())
        await done

    async def _drain(self) -> None:
        try:
            while self._queue:
                queued, self._queue = self._queue, []
                try:
                    await asyncio.to_thread(self.record, [e for entries, _ in queued for e in entries])
                except BaseException as exc:
                    for _, done in queued:
                        done.set_exception(exc)
                    continue
                for _, done in queued:
                    done.set_result(None)
        finally:
            self._draining = None

    def record(self, entries: Sequence[Entry]) -> None:
        """Append ``entries`` (one statement, committed when it returns)."""
        if not entries:
            return
        first, self._seq = self._seq + 1, self._seq + len(entries)
        stamp = now()
        columns: dict[str, list[Any]] = {
            "seq": list(range(first, first + len(entries))), "push_id": [self.push_id] * len(entries),
            "target": [self.target] * len(entries), "object": [self.object] * len(entries),
            "recorded_at": [stamp] * len(entries)}
        for name in ("key", "payload_sha256", "operation", "status", "error_code", "error_field", "message",
                     "attempt"):
            columns[name] = [getattr(e, name) for e in entries]
        _append(self.con, pa.table(columns, schema=_ARROW))


def _append(con: duckdb.DuckDBPyConnection, table: pa.Table) -> None:
    con.register("_push_ledger_rows", table)
    try:
        con.execute(f"insert into {SCHEMA}.ledger ({_COLUMNS}) select {_COLUMNS} from _push_ledger_rows")
    finally:
        con.unregister("_push_ledger_rows")


def state(con: duckdb.DuckDBPyConnection, target: str, object_: str) -> dict[str, KeyState]:
    """Every key the ledger has for ``target`` and ``object_``, with its :class:`KeyState` (empty without a
    ledger). Works on a read-only connection."""
    if not exists(con):
        return {}
    rows = con.execute(f"""
        with keyed as (
            select key, status, attempt, operation, payload_sha256,
                row_number() over (partition by key order by seq desc) as newest
            from {SCHEMA}.ledger
            where target = ? and object = ?
        ),
        applied as (
            select key, payload_sha256, operation, row_number() over (partition by key order by seq desc) as newest
            from {SCHEMA}.ledger
            where target = ? and object = ? and status = 'applied'
        )
        select keyed.key, keyed.status, keyed.attempt, keyed.operation, keyed.payload_sha256, applied.payload_sha256,
            applied.operation
        from keyed
        left join applied on applied.key = keyed.key and applied.newest = 1
        where keyed.newest = 1""", [target, object_, target, object_]).fetchall()
    return {key: KeyState(status, attempt, operation, sha, applied_sha, applied_op in LIVE)
            for key, status, attempt, operation, sha, applied_sha, applied_op in rows}


def recent_runs(con: duckdb.DuckDBPyConnection, limit: int, target: str | None = None) -> list[dict[str, Any]]:
    """The ``limit`` newest pushes (of ``target``), newest first: the run's columns plus per status the number of
    keys whose newest entry in that push has it (``applied``, ``failed``…)."""
    if not exists(con):
        return []
    counts = ", ".join(f"sum(case when counted.status = '{s}' then 1 else 0 end) as {s}" for s in STATUSES)
    return _dicts(con.execute(f"""
        with runs as (
            select * from {SCHEMA}.runs where cast(? as varchar) is null or target = ? order by started_at desc limit ?
        ),
        newest as (
            select push_id, key, status, row_number() over (partition by push_id, key order by seq desc) as newest
            from {SCHEMA}.ledger
            where push_id in (select push_id from runs)
        ),
        counted as (
            select push_id, status from newest where newest = 1
        )
        select runs.push_id, runs.target, runs.object, runs.started_at, runs.finished_at, runs.outcome, runs.message,
            {counts}
        from runs
        left join counted on counted.push_id = runs.push_id
        group by runs.push_id, runs.target, runs.object, runs.started_at, runs.finished_at, runs.outcome, runs.message
        order by runs.started_at desc""", [target, target, limit]))


def open_rows(con: duckdb.DuckDBPyConnection, limit: int, target: str | None = None) -> list[dict[str, Any]]:
    """Up to ``limit`` keys whose newest entry is one of :data:`OPEN` (failed, invalid, interrupted, pending),
    newest first: ``target, object, key, status, operation, error_code, error_field, message, attempt, push_id,
    recorded_at``."""
    if not exists(con):
        return []
    marks = ", ".join("?" * len(OPEN))
    return _dicts(con.execute(f"""
        with newest as (
            select *, row_number() over (partition by target, object, key order by seq desc) as newest
            from {SCHEMA}.ledger
            where cast(? as varchar) is null or target = ?
        )
        select target, object, key, status, operation, error_code, error_field, message, attempt, push_id,
            recorded_at
        from newest
        where newest = 1 and status in ({marks})
        order by seq desc
        limit ?""", [target, target, *OPEN, limit]))


def _dicts(cursor: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    names = [d[0] for d in cursor.description or ()]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
