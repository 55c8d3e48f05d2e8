"""Compare a synced warehouse's tables with the simulators' ground truth (``Firm.truth()``), by natural key: which
truth table maps to which warehouse table (``CHECKS``), the value comparison (``norm``, ``same``) and
:func:`compare_table`, for :func:`tests.chaos.reconcile.reconcile`. For every table the sources load it counts:

- **missing**: in the truth, not in the warehouse (or soft-deleted there although it exists);
- **duplicate**: keys the warehouse holds more than once;
- **extra**: in the warehouse as a current row, not in the truth (e.g. an Aimsio NRB deleted at the vendor
  but not flagged in ``aimsio.deletions``);
- **stale**: in both, but a column the truth also has (same name, same meaning) differs. Money compares
  exactly (``Decimal``), timestamps as UTC instants, ids as text;
- **sum mismatches**: per money column (``DECIMAL(18,2)`` in the truth), the total over the truth vs the
  total over the warehouse's current rows, to the cent.

Soft deletes: an Aimsio NRB counts as current unless ``aimsio.deletions`` flags it (``deleted_at`` set);
children of a flagged NRB do not count either.

Rows whose change timestamp in the truth is at or after ``in_flight_since`` (the start of the last sync)
were changed *while* that sync ran (the simulators' ``page_shift`` fault); they may be stale or missing (the
next sync picks them up) and are counted apart as ``in_flight``. Missing: the fault moves a row of a page it
has rendered to the end of the order, and the answer carrying that page may then be lost (``truncate_body``
cuts it, or a ``slow_response`` outlives the client's timeout), so the retried page no longer holds the row,
which the sync never saw. The final, quiet sync must leave none in flight.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

import pyarrow as pa

from pipelines.warehouse import Connection
from simulators.data import Truth

Key = tuple[str, ...]

DLT_COLUMNS = frozenset({"_dlt_load_id", "_dlt_id"})


def _deleted(schema: str, entity: str, column: str) -> str:
    """SQL condition: the row is not soft-deleted in ``<schema>.deletions`` (``deleted_at`` set)."""
    return (
        f"CAST({column} AS VARCHAR) NOT IN (SELECT guid FROM {schema}.deletions "
        f"WHERE entity = '{entity}' AND deleted_at IS NOT NULL)"
    )


@dataclass(frozen=True)
class TableCheck:
    """How one truth table maps to one warehouse table.

    ``live``: (entity, column) of the soft deletes that apply (``<schema>.deletions``); ``cursor``: the
    change timestamp (same name in both); ``history``: the warehouse table keeping every version loaded.
    """

    truth: str
    relation: str
    key: tuple[str, ...]
    cursor: str | None = None
    live: tuple[str, str] | None = None
    history: str | None = None
    skip: frozenset[str] = frozenset()

    @property
    def schema(self) -> str:
        return self.relation.split(".")[0]


CHECKS: tuple[TableCheck, ...] = (
    TableCheck("aiwyn_wip", "aiwyn.wip", ("id",), "updated_at", ("wip", "id"), "aiwyn.wip_history"),
    TableCheck("aiwyn_invoices", "aiwyn.invoices", ("id",), "updated_at", ("invoices", "id"), "aiwyn.invoices_history"),
    TableCheck("aiwyn_invoice_line_items", "aiwyn.invoice_line_items", ("invoice_id", "id"), None,
               ("invoices", "invoice_id")),
    TableCheck("aiwyn_payments", "aiwyn.payments", ("id",), "updated_at", ("payments", "id")),
    TableCheck("aimsio_nrbs", "aimsio.nrbs", ("nrb_guid",), "nrb_updated_at", ("nrbs", "nrb_guid"),
               "aimsio.nrbs_history"),
    TableCheck("aimsio_nrb_children", "aimsio.nrb_children", ("nrb_guid",), None, ("nrbs", "nrb_parent_guid")),
    TableCheck("aimsio_job_orders", "aimsio.job_orders", ("job_guid",), "job_updated_at", ("job_orders", "job_guid")),
    TableCheck("iinsight_invoices", "iinsight.invoices", ("invoice_id",), "last_update_utc",
               ("invoices", "invoice_id"), "iinsight.invoices_history"),
    # v1 items have no id: the warehouse numbers them per invoice (item_no), the API orders them by cost_id
    TableCheck("iinsight_invoice_items", "iinsight.invoice_items", ("invoice_id", "item_no"), None,
               ("invoices", "invoice_id")),
    TableCheck("iinsight_payments", "iinsight.payments", ("payment_id",), "last_update_utc",
               ("payments", "payment_id"), "iinsight.payments_history"),
    # billings have no change timestamp: none is ever "in flight"
    TableCheck("iinsight_billings", "iinsight.billings", ("id",), None, ("billings", "id")),
)


@dataclass
class TableDiff:
    """Differences of one table (see the module docstring); ``examples`` holds a few for messages."""

    table: str
    truth_rows: int = 0
    warehouse_rows: int = 0
    missing: int = 0
    duplicate: int = 0
    extra: int = 0
    stale: int = 0
    superseded: int = 0
    in_flight: int = 0
    sum_mismatches: int = 0
    examples: list[str] = field(default_factory=list)

    @property
    def differences(self) -> int:
        return self.missing + self.duplicate + self.extra + self.stale + self.sum_mismatches

    def note(self, text: str) -> None:
        if len(self.examples) < 5:
            self.examples.append(text)


# -- values ----------------------------------------------------------------------------------------


def norm(value: Any) -> Any:
    """A value in a comparable form: numbers as Decimal, instants as aware UTC datetimes."""
    if value is None or (isinstance(value, bool | str | date) and not isinstance(value, datetime)):
        return value
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, int | float | Decimal):
        return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    return value


def same(a: Any, b: Any) -> bool:
    """Whether two values mean the same (``"1.000"`` and ``Decimal(1)``; ``143`` and ``"143"``)."""
    a, b = norm(a), norm(b)
    if a is None or b is None:
        return a is b
    if type(a) is type(b):
        return bool(a == b)
    if isinstance(a, Decimal) or isinstance(b, Decimal):
        try:
            return Decimal(str(a)) == Decimal(str(b))
        except (InvalidOperation, ValueError):
            return False
    return str(a) == str(b)


def _text_key(row: dict[str, Any], columns: Iterable[str]) -> Key:
    return tuple("" if row.get(c) is None else str(norm(row.get(c))) for c in columns)


# -- tables ----------------------------------------------------------------------------------------


def relation_exists(con: Connection, relation: str) -> bool:
    """Whether the warehouse has the table or view ``relation`` (``schema.name``)."""
    schema, name = relation.split(".")
    return bool(
        con.fetch(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = $1 AND table_name = $2", [schema, name]
        )[0][0]
    )


def _warehouse_rows(con: Connection, check: TableCheck) -> list[dict[str, Any]]:
    """The table's current rows: soft-deleted ones (``<schema>.deletions``) left out."""
    if not relation_exists(con, check.relation):
        return []
    where = "TRUE"
    if check.live and relation_exists(con, f"{check.schema}.deletions"):
        where = _deleted(check.schema, *check.live)
    return con.arrow(f"SELECT * FROM {check.relation} WHERE {where}").to_pylist()


