"""Aimsio NRB import, `POST /NRB {"nrbList": [...]}` (seed 003, CONTRACT.md "Aimsio NRB import").

`import_nrbs` runs inside a `Firm.write`: every item on its own, in order (a later item with the same key
edits what an earlier one created), and answers seed 003's `IntegrationImportResult`. The live NRBs' keys are
read once per batch and the changed rows written back at the end (~0.15 ms an item on the medium firm).

Pinned where the docs are silent:
- Matching: `nrbGuid` first (seed 003: "only used to update existing object"; an unknown one rejects the
  item), else `nrbExternalId`, else `nrbOriginReference` (CONTRACT.md), among live NRBs (children
  included); no match → create. The first live NRB in creation order wins when several share a reference.
- Creating needs every field seed 003 marks required: `nrbExternalId`, `nrbJobOrderNumber`, `nrbName`,
  `nrbTypeName` (or `nrbTypeUname`), `nrbAccountType`, `nrbIsBillable`, `nrbVendorCode`, `nrbRate`,
  `nrbQuantity`. Editing needs only the key; the fields sent are changed (a required one cannot be null).
  Seed 003's own POST example (no `nrbExternalId`, no `nrbName`) therefore edits `AP-INV-123` but would
  not create it.
- Checks: enums and types of the fields sent; the job must exist, the vendor must be a vendor code (`BIT
  ACME-SUP NRTH PETRO FLDTEC HAUL`), the type an NRB type; a WBS shared identifier must be the job's one
  (`<job number>-01.01`); `nrbExternalId` must not belong to another live NRB; with
  `nrbShouldReconcileWithPO` true, `nrbExternalId` and `nrbPONumber` are required. Numbers: JSON numbers or
  numeric strings, kept to 3 decimals. A missing markup mode is `SUB_TOTAL`; a missing account type or
  billable flag on an edit follows the other.
- An item is applied whole or not at all: the first problem of a rejected item is its one notice
  `{"index", "level": "ERROR", "field", "message"}` (`field` null when the item is not an object), it counts
  in `numberOfEntitiesNotImportedDueToErrors`, and `numberOfEntitiesEditedWithErrors` stays 0.
  `numberOfEntitiesImported` = created + edited.
- `nrbChildren` and read-only fields in an item are ignored. More than `MAX_ITEMS` items → 400 (the route).
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import duckdb
import pyarrow as pa

from simulators._gen_aimsio import MARKUP_MODES, NRB_SCHEMA, NRB_TYPES, VENDOR_GUIDS, VENDORS, nrb_total

MAX_ITEMS = 100
DOC_TYPES = ("RECEIPT_AP_INVOICE", "RECEIPT_PACKING_SLIP", "RECEIPT_FIELD_TICKET", "RECEIPT_BOL")
REQUIRED = ("nrbExternalId", "nrbJobOrderNumber", "nrbName", "nrbTypeName", "nrbAccountType", "nrbIsBillable",
            "nrbVendorCode", "nrbRate", "nrbQuantity")
"""Seed 003's required fields, in its order (`nrbTypeName` or `nrbTypeUname`)."""
_WRITABLE: dict[str, tuple[str, str]] = {
    "nrbExternalId": ("nrb_external_id", "str"), "nrbOriginReference": ("nrb_origin_reference", "str"),
    "nrbWBSSharedIdentifier": ("nrb_wbs_shared_identifier", "str"), "nrbPONumber": ("nrb_po_number", "str"),
    "nrbInvoiceNumber": ("nrb_invoice_number", "str"), "nrbInvoiceDate": ("nrb_invoice_date", "ms"),
    "nrbName": ("nrb_name", "str"), "nrbDocumentType": ("nrb_document_type", "doc"),
    "nrbAccountType": ("nrb_account_type", "account"), "nrbIsBillable": ("nrb_is_billable", "bool"),
    "nrbRate": ("nrb_rate", "num"), "nrbQuantity": ("nrb_quantity", "num"), "nrbVendorTax": ("nrb_vendor_tax", "num"),
    "nrbUpcharge": ("nrb_upcharge", "num"), "nrbMarkupAppliesOn": ("nrb_markup_applies_on", "markup"),
    "nrbIsExported": ("nrb_is_exported", "bool"), "isInternal": ("is_internal", "bool"),
    "nrbShouldReconcileWithPO": ("nrb_should_reconcile_with_po", "bool"), "nrbFileName": ("nrb_file_name", "str"),
    "nrbNotes": ("nrb_notes", "str"),
}
_ENUMS = {"doc": DOC_TYPES, "account": ("Billable", "Not Billable"), "markup": MARKUP_MODES}
_KEYS = (("nrbGuid", "nrb_guid"), ("nrbExternalId", "nrb_external_id"), ("nrbOriginReference", "nrb_origin_reference"))


