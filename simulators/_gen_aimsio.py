"""Aimsio generators: job orders and Non-Recurring Billable Items (NRBs, with AP-invoice children).

Small volumes (thousands), so rows are built as dicts; numbers are exact `Decimal`s. The first NRB of
a generated firm is seed 003's example (750 × 1, upcharge 10, vendor tax 37.5 → "862.50").
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import numpy as np
import pyarrow as pa

from simulators._arrays import DAY, HORIZON_DAYS, uuids
from simulators._gen import Context

VENDORS = ("BIT", "ACME-SUP", "NRTH", "PETRO", "FLDTEC", "HAUL")
NRB_TYPES = (("Other", "other_nrb_type"), ("Materials", "materials_nrb_type"),
          ("Equipment Rental", "equipment_rental_nrb_type"), ("Subcontractor", "subcontractor_nrb_type"),
          ("Freight", "freight_nrb_type"))
_NOTES = ("Purchased field software", "Pipe fittings", "Crane rental", "Hydrovac subcontract", "Hot shot freight",
          "Safety supplies", "Site trailer rental")
_CHILD_DOCS = (None, "RECEIPT_PACKING_SLIP", "RECEIPT_FIELD_TICKET", "RECEIPT_BOL")
_JOB_STATUS = ("Active", "Active", "Active", "Finished", "Finished", "Assigned", "Unassigned", "Cancelled")
_SITES = ("Pad 14", "North Battery", "Compressor Station 3", "Well 7-22", "Plant Expansion", "Pipeline Km 42")
_CENT = Decimal("0.01")
MARKUP_MODES = ("SUB_TOTAL", "SUB_TOTAL_AND_VENDOR_TAX")
VENDOR_GUIDS = uuids(np.random.default_rng(3003), len(VENDORS))


def nrb_total(rate: Decimal, quantity: Decimal, vendor_tax: Decimal | None, upcharge: Decimal | None,
              applies_on: str | None) -> Decimal:
    """`nrbTotalAfterMarkup` (seed 003): subtotal = rate × quantity; `SUB_TOTAL` (default when unset):
    subtotal × (1 + upcharge/100) + vendorTax; `SUB_TOTAL_AND_VENDOR_TAX`: (subtotal + vendorTax) ×
    (1 + upcharge/100); rounded half-up to cents."""
    tax = vendor_tax or Decimal(0)
    factor = 1 + (upcharge or Decimal(0)) / 100
    sub = rate * quantity
    total = (sub + tax) * factor if applies_on == "SUB_TOTAL_AND_VENDOR_TAX" else sub * factor + tax
    return total.quantize(_CENT, rounding=ROUND_HALF_UP)


def _utc(seconds: int) -> datetime:
    return datetime.fromtimestamp(int(seconds), UTC)


def gen_jobs(rng: np.random.Generator, ctx: Context, n: int) -> list[dict[str, Any]]:
    """`n` Aimsio job orders for the firm's clients (aimsio.md §6.1 fields, store names)."""
    client_guids = uuids(rng, ctx.n_clients)
    guids = uuids(rng, 3 * n)
    days = ctx.today - rng.choice(HORIZON_DAYS, n, replace=n > HORIZON_DAYS) - 10
    clients = ctx.pick_clients(rng, n)
    seen: dict[str, int] = {}
    rows = []
    for k in range(n):
        start = int(days[k]) * DAY + 7 * 3600
        number = "JOB20250514" if k == 0 else "JOB" + _utc(start).strftime("%Y%m%d")  # seed 003's job first
        seen[number] = seen.get(number, 0) + 1
        number += f"-{seen[number]}" if seen[number] > 1 else ""
        status = _JOB_STATUS[int(rng.integers(len(_JOB_STATUS)))]
        created = start - int(rng.integers(1, 10)) * DAY
        staff = int(rng.integers(len(ctx.staff_first)))
        c = int(clients[k])
        site = _SITES[k % len(_SITES)]
        rows.append({
            "job_id": 1001 + k, "job_guid": guids[3 * k], "job_number": number,
            "job_name": f"{ctx.client_names[c].split()[0]} {site}",
            "job_description": f"Field services at {site}", "job_status": status,
            "job_type_uname": "field_service_job", "job_client_code": f"CL-{c + 1:04d}",
            "job_client_guid": client_guids[c], "job_client_name": ctx.client_names[c],
            "job_price_book_name": "Standard Rates", "job_price_book_guid": guids[3 * k + 1],
            "job_start_date": _utc(start),
            "job_end_date": _utc(start + int(rng.integers(5, 120)) * DAY) if status in ("Finished", "Cancelled")
            else None,
            "job_created_at": _utc(created),
            "job_updated_at": _utc(min(ctx.now_s, start + int(rng.integers(0, 40 * DAY)))),
            "job_show_in_dispatching": status in ("Active", "Assigned"),
            "job_assignee_employee_number": f"E{staff + 1:04d}" if status != "Unassigned" else None,
            "job_assignee_full_name": ctx.staff_names[staff] if status != "Unassigned" else None,
            "job_assignee_user_name": (f"{ctx.staff_first[staff].lower()}.{ctx.staff_last[staff].lower()}"
                                       "@sim-sandbox") if status != "Unassigned" else None,
            "job_address": f"{site}, Township {10 + k % 30}", "job_location_code": f"LOC-{k % 40 + 1:03d}",
            "job_location_name": site, "job_location_lat": round(53.5 + float(rng.random()), 6),
            "job_location_long": round(-113.5 - float(rng.random()), 6),
            "job_direction": "Gate code 4411; check in at the site office",
            "job_schedule_guid": guids[3 * k + 2], "job_schedule_budget_entry_option": "PerWBS",
            "job_schedule_contract_value_entry_option": "PerJob",
            "job_schedule_change_setting_option": "Manual",
        })
    return rows


