"""A small warehouse with soft deletes (``<source>.deletions``) for the deletion tests: an Aiwyn invoice, WIP
entry and payment and an iinsight invoice that vanished from their APIs in January 2025, and two records
that vanished and came back (``deleted_at`` null). Ids repeat across entities (invoice 1, payment 1, WIP 1)
so a deletion must match its entity too. Some records have versions in ``<table>_history``, the others only
their current row. The expected report rows are in test_deletions.py.
"""

from __future__ import annotations

from typing import Any

import duckdb
from history_dataset import aiwyn_invoice, iinsight_invoice, money, ts, wip_entry
from models_dataset import load

# Aiwyn invoices: (versions, oldest first; the last is the current row)
AIWYN_INVOICES: dict[int, list[dict[str, Any]]] = {
    # amended to 110 on 01-10; deleted at 2025-01-20 23:59:59Z: gone as of 01-20
    1: [
        aiwyn_invoice(1, "2025-01-02 09:00:00", "POSTED", "2025-01-02", "2025-02-01", "100.00"),
        aiwyn_invoice(1, "2025-01-10 09:00:00", "POSTED", "2025-01-02", "2025-02-01", "110.00"),
    ],
    # paid 60 (payment 1, deleted 2025-01-25 08:00Z) and 50 (payment 2)
    2: [aiwyn_invoice(2, "2025-01-03 09:00:00", "POSTED", "2025-01-03", "2025-02-03", "200.00")],
    # vanished and came back (deleted_at null); a payment scheduled for 02-10 was deleted on 02-05
    3: [aiwyn_invoice(3, "2025-01-06 09:00:00", "POSTED", "2025-01-06", "2025-02-06", "300.00")],
}
AIWYN_INVOICES_NOT_IN_HISTORY = {2, 3}


def payment(id_: int, invoice: int, amount: str, paid: str) -> dict[str, Any]:
    return {
        "id": id_,
        "invoice_id": invoice,
        "amount": money(amount),
        "status": "CONFIRMED",
        "payment_date": ts(f"{paid} 10:00:00"),
        "updated_at": ts(f"{paid} 10:00:00"),
    }


AIWYN_PAYMENTS = [
    payment(1, 2, "60.00", "2025-01-10"),  # deleted 2025-01-25 08:00Z
    payment(2, 2, "50.00", "2025-01-12"),
    payment(3, 1, "40.00", "2025-01-08"),  # pays the deleted invoice 1: still a loaded invoice
    payment(4, 3, "30.00", "2025-02-10"),  # deleted on 02-05, before its date: never counts
]

# Aiwyn WIP: 1 is never deleted (though invoice 1 and payment 1 are); 2 logged 400 on 01-05, 100 billed on
# 01-15, deleted at 2025-01-22 00:00:00Z: still outstanding as of 01-21, gone as of 01-22
WIP: dict[int, list[dict[str, Any]]] = {
    1: [wip_entry(1, "2025-01-03 10:00:00", "2025-01-03", "150.00", "0.00", "0.00")],
    2: [
        wip_entry(2, "2025-01-05 10:00:00", "2025-01-05", "400.00", "0.00", "0.00"),
        wip_entry(2, "2025-01-15 10:00:00", "2025-01-05", "400.00", "100.00", "0.00"),
    ],
}

IINSIGHT_INVOICES = [
    # reversed in iinsight v1 (which lists only active and voided invoices): deleted 2025-01-28 00:00:00Z, the
    # very end of 01-27
    iinsight_invoice("I-DEL", "2025-01-04 09:00:00", "ACTIVE", "2025-01-04", "2025-01-18", "500.00", "500.00"),
    # vanished and came back
    iinsight_invoice("I-BACK", "2025-01-06 09:00:00", "ACTIVE", "2025-01-06", "2025-02-06", "250.00", "250.00"),
]


def deletion(entity: str, guid: str, deleted_at: str | None) -> dict[str, Any]:
    return {
        "entity": entity,
        "guid": guid,
        "deleted_at": None if deleted_at is None else ts(deleted_at),
        "last_updated_at": ts("2025-01-02"),
    }


AIWYN_DELETIONS = [
    deletion("invoices", "1", "2025-01-20 23:59:59"),
    deletion("payments", "1", "2025-01-25 08:00:00"),
    deletion("wip", "2", "2025-01-22 00:00:00"),
    deletion("invoices", "3", None),  # came back
    deletion("payments", "4", "2025-02-05 09:00:00"),
]
IINSIGHT_DELETIONS = [
    deletion("invoices", "I-DEL", "2025-01-28 00:00:00"),
    deletion("invoices", "I-BACK", None),  # came back
]


def load_deletions_dataset(con: duckdb.DuckDBPyConnection) -> None:
    """Load the raw tables of the dataset (the other raw tables are created empty by build_models)."""
    load(con, "aiwyn", "invoices", [rows[-1] for rows in AIWYN_INVOICES.values()])
    history = [row for id_, rows in AIWYN_INVOICES.items() if id_ not in AIWYN_INVOICES_NOT_IN_HISTORY for row in rows]
    load(con, "aiwyn", "invoices_history", history)
    load(con, "aiwyn", "payments", AIWYN_PAYMENTS)
    load(con, "aiwyn", "wip", [rows[-1] for rows in WIP.values()])
    load(con, "aiwyn", "wip_history", WIP[2])  # 1 only in the current table
    load(con, "aiwyn", "deletions", AIWYN_DELETIONS)
    load(con, "iinsight", "invoices", IINSIGHT_INVOICES)
    load(con, "iinsight", "invoices_history", IINSIGHT_INVOICES[:1])
    load(con, "iinsight", "deletions", IINSIGHT_DELETIONS)