class Rejected(ValueError):
    """An item that cannot be imported; `field` names the NRB field at fault (None: the whole item)."""

    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(message)
        self.field = field


def _value(key: str, kind: str, value: Any) -> Any:
    """One writable field's value, validated (numbers may be JSON numbers or numeric strings)."""
    if value is None:
        if key in REQUIRED:
            raise Rejected(key, f"{key} is required and cannot be null")
        return None
    if kind == "num" and not isinstance(value, bool) and isinstance(value, int | float | str | Decimal):
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            number = Decimal("NaN")
        if number.is_finite():
            return number.quantize(Decimal("0.001"))
    if kind == "bool" and isinstance(value, bool):
        return value
    if kind == "ms" and isinstance(value, int) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, UTC)
    if kind in ("str", *_ENUMS) and isinstance(value, str):
        if kind in _ENUMS and value not in _ENUMS[kind]:
            raise Rejected(key, f"{key} must be one of {', '.join(_ENUMS[kind])}")
        return value
    kinds = {"num": "a number", "bool": "a boolean", "ms": "epoch milliseconds (an integer)"}
    raise Rejected(key, f"{key} must be {kinds.get(kind, 'a string')}; got {value!r}")


class _Batch:
    """The live NRBs one import works on: keys of all of them (`nrbGuid`, `nrbExternalId`, `nrbOriginReference`
    → guids in creation order), full rows of the ones it touches, jobs; written back by `flush` in two
    statements. Items see the effect of the items before them."""

    def __init__(self, con: duckdb.DuckDBPyConnection, t: datetime, user: str) -> None:
        self.con, self.t, self.user = con, t, user
        self.keys: dict[str, dict[str, list[str]]] = {key: {} for key, _ in _KEYS}
        self.seq: dict[str, int] = {}
        columns = ", ".join(c for _, c in _KEYS)
        for *row, seq in con.execute(f"SELECT {columns}, seq FROM aimsio_nrbs_live ORDER BY seq").fetchall():
            self.seq[row[0]] = seq
            for (key, _), value in zip(_KEYS, row, strict=True):
                if value is not None:
                    self.keys[key].setdefault(value, []).append(row[0])
        self.jobs = dict(con.execute("SELECT job_number, job_schedule_guid FROM aimsio_jobs").fetchall())
        self.next_seq = con.execute("SELECT coalesce(max(seq), 0) + 1 FROM aimsio_nrbs").fetchall()[0][0]
        self.rows: dict[str, dict[str, Any]] = {}
        self.created: list[str] = []
        self.edited: set[str] = set()
        self.renamed: dict[str, str | None] = {}

    def load(self, guids: set[str]) -> None:
        """Fetch the full rows of `guids` not at hand yet (one query)."""
        wanted = sorted(guids - set(self.rows))
        if wanted:
            cur = self.con.execute("SELECT * FROM aimsio_nrbs WHERE list_contains(?::VARCHAR[], nrb_guid)", [wanted])
            names = [d[0] for d in cur.description]
            self.rows.update({r[0]: dict(zip(names, r, strict=True)) for r in cur.fetchall()})

    def match(self, item: dict[str, Any]) -> dict[str, Any] | None:
        """A copy of the live NRB the item edits (by nrbGuid, else nrbExternalId, else nrbOriginReference)."""
        for key, _ in _KEYS:
            if isinstance(item.get(key), str):
                found = self.keys[key].get(item[key])
                if found:
                    self.load({found[0]})
                    return dict(self.rows[found[0]])
                if key == "nrbGuid":
                    raise Rejected(key, f"no NRB with nrbGuid {item[key]}")
        return None

    def owner(self, external_id: str) -> str | None:
        """The guid of the live NRB holding `external_id`, if any."""
        found = self.keys["nrbExternalId"].get(external_id)
        return found[0] if found else None

    def keep(self, row: dict[str, Any], before: dict[str, Any] | None) -> None:
        """Take an applied item's row into the batch, its keys re-indexed."""
        guid = row["nrb_guid"]
        self.seq[guid] = row["seq"]
        for key, column in _KEYS:
            old, new = (before or {}).get(column), row.get(column)
            if old != new:
                if old is not None:
                    self.keys[key][old].remove(guid)
                if new is not None:
                    holders = self.keys[key].setdefault(new, [])
                    holders.append(guid)
                    holders.sort(key=self.seq.__getitem__)
        if before is None:
            self.created.append(guid)
        elif guid not in self.created:
            self.edited.add(guid)
            if before.get("nrb_external_id") != row.get("nrb_external_id"):
                self.renamed[guid] = row.get("nrb_external_id")
        self.rows[guid] = row

    def flush(self) -> None:
        """Write every created and edited row back (edited ones replace their old version); children of an NRB
        whose external id changed get the new `nrbParentExternalId`."""
        changed = [*sorted(self.edited), *self.created]
        if not changed:
            return
        self.con.execute("DELETE FROM aimsio_nrbs WHERE list_contains(?::VARCHAR[], nrb_guid)", [sorted(self.edited)])
        self.con.register("_nrb_batch", pa.Table.from_pylist([self.rows[g] for g in changed], NRB_SCHEMA))
        try:
            self.con.execute("INSERT INTO aimsio_nrbs SELECT * FROM _nrb_batch")
        finally:
            self.con.unregister("_nrb_batch")
        for guid, external_id in self.renamed.items():
            self.con.execute("UPDATE aimsio_nrbs SET nrb_parent_external_id = ? WHERE nrb_parent_guid = ?",
                             [external_id, guid])