def _base(rng: np.random.Generator, ctx: Context, job: dict[str, Any], created: int, updated: int,
          guid: str, seq: int) -> dict[str, Any]:
    staff = int(rng.integers(len(ctx.staff_first)))
    vendor = int(rng.integers(len(VENDORS)))
    typ = NRB_TYPES[int(rng.integers(len(NRB_TYPES)))]
    inv_at = created - int(rng.integers(0, 20 * DAY))
    return {
        "nrb_guid": guid, "nrb_external_id": f"EXT-{seq:06d}" if rng.random() < 0.7 else None,
        "nrb_origin_reference": f"AP-INV-{seq + 200}", "nrb_job_order_number": job["job_number"],
        "nrb_wbs_guid": job["job_schedule_guid"], "nrb_wbs_shared_identifier": f"{job['job_number']}-01.01",
        "nrb_po_number": f"PO-{13000 + seq}" if rng.random() < 0.6 else None,
        "nrb_purchase_order_guid": None, "nrb_purchase_order_cost_item_origin_reference": None,
        "nrb_invoice_number": f"AP-INV-{seq + 200}", "nrb_invoice_date": _utc(inv_at),
        "nrb_name": _NOTES[seq % len(_NOTES)], "nrb_type_uname": typ[1], "nrb_type_name": typ[0],
        "nrb_document_type": None, "nrb_account_type": "Billable", "nrb_is_billable": True,
        "nrb_vendor_guid": VENDOR_GUIDS[vendor], "nrb_vendor_code": VENDORS[vendor],
        "nrb_markup_applies_on": MARKUP_MODES[int(rng.integers(2))], "nrb_is_exported": False,
        "is_internal": False, "nrb_should_reconcile_with_po": False, "nrb_billed_in_guid": None,
        "nrb_billed_in_name": None, "nrb_file_name": f"receipt_{seq}.pdf" if rng.random() < 0.5 else None,
        "nrb_notes": _NOTES[int(rng.integers(len(_NOTES)))], "nrb_created_at": _utc(created),
        "nrb_created_by_user_name": f"{ctx.staff_first[staff].lower()}.{ctx.staff_last[staff].lower()}@sim-sandbox",
        "nrb_created_by_full_name": ctx.staff_names[staff], "nrb_updated_at": _utc(updated),
        "nrb_parent_guid": None, "nrb_parent_external_id": None, "deleted": False, "seq": seq,
    }


def _price(row: dict[str, Any], rate: Decimal, qty: Decimal, tax: Decimal, up: Decimal) -> dict[str, Any]:
    row.update(nrb_rate=rate, nrb_quantity=qty, nrb_vendor_tax=tax, nrb_upcharge=up,
               nrb_total_after_markup=nrb_total(rate, qty, tax, up, row["nrb_markup_applies_on"]))
    return row


