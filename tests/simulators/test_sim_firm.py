"""The generated firm: determinism, exact sizes, consistent money, demo-worthy spread, activity."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from sim_clients import NOW

from simulators import Firm, FirmSize
from simulators._gen_aimsio import nrb_total

BUCKETS = ((None, 0), (1, 30), (31, 60), (61, 90), (91, None))


def _bucket_counts(days_past_due: list[int]) -> list[int]:
    return [sum(1 for d in days_past_due if (lo is None or d >= lo) and (hi is None or d <= hi)) for lo, hi in BUCKETS]


def test_same_seed_same_data_and_other_seed_differs() -> None:
    a, b, c = (Firm(seed=s, size="tiny", now=NOW) for s in (3, 3, 4))
    ta, tb, tc = a.truth(), b.truth(), c.truth()
    for name, table in ta.as_dict().items():
        assert table.equals(tb[name]), name
    assert not ta.aiwyn_wip.equals(tc.aiwyn_wip)


def test_sizes_are_exact_and_typed(firm: Firm) -> None:
    t = firm.truth()
    size = firm.size
    assert t.aiwyn_wip.num_rows == size.wip
    assert t.aiwyn_invoices.num_rows == size.aiwyn_invoices
    assert t.aimsio_nrbs.num_rows == size.nrbs
    assert t.aimsio_job_orders.num_rows == size.job_orders
    assert t.iinsight_invoices.num_rows == size.iinsight_invoices
    assert t.iinsight_payments.num_rows == size.iinsight_payments
    assert t.iinsight_billings.num_rows == size.iinsight_billings
    assert pc.sum(pc.equal(t.iinsight_billings.column("invoice"), 0)).as_py() == round(
        size.iinsight_billings * size.iinsight_unbilled_share)
    assert pc.sum(pc.equal(t.iinsight_payments.column("status"), "VOIDED")).as_py() == round(
        size.iinsight_payments * size.iinsight_payment_voided_share)
    for table, column in (("iinsight_payments", "amount"), ("iinsight_payments", "v1_amount"),
                          ("iinsight_billings", "total_charge"), ("iinsight_billings", "quantity")):
        assert t[table].schema.field(column).type == pa.decimal128(18, 2), (table, column)
    assert t.iinsight_payments.schema.field("transaction_date").type == pa.date32()
    assert t.iinsight_billings.schema.field("time_inserted").type == pa.timestamp("us", tz="UTC")
    assert t.aiwyn_wip.schema.field("value").type == pa.decimal128(18, 2)
    assert t.aiwyn_wip.schema.field("updated_at").type == pa.timestamp("us", tz="UTC")
    assert t.iinsight_invoices.schema.field("date_of_invoice").type == pa.date32()
    assert t.aimsio_nrbs.schema.field("nrb_total_after_markup").type == pa.decimal128(18, 2)


def test_knobs_give_exactly_100_active_iinsight_invoices() -> None:
    size = replace(FirmSize.preset("tiny"), iinsight_invoices=100, iinsight_voided_share=0, iinsight_reversed_share=0)
    statuses = Firm(seed=1, size=size, now=NOW).truth().iinsight_invoices.column("status").to_pylist()
    assert statuses == ["ACTIVE"] * 100


@pytest.mark.parametrize("counts", [
    {"iinsight_invoices": 0},
    {"iinsight_invoices": 0, "iinsight_payments": 0, "iinsight_billings": 0},
    {"iinsight_payments": 0, "iinsight_billings": 0},  # nothing paid, nothing billed
    {"iinsight_invoices": 3, "iinsight_voided_share": 1.0, "iinsight_reversed_share": 0.0},  # no payable invoice
    {"iinsight_invoices": 5, "iinsight_billings": 500},  # more billed billings wanted than there are items
])
def test_iinsight_edge_sizes_stay_exact_and_consistent(counts: dict[str, float]) -> None:
    size = replace(FirmSize.preset("tiny"), **counts)
    firm = Firm(seed=1, size=size, now=NOW)
    t = firm.truth()
    expected_payments = size.iinsight_payments if size.iinsight_invoices else 0
    assert (t.iinsight_invoices.num_rows, t.iinsight_payments.num_rows, t.iinsight_billings.num_rows) == (
        size.iinsight_invoices, expected_payments, size.iinsight_billings)
    items = t.iinsight_invoice_items.num_rows
    assert sum(1 for i in t.iinsight_billings.column("invoice").to_pylist() if i) == min(
        items, size.iinsight_billings - round(size.iinsight_billings * size.iinsight_unbilled_share))
    test_money_is_consistent(firm)
    firm.activity(0.5)
    test_money_is_consistent(firm)


def test_money_is_consistent(firm: Firm) -> None:
    q = firm.query
    assert q("SELECT count(*) FROM aiwyn_wip WHERE outstanding_amount <> value - billed_amount - write_off_amount "
             "OR outstanding_amount < 0 OR (type = 'TIME' AND value <> hours * rate)") == [(0,)]
    assert q("SELECT count(*) FROM aiwyn_invoices WHERE total_amount <> subtotal + tax_amount + interest_amount "
             "OR outstanding_amount <> total_amount - paid_amount") == [(0,)]
    assert q("""SELECT count(*) FROM aiwyn_invoices i
                LEFT JOIN (SELECT invoice_id, sum(amount) s FROM aiwyn_line_items GROUP BY 1) l ON l.invoice_id = i.id
                LEFT JOIN (SELECT invoice_id, sum(amount) s FROM aiwyn_payments WHERE status = 'CONFIRMED' GROUP BY 1) p
                  ON p.invoice_id = i.id
                WHERE l.s <> i.subtotal OR coalesce(p.s, 0) <> i.paid_amount""") == [(0,)]
    assert q("SELECT count(*) FROM aiwyn_line_items WHERE amount <> quantity * unit_price") == [(0,)]
    assert q("""SELECT count(*) FROM iinsight_invoices i JOIN (SELECT invoice_id, sum(total) s, sum(tax_amount) t
                FROM iinsight_items GROUP BY 1) it USING (invoice_id)
                WHERE it.s <> i.total OR it.t <> i.total_tax OR i.total <> i.sub_total + i.total_tax
                   OR i.total_amount_payable < 0 OR i.total_amount_payable > i.total""") == [(0,)]
    # iinsight: an active invoice owes its total less its active payments; others owe nothing and have none active
    assert q("""SELECT count(*) FROM iinsight_invoices i LEFT JOIN (SELECT invoice_id, sum(amount) s
                FROM iinsight_payments WHERE status = 'ACTIVE' GROUP BY 1) p USING (invoice_id)
                WHERE i.total_amount_payable <> CASE WHEN i.status = 'ACTIVE' THEN i.total - coalesce(p.s, 0) ELSE 0 END
                   OR (i.status <> 'ACTIVE' AND p.s IS NOT NULL)""") == [(0,)]
    assert q("""SELECT count(*) FROM iinsight_payments p JOIN iinsight_invoices i USING (invoice_id)
                WHERE p.amount <= 0 OR p.transaction_date < i.date_of_invoice
                   OR p.last_update_utc > i.last_update_utc""") == [(0,)]  # a payment or its void stamps the invoice
    # billed billings lie within their invoice, dated on or before it; an invoice made of billings is their total
    assert q("""SELECT count(*) FROM iinsight_billings_v b LEFT JOIN iinsight_invoices i ON i.invoice_id = b.invoice
                WHERE b.invoice <> 0 AND (i.invoice_id IS NULL OR b.reference_date > i.date_of_invoice)
                   OR b.total_charge <> b.quantity * b.unit_charge + b.tax_amount""") == [(0,)]
    assert q("""SELECT count(*) FROM iinsight_invoices i JOIN (SELECT invoice, sum(total_charge) s
                FROM iinsight_billings_v WHERE invoice <> 0 GROUP BY 1) b ON b.invoice = i.invoice_id
                WHERE b.s > i.total""") == [(0,)]


def test_nrb_totals_follow_seed_003_and_children_add_up(firm: Firm) -> None:
    t = firm.truth()
    for row in [*t.aimsio_nrbs.to_pylist(), *t.aimsio_nrb_children.to_pylist()]:
        assert row["nrb_total_after_markup"] == nrb_total(row["nrb_rate"], row["nrb_quantity"], row["nrb_vendor_tax"],
                                                          row["nrb_upcharge"], row["nrb_markup_applies_on"])
    seed = t.aimsio_nrbs.to_pylist()[0]
    assert (seed["nrb_rate"], seed["nrb_quantity"], seed["nrb_vendor_tax"], seed["nrb_upcharge"]) == (
        Decimal("750.000"), Decimal("1.000"), Decimal("37.500"), Decimal("10.000"))
    assert seed["nrb_total_after_markup"] == Decimal("862.50")
    children = t.aimsio_nrb_children.to_pylist()
    assert children
    parents = {r["nrb_guid"]: r for r in t.aimsio_nrbs.to_pylist()}
    for guid in {c["nrb_parent_guid"] for c in children}:
        assert parents[guid]["nrb_document_type"] == "RECEIPT_AP_INVOICE"
        kids = sum(c["nrb_total_after_markup"] for c in children if c["nrb_parent_guid"] == guid)
        assert kids == parents[guid]["nrb_total_after_markup"]


def test_nrb_total_rounds_half_up() -> None:
    assert nrb_total(Decimal("0.005"), Decimal(1), None, None, None) == Decimal("0.01")
    sub = Decimal("100") * Decimal("1.5")
    expected = ((sub + Decimal("10")) * Decimal("1.1")).quantize(Decimal("0.01"), ROUND_HALF_UP)
    got = nrb_total(Decimal("100"), Decimal("1.5"), Decimal("10"), Decimal("10"), "SUB_TOTAL_AND_VENDOR_TAX")
    assert got == expected


def test_demo_firm_is_demo_worthy_and_quick() -> None:
    started = time.monotonic()
    firm = Firm(seed=1, size="demo", now=NOW)
    assert time.monotonic() - started < 15
    today = NOW.date()
    aiwyn = firm.query("SELECT CAST(due_date AS DATE) FROM aiwyn_invoices WHERE outstanding_amount > 0 "
                       "AND status IN ('POSTED', 'OVERDUE')")
    assert all(n > 0 for n in _bucket_counts([(today - r[0]).days for r in aiwyn]))
    ii = firm.query("SELECT due_date FROM iinsight_invoices WHERE status = 'ACTIVE' AND total_amount_payable > 0")
    assert all(n > 0 for n in _bucket_counts([(today - r[0]).days for r in ii]))
    t = firm.truth()
    statuses = set(t.aiwyn_invoices.column("status").to_pylist())
    assert statuses == {"PENDING", "POSTED", "PAID", "OVERDUE", "CANCELLED", "DRAFT"}
    assert set(t.aiwyn_wip.column("type").to_pylist()) == {"TIME", "EXPENSE", "FIXED_FEE", "DISBURSEMENT"}
    assert set(t.aiwyn_payments.column("status").to_pylist()) == {"CONFIRMED", "FAILED"}
    assert set(t.iinsight_invoices.column("status").to_pylist()) == {"ACTIVE", "VOIDED", "REVERSED"}
    wip = t.aiwyn_wip
    assert pc.sum(pc.greater(wip.column("write_off_amount"), 0)).as_py() > 0
    partial = pc.and_(pc.greater(wip.column("billed_amount"), 0), pc.greater(wip.column("outstanding_amount"), 0))
    assert pc.sum(partial).as_py() > 0
    nrbs = t.aimsio_nrbs
    for column in ("nrb_is_billable", "is_internal"):
        assert set(nrbs.column(column).to_pylist()) == {True, False}
    assert pc.sum(pc.is_valid(nrbs.column("nrb_billed_in_guid"))).as_py() > 0
    assert set(t.aimsio_job_orders.column("job_client_name").to_pylist()) <= set(wip.column("client_name").to_pylist())
    names = set(t.iinsight_invoices.column("to").to_pylist())
    assert names & set(wip.column("client_name").to_pylist()) == names
    oldest = pc.min(t.aiwyn_invoices.column("invoice_date")).as_py()
    assert timedelta(days=400) < NOW - oldest < timedelta(days=470)


def test_timestamps_are_past_and_tied(firm: Firm) -> None:
    t = firm.truth()
    for table, column in (("aiwyn_wip", "updated_at"), ("aiwyn_invoices", "updated_at"),
                          ("aiwyn_payments", "updated_at"), ("iinsight_invoices", "last_update_utc"),
                          ("aimsio_nrbs", "nrb_updated_at")):
        values = t[table].column(column).to_pylist()
        assert max(values) <= NOW, table
    created_ok = firm.query("SELECT count(*) FROM aiwyn_wip WHERE updated_at < created_at")
    assert created_ok == [(0,)]
    ties = firm.query("SELECT max(c) FROM (SELECT count(*) c FROM aiwyn_wip GROUP BY updated_at)")[0][0]
    assert ties >= 3


def test_activity_touches_every_entity_after_everything_else(fresh_firm: Firm) -> None:
    before = fresh_firm.truth()
    latest = max(fresh_firm.updated_at_max(e) for e in ("aiwyn.wip", "aiwyn.invoices", "aimsio.nrbs",
                                                        "iinsight.invoices", "aimsio.job_orders"))
    counts = fresh_firm.activity(fraction=0.1)
    t = fresh_firm.now
    assert t > latest
    assert t <= datetime.now(UTC)
    for entity, kinds in counts.items():
        assert sum(kinds.values()) > 0, entity
        assert fresh_firm.updated_at_max(entity) == t, entity
    assert counts["aimsio.nrbs"]["deleted"] >= 1
    after = fresh_firm.truth()
    assert after.aiwyn_wip.num_rows == before.aiwyn_wip.num_rows + counts["aiwyn.wip"]["new"]
    assert after.aimsio_nrbs.num_rows == (before.aimsio_nrbs.num_rows + counts["aimsio.nrbs"]["new"]
                                          - counts["aimsio.nrbs"]["deleted"])
    touched = pc.sum(pc.equal(after.aiwyn_wip.column("updated_at"), pa.scalar(t, pa.timestamp("us", "UTC"))))
    assert touched.as_py() == counts["aiwyn.wip"]["new"] + counts["aiwyn.wip"]["edited"]
    test_money_is_consistent(fresh_firm)


def test_a_hundred_activity_steps_keep_the_store_intact() -> None:
    # each step re-appends the rows it touched; done as INSERT ... SELECT from the same table + DELETE, DuckDB
    # 2.0's in-memory store corrupted a string segment after 24-85 steps (COMMIT error, NULL amounts, a crash)
    firm = Firm(seed=7, size="demo", now=NOW)
    for _ in range(100):
        firm.activity(0.02)
    truth = firm.truth()
    assert truth.aiwyn_payments.column("amount").null_count == 0
    assert truth.aiwyn_wip.column("value").null_count == 0
    assert firm.scalar("SELECT count(*) FROM aiwyn_wip") == truth.aiwyn_wip.num_rows
    test_money_is_consistent(firm)


def test_activity_is_deterministic_given_a_seed() -> None:
    a, b = Firm(seed=5, size="tiny", now=NOW), Firm(seed=5, size="tiny", now=NOW)
    assert a.activity(0.2, seed=9) == b.activity(0.2, seed=9)
    drop = ["updated_at", "created_at", "payment_date", "logged_date", "invoice_date", "due_date"]
    for name in ("aiwyn_wip", "aiwyn_invoices", "aiwyn_payments"):
        ta, tb = a.truth()[name], b.truth()[name]
        keep = [c for c in ta.column_names if c not in drop]
        assert ta.select(keep).equals(tb.select(keep)), name


def test_unknown_size_is_rejected() -> None:
    with pytest.raises(ValueError):
        FirmSize.preset("huge")
    with pytest.raises(ValueError):
        Firm(size="tiny", now=datetime(2025, 1, 1))  # naive