def _references(batch: _Batch, item: dict[str, Any], row: dict[str, Any], new: bool) -> None:
    """Job (and its WBS), vendor and type of the item, resolved into `row`; Rejected otherwise."""
    if "nrbJobOrderNumber" in item or new:
        if item.get("nrbJobOrderNumber") not in batch.jobs:
            raise Rejected("nrbJobOrderNumber", "nrbJobOrderNumber must be an existing job number: "
                           f"{item.get('nrbJobOrderNumber')!r}")
        row.update(nrb_job_order_number=item["nrbJobOrderNumber"], nrb_wbs_guid=batch.jobs[item["nrbJobOrderNumber"]])
    wbs = row.get("nrb_wbs_shared_identifier")
    if wbs is not None and wbs != f"{row['nrb_job_order_number']}-01.01":
        raise Rejected("nrbWBSSharedIdentifier", f"{wbs!r} is not a WBS of job {row['nrb_job_order_number']}")
    if "nrbVendorCode" in item or new:
        if item.get("nrbVendorCode") not in VENDORS:
            raise Rejected("nrbVendorCode", "nrbVendorCode must be an existing vendor company code: "
                           f"{item.get('nrbVendorCode')!r}")
        code = item["nrbVendorCode"]
        row.update(nrb_vendor_code=code, nrb_vendor_guid=VENDOR_GUIDS[VENDORS.index(code)])
    if "nrbTypeName" in item or "nrbTypeUname" in item or new:
        match = [tp for tp in NRB_TYPES if item.get("nrbTypeName") == tp[0] or item.get("nrbTypeUname") == tp[1]]
        if not match:
            only_uname = item.get("nrbTypeName") is None and item.get("nrbTypeUname") is not None
            field = "nrbTypeUname" if only_uname else "nrbTypeName"
            raise Rejected(field, "nrbTypeName or nrbTypeUname must name an existing NRB type")
        row.update(nrb_type_name=match[0][0], nrb_type_uname=match[0][1])


