"""A small hand-built warehouse for the model tests, reported as of :data:`AS_OF` (2025-01-31).

Raw tables are created from the source specs (``pipelines.models.raw_tables()``), as dlt would load them, with
one table carrying dlt's extra columns and an unknown new vendor field. Every row is chosen to hit one rule
of the reports; the expected report rows are in test_reports.py.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import duckdb
import pyarrow as pa

from pipelines.models import raw_tables
from sources._arrow import TableSpec

AS_OF = date(2025, 1, 31)
BOUNDARIES = (0, 1, 30, 31, 60, 61, 90, 91)  # days past due / age at each bucket edge


def day(offset: int) -> date:
    """The calendar date ``offset`` days from AS_OF."""
    return AS_OF + timedelta(days=offset)


def at(offset: int, hms: str = "09:00:00") -> datetime:
    """A UTC instant on day(offset) at ``hms``."""
    return datetime.combine(day(offset), time.fromisoformat(hms), tzinfo=UTC)


def money(text: str) -> Decimal:
    return Decimal(text)


def spec_of(schema: str, name: str) -> TableSpec:
    return next(spec for s, spec in raw_tables() if s == schema and spec.name == name)


def load(con: duckdb.DuckDBPyConnection, schema: str, name: str, rows: list[dict[str, Any]]) -> None:
    """Create raw table ``schema.name`` with its spec's columns and these rows (missing keys are null)."""
    table = pa.Table.from_pylist(rows, schema=spec_of(schema, name).arrow_schema())
    con.execute(f"create schema if not exists {schema}")
    con.register("_rows", table)
    con.execute(f"create table {schema}.{name} as select * from _rows")
    con.unregister("_rows")


def aiwyn_invoices() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    statuses = ("PENDING", "POSTED", "OVERDUE")
    for i, k in enumerate(BOUNDARIES):
        rows.append(
            {
                "id": 1000 + k,
                "invoice_number": f"A-{1000 + k}",
                "client_name": "Acme Corp",
                "status": statuses[i % 3],
                "invoice_date": at(-k - 30),
                "due_date": at(-k, "23:59:59"),  # due on day(-k), UTC
                "total_amount": money(f"{100 + k}.00"),
                "updated_at": at(-k - 30),
            }
        )

    def one(id_: int, status: str, invoice_date: datetime, due: datetime | None, total: str) -> dict[str, Any]:
        return {
            "id": id_,
            "invoice_number": f"A-{id_}",
            "client_name": "Acme Corp",
            "status": status,
            "invoice_date": invoice_date,
            "due_date": due,
            "total_amount": money(total),
            "updated_at": invoice_date,
        }

    rows += [
        one(2001, "PAID", at(-40), at(-10, "23:59:59"), "500.00"),  # fully paid before AS_OF: left out
        one(2002, "POSTED", at(-40), at(-10, "23:59:59"), "300.00"),  # paid after AS_OF: still open
        one(2003, "CANCELLED", at(-40), at(-10, "23:59:59"), "999.00"),
        one(2004, "DRAFT", at(-40), at(-10, "23:59:59"), "888.00"),
        one(2005, "POSTED", at(1, "00:30:00"), at(31, "23:59:59"), "777.00"),  # dated after AS_OF (UTC)
        one(2006, "POSTED", at(0, "23:59:59"), None, "42.00"),  # dated AS_OF, no due date: aged from invoice date
        one(2007, "PENDING", at(-5), at(15, "23:59:59"), "75.00"),  # not yet due
    ]
    return rows


