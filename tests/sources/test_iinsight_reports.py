"""iinsight payments and billings in the reports, synced from the simulator over real HTTP into a real DuckDB file
and checked against the truth (``iinsight_truth``): AR aging as of dates before, between and after invoices'
payments, exact from the first sync and after history (voids between syncs); WIP outstanding of billings as of
any date (invoiced and deleted between syncs); the exceptions report; each optional endpoint switched off (the
vendor's payable as ``open_amount_basis``, no iinsight WIP), and the KPIs."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import duckdb
from iinsight_truth import expected_aging, expected_wip
from source_checks import small_firm, sync_one
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.models import report
from pipelines.sync import sync

SIZE = small_firm(iinsight_invoices=80, iinsight_payments=120, iinsight_billings=200)


def iinsight_rows(db, name: str, day: date) -> list[dict[str, Any]]:
    with duckdb.connect(str(db), read_only=True) as con:
        return [r for r in report(con, name, day).to_pylist() if r.get("source_system", "iinsight") == "iinsight"]


def aging(db, day: date) -> dict[str, Decimal]:
    rows = iinsight_rows(db, "aging", day)
    assert {r["open_amount_basis"] for r in rows} <= {"payments"}
    return {r["invoice_id"]: r["open_amount"] for r in rows}


def wip(db, day: date) -> dict[str, tuple[str, date, Decimal]]:
    rows = iinsight_rows(db, "wip", day)
    return {r["wip_id"]: (r["client_name"], r["logged_date"], r["outstanding_amount"]) for r in rows}


def today() -> date:
    return datetime.now(UTC).date()


def payment_dates(payments: list[dict[str, Any]]) -> list[date]:
    """Dates that split the payments: quintiles of their dates, around two voids, and today."""
    days = sorted({p["transaction_date"] for p in payments})
    voids = sorted({p["last_update_utc"].date() for p in payments if p["status"] == "VOIDED"})[:2]
    return [*(days[len(days) * k // 5] for k in range(5)), *(v + timedelta(d) for v in voids for d in (-1, 0)), today()]


def test_aging_is_exact_on_past_dates_from_the_first_sync(simulators, warehouse):
    cluster = simulators(size=SIZE)
    sync_one(warehouse, "iinsight", models=True)
    truth = cluster.firm.truth()
    invoices, payments = truth.iinsight_invoices.to_pylist(), truth.iinsight_payments.to_pylist()

    for day in payment_dates(payments):
        assert aging(warehouse, day) == expected_aging(invoices, payments, day), day

    # an invoice paid twice on different days: open in full before, in part between, the rest after
    active = [p for p in payments if p["status"] == "ACTIVE"]
    by_invoice = {i["invoice_id"]: i for i in invoices if i["status"] == "ACTIVE"}
    paid_twice = (
        (i, sorted(ps, key=lambda p: p["transaction_date"]))
        for i, ps in ((i, [p for p in active if p["invoice_id"] == i]) for i in by_invoice)
        if len({p["transaction_date"] for p in ps}) == 2
    )
    invoice_id, (first, second) = next(
        (i, ps) for i, ps in paid_twice if ps[0]["transaction_date"] > by_invoice[i]["date_of_invoice"]
    )
    key, total = str(invoice_id), by_invoice[invoice_id]["total"]
    assert aging(warehouse, first["transaction_date"] - timedelta(1))[key] == total
    assert aging(warehouse, first["transaction_date"])[key] == total - first["amount"]
    rest = total - first["amount"] - second["amount"]
    assert aging(warehouse, second["transaction_date"]).get(key, Decimal(0)) == rest

    # a payment voided later counts from its date until its void
    voided = next(
        p for p in payments
        if p["status"] == "VOIDED" and p["invoice_id"] in by_invoice
        and p["transaction_date"] < p["last_update_utc"].date() - timedelta(1)
    )
    key = str(voided["invoice_id"])
    during = aging(warehouse, voided["last_update_utc"].date() - timedelta(1)).get(key, Decimal(0))
    after = aging(warehouse, voided["last_update_utc"].date()).get(key, Decimal(0))
    assert after - during == voided["amount"]


def test_aging_after_history_counts_a_payment_voided_between_syncs_until_its_void(simulators, warehouse):
    cluster = simulators(size=SIZE)
    firm = cluster.firm
    sync_one(warehouse, "iinsight", models=True, api_version=2)  # v2 lists reversed invoices (no reconcile)
    before = firm.truth()
    firm.activity(fraction=0.2)  # payments voided and made, invoices voided and reversed, all stamped now
    sync_one(warehouse, "iinsight", models=True, api_version=2)
    after = firm.truth()
    payments = after.iinsight_payments.to_pylist()
    voided_now = [p for p in payments if p["status"] == "VOIDED" and p["last_update_utc"].date() == today()]
    assert voided_now

    yesterday = today() - timedelta(1)
    # until today, the invoices are as the first sync saw them; the payments voided today still count
    for day in (*payment_dates(payments)[:5], yesterday):
        assert aging(warehouse, day) == expected_aging(before.iinsight_invoices.to_pylist(), payments, day), day
    assert aging(warehouse, today()) == expected_aging(after.iinsight_invoices.to_pylist(), payments, today())
    open_today = {str(i["invoice_id"]): i["total_amount_payable"] for i in after.iinsight_invoices.to_pylist()
                  if i["status"] == "ACTIVE" and i["total_amount_payable"]}
    assert aging(warehouse, today()) == open_today  # today, total - payments = the vendor's payable


def test_wip_of_billings_on_any_date_and_after_invoicing_and_deleting(simulators, warehouse):
    cluster = simulators(size=SIZE)
    firm = cluster.firm
    sync_one(warehouse, "iinsight", models=True)
    first = firm.truth()
    billings = first.iinsight_billings.to_pylist()
    loaded = {i["invoice_id"]: i for i in first.iinsight_invoices.to_pylist() if i["status"] != "REVERSED"}  # v1
    work = sorted({b["reference_date"] for b in billings})
    invoiced = sorted({loaded[b["invoice"]]["date_of_invoice"] for b in billings if b["invoice"] in loaded})
    days = [*(work[len(work) * k // 4] for k in range(4)), invoiced[-1] - timedelta(1), invoiced[-1], today()]
    for day in days:
        assert wip(warehouse, day) == expected_wip(billings, loaded, day), day

    counts = firm.activity(fraction=0.2)["iinsight.billings"]
    sync_one(warehouse, "iinsight", models=True)
    second = firm.truth()
    now = second.iinsight_billings.to_pylist()
    loaded |= {i["invoice_id"]: i for i in second.iinsight_invoices.to_pylist() if i["status"] != "REVERSED"}
    present = {b["id"] for b in now}
    deleted = [b for b in billings if b["id"] not in present]
    assert len(deleted) == counts["deleted"] >= 1 and counts["edited"] >= 1
    yesterday = today() - timedelta(1)
    # yesterday the deleted billings were still there, and today's invoices not yet made
    assert wip(warehouse, yesterday) == expected_wip(now + deleted, loaded, yesterday)
    expected_today = expected_wip(now, loaded, today())
    assert wip(warehouse, today()) == expected_today
    assert all(str(b["id"]) not in expected_today for b in deleted)
    rows = iinsight_rows(warehouse, "wip", today())
    assert {r["wip_type"] for r in rows} == {"TIME", "UNIT"} and all(r["job"].startswith("case ") for r in rows)
    kpis = {r["source_system"]: r for r in iinsight_rows(warehouse, "kpis", today())}
    assert kpis["iinsight"]["wip_outstanding_amount"] == sum(v[2] for v in expected_today.values())


def test_exceptions_list_invoices_whose_payable_disagrees_and_never_fail_the_sync(simulators, warehouse):
    cluster = simulators(size=SIZE)
    firm = cluster.firm
    truth = firm.truth()
    active = [p for p in truth.iinsight_payments.to_pylist() if p["status"] == "ACTIVE"]
    totals = {i["invoice_id"]: i["total"] for i in truth.iinsight_invoices.to_pylist()}
    off, over = active[0], next(p for p in active if p["invoice_id"] != active[0]["invoice_id"])

    def inconsistent(con, t):
        # the vendor's payable 10.00 above total - payments; a payment above its invoice's total
        con.execute("UPDATE iinsight_invoices SET total_amount_payable = total_amount_payable + 10, "
                    "last_update_utc = ? WHERE invoice_id = ?", [t, off["invoice_id"]])
        con.execute("UPDATE iinsight_payments SET amount = ?, last_update_utc = ? WHERE payment_id = ?",
                    [totals[over["invoice_id"]] + 5, t, over["payment_id"]])

    firm.write(inconsistent)
    result = CliRunner().invoke(app, ["sync", "--source", "iinsight", "--db", str(warehouse)])

    assert result.exit_code == 0, result.output  # the data tests pass
    assert "exceptions: 2 invoices whose vendor figures disagree: `arwip report exceptions`" in result.output
    rows = {r["invoice_id"]: r for r in iinsight_rows(warehouse, "exceptions", today())}
    assert set(rows) == {str(off["invoice_id"]), str(over["invoice_id"])}
    assert rows[str(off["invoice_id"])]["difference"] == Decimal("10.00")
    assert rows[str(over["invoice_id"])]["open_amount"] < 0
    assert all(r["exception"] == "total_amount_payable differs from total minus payments" for r in rows.values())


def test_with_payments_unavailable_the_open_amount_is_the_vendors_payable(simulators, warehouse):
    cluster = simulators(size=SIZE)
    sync_one(warehouse, "iinsight", models=True)
    cluster.set_endpoint("iinsight.payments", "forbidden")
    cluster.set_endpoint("iinsight.billings", "off")
    (run,) = sync(warehouse, ["iinsight"], publish=False)

    assert [(e.name, why) for e, why in run.unavailable()] == [
        ("payments", "HTTP 403 at /api1/payments"),
        ("billings", "HTTP 404 at /api1/billings"),
    ]
    rows = iinsight_rows(warehouse, "aging", today())
    invoices = cluster.firm.truth().iinsight_invoices.to_pylist()
    payable = {str(i["invoice_id"]): i["total_amount_payable"] for i in invoices
               if i["status"] == "ACTIVE" and i["total_amount_payable"]}
    assert {r["invoice_id"]: r["open_amount"] for r in rows} == payable
    assert {r["open_amount_basis"] for r in rows} == {"vendor_payable"}
    assert iinsight_rows(warehouse, "wip", today()) == []  # iinsight work is left out
    assert iinsight_rows(warehouse, "exceptions", today()) == []  # nothing to cross-check

    cluster.set_endpoint("iinsight.payments", "on")
    cluster.set_endpoint("iinsight.billings", "on")
    sync(warehouse, ["iinsight"], publish=False)
    assert {r["open_amount_basis"] for r in iinsight_rows(warehouse, "aging", today())} == {"payments"}
    assert iinsight_rows(warehouse, "wip", today())
