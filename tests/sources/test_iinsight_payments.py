"""The iinsight payments resource against the simulator over real HTTP, into a real DuckDB file: v1 and v2 rows
equal to the truth (both signs on v1, day-first dates, the status from the request), page-number paging edges,
a void between syncs (a second version in the history), rows shifting while we page, a row that does not parse
(quarantined), and the endpoint switched off or forbidden (the rest of the source loads, entity_status says so)."""

from __future__ import annotations

import duckdb
import orjson
import pyarrow as pa
import pytest
from source_checks import assert_table_matches, column_types, query, small_firm, sync_one

from simulators import Faults, Firm, SimSettings, SimulatorCluster
from tests.chaos.asgi import Intercept

PAYMENT_KEY = ("payment_id",)
ACTIVE_ONLY = {"iinsight_voided_share": 0, "iinsight_reversed_share": 0, "iinsight_payment_voided_share": 0}


def expected_payments(firm: Firm, version: int) -> pa.Table:
    """The truth's payments as the API shows them: ``amount`` signed (v1 per payment, v2 negative), status."""
    rows = firm.truth().iinsight_payments.to_pylist()
    for row in rows:
        row["amount"] = row["v1_amount"] if version == 1 else -row["amount"]
    return pa.Table.from_pylist(rows).drop_columns(["v1_amount"])


def assert_payments_match_truth(db, firm: Firm, version: int) -> int:
    columns = ["transaction_date", "amount", "invoice_id", "payment_number", "type", "status", "last_update_utc"]
    convert = {"payment_id": str, "invoice_id": str}
    expected = expected_payments(firm, version)
    return assert_table_matches(db, "iinsight.payments", expected, PAYMENT_KEY, columns, convert)


@pytest.mark.parametrize("version", [1, 2])
def test_payments_of_both_api_versions_equal_the_truth(simulators, warehouse, version):
    cluster = simulators(size=small_firm(iinsight_invoices=80, iinsight_payments=150))
    truth = cluster.firm.truth().iinsight_payments
    stats = sync_one(warehouse, "iinsight", models=True, api_version=version, max_in_flight=1)["payments"]

    statuses = truth["status"].to_pylist()
    assert statuses.count("VOIDED") == 8 and statuses.count("ACTIVE") == 142
    assert (stats.rows, stats.quarantined) == (150, 0)
    assert stats.requests == 2 + 1  # 142 active: a full page and a short one; 8 voided: one page
    assert assert_payments_match_truth(warehouse, cluster.firm, version) == 150
    types = column_types(warehouse, "iinsight.payments")
    assert (types["amount"], types["transaction_date"], types["status"]) == ("DECIMAL(18,2)", "DATE", "VARCHAR")
    signs = query(warehouse, "select count(*) filter (amount < 0) neg, count(*) filter (amount > 0) pos "
                             "from iinsight.payments")[0]
    assert signs["neg"] == 150 if version == 2 else (signs["neg"] > 20 and signs["pos"] > 20)  # v1: both signs
    # what the payment takes off its invoice is the absolute value, whatever the sign
    paid = {str(r["payment_id"]): r["amount"] for r in truth.to_pylist()}
    staged = query(warehouse, "select payment_id, payment_amount from staging.stg_iinsight__payments")
    assert {r["payment_id"]: r["payment_amount"] for r in staged} == paid
    day_first = next(r for r in truth.to_pylist() if r["transaction_date"].day > 12)
    sql = f"select transaction_date from iinsight.payments where payment_id = '{day_first['payment_id']}'"
    assert query(warehouse, sql) == [{"transaction_date": day_first["transaction_date"]}]


@pytest.mark.parametrize(
    ("active", "requests"),
    [(0, 1 + 1), (100, 2 + 1), (101, 2 + 1), (250, 3 + 1)],
    ids=["none", "exactly-100", "101", "250"],
)
def test_page_number_paging_edges(simulators, warehouse, active, requests):
    # requests: the active pages (a full page is followed by another), plus the one empty page of voided ones
    cluster = simulators(size=small_firm(iinsight_invoices=300, iinsight_payments=active, **ACTIVE_ONLY))
    stats = sync_one(warehouse, "iinsight", max_in_flight=1)["payments"]

    assert (stats.rows, stats.requests, stats.retries, stats.quarantined) == (active, requests, 0, 0)
    if active:
        assert assert_payments_match_truth(warehouse, cluster.firm, 1) == active


