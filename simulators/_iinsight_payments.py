"""iinsight payments: `GET /api1/payments` and `GET /api2/payments` (iinsight.md §5, CONTRACT.md "iinsight
payments"), paged like invoices (`_iinsight_lists.py`), `status` active | voided on both versions.

Rows carry exactly the documented fields, every value a string: `payment_id, payment_number,
transaction_date, amount, paid_by, reference_number, card_type, bank, branch, invoice_id, invoice_number,
bill_to_id, type, notes, last_update, last_update_utc`. `transaction_date` is `DD-MM-YYYY` on v1 and
`YYYY-MM-DDT12:00:00Z` on v2. `amount` is the receipt's negative on v2 (`"-562.30"`); v1 shows some
payments positive and some negative (a fixed mix per payment), so only its absolute value is the
amount that reduces the invoice. A voided payment changes `status` and `last_update_utc`; the store
keeps an active invoice's `total_amount_payable` = total − its active payments.
"""

from __future__ import annotations

from simulators._iinsight_lists import StatusList, api_date, local_time
from simulators._sqljson import flat, iso


def _payment_sql(version: int) -> str:
    """SQL → (payment id, row JSON) of the payments `v` whose `v.payment_id` meets `{where}`, as API
    `version` renders them."""
    s = lambda c: f"{c}::VARCHAR"  # noqa: E731
    amount = "v.v1_amount" if version == 1 else "-v.amount"
    row = flat([("payment_id", s("v.payment_id")), ("payment_number", "v.payment_number"),
                ("transaction_date", api_date("v.transaction_date", version)), ("amount", s(f"({amount})")),
                ("paid_by", "v.paid_by"), ("reference_number", "v.reference_number"), ("card_type", "v.card_type"),
                ("bank", "v.bank"), ("branch", "v.branch"), ("invoice_id", s("v.invoice_id")),
                ("invoice_number", "v.invoice_number"), ("bill_to_id", s("v.bill_to_id")), ("type", "v.type"),
                ("notes", "v.notes"), ("last_update", local_time("v.last_update_utc")),
                ("last_update_utc", iso("v.last_update_utc"))])
    return "SELECT v.payment_id, " + row + " FROM iinsight_payments_v v WHERE {where}"


PAYMENTS = StatusList("payments", "iinsight_payments", "payment_id", {1: _payment_sql(1), 2: _payment_sql(2)},
                      {1: ("active", "voided"), 2: ("active", "voided")})
"""`/api1/payments` and `/api2/payments`."""
