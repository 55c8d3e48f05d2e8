"""What the iinsight rows of the AR aging and WIP outstanding reports must be as of a date, computed here from
the simulator's truth (``Firm.truth()``) by the definitions of README.md "Reports", independently of the models.

- AR: an active invoice dated on or before D owes its total minus its payments dated on or before D that still
  counted at the end of D (active, or voided on a later UTC date); left out when nothing is open.
- WIP: a billing whose work date is on or before D counts at quantity x unit_charge unless it is on an invoice
  dated on or before D (or on one arwip never loaded: billed as far back as reports look); its client is the
  bill-to of the latest loaded invoice (by date, then invoice id as text) holding billed work of its case, else
  ``case <id>``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date
from decimal import Decimal
from typing import Any

CENT = Decimal("0.01")


def paid_as_of(payments: Iterable[dict[str, Any]], day: date) -> dict[int, Decimal]:
    """Per invoice id, what its payments had taken off it at the end of ``day`` (absolute amounts)."""
    paid: dict[int, Decimal] = defaultdict(Decimal)
    for p in payments:
        voided_on = p["last_update_utc"].astimezone(UTC).date() if p["status"] == "VOIDED" else None
        if p["transaction_date"] <= day and (voided_on is None or voided_on > day):
            paid[p["invoice_id"]] += abs(p["amount"])
    return paid


def expected_aging(
    invoices: Iterable[dict[str, Any]], payments: Iterable[dict[str, Any]], day: date
) -> dict[str, Decimal]:
    """invoice_id (text) → open amount as of ``day`` of the ``invoices`` (their state then) that count."""
    paid = paid_as_of(payments, day)
    out = {}
    for i in invoices:
        if i["status"] == "ACTIVE" and i["date_of_invoice"] <= day:
            open_amount = i["total"] - paid[i["invoice_id"]]
            if open_amount:
                out[str(i["invoice_id"])] = open_amount
    return out


def case_clients(billings: Iterable[dict[str, Any]], loaded: dict[int, dict[str, Any]]) -> dict[int, str]:
    """Case id → the bill-to of the latest loaded invoice holding billed work of the case."""
    latest: dict[int, tuple[date, str, str]] = {}
    for b in billings:
        invoice = loaded.get(b["invoice"])
        if invoice is not None:
            key = (invoice["date_of_invoice"], str(invoice["invoice_id"]), invoice["to"])
            latest[b["case_id"]] = max(latest.get(b["case_id"], key), key)
    return {case: to for case, (_, _, to) in latest.items()}


def expected_wip(
    billings: list[dict[str, Any]], loaded: dict[int, dict[str, Any]], day: date
) -> dict[str, tuple[str, date, Decimal]]:
    """billing id (text) → (client, work date, outstanding amount) as of ``day``; ``loaded``: the invoices arwip
    loaded, by id."""
    clients = case_clients(billings, loaded)
    out = {}
    for b in billings:
        if b["reference_date"] > day:
            continue
        if b["invoice"]:
            invoice = loaded.get(b["invoice"])
            if invoice is None or invoice["date_of_invoice"] <= day:
                continue
        value = (b["quantity"] * b["unit_charge"]).quantize(CENT)
        if value > 0:
            out[str(b["id"])] = (clients.get(b["case_id"], f"case {b['case_id']}"), b["reference_date"], value)
    return out
