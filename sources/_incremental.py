"""Incremental sync pieces shared by the sources: the watermark (cursor + lag window + boundary de-dup),
the start-date config check, and emitting parsed batches (rows + quarantine) to dlt.

State lives in dlt's resource state, which dlt commits when extraction ends; a failed extract leaves the
previous watermark, so the next run fetches the same changes again (merge keys collapse the repeats).
A page that is not JSON (:class:`BadPayload`) is quarantined, the rest of the run loads, and the watermark
saves no further than where the unread rows start, so the next run reads them again: nothing is lost, and a
record the vendor can never serialize costs each run a re-read from that record on, not from further back.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import dlt
import pendulum
import pyarrow as pa
import pyarrow.compute as pc

from sources._arrow import Field, Parsed, Quarantined, TableSpec, Text, Timestamp, explode
from sources._http import BadPayload, ConfigError, RequestStats

Page = list[dict[str, Any]] | BadPayload  # a page of API rows, or the answer that stood for it and was not JSON


def parse_start_date(value: str | datetime, key: str) -> datetime:
    """The first-run start of a source's cursor, as a UTC datetime.

    Raises :class:`ConfigError` naming ``key`` (e.g. ``SOURCES__AIWYN__START_DATE``) when it is not an
    ISO-8601 date or timestamp.
    """
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        parsed = pendulum.parse(str(value), tz="UTC", strict=True)
    except (ValueError, pendulum.parsing.exceptions.ParserError):
        raise ConfigError(f"{key}={value!r} is not a date: use ISO-8601, e.g. 2020-01-01") from None
    if not isinstance(parsed, datetime):
        parsed = pendulum.datetime(parsed.year, parsed.month, parsed.day, tz="UTC")
    return datetime.fromtimestamp(parsed.timestamp(), UTC)


def isoformat(ts: datetime) -> str:
    """UTC ``YYYY-MM-DDThh:mm:ssZ`` (whole seconds, the vendors' format); sub-seconds are truncated."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Watermark:
    """A change-timestamp cursor with a lag window and boundary de-duplication.

    ``value`` is the newest change timestamp loaded so far. Each run asks the API for changes since
    ``value - lag`` (late-arriving or same-second rows are not missed) and drops rows whose
    ``(key, change timestamp)`` it already loaded in that window (``seen``), so an idle source re-reads a
    few boundary rows but emits none. Stored in dlt resource state under ``name``.
    """

    name: str
    initial: datetime
    lag: timedelta
    value: datetime | None = None
    seen: dict[str, str] = field(default_factory=dict)
    ceiling: datetime | None = None  # rows changed from here on may be unread (see cap)
    held: bool = False
    started_from: datetime | None = field(init=False)  # the value this run began with

    def __post_init__(self) -> None:
        self.started_from = self.value

    @classmethod
    def from_state(cls, name: str, initial: datetime, lag: timedelta) -> Watermark:
        """Load the watermark from the current dlt resource state (must run inside a resource)."""
        saved = dlt.current.resource_state().get(name) or {}
        value = datetime.fromisoformat(saved["value"]) if saved.get("value") else None
        return cls(name, initial, lag, value, dict(saved.get("seen") or {}))

    @property
    def start(self) -> datetime:
        """Where this run's query begins: ``value - lag``, or the configured start date on the first run."""
        return self.initial if self.value is None else max(self.initial, self.value - self.lag)

    def keep_new(self, table: pa.Table, key: str, cursor: str) -> tuple[pa.Table, int]:
        """Drop rows already loaded at the boundary; advance the watermark over the rest.

        ``table[cursor]`` is a UTC timestamp column, ``table[key]`` the natural key.
        Returns the new rows and how many were dropped.
        """
        if table.num_rows == 0:
            return table, 0
        stamps = table[cursor]
        dropped = 0
        if self.value is not None and self.seen:
            boundary = pc.less_equal(stamps, pa.scalar(self.value, stamps.type))
            if pc.any(boundary).as_py():
                keys = table[key].to_pylist()
                times = stamps.to_pylist()
                mask = [
                    not (b and self.seen.get(str(k)) == t.isoformat())
                    for k, t, b in zip(keys, times, boundary.to_pylist(), strict=True)
                ]
                dropped = mask.count(False)
                table = table.filter(pa.array(mask))
        self._advance(table, key, cursor)
        return table, dropped

    def _advance(self, table: pa.Table, key: str, cursor: str) -> None:
        if table.num_rows == 0:
            return
        newest = pc.max(table[cursor]).as_py()
        if newest is not None and (self.value is None or newest > self.value):
            self.value = newest
        assert self.value is not None
        floor = self.value - self.lag
        recent = table.filter(pc.greater_equal(table[cursor], pa.scalar(floor, table[cursor].type)))
        for k, t in zip(recent[key].to_pylist(), recent[cursor].to_pylist(), strict=True):
            self.seen[str(k)] = t.isoformat()
        # pruned only in save(): pages come in any order, and a page of newer rows must not drop the keys
        # that older pages of this same run are still to be checked against

    def cap(self, unread_from: datetime | None) -> None:
        """Rows changed at or after ``unread_from`` (UTC) may be unread (an answer that was not JSON): save the
        watermark no further, so the next run's read (``value - lag``) starts at or before it, and without the
        boundary keys from there on, so the next run emits those rows again rather than drop one as loaded
        (an invoice whose row loaded but whose detail did not). Never saves behind the value this run began
        with (its own read began at or before any ``unread_from``). ``None`` (the position is unknown) keeps
        the saved state as it was, watermark and boundary keys: :meth:`save` does nothing."""
        if unread_from is None:
            self.held = True
        elif self.ceiling is None or unread_from < self.ceiling:
            self.ceiling = unread_from

    def save(self) -> None:
        """Write the watermark to dlt resource state (committed by dlt when extraction ends), capped (see
        :meth:`cap`), with the boundary keys of its lag window; nothing when held. This run's own state is
        left as it is (a re-scan of the same run still de-duplicates against everything it loaded)."""
        if self.held:
            return
        value, upto = self.value, None
        if self.ceiling is not None:
            if value is None or value > self.ceiling:
                value = self.ceiling if self.started_from is None else max(self.ceiling, self.started_from)
            upto = self.ceiling.isoformat()
        floor = (value - self.lag).isoformat() if value is not None else ""
        dlt.current.resource_state()[self.name] = {
            "value": value.isoformat() if value else None,
            "seen": {k: t for k, t in self.seen.items() if t >= floor and (upto is None or t < upto)},
        }


QUARANTINE = TableSpec(
    "quarantine",
    (),
    (
        Field("source", Text(), required=True),
        Field("entity", Text(), required=True),
        Field("record_key", Text()),
        Field("reason", Text(), required=True),
        Field("payload", Text()),
        Field("quarantined_at", Timestamp(), required=True),
    ),
)
"""``<source>.quarantine``: the records that could not be loaded (appended): ``source``, ``entity``, ``record_key``
(the record's key as text, null when it has none), ``reason``, ``payload`` (the record as JSON text),
``quarantined_at`` (UTC)."""
QUARANTINE_HINTS = dlt.mark.make_hints(table_name=QUARANTINE.name, write_disposition="append", primary_key=())


def emit(parsed: Parsed, stats: RequestStats, source: str, table_hints: dict[str, Any] | None = None) -> Iterator[Any]:
    """Yield a parsed batch to dlt: the rows (an Arrow table, to the resource's table or, with
    ``table_hints``, to the table those hints name), every version again to the spec's history table if
    it keeps one, and the quarantined records to the ``quarantine`` table (source, entity, record_key,
    reason, payload as JSON text, quarantined_at)."""
    stats.quarantined += len(parsed.quarantined)
    if parsed.quarantined:
        now = datetime.now(UTC)
        rows = [{"source": source, **q.as_row(), "quarantined_at": now} for q in parsed.quarantined]
        table = pa.Table.from_pylist(rows, schema=QUARANTINE.arrow_schema())
        yield dlt.mark.with_hints(table, QUARANTINE_HINTS, create_table_variant=True)
    if not parsed.table.num_rows:
        return
    spec = parsed.spec
    if table_hints is None:
        stats.rows += parsed.table.num_rows  # rows of the resource's own table; children are not counted
        table_hints = _newest_wins(spec) if spec is not None and spec.newest_wins else None
    if table_hints is None:
        yield parsed.table
    else:
        yield dlt.mark.with_hints(parsed.table, table_hints, create_table_variant=True)
    if spec is not None and spec.history_table and spec.changed_at:
        key = (*spec.primary_key, spec.changed_at)
        hints = dlt.mark.make_hints(table_name=spec.history_table, write_disposition="merge", primary_key=key)
        yield dlt.mark.with_hints(_not_null(parsed.table, key), hints, create_table_variant=True)


@functools.cache
def _newest_wins(spec: TableSpec) -> Any:
    """Hints for the spec's own table: its newest version wins the merge (``dedup_sort`` on ``newest_wins``).
    Set on the table, not the resource: dlt's table variants (children, quarantine) inherit the resource's
    column hints and would warn that they lack the column."""
    column = {"name": spec.newest_wins, "dedup_sort": "desc"}
    return dlt.mark.make_hints(table_name=spec.name, columns={spec.newest_wins: column})


def _not_null(table: pa.Table, columns: tuple[str, ...]) -> pa.Table:
    """The same table with ``columns`` declared NOT NULL (as dlt declares primary-key columns)."""
    fields = [f.with_nullable(False) if f.name in columns else f for f in table.schema]
    return table.cast(pa.schema(fields, metadata=table.schema.metadata))


async def every_page(pages: AsyncIterator[Page]) -> AsyncIterator[list[dict[str, Any]]]:
    """The pages, raising the :class:`BadPayload` of an unreadable one: for readers that need every row or
    none (``arwip verify``, reconciling ids, where an incomplete set would flag records that exist)."""
    async for page in pages:
        if isinstance(page, BadPayload):
            raise page
        yield page


def unreadable(spec: TableSpec, exc: BadPayload) -> Parsed:
    """A batch with no rows and one quarantined entry for an answer that was not JSON: entity ``spec.name``,
    record key the request (:attr:`BadPayload.request`), payload the body's text."""
    parsed = spec.to_arrow([])
    parsed.quarantined.append(Quarantined(spec.name, exc.request, str(exc), exc.body))
    return parsed


def changed_batches(
    pages: Iterable[Page], spec: TableSpec, mark: Watermark, cursor: str, stats: RequestStats
) -> Iterator[Parsed]:
    """Parse pages of API rows and keep only rows not already loaded at the watermark's boundary.

    The watermark advances over what is yielded and is saved to resource state once all pages are read;
    an unreadable page is quarantined (:func:`unreadable`) and caps the watermark at its ``unread_from``.
    """
    key = spec.primary_key[0]
    for page in pages:
        if isinstance(page, BadPayload):
            mark.cap(page.unread_from)
            yield unreadable(spec, page)
            continue
        parsed = spec.to_arrow(page)
        parsed.table, dropped = mark.keep_new(parsed.table, key, cursor)
        stats.reread += dropped
        yield parsed
    mark.save()


DELETED = "_deleted"  # hard-delete flag of child tables: a tombstone row removes a parent's old children


def children(
    spec: TableSpec,
    parents: Iterable[dict[str, Any]],
    field_name: str,
    parent_keys: dict[str, str],
    stats: RequestStats,
    source: str,
    position: str | None = None,
) -> Iterator[Any]:
    """Emit the nested list ``field_name`` of each parent row as child table ``spec`` (see ``explode``).

    The child table is merged with the delete-insert strategy on the parent key, so a changed parent's
    children replace its old ones. A parent that now has no children gets one tombstone row (flagged in
    column ``_deleted``, dlt's ``hard_delete`` hint), which removes its old children and is not stored.
    """
    parents = [p for p in parents if isinstance(p, dict)]
    child_key, parent_field = next(iter(parent_keys.items()))
    by_source = {f.source: f for f in spec.fields}
    merge_key = by_source[child_key].name
    parsed = spec.to_arrow(explode(parents, field_name, parent_keys, position))
    childless = {p.get(parent_field) for p in parents} - {
        r.get(child_key) for r in explode(parents, field_name, parent_keys)
    }
    childless.discard(None)
    table = parsed.table.append_column(DELETED, pa.array([False] * parsed.table.num_rows, pa.bool_()))
    if childless:
        table = pa.concat_tables([table, _tombstones(spec, table.schema, merge_key, sorted(childless, key=str))])
    parsed.table = _not_null(table, (merge_key,))
    hints = dlt.mark.make_hints(
        table_name=spec.name,
        write_disposition={"disposition": "merge", "strategy": "delete-insert"},
        primary_key=spec.primary_key,
        merge_key=merge_key,
        columns={DELETED: {"name": DELETED, "data_type": "bool", "hard_delete": True}},
    )
    yield from emit(parsed, stats, source, hints)


def _tombstones(spec: TableSpec, schema: pa.Schema, merge_key: str, keys: list[Any]) -> pa.Table:
    """One row per parent key: the merge key set, other key columns a placeholder, ``_deleted`` true."""
    kinds = {f.name: f.kind for f in spec.fields}
    columns = []
    for column in schema:
        if column.name == merge_key:
            columns.append(kinds[merge_key].convert(keys).cast(column.type))
        elif column.name == DELETED:
            columns.append(pa.array([True] * len(keys), pa.bool_()))
        elif column.name in spec.primary_key:  # NOT NULL: a placeholder, never stored
            placeholder = 0 if pa.types.is_integer(column.type) else ""
            columns.append(pa.array([placeholder] * len(keys), column.type))
        else:
            columns.append(pa.nulls(len(keys), column.type))
    return pa.Table.from_arrays(columns, schema=schema)
