"""API rows (dicts of JSON scalars) to typed Arrow tables, with a quarantine for rows that do not parse.

Every table a source loads is described once as a :class:`TableSpec`: warehouse column name, the API field
it comes from and a :class:`Kind` that converts a whole column at once (vectorized Arrow casts, no float
arithmetic: money is parsed from its text into ``decimal128(18, 2)``). A column that fails to convert is
re-checked value by value; only the rows with a bad value are taken out, each with the reason, and the rest
load. Fields the spec does not know (a vendor adding a field) are kept as extra columns, so dlt evolves the
warehouse schema instead of dropping data.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

import orjson
import pyarrow as pa
import pyarrow.compute as pc

MONEY = pa.decimal128(18, 2)
TIMESTAMP = pa.timestamp("us", tz="UTC")


class Kind:
    """How one API field becomes one Arrow column. Subclasses set ``arrow_type`` and ``convert``."""

    arrow_type: pa.DataType = pa.string()

    def convert(self, values: list[Any]) -> pa.Array:
        """Convert a whole column; raise ``ValueError``/``pa.ArrowException``/``TypeError`` if any value is bad."""
        raise NotImplementedError


def _as_text(values: list[Any]) -> pa.Array:
    """Values as an Arrow string array; numbers keep their exact JSON text (see ``decode_json``)."""
    try:
        return pa.array(values, pa.string())
    except (pa.ArrowException, TypeError):
        return pa.array([None if v is None else _scalar_text(v) for v in values], pa.string())


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool | dict | list):
        raise ValueError(f"expected a scalar, got {type(value).__name__}")
    if isinstance(value, float):
        raise ValueError("float amounts are not accepted (decode JSON numbers as text)")
    return str(value).strip()


class Text(Kind):
    """Any scalar as text (ids the vendor sends as numbers or strings alike)."""

    def convert(self, values: list[Any]) -> pa.Array:
        return _as_text(values)


class Int(Kind):
    """64-bit integer from a JSON integer or its text (``"1686"``)."""

    arrow_type = pa.int64()

    def convert(self, values: list[Any]) -> pa.Array:
        try:
            return pa.array(values, pa.int64())
        except (pa.ArrowException, TypeError):
            return pc.cast(_as_text(values), pa.int64())


@dataclass(frozen=True)
class Decimal(Kind):
    """Exact decimal (default money: ``DECIMAL(18,2)``) from a JSON number's text or a string like ``"143.00"``.

    A value with more fractional digits than ``scale`` is an error, not silently rounded.
    """

    precision: int = 18
    scale: int = 2

    @property
    def arrow_type(self) -> pa.DataType:  # type: ignore[override]
        return pa.decimal128(self.precision, self.scale)

    def convert(self, values: list[Any]) -> pa.Array:
        text = _as_text(values)
        if pc.any(pc.equal(pc.utf8_length(text), 0)).as_py():
            raise ValueError("empty amount")
        return pc.cast(text, self.arrow_type)


class Bool(Kind):
    """Boolean from JSON true/false or text (``"true"``, ``"1"``, ``"Yes"``)."""

    arrow_type = pa.bool_()
    _TEXT: ClassVar[dict[str, bool]] = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}

    def convert(self, values: list[Any]) -> pa.Array:
        try:
            return pa.array(values, pa.bool_())
        except (pa.ArrowException, TypeError):
            return pa.array([None if v is None else self._one(v) for v in values], pa.bool_())

    def _one(self, value: Any) -> bool:
        if isinstance(value, bool):
            return value
        try:
            return self._TEXT[str(value).strip().lower()]
        except KeyError:
            raise ValueError(f"not a boolean: {value!r}") from None


class Timestamp(Kind):
    """UTC instant from ISO-8601 text (``2024-11-20T09:00:00Z``, offsets, fractions; no zone means UTC)."""

    arrow_type = TIMESTAMP

    def convert(self, values: list[Any]) -> pa.Array:
        text = _as_text(values)
        try:
            return pc.cast(text, TIMESTAMP)
        except pa.ArrowInvalid:
            return pa.array([None if v is None else parse_instant(v) for v in text.to_pylist()], TIMESTAMP)


def _infer(values: list[Any]) -> pa.Array:
    """A column for a field no spec knows: Arrow's own inference for scalars (all-null as text), JSON text
    for nested or mixed values."""
    try:
        array = pa.array(values)
    except (pa.ArrowException, TypeError, ValueError):
        return Json().convert(values)
    if pa.types.is_null(array.type):
        return array.cast(pa.string())
    return Json().convert(values) if pa.types.is_nested(array.type) else array


def parse_instant(text: str) -> datetime:
    """ISO-8601 text to an aware UTC datetime (no zone means UTC). Raises ValueError."""
    parsed = datetime.fromisoformat(text)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


class EpochMillis(Kind):
    """UTC instant from epoch milliseconds (Aimsio ``updatedAt``, ``nrbCreatedAt``)."""

    arrow_type = TIMESTAMP

    def convert(self, values: list[Any]) -> pa.Array:
        millis = Int().convert(values)
        return pc.cast(millis, pa.timestamp("ms", tz="UTC")).cast(TIMESTAMP)


class EpochSeconds(Kind):
    """UTC instant from epoch seconds, a JSON integer or its text (iinsight billings' ``"1289563200"``)."""

    arrow_type = TIMESTAMP

    def convert(self, values: list[Any]) -> pa.Array:
        return pc.cast(Int().convert(values), pa.timestamp("s", tz="UTC")).cast(TIMESTAMP)


class DayFirstDate(Kind):
    """Calendar date from day-first text ``DD-MM-YYYY`` (iinsight v1), strictly: ``31-02-2024`` is an error."""

    arrow_type = pa.date32()

    def convert(self, values: list[Any]) -> pa.Array:
        text = _as_text(values)
        parsed = pc.strptime(text, format="%d-%m-%Y", unit="s")
        # strptime rolls impossible days over (31-02 -> 02-03); round-tripping catches them.
        if pc.all(pc.equal(pc.strftime(parsed, format="%d-%m-%Y"), text)).as_py() is False:
            raise ValueError("not a valid DD-MM-YYYY date")
        return parsed.cast(pa.date32())


class Date(Kind):
    """Calendar date (UTC) from ISO text, either a date or an instant (``2024-03-01T12:00:00Z``)."""

    arrow_type = pa.date32()

    def convert(self, values: list[Any]) -> pa.Array:
        return Timestamp().convert(values).cast(pa.date32())


@dataclass(frozen=True)
class Enum(Kind):
    """Text from a closed set of values (compared case-insensitively, stored upper-case)."""

    values: frozenset[str] = frozenset()

    def convert(self, values: list[Any]) -> pa.Array:
        upper = pc.utf8_upper(_as_text(values))
        known = pc.is_in(upper, value_set=pa.array(sorted(self.values)))
        if not pc.all(pc.or_kleene(known, pc.is_null(upper)), min_count=0).as_py():
            raise ValueError(f"unknown value (expected one of {', '.join(sorted(self.values))})")
        return upper


class Json(Kind):
    """Nested object or list kept as JSON text."""

    def convert(self, values: list[Any]) -> pa.Array:
        return pa.array([None if v is None else orjson.dumps(v).decode() for v in values], pa.string())


_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def snake_case(name: str) -> str:
    """``loggedDate`` -> ``logged_date``, ``nrbPONumber`` -> ``nrb_po_number`` (dlt's convention)."""
    return _CAMEL.sub("_", name).lower()


@dataclass(frozen=True)
class Field:
    """One column: API field ``source`` → warehouse column ``name`` (default: snake_case of source)."""

    source: str
    kind: Kind
    required: bool = False
    name: str = ""

    def __post_init__(self) -> None:
        if not self.name:
            object.__setattr__(self, "name", snake_case(self.source))


@dataclass(frozen=True)
class Quarantined:
    """A record that could not be loaded, kept whole with the reason (goes to the ``quarantine`` table)."""

    entity: str
    record_key: str | None
    reason: str
    payload: Any

    def as_row(self) -> dict[str, Any]:
        return {
            "entity": self.entity,
            "record_key": self.record_key,
            "reason": self.reason,
            "payload": orjson.dumps(self.payload, default=str).decode(),
        }


@dataclass
class Parsed:
    """Result of :meth:`TableSpec.to_arrow`: the good rows as one Arrow table, and the quarantined rest."""

    table: pa.Table
    quarantined: list[Quarantined] = field(default_factory=list)
    spec: TableSpec | None = None


@dataclass(frozen=True)
class TableSpec:
    """A warehouse table: name, primary key and columns, built from API rows.

    ``ignore`` lists API fields handled elsewhere (nested children), which are neither columns nor
    "unknown new fields". ``newest_wins`` names the vendor's change-timestamp column: a record read twice
    in one run (it changed while we paged) is merged as its newest version (dlt's ``dedup_sort``).
    ``changed_at`` names the same column when every version loaded is also kept in ``<name>_history``
    (key + ``changed_at``), from which the models derive SCD2 validity ranges.
    """

    name: str
    primary_key: tuple[str, ...]
    fields: tuple[Field, ...]
    ignore: frozenset[str] = frozenset()
    changed_at: str | None = None
    newest_wins: str | None = None

    @property
    def history_table(self) -> str | None:
        """Name of the versions table, or None when the table keeps no history."""
        return f"{self.name}_history" if self.changed_at else None

    def arrow_schema(self) -> pa.Schema:
        """The Arrow schema of the table (no extra columns)."""
        return pa.schema([self._arrow_field(f.name, f.kind.arrow_type) for f in self.fields])

    def _arrow_field(self, name: str, arrow_type: pa.DataType) -> pa.Field:
        # primary key columns are NOT NULL, as dlt declares them (avoids a hint-mismatch warning per batch)
        return pa.field(name, arrow_type, nullable=name not in self.primary_key)

    def to_arrow(self, rows: Sequence[dict[str, Any]]) -> Parsed:
        """Convert API rows to an Arrow table; rows with a bad or missing required value are quarantined.

        Unknown fields become extra columns (text, or JSON text for nested values).
        Raises nothing for bad data: every failure is a :class:`Quarantined` entry.
        """
        bad: dict[int, str] = {}
        for i, row in enumerate(rows):
            if not isinstance(row, dict):
                bad[i] = f"record is not an object: {type(row).__name__}"
        good_rows = [r if i not in bad else {} for i, r in enumerate(rows)]
        columns: dict[str, pa.Array] = {}
        for f in self.fields:
            values = [r.get(f.source) for r in good_rows]
            if f.required:
                for i, v in enumerate(values):
                    if v is None or v == "":
                        bad.setdefault(i, f"missing required field {f.source!r}")
            columns[f.name] = self._convert(f, values, bad)
        known = {f.source for f in self.fields} | self.ignore
        extra = sorted(set().union(*(r.keys() for r in good_rows)) - known) if good_rows else []
        for key in extra:
            columns[snake_case(key)] = _infer([r.get(key) for r in good_rows])
        schema = pa.schema([self._arrow_field(name, array.type) for name, array in columns.items()])
        table = pa.Table.from_arrays(list(columns.values()), schema=schema)
        quarantined = [Quarantined(self.name, self._key(rows[i]), reason, rows[i]) for i, reason in sorted(bad.items())]
        if bad:
            keep = pa.array([i not in bad for i in range(len(rows))])
            table = table.filter(keep)
        return Parsed(table, quarantined, self)

    def _key(self, row: Any) -> str | None:
        if not isinstance(row, dict):
            return None
        source = {f.name: f.source for f in self.fields}
        parts = [row.get(source.get(k, k)) for k in self.primary_key]
        return None if all(p is None for p in parts) else "/".join(str(p) for p in parts)

    @staticmethod
    def _convert(f: Field, values: list[Any], bad: dict[int, str]) -> pa.Array:
        try:
            return f.kind.convert(values)
        except (pa.ArrowException, ValueError, TypeError):
            pass
        # Slow path, only when a column has a bad value: find which rows, null them, convert the rest.
        clean: list[Any] = []
        for i, v in enumerate(values):
            if v is None:
                clean.append(None)
                continue
            try:
                f.kind.convert([v])
                clean.append(v)
            except (pa.ArrowException, ValueError, TypeError) as exc:
                bad.setdefault(i, f"field {f.source!r}: cannot read {v!r} as {type(f.kind).__name__} ({exc})")
                clean.append(None)
        return f.kind.convert(clean)


def explode(
    rows: Iterable[dict[str, Any]], children: str, parent: dict[str, str], position: str | None = None
) -> list[dict[str, Any]]:
    """Flatten a nested list (``children``) of each row into child rows carrying parent keys.

    ``parent`` maps child field name -> parent API field (e.g. ``{"invoice_id": "id"}``); ``position``,
    if given, adds the 1-based position of the child within its parent (for children without an id).
    """
    out: list[dict[str, Any]] = []
    for row in rows:
        if not isinstance(row, dict):
            continue
        items = row.get(children) or []
        for n, child in enumerate(items if isinstance(items, list) else [], start=1):
            if not isinstance(child, dict):
                child = {"_value": child}
            extra = {k: row.get(src) for k, src in parent.items()}
            if position:
                extra[position] = n
            out.append({**child, **extra})
    return out
