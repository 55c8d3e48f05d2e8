"""``arwip push aimsio-nrbs``: rows as Aimsio NRBs through ``POST /NRB`` (seed 003, CONTRACT.md "Aimsio NRB
import"), over the writer :mod:`sources.aimsio.nrb_import`.

Columns are named as the API's writable fields (:data:`FIELDS`: ``nrbExternalId``, ``nrbJobOrderNumber``…); the
key is ``nrbExternalId``, required on every row: Aimsio matches an item by it and edits instead of creating, so
a re-run, or the resend of a batch whose answer was lost, never duplicates an NRB (the target is idempotent).
Each row is checked locally first against seed 003: the fields it marks required (``nrbTypeName`` or
``nrbTypeUname``), its enums, booleans, numbers (exact decimals, never floats) and epoch-millisecond dates (a
date or timestamp is converted); ``nrbPONumber`` when ``nrbShouldReconcileWithPO``. What only Aimsio knows (the
job, the vendor code, the NRB type) is its notice, mapped back to the row. CSV values are text: ``true`` /
``false``, ``12.50``, ``2025-04-01`` or epoch milliseconds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

import pyarrow as pa

from sources._http import ApiClient
from sources._push import (
    Args,
    Invalid,
    Outcome,
    Payload,
    Prepared,
    PushInput,
    PushOption,
    PushTarget,
    PushUsageError,
    Row,
)
from sources.aimsio import settings
from sources.aimsio.nrb_import import import_nrbs

KEY = "nrbExternalId"
ENUMS = {
    "nrbDocumentType": ("RECEIPT_AP_INVOICE", "RECEIPT_PACKING_SLIP", "RECEIPT_FIELD_TICKET", "RECEIPT_BOL"),
    "nrbAccountType": ("Billable", "Not Billable"),
    "nrbMarkupAppliesOn": ("SUB_TOTAL", "SUB_TOTAL_AND_VENDOR_TAX"),
}
FIELDS: dict[str, str] = {
    "nrbGuid": "text", KEY: "text", "nrbOriginReference": "text", "nrbJobOrderNumber": "text",
    "nrbWBSSharedIdentifier": "text", "nrbPONumber": "text", "nrbInvoiceNumber": "text", "nrbInvoiceDate": "millis",
    "nrbName": "text", "nrbTypeUname": "text", "nrbTypeName": "text", "nrbDocumentType": "enum",
    "nrbAccountType": "enum", "nrbIsBillable": "bool", "nrbVendorCode": "text", "nrbRate": "number",
    "nrbQuantity": "number", "nrbVendorTax": "number", "nrbUpcharge": "number", "nrbMarkupAppliesOn": "enum",
    "nrbIsExported": "bool", "isInternal": "bool", "nrbShouldReconcileWithPO": "bool", "nrbFileName": "text",
    "nrbNotes": "text",
}
"""The writable fields of seed 003's NonrecurringBillableItem and their kinds (the others are read-only)."""
REQUIRED = (KEY, "nrbJobOrderNumber", "nrbName", "nrbAccountType", "nrbIsBillable", "nrbVendorCode", "nrbRate",
            "nrbQuantity")
"""Seed 003's required fields, besides ``nrbTypeName`` or ``nrbTypeUname`` (one of the two)."""
TYPE_FIELDS = ("nrbTypeName", "nrbTypeUname")
_TRUE, _FALSE = frozenset({"true", "1", "yes"}), frozenset({"false", "0", "no"})


def _number(name: str, value: Any) -> Decimal:
    if isinstance(value, float):
        raise Invalid(f"{name} is a floating-point number: use a decimal (cast it in the query)", name)
    try:
        number = Decimal(value.strip()) if isinstance(value, str) else value
    except InvalidOperation:
        number = None
    if not isinstance(number, Decimal | int) or isinstance(number, bool) or not Decimal(number).is_finite():
        raise Invalid(f"{name} must be a number, got {value!r}", name)
    return Decimal(number)


