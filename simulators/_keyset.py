"""Keyset search pages of the big tables without scanning them (and iinsight's status pages).

The tables of `data.SORTED_TABLES` are kept physically ordered by (update timestamp, id). A search
whose `where` only bounds that key (`updatedAt` `_gt/_gte/_lt/_lte/_eq`, and the keyset pair
`updatedAt > X OR (updatedAt = X AND id > Y)`, combined with `_and`) and whose order is that key
ascending selects one run of consecutive rows. `SortedIndex` holds numpy copies of the key and rowid
columns plus prefix sums of the money columns (exact, in cents), so such a page costs two binary
searches, one `rowid BETWEEN` query rendering just the page's rows, and an aggregate (count and sums
over the whole filter, as CONTRACT.md requires) read off the prefix sums, instead of a Top-N over the
filter and a scan of every remaining row. Anything else (other fields or operators, other orders, a
write racing the page) falls back to the general SQL (`hasura.py`), which answers identically.

An index is built for one `Firm.version`, under `Firm.hold()`, on the first fast-path request after
a write (~0.1 s for 1M rows). A page read after building checks that the version did not move
while it queried (the version is a seqlock), else it is re-answered by the general SQL.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from simulators.data import Firm
from simulators.hasura import Field, scalar

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_INT64 = 2**63


class _NoFastPath(Exception):
    """The `where` is not a pure key range (the general SQL answers it)."""


@dataclass(frozen=True)
class KeyBound:
    """One end of a range of (timestamp µs, id) keys; `id` None bounds the timestamp alone."""

    ts: int
    id: int | None
    inclusive: bool


@dataclass(frozen=True)
class KeyRange:
    """The conjunction of lower and upper key bounds (none: the whole table)."""

    lower: tuple[KeyBound, ...] = ()
    upper: tuple[KeyBound, ...] = ()


def epoch_us(value: datetime) -> int:
    """A tz-aware datetime → microseconds since the epoch (DuckDB's `epoch_us`)."""
    return (value - _EPOCH) // _US


def _conjuncts(where: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    """The (key, value) terms of an implicit / `_and` conjunction, flattened."""
    for key, value in where.items():
        if key == "_and":
            for item in value if isinstance(value, list) else [value]:
                if not isinstance(item, Mapping):
                    raise _NoFastPath
                yield from _conjuncts(item)
        else:
            yield key, value


def _single(value: Any) -> tuple[str, Any]:
    """The one (operator, operand) of `{op: operand}`."""
    if not isinstance(value, Mapping) or len(value) != 1:
        raise _NoFastPath
    return next(iter(value.items()))


def _keyset_pair(items: Any, ts_name: str, ts: Field, id_name: str, id_field: Field) -> tuple[str, KeyBound]:
    """`[{ts: {_gt: X}}, {ts: {_eq: X}, id: {_gt: Y}}]` (either order; `_lt` for the upper end) →
    ("lower" | "upper", bound)."""
    if not isinstance(items, list) or len(items) != 2 or not all(isinstance(i, Mapping) for i in items):
        raise _NoFastPath
    for strict, pair in ((items[0], items[1]), (items[1], items[0])):
        if list(strict) != [ts_name]:
            continue
        op, x = _single(strict[ts_name])
        terms = dict(_conjuncts(pair))
        if op not in ("_gt", "_lt") or set(terms) != {ts_name, id_name} or len(list(_conjuncts(pair))) != 2:
            continue
        eq_op, x2 = _single(terms[ts_name])
        id_op, y = _single(terms[id_name])
        ok_ops = ("_gt", "_gte") if op == "_gt" else ("_lt", "_lte")
        x, x2, y = scalar(ts_name, ts, x), scalar(ts_name, ts, x2), scalar(id_name, id_field, y)
        if eq_op != "_eq" or id_op not in ok_ops or x != x2 or not -_INT64 <= y < _INT64:
            continue
        return ("lower" if op == "_gt" else "upper"), KeyBound(epoch_us(x), y, id_op in ("_gte", "_lte"))
    raise _NoFastPath


def key_range(where: Any, fields: Mapping[str, Field], ts_name: str, id_name: str) -> KeyRange | None:
    """The key range `where` selects when it is nothing but bounds on (`ts_name`, `id_name`), else None.

    Call after `translate_where` accepted `where` (this assumes the values are valid).
    """
    if where is None:
        return KeyRange()
    if not isinstance(where, Mapping):
        return None
    lower: list[KeyBound] = []
    upper: list[KeyBound] = []
    try:
        for key, value in _conjuncts(where):
            if key == "_or":
                side, bound = _keyset_pair(value, ts_name, fields[ts_name], id_name, fields[id_name])
                (lower if side == "lower" else upper).append(bound)
                continue
            if key != ts_name or not isinstance(value, Mapping) or not value:
                raise _NoFastPath
            for op, operand in value.items():
                if op not in ("_gt", "_gte", "_eq", "_lt", "_lte"):
                    raise _NoFastPath
                at = epoch_us(scalar(ts_name, fields[ts_name], operand))
                if op in ("_gt", "_gte", "_eq"):
                    lower.append(KeyBound(at, None, op != "_gt"))
                if op in ("_lt", "_lte", "_eq"):
                    upper.append(KeyBound(at, None, op != "_lt"))
    except (_NoFastPath, ValueError, TypeError, OverflowError):
        return None
    return KeyRange(tuple(lower), tuple(upper))


def ascending_orders(ts_column: str, id_column: str) -> frozenset[str]:
    """`translate_order_by` results that mean (timestamp, id) ascending on a table without nulls."""
    return frozenset(f"{ts_column} ASC NULLS {a}, {id_column} ASC{b}"
                     for a in ("LAST", "FIRST") for b in ("", " NULLS LAST", " NULLS FIRST"))


def money(cents: int) -> str:
    """Cents → a JSON number with two decimals, as DuckDB renders a `DECIMAL(18,2)`."""
    whole, part = divmod(abs(cents), 100)
    return f"{'-' if cents < 0 else ''}{whole}.{part:02d}"


@dataclass(frozen=True)
class SortedIndex:
    """One version of a sorted table: keys, rowids (increasing, i.e. physical order = key order)
    and prefix sums (`sums[i]` = cents of rows before position i; `counts` = non-null values per
    column, None when the columns have no nulls); `groups`: value of the group column → its rows'
    positions (ascending)."""

    version: int
    ts: np.ndarray
    ids: np.ndarray
    rowids: np.ndarray
    sums: np.ndarray
    counts: np.ndarray | None
    groups: dict[Any, np.ndarray]

    def group_page(self, group: Any, since_us: int, offset: int, size: int) -> list[int]:
        """Ids of `WHERE <group column> = group AND ts >= since ORDER BY ts, id LIMIT size OFFSET offset`."""
        positions = self.groups.get(group)
        if positions is None:
            return []
        start = int(np.searchsorted(positions, np.searchsorted(self.ts, since_us, "left"), "left")) + offset
        return [int(i) for i in self.ids[positions[start:start + size]]]

    def _position(self, bound: KeyBound, upper: bool) -> int:
        """Lower bound → first position inside; upper bound → first position past the range."""
        after = bound.inclusive == upper  # side "right": skip keys equal to the bound
        if bound.id is None:
            return int(np.searchsorted(self.ts, bound.ts, "right" if after else "left"))
        start = int(np.searchsorted(self.ts, bound.ts, "left"))
        end = int(np.searchsorted(self.ts, bound.ts, "right"))
        return start + int(np.searchsorted(self.ids[start:end], bound.id, "right" if after else "left"))

    def span(self, keys: KeyRange) -> tuple[int, int]:
        """Positions [lo, hi) of the rows inside `keys`."""
        lo = max([0, *(self._position(b, False) for b in keys.lower)])
        hi = min([len(self.ts), *(self._position(b, True) for b in keys.upper)])
        return lo, max(lo, hi)

    def aggregate(self, lo: int, hi: int, names: Sequence[str]) -> str:
        """`{"count": n, "sum": {name: …}}` of positions [lo, hi), as the SQL aggregate renders it."""
        totals = (self.sums[hi] - self.sums[lo]).tolist()
        present = (self.counts[hi] - self.counts[lo]).tolist() if self.counts is not None else [hi - lo] * len(names)
        sums = ",".join(f'"{name}":{money(total) if n else "null"}'
                        for name, total, n in zip(names, totals, present, strict=True))
        return f'{{"count":{hi - lo},"sum":{{{sums}}}}}'


class KeysetIndex:
    """The current `SortedIndex` of one table (rebuilt after writes), or None when the table does not
    qualify (a null key, rows out of key order, a money column without two decimals or too large to sum
    in 64 bits)."""

    def __init__(self, firm: Firm, table: str, ts_column: str, id_column: str, sum_columns: Sequence[str] = (),
                 group_column: str | None = None) -> None:
        self._firm = firm
        self.table, self.ts_column, self.id_column = table, ts_column, id_column
        self.sum_columns = tuple(sum_columns)
        self.group_column = group_column
        self._index: SortedIndex | None = None
        self._built_for = -1

    def current(self) -> SortedIndex | None:
        """The index of the firm's current version (built under `Firm.hold()` when stale)."""
        firm = self._firm
        if self._built_for != firm.version:
            with firm.hold():
                if self._built_for != firm.version:
                    self._index = self._build(firm.version)
                    self._built_for = firm.version
        return self._index

    def _build(self, version: int) -> SortedIndex | None:
        types = dict(self._firm.query("SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = ?",
                                      [self.table]))
        if any(not str(types.get(c, "")).endswith(",2)") for c in self.sum_columns):
            return None
        cents = "".join(f", CAST({c} * 100 AS BIGINT) AS s{i}" for i, c in enumerate(self.sum_columns))
        group = f", {self.group_column} AS g" if self.group_column else ""
        table = self._firm.arrow(f"SELECT rowid AS r, epoch_us({self.ts_column}) AS ts, {self.id_column} AS id"
                                 f"{cents}{group} FROM {self.table} ORDER BY rowid")
        if table.column("ts").null_count or table.column("id").null_count:
            return None
        ts = table.column("ts").to_numpy().astype(np.int64)
        ids = table.column("id").to_numpy().astype(np.int64)
        if len(ts) > 1 and not np.all((ts[1:] > ts[:-1]) | ((ts[1:] == ts[:-1]) & (ids[1:] >= ids[:-1]))):
            return None
        n, k = len(ts), len(self.sum_columns)
        sums = np.zeros((n + 1, k), np.int64)
        counts = None
        columns = [table.column(f"s{i}") for i in range(k)]
        if any(c.null_count for c in columns):
            counts = np.zeros((n + 1, k), np.int64)
            for i, column in enumerate(columns):
                np.cumsum(pc.is_valid(column).to_numpy(zero_copy_only=False), out=counts[1:, i])
        for i, column in enumerate(columns):
            cents = column.fill_null(pa.scalar(0, pa.int64())).to_numpy().astype(np.int64)
            if n and int(np.abs(cents).max()) * n >= 2**63:  # prefix sums could overflow: leave it to SQL
                return None
            np.cumsum(cents, out=sums[1:, i])
        rowids = table.column("r").to_numpy().astype(np.int64)
        groups: dict[Any, np.ndarray] = {}
        if self.group_column:
            encoded = pc.dictionary_encode(table.column("g")).combine_chunks()
            codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False)
            groups = {value: np.flatnonzero(codes == code) for code, value in enumerate(encoded.dictionary.to_pylist())}
        return SortedIndex(version, ts, ids, rowids, sums, counts, groups)

    def page(self, keys: KeyRange, size: int, rows_sql: str, envelope: str,
             names: Sequence[str]) -> tuple[str, int, int | None] | None:
        """(envelope JSON, rows in page, smallest id) of the first `size` rows inside `keys`, or None
        when the table does not qualify or a write raced the page (ask the general SQL then).

        `rows_sql` renders rows by rowid: params (first rowid, last rowid) → (JSON array, row count, id at
        the first rowid, id at the last rowid); those must be what the index expects.
        """
        index = self.current()
        if index is None:
            return None
        lo, hi = index.span(keys)
        end = min(hi, lo + size)
        aggregate = index.aggregate(lo, hi, names)
        first: int | None = None
        rows = "[]"
        if end > lo:
            rows, count, first_key, last_key = self._firm.query(
                rows_sql, [int(index.rowids[lo]), int(index.rowids[end - 1])])[0]
            if self._firm.version != index.version or (count, first_key, last_key) != (
                    end - lo, index.ids[lo], index.ids[end - 1]):
                return None
            first = int(index.ids[lo:end].min())
        body = f'{{"{envelope}":{rows},"{envelope}_aggregate":{{"aggregate":{aggregate}}}}}'
        return body, end - lo, first