def gen_nrbs(rng: np.random.Generator, ctx: Context, jobs: list[dict[str, Any]], n: int, seq0: int,
             fresh_at: int | None = None) -> list[dict[str, Any]]:
    """`n` top-level NRBs (plus children of AP-invoice receipts), store column names.

    Families: children share upcharge and markup mode with the parent, whole-dollar rates, integer
    quantities and vendor tax in 20-cent steps, so no rounding occurs and the children's totals add
    up exactly to the parent's (the parent: quantity 1, rate = Σ child subtotals, tax = Σ child taxes).
    """
    rows: list[dict[str, Any]] = []
    guids = iter(uuids(rng, 4 * n + 4))
    seq = seq0
    for k in range(n):
        job = jobs[0 if k == 0 and seq0 == 1 else int(rng.integers(len(jobs)))]
        if fresh_at is None:
            created = int(rng.integers(max(int(job["job_start_date"].timestamp()), ctx.now_s - HORIZON_DAYS * DAY),
                                       ctx.now_s))
            updated = min(ctx.now_s, created + int(rng.integers(0, 30 * DAY)) if rng.random() < 0.5 else created)
        else:
            created = updated = fresh_at
        row = _base(rng, ctx, job, created, updated, next(guids), seq)
        seq += 1
        if k == 0 and seq0 == 1:  # seed 003's example
            row.update(nrb_external_id=None, nrb_origin_reference="AP-INV-123", nrb_invoice_number="AP-INV-123",
                       nrb_po_number="PO-13624", nrb_name=None, nrb_type_uname="other_nrb_type",
                       nrb_type_name="Other", nrb_vendor_code="BIT", nrb_vendor_guid=VENDOR_GUIDS[0],
                       nrb_markup_applies_on="SUB_TOTAL", nrb_notes="Purchased field software",
                       nrb_file_name="pdf_sample.pdf", nrb_created_by_full_name="Admin Ken",
                       nrb_created_by_user_name="admin@kentest-sandbox")
            rows.append(_price(row, Decimal("750.000"), Decimal("1.000"), Decimal("37.500"), Decimal("10.000")))
            continue
        internal = rng.random() < 0.1
        billable = (not internal and rng.random() < 0.85) or (internal and rng.random() < 0.2)
        row.update(is_internal=internal, nrb_is_billable=billable,
                   nrb_account_type="Billable" if billable else "Not Billable")
        if billable and fresh_at is None and rng.random() < 0.4:
            row.update(nrb_billed_in_guid=next(guids), nrb_billed_in_name=f"INV-{20000 + seq}", nrb_is_exported=True)
        up = Decimal(int(rng.choice([0, 5, 10, 15, 20])))
        if fresh_at is None and rng.random() < 0.15:
            row["nrb_document_type"] = "RECEIPT_AP_INVOICE"
            kids = []
            for i in range(int(rng.integers(2, 4))):
                kid = dict(row, nrb_guid=next(guids), nrb_document_type=_CHILD_DOCS[int(rng.integers(4))],
                           nrb_origin_reference=f"{row['nrb_origin_reference']}-{i + 1}",
                           nrb_parent_guid=row["nrb_guid"], nrb_parent_external_id=row["nrb_external_id"],
                           nrb_external_id=f"EXT-{seq:06d}", nrb_notes=_NOTES[int(rng.integers(len(_NOTES)))],
                           seq=seq)
                seq += 1
                kids.append(_price(kid, Decimal(int(rng.integers(50, 2001))), Decimal(int(rng.integers(1, 11))),
                                   Decimal(int(rng.integers(0, 400))) / 5, up))
            rate = sum((r["nrb_rate"] * r["nrb_quantity"] for r in kids), Decimal(0))
            tax = sum((r["nrb_vendor_tax"] for r in kids), Decimal(0))
            rows.append(_price(row, rate, Decimal(1), tax, up))
            rows.extend(kids)
            continue
        qty = Decimal(1) if rng.random() < 0.5 else Decimal(int(rng.integers(1, 41))) / 2
        rate = Decimal(int(rng.integers(500, 500_001))) / 100
        tax = Decimal(0) if rng.random() < 0.4 else (rate * qty * Decimal("0.05")).quantize(_CENT, ROUND_HALF_UP)
        rows.append(_price(row, rate, qty, tax, up if rng.random() < 0.8 else Decimal("12.5")))
    return rows


NRB_SCHEMA = pa.schema([
    *[(c, pa.string()) for c in ("nrb_guid", "nrb_external_id", "nrb_origin_reference", "nrb_job_order_number",
                                 "nrb_wbs_guid", "nrb_wbs_shared_identifier", "nrb_po_number",
                                 "nrb_purchase_order_guid", "nrb_purchase_order_cost_item_origin_reference",
                                 "nrb_invoice_number")],
    ("nrb_invoice_date", pa.timestamp("us", tz="UTC")),
    *[(c, pa.string()) for c in ("nrb_name", "nrb_type_uname", "nrb_type_name", "nrb_document_type",
                                 "nrb_account_type")],
    ("nrb_is_billable", pa.bool_()), ("nrb_vendor_guid", pa.string()), ("nrb_vendor_code", pa.string()),
    *[(c, pa.decimal128(18, 3)) for c in ("nrb_rate", "nrb_quantity", "nrb_vendor_tax", "nrb_upcharge")],
    ("nrb_markup_applies_on", pa.string()), ("nrb_total_after_markup", pa.decimal128(18, 2)),
    ("nrb_is_exported", pa.bool_()), ("is_internal", pa.bool_()), ("nrb_should_reconcile_with_po", pa.bool_()),
    *[(c, pa.string()) for c in ("nrb_billed_in_guid", "nrb_billed_in_name", "nrb_file_name", "nrb_notes")],
    ("nrb_created_at", pa.timestamp("us", tz="UTC")),
    ("nrb_created_by_user_name", pa.string()), ("nrb_created_by_full_name", pa.string()),
    ("nrb_updated_at", pa.timestamp("us", tz="UTC")),
    ("nrb_parent_guid", pa.string()), ("nrb_parent_external_id", pa.string()),
    ("deleted", pa.bool_()), ("seq", pa.int64()),
])
"""Arrow schema of the `aimsio_nrbs` store table (parents and children in one table)."""