def aiwyn_payments() -> list[dict[str, Any]]:
    def pay(id_: int, invoice: int, amount: str, status: str, when: datetime) -> dict[str, Any]:
        return {
            "id": id_,
            "invoice_id": invoice,
            "amount": money(amount),
            "status": status,
            "payment_date": when,
            "updated_at": when,
        }

    return [
        pay(1, 1031, "20.00", "CONFIRMED", at(-5)),  # counts
        pay(2, 1031, "11.00", "CONFIRMED", at(1, "00:00:01")),  # after AS_OF (UTC): does not count
        pay(3, 1031, "50.00", "FAILED", at(-3)),  # failed: never counts
        pay(4, 1060, "10.00", "CONFIRMED", at(0, "23:30:00")),  # on AS_OF: counts
        pay(5, 2001, "500.00", "CONFIRMED", at(-10)),  # pays 2001 in full
        pay(6, 2002, "300.00", "CONFIRMED", at(2)),  # pays 2002 after AS_OF
        pay(7, None, "99.00", "CONFIRMED", at(-2)),  # unapplied: no invoice
    ]


def iinsight_invoices() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for k in BOUNDARIES:
        rows.append(
            {
                "invoice_id": f"I-{k}",
                "to": "Beta Pty Ltd",
                "invoice_number": f"N-{k}",
                "date_of_invoice": day(-k - 14),
                "due_date": day(-k),
                "total": money(f"{1000 + k}.00"),
                "total_amount_payable": money(f"{500 + k}.00"),
                "status": "ACTIVE",
                "last_update_utc": at(-1),
            }
        )

    def one(id_: str, status: str, invoiced: date, due: date | None, total: str, payable: str) -> dict[str, Any]:
        return {
            "invoice_id": id_,
            "to": "Beta Pty Ltd",
            "invoice_number": f"N-{id_}",
            "date_of_invoice": invoiced,
            "due_date": due,
            "total": money(total),
            "total_amount_payable": money(payable),
            "status": status,
            "last_update_utc": at(-1),
        }

    rows += [
        one("I-VOID", "VOIDED", day(-50), day(-20), "100.00", "100.00"),
        one("I-REV", "REVERSED", day(-50), day(-20), "200.00", "200.00"),
        one("I-PAID", "ACTIVE", day(-50), day(-20), "300.00", "0.00"),  # nothing payable: left out
        one("I-LATER", "ACTIVE", day(1), day(30), "400.00", "400.00"),  # dated after AS_OF
        one("I-NODUE", "ACTIVE", day(-45), None, "777.00", "777.00"),  # aged from its invoice date
    ]
    return rows


def aiwyn_wip() -> list[dict[str, Any]]:
    def entry(
        id_: int, client: str, logged: datetime, value: str, billed: str | None, written_off: str | None
    ) -> dict[str, Any]:
        return {
            "id": id_,
            "client_name": client,
            "job_name": f"Job {id_}",
            "type": "TIME" if id_ % 2 else "EXPENSE",
            "logged_date": logged,
            "value": money(value),
            "billed_amount": None if billed is None else money(billed),
            "write_off_amount": None if written_off is None else money(written_off),
            "updated_at": logged,
        }

    boundaries = [entry(100 + k, "Delta Inc", at(-k, "23:59:59"), f"{10 + k}.00", None, None) for k in BOUNDARIES]
    return [
        *boundaries,
        entry(1, "Acme Corp", at(-10, "23:59:59"), "1000.00", "400.00", "100.00"),  # 500.00 left
        entry(2, "Acme Corp", at(-20), "200.00", "200.00", None),  # fully billed
        entry(3, "Acme Corp", at(-95), "300.00", None, None),  # nothing billed yet
        entry(4, "Acme Corp", at(1, "00:00:01"), "400.00", None, None),  # logged after AS_OF (UTC)
        entry(5, "Beta LLC", at(-15), "150.00", None, "150.00"),  # fully written off
        entry(6, "Beta LLC", at(0, "00:00:00"), "80.00", "0.00", "0.00"),  # logged on AS_OF
        entry(7, "Beta LLC", at(-12), "100.00", "120.00", None),  # over-billed: nothing outstanding
    ]


