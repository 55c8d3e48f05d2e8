"""The reports computed from the simulators' ground truth and compared with the warehouse's, for
:func:`tests.chaos.reconcile.reconcile`: AR aging (:func:`expected_aging`) and WIP outstanding
(:func:`expected_wip`) as of a date, in ``Decimal`` following the README's definitions, and
:func:`compare_report`, row by row (open amount, days, bucket) and in total, to the cent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa

from simulators.data import Truth
from tests.chaos.reconcile_tables import norm
from tests.sources import iinsight_truth

BUCKETS = ((None, 0, "current"), (1, 30, "1-30"), (31, 60, "31-60"), (61, 90, "61-90"), (91, None, "91+"))


@dataclass
class ReportDiff:
    """Differences between a report from the warehouse and the same report computed from the truth."""

    report: str
    expected_rows: int = 0
    actual_rows: int = 0
    missing: int = 0
    extra: int = 0
    different: int = 0
    expected_total: Decimal = Decimal(0)
    actual_total: Decimal = Decimal(0)
    examples: list[str] = field(default_factory=list)

    @property
    def differences(self) -> int:
        return self.missing + self.extra + self.different + (self.expected_total != self.actual_total)

    def note(self, text: str) -> None:
        if len(self.examples) < 5:
            self.examples.append(text)


def bucket(days: int) -> str:
    """The default aging bucket of ``days`` (README: current <= 0, 1-30, 31-60, 61-90, 91+)."""
    for lo, hi, label in BUCKETS:
        if (lo is None or days >= lo) and (hi is None or days <= hi):
            return label
    raise AssertionError(days)  # pragma: no cover


def _day(value: Any) -> date:
    return norm(value).date() if isinstance(value, datetime) else value


ReportRows = dict[tuple[str, str], tuple[Decimal, int, str]]


def expected_aging(truth: Truth, as_of: date) -> ReportRows:
    """AR aging from the truth (README "Reports"): (source, invoice id) -> (open amount, days past due, bucket);
    an iinsight invoice owes its total minus its payments (``tests/sources/iinsight_truth.py``)."""
    paid: dict[Any, Decimal] = {}
    for p in truth.aiwyn_payments.to_pylist():
        if p["status"] == "CONFIRMED" and p["invoice_id"] is not None and _day(p["payment_date"]) <= as_of:
            paid[p["invoice_id"]] = paid.get(p["invoice_id"], Decimal(0)) + p["amount"]
    out: ReportRows = {}
    for inv in truth.aiwyn_invoices.to_pylist():
        if inv["status"] in ("CANCELLED", "DRAFT") or _day(inv["invoice_date"]) > as_of:
            continue
        open_amount = inv["total_amount"] - paid.get(inv["id"], Decimal(0))
        if open_amount != 0:
            days = (as_of - _day(inv["due_date"] or inv["invoice_date"])).days
            out[("aiwyn", str(inv["id"]))] = (open_amount, days, bucket(days))
    invoices = truth.iinsight_invoices.to_pylist()
    open_amounts = iinsight_truth.expected_aging(invoices, truth.iinsight_payments.to_pylist(), as_of)
    for inv in invoices:
        amount = open_amounts.get(str(inv["invoice_id"]))
        if amount is not None:
            days = (as_of - (inv["due_date"] or inv["date_of_invoice"])).days
            out[("iinsight", str(inv["invoice_id"]))] = (amount, days, bucket(days))
    return out


def expected_wip(truth: Truth, as_of: date, held: set[str]) -> ReportRows:
    """WIP outstanding from the truth (README "Reports"): (source, wip id) -> (outstanding, age days, bucket);
    iinsight billings by ``tests/sources/iinsight_truth.py``; ``held``: the iinsight invoice ids the warehouse
    holds (a billing on another invoice counts as billed)."""
    out: ReportRows = {}
    for w in truth.aiwyn_wip.to_pylist():
        logged = _day(w["logged_date"])
        amount = w["value"] - (w["billed_amount"] or 0) - (w["write_off_amount"] or 0)
        if logged <= as_of and amount > 0:
            age = (as_of - logged).days
            out[("aiwyn", str(w["id"]))] = (amount, age, bucket(age))
    for n in truth.aimsio_nrbs.to_pylist():
        created = _day(n["nrb_created_at"])
        if not n["nrb_is_billable"] or n["is_internal"] or n["nrb_billed_in_guid"] is not None or created > as_of:
            continue
        if n["nrb_total_after_markup"] > 0:
            age = (as_of - created).days
            out[("aimsio", str(n["nrb_guid"]))] = (n["nrb_total_after_markup"], age, bucket(age))
    invoices = {i["invoice_id"]: i for i in truth.iinsight_invoices.to_pylist() if str(i["invoice_id"]) in held}
    billings = iinsight_truth.expected_wip(truth.iinsight_billings.to_pylist(), invoices, as_of)
    for ident, (_, logged, amount) in billings.items():
        age = (as_of - logged).days
        out[("iinsight", ident)] = (amount, age, bucket(age))
    return out


def compare_report(
    name: str, expected: ReportRows, actual: pa.Table, id_column: str, amount: str, days: str
) -> ReportDiff:
    """Row-by-row comparison of a report with its expected rows (and of the totals, to the cent)."""
    diff = ReportDiff(name, expected_rows=len(expected), actual_rows=actual.num_rows)
    got: ReportRows = {}
    for row in actual.to_pylist():
        key = (row["source_system"], str(row[id_column]))
        if key in got:
            diff.different += 1
            diff.note(f"{key} listed twice")
        got[key] = (row[amount], row[days], row["aging_bucket"])
    diff.expected_total = sum((v[0] for v in expected.values()), Decimal(0))
    diff.actual_total = sum((v[0] for v in got.values()), Decimal(0))
    for key, want in expected.items():
        if key not in got:
            diff.missing += 1
            diff.note(f"missing {key} {want}")
        elif got[key] != want:
            diff.different += 1
            diff.note(f"{key}: expected {want}, report {got[key]}")
    for key in got.keys() - expected.keys():
        diff.extra += 1
        diff.note(f"extra {key} {got[key]}")
    return diff