def void_payment(firm: Firm, payment_id: int) -> None:
    """Void an active payment as iinsight does: the payment and its invoice stamped, the invoice's payable back up."""

    def change(con, t):
        con.execute("UPDATE iinsight_payments SET status = 'VOIDED', last_update_utc = ? WHERE payment_id = ?",
                    [t, payment_id])
        con.execute("UPDATE iinsight_invoices i SET total_amount_payable = i.total_amount_payable + p.amount, "
                    "last_update_utc = ? FROM iinsight_payments p WHERE p.payment_id = ? "
                    "AND i.invoice_id = p.invoice_id", [t, payment_id])

    firm.write(change)


def test_a_payment_voided_between_syncs_is_loaded_again_as_voided(simulators, warehouse):
    cluster = simulators(size=small_firm(iinsight_invoices=60, iinsight_payments=40))
    firm = cluster.firm
    sync_one(warehouse, "iinsight")
    payment = next(r for r in firm.truth().iinsight_payments.to_pylist() if r["status"] == "ACTIVE")
    void_payment(firm, payment["payment_id"])

    stats = sync_one(warehouse, "iinsight")
    assert (stats["payments"].rows, stats["invoices"].rows) == (1, 1)  # the void stamps both
    assert_payments_match_truth(warehouse, firm, 1)
    versions = query(warehouse, "select status from iinsight.payments_history where payment_id = "
                                f"'{payment['payment_id']}' order by last_update_utc")
    assert [v["status"] for v in versions] == ["ACTIVE", "VOIDED"]


def test_payments_shifting_on_every_page_are_all_loaded(simulators, warehouse):
    # the simulator's page_shift fault touches a payment of every page just served, moving it to the end of the
    # order: page-number paging then skips the row that slides into its place, unless the source re-scans
    size = small_firm(iinsight_invoices=300, iinsight_payments=250, **ACTIVE_ONLY)
    cluster = simulators(size=size, seed=4, settings=SimSettings(faults=Faults(seed=4, page_shift=1.0)))
    stats = sync_one(warehouse, "iinsight", max_in_flight=1)["payments"]

    assert cluster.stats["iinsight"]["faults"]["page_shift"] >= 3
    loaded = {r["payment_id"] for r in query(warehouse, "select payment_id from iinsight.payments")}
    assert loaded == {str(i) for i in cluster.firm.truth().iinsight_payments["payment_id"].to_pylist()}
    assert stats.rows >= 250


def _spoil_payment(scope, status, body):
    if scope["path"] != "/api1/payments" or status != 200:
        return None
    rows = orjson.loads(body)
    if rows:
        rows[0]["transaction_date"] = "31-02-2024"  # not a date
    return orjson.dumps(rows)


def test_a_payment_that_does_not_parse_is_quarantined_and_the_rest_loads(warehouse):
    firm = Firm(seed=1, size=small_firm(iinsight_invoices=60, iinsight_payments=40))
    cluster = SimulatorCluster(firm, SimSettings())
    cluster.apps["iinsight"] = Intercept(cluster.apps["iinsight"], after=_spoil_payment)
    with cluster, pytest.MonkeyPatch.context() as patch:
        for key, value in cluster.credentials.items():
            patch.setenv(key, value)
        stats = sync_one(warehouse, "iinsight")["payments"]
    firm.close()
    assert (stats.rows, stats.quarantined) == (38, 2)  # the first active and the first voided payment
    with duckdb.connect(str(warehouse), read_only=True) as con:
        reasons = con.sql("select entity, reason from iinsight.quarantine").fetchall()
    assert [e for e, _ in reasons] == ["payments", "payments"]
    assert all("transaction_date" in r for _, r in reasons)


@pytest.mark.parametrize(("state", "code"), [("off", 404), ("forbidden", 403)])
def test_payments_unavailable_leave_the_rest_of_the_source_loading(simulators, warehouse, state, code):
    cluster = simulators(size=small_firm(iinsight_invoices=60, iinsight_payments=40))
    cluster.set_endpoint("iinsight.payments", state)
    stats = sync_one(warehouse, "iinsight")

    assert stats["invoices"].rows == 59 and stats["billings"].rows > 0
    assert (stats["payments"].rows, stats["payments"].unavailable) == (0, f"HTTP {code} at /api1/payments")
    status = query(warehouse, "select entity, available, reason from iinsight.entity_status order by entity")
    assert status == [
        {"entity": "billings", "available": True, "reason": None},
        {"entity": "payments", "available": False, "reason": f"HTTP {code} at /api1/payments"},
    ]
    cluster.set_endpoint("iinsight.payments", "on")  # the next sync tries again, from the start
    again = sync_one(warehouse, "iinsight")["payments"]
    assert (again.rows, again.unavailable) == (40, None)
    assert query(warehouse, "select available from iinsight.entity_status where entity = 'payments'") == [
        {"available": True}
    ]