def aimsio_nrbs() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(top-level NRB list, children rows)."""

    def nrb(guid: str, created: datetime, total: str, **extra: Any) -> dict[str, Any]:
        row = {
            "nrb_guid": guid,
            "nrb_job_order_number": "J-1",
            "nrb_name": f"NRB {guid}",
            "nrb_type_name": "Other",
            "nrb_is_billable": True,
            "is_internal": False,
            "nrb_billed_in_guid": None,
            "nrb_total_after_markup": money(total),
            "nrb_created_at": created,
            "nrb_updated_at": created,
        }
        return row | extra

    nrbs = [
        nrb("N1", at(-31), "862.50"),
        nrb("N2", at(-20), "10.00", nrb_is_billable=False),
        nrb("N3", at(-20), "20.00", is_internal=True),
        nrb("N4", at(-20), "30.00", nrb_billed_in_guid="INV-9"),
        nrb("N5", at(-20), "40.00"),  # deleted
        nrb("N6", at(-61), "100.00"),  # deleted, then came back
        nrb("N7", at(-90), "1000.00", nrb_document_type="RECEIPT_AP_INVOICE"),  # parent of C1, C2
        nrb("N8", at(1), "50.00"),  # created after AS_OF
        nrb("N9", at(-1), "5.00", nrb_job_order_number="J-404"),  # job unknown
        # children of N7 that also show up in the NRB list: counted only through their parent
        nrb("C1", at(-90), "600.00", nrb_parent_guid="N7"),
        nrb("C2", at(-90), "400.00"),
    ]
    children = [
        nrb("C1", at(-90), "600.00", nrb_parent_guid="N7"),
        nrb("C2", at(-90), "400.00", nrb_parent_guid="N7"),
    ]
    return nrbs, children


def aimsio_job_orders() -> list[dict[str, Any]]:
    return [
        {
            "job_guid": "JG-1",
            "job_number": "J-1",
            "job_name": "Pipeline Repair",
            "job_client_name": "Gamma Energy",
            "job_updated_at": at(-100),
        },
        {  # an older, deleted job order with the same number: not used
            "job_guid": "JG-OLD",
            "job_number": "J-1",
            "job_name": "Old name",
            "job_client_name": "Old client",
            "job_updated_at": at(-50),
        },
    ]


def aimsio_deletions() -> list[dict[str, Any]]:
    return [
        {"entity": "nrbs", "guid": "N5", "deleted_at": at(-2), "last_updated_at": at(-20)},
        {"entity": "nrbs", "guid": "N6", "deleted_at": None, "last_updated_at": at(-61)},
        {"entity": "job_orders", "guid": "JG-OLD", "deleted_at": at(-40), "last_updated_at": at(-50)},
    ]


def load_dataset(con: duckdb.DuckDBPyConnection) -> None:
    """Load every raw table of the hand-built dataset."""
    load(con, "aiwyn", "invoices", aiwyn_invoices())
    # what dlt adds: its own columns and a column for an unknown new vendor field
    con.execute("alter table aiwyn.invoices add column _dlt_load_id varchar")
    con.execute("alter table aiwyn.invoices add column _dlt_id varchar")
    con.execute("alter table aiwyn.invoices add column brand_new_field varchar")
    load(con, "aiwyn", "invoice_line_items", [{"invoice_id": 1000, "id": 1, "amount": money("100.00")}])
    load(con, "aiwyn", "payments", aiwyn_payments())
    load(con, "aiwyn", "wip", aiwyn_wip())
    nrbs, children = aimsio_nrbs()
    load(con, "aimsio", "nrbs", nrbs)
    load(con, "aimsio", "nrb_children", children)
    load(con, "aimsio", "job_orders", aimsio_job_orders())
    load(con, "aimsio", "deletions", aimsio_deletions())
    load(con, "iinsight", "invoices", iinsight_invoices())
    load(con, "iinsight", "invoice_items", [{"invoice_id": "I-0", "item_no": 1, "total": money("1000.00")}])
