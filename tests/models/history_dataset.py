"""A small warehouse with history (SCD2) for the point-in-time tests: records that changed over January and
February 2025, loaded as the sources load them (every version in ``<table>_history``, the latest in the
current table), plus records without history (loaded before the history tables existed).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import duckdb
from models_dataset import load


def ts(text: str) -> datetime:
    """A UTC instant from ``YYYY-MM-DD[ HH:MM:SS]``."""
    parsed = datetime.fromisoformat(text)
    return parsed.replace(tzinfo=UTC) if " " in text else datetime.combine(parsed.date(), datetime.min.time(), UTC)


def d(text: str) -> date:
    return date.fromisoformat(text)


def money(text: str) -> Decimal:
    return Decimal(text)


def aiwyn_invoice(id_: int, changed: str, status: str, invoiced: str, due: str, total: str) -> dict[str, Any]:
    return {
        "id": id_,
        "invoice_number": f"A-{id_}",
        "client_name": "Acme Corp",
        "status": status,
        "invoice_date": ts(f"{invoiced} 12:00:00"),
        "due_date": ts(f"{due} 23:59:59"),
        "total_amount": money(total),
        "updated_at": ts(changed),
    }


# (id, versions); the last version is the current row unless listed in AIWYN_CURRENT_ONLY_LATEST
AIWYN_INVOICE_VERSIONS: dict[int, list[dict[str, Any]]] = {
    # amended on 2025-01-20 (total 120, due later), cancelled on 2025-02-05
    1: [
        aiwyn_invoice(1, "2025-01-01 09:00:00", "POSTED", "2025-01-01", "2025-01-15", "100.00"),
        aiwyn_invoice(1, "2025-01-20 09:00:00", "POSTED", "2025-01-01", "2025-02-10", "120.00"),
        aiwyn_invoice(1, "2025-02-05 10:00:00", "CANCELLED", "2025-01-01", "2025-02-10", "120.00"),
    ],
    # only in the current table (loaded before history existed)
    2: [aiwyn_invoice(2, "2025-01-05 09:00:00", "POSTED", "2025-01-05", "2025-02-05", "50.00")],
    # history has the first version only; the current row is a newer version (total 75 on 2025-01-22)
    3: [
        aiwyn_invoice(3, "2025-01-02 09:00:00", "POSTED", "2025-01-02", "2025-02-02", "70.00"),
        aiwyn_invoice(3, "2025-01-22 09:00:00", "POSTED", "2025-01-02", "2025-02-02", "75.00"),
    ],
    # cancelled exactly at 2025-01-31 00:00:00Z: still open as of 2025-01-30
    4: [
        aiwyn_invoice(4, "2025-01-03 09:00:00", "POSTED", "2025-01-03", "2025-02-03", "40.00"),
        aiwyn_invoice(4, "2025-01-31 00:00:00", "CANCELLED", "2025-01-03", "2025-02-03", "40.00"),
    ],
    # cancelled at 2025-01-30 23:59:59Z: gone as of 2025-01-30
    5: [
        aiwyn_invoice(5, "2025-01-03 09:00:00", "POSTED", "2025-01-03", "2025-02-03", "45.00"),
        aiwyn_invoice(5, "2025-01-30 23:59:59", "CANCELLED", "2025-01-03", "2025-02-03", "45.00"),
    ],
}
AIWYN_NOT_IN_HISTORY = {(2, 0), (3, 1)}  # (invoice, version index) only in the current table

AIWYN_PAYMENTS = [
    {"id": 1, "invoice_id": 1, "amount": money("30.00"), "status": "CONFIRMED",
     "payment_date": ts("2025-01-25 10:00:00"), "updated_at": ts("2025-01-25 10:00:00")},
]  # fmt: skip


def iinsight_invoice(id_: str, changed: str, status: str, invoiced: str, due: str, total: str, payable: str) -> dict:
    return {
        "invoice_id": id_,
        "to": "Beta Pty Ltd",
        "invoice_number": f"N-{id_}",
        "date_of_invoice": d(invoiced),
        "due_date": d(due),
        "total": money(total),
        "total_amount_payable": money(payable),
        "sub_total": money(total),
        "total_tax": money("0.00"),
        "status": status,
        "last_update_utc": ts(changed),
    }


IINSIGHT_INVOICE_VERSIONS: dict[str, list[dict[str, Any]]] = {
    # first seen active, later voided with last_update_utc 2025-02-01: open on 2025-01-10
    "I-VOID": [
        iinsight_invoice("I-VOID", "2025-01-02 09:00:00", "ACTIVE", "2025-01-02", "2025-01-16", "300.00", "300.00"),
        iinsight_invoice("I-VOID", "2025-02-01 08:00:00", "VOIDED", "2025-01-02", "2025-01-16", "300.00", "300.00"),
    ],
    # paid down: 200 owed, 50 from 2025-01-25, nothing from 2025-02-10
    "I-PAID": [
        iinsight_invoice("I-PAID", "2025-01-03 09:00:00", "ACTIVE", "2025-01-03", "2025-02-03", "200.00", "200.00"),
        iinsight_invoice("I-PAID", "2025-01-25 09:00:00", "ACTIVE", "2025-01-03", "2025-02-03", "200.00", "50.00"),
        iinsight_invoice("I-PAID", "2025-02-10 09:00:00", "ACTIVE", "2025-01-03", "2025-02-03", "200.00", "0.00"),
    ],
}


def wip_entry(id_: int, changed: str, logged: str, value: str, billed: str, written_off: str) -> dict[str, Any]:
    return {
        "id": id_,
        "client_name": "Delta Inc",
        "job_name": f"Job {id_}",
        "type": "TIME",
        "logged_date": ts(f"{logged} 10:00:00"),
        "value": money(value),
        "billed_amount": money(billed),
        "write_off_amount": money(written_off),
        "updated_at": ts(changed),
    }


WIP_VERSIONS: dict[int, list[dict[str, Any]]] = {
    # 500 logged on 2025-01-02; 300 billed on 2025-01-20; the rest written off on 2025-02-03
    10: [
        wip_entry(10, "2025-01-02 10:00:00", "2025-01-02", "500.00", "0.00", "0.00"),
        wip_entry(10, "2025-01-20 10:00:00", "2025-01-02", "500.00", "300.00", "0.00"),
        wip_entry(10, "2025-02-03 10:00:00", "2025-01-02", "500.00", "300.00", "200.00"),
    ],
    # only in the current table
    11: [wip_entry(11, "2025-01-05 10:00:00", "2025-01-05", "80.00", "0.00", "0.00")],
}
WIP_NOT_IN_HISTORY = {(11, 0)}


def nrb(guid: str, changed: str, created: str, total: str, **extra: Any) -> dict[str, Any]:
    row = {
        "nrb_guid": guid,
        "nrb_job_order_number": "J-1",
        "nrb_name": f"NRB {guid}",
        "nrb_is_billable": True,
        "is_internal": False,
        "nrb_billed_in_guid": None,
        "nrb_total_after_markup": money(total),
        "nrb_created_at": ts(f"{created} 08:00:00"),
        "nrb_updated_at": ts(changed),
    }
    return row | extra


NRB_VERSIONS: dict[str, list[dict[str, Any]]] = {
    # billed into an invoice on 2025-01-27
    "N-BILL": [
        nrb("N-BILL", "2025-01-04 08:00:00", "2025-01-04", "862.50"),
        nrb("N-BILL", "2025-01-27 08:00:00", "2025-01-04", "862.50", nrb_billed_in_guid="INV-1"),
    ],
    # deleted on 2025-01-28 (aimsio.deletions)
    "N-DEL": [nrb("N-DEL", "2025-01-06 08:00:00", "2025-01-06", "40.00")],
    # not billable until 2025-01-15
    "N-LATE": [
        nrb("N-LATE", "2025-01-07 08:00:00", "2025-01-07", "60.00", nrb_is_billable=False),
        nrb("N-LATE", "2025-01-15 08:00:00", "2025-01-07", "60.00"),
    ],
    # made internal on 2025-01-18
    "N-INT": [
        nrb("N-INT", "2025-01-08 08:00:00", "2025-01-08", "70.00"),
        nrb("N-INT", "2025-01-18 08:00:00", "2025-01-08", "70.00", is_internal=True),
    ],
}
DELETIONS = [{"entity": "nrbs", "guid": "N-DEL", "deleted_at": ts("2025-01-28 12:00:00"), "last_updated_at": None}]


def _split(
    versions: dict[Any, list[dict[str, Any]]], not_in_history: set[tuple[Any, int]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(current rows, history rows) as the sources load them."""
    current = [rows[-1] for rows in versions.values()]
    history = [row for key, rows in versions.items() for i, row in enumerate(rows) if (key, i) not in not_in_history]
    return current, history


def load_history_dataset(con: duckdb.DuckDBPyConnection) -> None:
    """Load the raw tables (current and history) of the dataset."""
    for (schema, table), versions, skip in [
        (("aiwyn", "invoices"), AIWYN_INVOICE_VERSIONS, AIWYN_NOT_IN_HISTORY),
        (("iinsight", "invoices"), IINSIGHT_INVOICE_VERSIONS, set()),
        (("aiwyn", "wip"), WIP_VERSIONS, WIP_NOT_IN_HISTORY),
        (("aimsio", "nrbs"), NRB_VERSIONS, set()),
    ]:
        current, history = _split(versions, skip)
        load(con, schema, table, current)
        load(con, schema, f"{table}_history", history)
    load(con, "aiwyn", "payments", AIWYN_PAYMENTS)
    load(con, "aimsio", "deletions", DELETIONS)
    job = {"job_guid": "JG-1", "job_number": "J-1", "job_name": "Pipeline Repair", "job_client_name": "Gamma Energy"}
    load(con, "aimsio", "job_orders", [job | {"job_updated_at": ts("2024-12-01")}])