def _upsert(batch: _Batch, item: Any) -> str:
    """Create or edit one NRB from a POST item; returns "created" or "edited" (Rejected: not applied)."""
    if not isinstance(item, dict):
        raise Rejected(None, "each nrbList item must be an object")
    before = batch.match(item)
    new = before is None
    if new:
        missing = next((k for k in REQUIRED if item.get(k) is None
                        and not (k == "nrbTypeName" and item.get("nrbTypeUname") is not None)), None)
        if missing:
            raise Rejected(missing, f"{missing} is required to create an NRB")
    row = dict(before) if before else {
        "nrb_guid": str(uuid.uuid4()), "nrb_created_at": batch.t, "nrb_created_by_user_name": batch.user,
        "nrb_created_by_full_name": batch.user, "deleted": False, "nrb_is_exported": False, "is_internal": False,
        "nrb_should_reconcile_with_po": False, "nrb_markup_applies_on": "SUB_TOTAL", "seq": batch.next_seq}
    row.update({column: _value(key, kind, item[key]) for key, (column, kind) in _WRITABLE.items() if key in item})
    _references(batch, item, row, new)
    holder = row.get("nrb_external_id") and batch.owner(row["nrb_external_id"])
    if holder and holder != row["nrb_guid"]:
        raise Rejected("nrbExternalId", f"nrbExternalId {row['nrb_external_id']} belongs to NRB {holder}")
    if row.get("nrb_should_reconcile_with_po"):
        missing = next((k for k, c in (("nrbExternalId", "nrb_external_id"), ("nrbPONumber", "nrb_po_number"))
                        if row.get(c) is None), None)
        if missing:
            raise Rejected(missing, f"{missing} is required when nrbShouldReconcileWithPO is true")
    if row.get("nrb_account_type") is None:
        row["nrb_account_type"] = "Billable" if row.get("nrb_is_billable", True) else "Not Billable"
    if row.get("nrb_is_billable") is None:
        row["nrb_is_billable"] = row["nrb_account_type"] == "Billable"
    row["nrb_total_after_markup"] = nrb_total(row["nrb_rate"], row["nrb_quantity"], row.get("nrb_vendor_tax"),
                                              row.get("nrb_upcharge"), row.get("nrb_markup_applies_on"))
    row["nrb_updated_at"] = batch.t
    if new:
        batch.next_seq += 1
    batch.keep(row, before)
    return "created" if new else "edited"


def import_nrbs(con: duckdb.DuckDBPyConnection, t: datetime, items: list[Any], user: str) -> dict[str, Any]:
    """Apply `items` (at most `MAX_ITEMS`, checked by the route) at time `t` as `user`; returns seed 003's
    `IntegrationImportResult` with a notice per rejected item."""
    batch = _Batch(con, t, user)
    batch.load({found[0] for item in items if isinstance(item, dict) for key, _ in _KEYS
                if isinstance(item.get(key), str) and (found := batch.keys[key].get(item[key]))})
    done = {"created": 0, "edited": 0}
    notices = []
    for index, item in enumerate(items):
        try:
            done[_upsert(batch, item)] += 1
        except Rejected as exc:
            notices.append({"index": index, "level": "ERROR", "field": exc.field, "message": str(exc)})
    batch.flush()
    return {"dtype": "IntegrationImportResult", "id": 0, "guid": str(uuid.uuid4()), "importConfiguration": None,
            "numberOfEntitiesCreated": done["created"], "numberOfEntitiesEdited": done["edited"],
            "numberOfEntitiesEditedWithErrors": 0, "numberOfEntitiesNotImportedDueToErrors": len(notices),
            "extra": None, "notices": notices, "updatedAt": int(time.time() * 1000), "importResultType": None,
            "numberOfEntitiesImported": done["created"] + done["edited"]}