def _millis(name: str, value: Any) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise Invalid(f"{name} must be a date, a timestamp or epoch milliseconds, got {value!r}", name) from None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime.combine(value, time(), UTC)
    if isinstance(value, datetime):
        return int((value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp() * 1000)
    raise Invalid(f"{name} must be a date, a timestamp or epoch milliseconds, got {value!r}", name)


def _value(name: str, value: Any) -> Any:
    kind = FIELDS[name]
    if kind == "number":
        return _number(name, value)
    if kind == "millis":
        return _millis(name, value)
    if kind == "bool":
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        if not isinstance(value, bool):
            raise Invalid(f"{name} must be true or false, got {value!r}", name)
        return value
    if not isinstance(value, str):
        raise Invalid(f"{name} must be text, got {value!r}", name)
    if kind == "enum" and value not in ENUMS[name]:
        raise Invalid(f"{name} must be one of {', '.join(ENUMS[name])}, got {value!r}", name)
    return value


def nrb_item(row: Mapping[str, Any]) -> Payload:
    """A row as an item of ``nrbList`` (empty values left out). Raises :class:`Invalid` naming the field."""
    item = {name: _value(name, value) for name, value in row.items() if value is not None and value != ""}
    missing = next((name for name in REQUIRED if name not in item), None)
    if missing is None and not any(name in item for name in TYPE_FIELDS):
        missing = "nrbTypeName"
    if missing:
        raise Invalid(f"{missing} is required" + (" (or nrbTypeUname)" if missing == "nrbTypeName" else ""), missing)
    if item.get("nrbShouldReconcileWithPO") and "nrbPONumber" not in item:
        raise Invalid("nrbPONumber is required when nrbShouldReconcileWithPO is true", "nrbPONumber")
    return item


class AimsioNrbs(PushTarget):
    """NRBs created or edited by ``nrbExternalId`` (see the module docstring)."""

    name = "aimsio-nrbs"
    vendor = "aimsio"
    help = ("Create or edit Aimsio NRBs from a query or a CSV file whose columns are named as the API's fields "
            f"(nrbExternalId, nrbJobOrderNumber, ...); {KEY} is required on every row, so a re-run edits instead "
            "of duplicating.")
    options = (
        PushOption("--sql", "File holding one query over the warehouse: one NRB per row.", "file"),
        PushOption("--csv", "CSV file with a header line: one NRB per row.", "file"),
    )
    batch_size = settings.NRBS_PER_REQUEST

    def input(self, args: Args) -> PushInput:
        if (args.get("sql") is None) == (args.get("csv") is None):
            raise PushUsageError("give exactly one of --sql FILE or --csv FILE")
        return PushInput(KEY, sql=args.get("sql"), csv=args.get("csv"))

    def object(self, args: Args) -> str:
        return ""

    async def prepare(self, client: ApiClient, args: Args, schema: pa.Schema) -> Prepared:
        unknown = [c for c in schema.names if c not in FIELDS]
        if unknown:
            raise PushUsageError(f"column(s) {', '.join(unknown)} are not writable NRB fields (seed 003; writable: "
                                 f"{', '.join(FIELDS)})")
        missing = [c for c in REQUIRED if c not in schema.names]
        if not any(c in schema.names for c in TYPE_FIELDS):
            missing.append("nrbTypeName (or nrbTypeUname)")
        if missing:
            raise PushUsageError(f"the input has no column for the required field(s) {', '.join(missing)}")
        return Prepared(nrb_item)

    async def send(self, client: ApiClient, args: Args, rows: Sequence[Row]) -> list[Outcome]:
        result = await import_nrbs(client, [payload for _, payload in rows])
        outcomes = []
        for (key, _), item in zip(rows, result.items, strict=True):
            error = item.error
            outcomes.append(Outcome(key, True) if item.imported or error is None
                            else Outcome(key, False, None, "NOT_IMPORTED", error.field, error.message))
        return outcomes


TARGET = AimsioNrbs()