def _truth_rows(truth: Truth, check: TableCheck, iinsight_api_version: int) -> list[dict[str, Any]]:
    """The truth's rows as the API shows them: iinsight payment amounts signed as the API version shows them,
    billings' ``reference_date`` the work day at 12:00 UTC."""
    rows = truth[check.truth].to_pylist()
    if check.truth == "iinsight_payments":
        for row in rows:
            row["amount"] = row["v1_amount"] if iinsight_api_version == 1 else -row["amount"]
    if check.truth == "iinsight_billings":
        for row in rows:
            row["reference_date"] = datetime.combine(row["reference_date"], time(12), UTC)
    if check.truth in ("iinsight_invoices", "iinsight_invoice_items") and iinsight_api_version == 1:
        # v1 lists active and voided invoices only: a reversed invoice is not there to be loaded
        reversed_ids = {r["invoice_id"] for r in truth.iinsight_invoices.to_pylist() if r["status"] == "REVERSED"}
        rows = [r for r in rows if r["invoice_id"] not in reversed_ids]
    if check.truth == "iinsight_invoice_items":
        position: Counter[Any] = Counter()
        for row in sorted(rows, key=lambda r: (r["invoice_id"], r["cost_id"])):
            position[row["invoice_id"]] += 1
            row["item_no"] = position[row["invoice_id"]]
    return rows


def _versions(con: Connection, check: TableCheck) -> set[Key]:
    """(key..., change timestamp) of every version in the table's history (empty without one)."""
    if not check.history or not check.cursor or not relation_exists(con, check.history):
        return set()
    columns = [*check.key, check.cursor]
    rows = con.fetch(f"SELECT {', '.join(columns)} FROM {check.history}")
    return {tuple(str(norm(v)) for v in row) for row in rows}


def _money_columns(table: pa.Table) -> list[str]:
    return [f.name for f in table.schema if pa.types.is_decimal(f.type) and f.type.scale == 2]


def compare_table(
    con: Connection,
    truth: Truth,
    check: TableCheck,
    in_flight_since: datetime | None = None,
    iinsight_api_version: int = 2,
) -> TableDiff:
    """Differences of one table (see the module docstring).

    A stale row whose truth version is in the table's history (``superseded``) was loaded, and then lost to
    an older version of the same record loaded in the same run: counted in ``stale`` and in ``superseded``.
    """
    diff = TableDiff(check.truth)
    expected = _truth_rows(truth, check, iinsight_api_version)
    actual = _warehouse_rows(con, check)
    diff.truth_rows, diff.warehouse_rows = len(expected), len(actual)
    by_key: dict[Key, list[dict[str, Any]]] = {}
    for row in actual:
        by_key.setdefault(_text_key(row, check.key), []).append(row)
    items = check.truth == "iinsight_invoice_items"
    truth_cols = set(truth[check.truth].schema.names) | ({"item_no"} if items else set())
    skip = check.skip | ({"cost_id", "description"} if items and iinsight_api_version == 1 else set())  # v2 only
    wh_cols = set(actual[0]) if actual else set()
    columns = sorted((truth_cols & wh_cols) - DLT_COLUMNS - skip - set(check.key))
    versions: set[Key] | None = None
    seen: set[Key] = set()
    for row in expected:
        key = _text_key(row, check.key)
        seen.add(key)
        found = by_key.get(key)
        stamp = norm(row[check.cursor]) if check.cursor else None
        moving = stamp is not None and in_flight_since is not None and stamp >= in_flight_since
        if not found:
            if moving:
                diff.in_flight += 1
                continue
            diff.missing += 1
            diff.note(f"missing {key}")
            continue
        if len(found) > 1:
            diff.duplicate += 1
            diff.note(f"duplicate {key} x{len(found)}")
        changed = [c for c in columns if not same(row.get(c), found[0].get(c))]
        if not changed:
            continue
        if moving:
            diff.in_flight += 1
            continue
        diff.stale += 1
        if stamp is not None:
            versions = _versions(con, check) if versions is None else versions
            if (*key, str(stamp)) in versions:
                diff.superseded += 1
        c = changed[0]
        diff.note(f"stale {key}: {c} truth={row.get(c)!r} warehouse={found[0].get(c)!r} (+{len(changed) - 1} more)")
    for key, rows in by_key.items():
        if key not in seen:
            diff.extra += 1
            diff.note(f"extra {key} ({len(rows)} row(s))")
    for column in _money_columns(truth[check.truth]):
        if column not in wh_cols:
            continue
        want = sum((norm(r[column]) for r in expected if r[column] is not None), Decimal(0))
        got = sum((norm(r[column]) for r in actual if r.get(column) is not None), Decimal(0))
        if want != got:
            diff.sum_mismatches += 1
            diff.note(f"sum({column}) truth={want} warehouse={got}")
    return diff
