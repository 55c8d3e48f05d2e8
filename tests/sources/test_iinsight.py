"""The iinsight source against the iinsight simulator over real HTTP, into a real DuckDB file: page-number paging
edges, v1 day-first dates and v2 ISO dates with the reversed status, voided invoices, items, the watermark per
status (lag window, boundary de-duplication), incremental syncs, access-token refresh and refused credentials."""

from __future__ import annotations

from datetime import timedelta

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from source_checks import (
    LAG,
    assert_table_matches,
    column_types,
    count_between,
    count_requests,
    dlt_source,
    expire_tokens,
    newest,
    query,
    refused,
    row_count,
    run_resource,
    small_firm,
    sync_one,
)

from pipelines.models import report
from pipelines.sync import sync
from simulators import SimSettings
from simulators import iinsight as iinsight_simulator

ACTIVE_ONLY = {"iinsight_voided_share": 0, "iinsight_reversed_share": 0}
INVOICE_KEY = ("invoice_id",)
AS_TEXT = {"invoice_id": str, "company_id": str, "terms": str, "contact_id": str, "cost_id": str, "employee_id": str}


def items_with_position(items: pa.Table) -> pa.Table:
    """The truth's items with ``item_no``: their 1-based position in the invoice (the API lists them by cost_id)."""
    rows = sorted(items.to_pylist(), key=lambda r: (r["invoice_id"], r["cost_id"]))
    position: dict[int, int] = {}
    for row in rows:
        position[row["invoice_id"]] = row["item_no"] = position.get(row["invoice_id"], 0) + 1
    return pa.Table.from_pylist(rows)


def assert_iinsight_matches_truth(db, firm, statuses: tuple[str, ...] = ("ACTIVE", "VOIDED"), version: int = 1) -> int:
    """Invoices of ``statuses`` and their items equal the truth; returns how many invoices. (Items of v1 carry
    neither ``cost_id`` nor ``description``.)"""
    truth = firm.truth()
    invoices = truth.iinsight_invoices.filter(pc.is_in(truth.iinsight_invoices["status"], pa.array(statuses)))
    n = assert_table_matches(db, "iinsight.invoices", invoices, INVOICE_KEY, convert=AS_TEXT)
    ids = pa.array(sorted(set(invoices["invoice_id"].to_pylist())), pa.int64())
    items = items_with_position(truth.iinsight_invoice_items)
    items = items.filter(pc.is_in(items["invoice_id"], ids))
    if version == 1:
        items = items.drop_columns(["cost_id", "description"])
    assert_table_matches(db, "iinsight.invoice_items", items, ("invoice_id", "item_no"), convert=AS_TEXT)
    return n


def aging_ids(db) -> set[str]:
    with duckdb.connect(str(db), read_only=True) as con:
        rows = report(con, "aging").to_pylist()
    return {r["invoice_id"] for r in rows if r["source_system"] == "iinsight"}


@pytest.mark.parametrize(
    ("active", "window", "requests"),
    [(0, 1, 1 + 1), (100, 1, 2 + 1), (101, 1, 2 + 1), (250, 1, 3 + 1), (250, 8, 9 + 1)],
    ids=["none", "exactly-100", "101", "250", "250-eight-pages-ahead"],
)
def test_page_number_paging_edges(simulators, warehouse, active, window, requests):
    # requests: the active pages (a full page is followed by another; pages are fetched `window` at a time after
    # the first), plus the one empty page of voided invoices
    cluster = simulators(size=small_firm(iinsight_invoices=active, **ACTIVE_ONLY))
    stats = sync_one(warehouse, "iinsight", max_in_flight=window)["invoices"]

    assert (stats.rows, stats.requests, stats.retries, stats.quarantined) == (active, requests, 0, 0)
    if active:
        assert assert_iinsight_matches_truth(warehouse, cluster.firm) == active
    else:
        assert not row_count(warehouse, "iinsight.invoices")  # no table, or an empty one


def test_v1_day_first_dates_voided_invoices_and_an_idle_second_sync(simulators, warehouse):
    cluster = simulators(size=small_firm(iinsight_invoices=60))
    firm = cluster.firm
    truth = firm.truth().iinsight_invoices
    first = sync_one(warehouse, "iinsight", models=True)["invoices"]

    statuses = truth["status"].to_pylist()
    assert statuses.count("VOIDED") == 3 and statuses.count("REVERSED") == 1  # v1 has no reversed status
    assert first.rows == 59 == assert_iinsight_matches_truth(warehouse, firm)
    types = column_types(warehouse, "iinsight.invoices")
    assert types["date_of_invoice"] == types["due_date"] == "DATE"
    assert types["total_amount_payable"] == "DECIMAL(18,2)"
    day_first = next(r for r in truth.to_pylist() if r["date_of_invoice"].day > 12)  # cannot be month-first
    assert query(
        warehouse, f"select date_of_invoice from iinsight.invoices where invoice_id = '{day_first['invoice_id']}'"
    ) == [{"date_of_invoice": day_first["date_of_invoice"]}]

    voided = {str(r["invoice_id"]) for r in truth.to_pylist() if r["status"] == "VOIDED"}
    assert {
        r["invoice_id"] for r in query(warehouse, "select invoice_id from iinsight.invoices where status = 'VOIDED'")
    } == voided
    open_active = {
        str(r["invoice_id"]) for r in truth.to_pylist() if r["status"] == "ACTIVE" and r["total_amount_payable"]
    }
    assert aging_ids(warehouse) == open_active  # voided (and reversed) invoices are not receivables

    idle = sync_one(warehouse, "iinsight")["invoices"]
    window = sum(
        count_between(part, "last_update_utc", newest(part, "last_update_utc") - LAG)
        for part in (truth.filter(pc.equal(truth["status"], s)) for s in ("ACTIVE", "VOIDED"))
    )
    assert (idle.rows, idle.requests, idle.reread) == (0, 2, window)  # one page per status, all re-read rows dropped
    assert_iinsight_matches_truth(warehouse, firm)


def test_v2_iso_dates_and_every_status_including_reversed(simulators, warehouse):
    cluster = simulators(size=small_firm(iinsight_invoices=60))
    stats = sync_one(warehouse, "iinsight", models=True, api_version=2)["invoices"]

    assert (
        stats.rows == 60 == assert_iinsight_matches_truth(warehouse, cluster.firm, ("ACTIVE", "VOIDED", "REVERSED"), 2)
    )
    reversed_ = query(warehouse, "select invoice_id from iinsight.invoices where status = 'REVERSED'")
    assert len(reversed_) == 1
    assert reversed_[0]["invoice_id"] not in aging_ids(warehouse)
    assert column_types(warehouse, "iinsight.invoice_items")["service_date"] == "DATE"
    assert query(warehouse, "select count(*) n from iinsight.invoice_items where cost_id is null") == [{"n": 0}]


def test_late_changes_inside_the_lag_window_are_picked_up(simulators, warehouse):
    cluster = simulators(size=small_firm(iinsight_invoices=50, **ACTIVE_ONLY))
    firm = cluster.firm
    sync_one(warehouse, "iinsight")
    truth = firm.truth().iinsight_invoices
    top = newest(truth, "last_update_utc")
    older = [r["invoice_id"] for r in truth.to_pylist() if r["last_update_utc"] < top - LAG]
    late, same_second = older[0], older[1]

    def late_changes(con, t):
        # stamped before the watermark (a change that committed late), and in the watermark's own second
        sql = "UPDATE iinsight_invoices SET total_amount_payable = ?, last_update_utc = ? WHERE invoice_id = ?"
        con.execute(sql, ["1.23", top - timedelta(seconds=90), late])
        con.execute(sql, ["4.56", top, same_second])

    firm.write(late_changes)
    stats = sync_one(warehouse, "iinsight")["invoices"]
    assert stats.rows == 2
    changed = f"('{late}', '{same_second}')"
    payable = query(
        warehouse, f"select total_amount_payable p from iinsight.invoices where invoice_id in {changed} order by 1"
    )
    assert [str(r["p"]) for r in payable] == ["1.23", "4.56"]
    assert_iinsight_matches_truth(warehouse, firm)


def test_activity_is_picked_up_under_each_status(simulators, warehouse):
    cluster = simulators(size=small_firm(iinsight_invoices=120))
    firm = cluster.firm
    sync_one(warehouse, "iinsight", api_version=2)
    top = newest(firm.truth().iinsight_invoices, "last_update_utc")
    counts = firm.activity(fraction=0.2)["iinsight.invoices"]
    after = firm.truth().iinsight_invoices
    changed = count_between(after, "last_update_utc", top + timedelta(seconds=1))
    assert changed == counts["new"] + counts["edited"]

    stats = sync_one(warehouse, "iinsight", api_version=2)["invoices"]
    assert stats.rows == changed
    assert assert_iinsight_matches_truth(warehouse, firm, ("ACTIVE", "VOIDED", "REVERSED"), 2) == after.num_rows


def test_v1_an_invoice_reversed_after_it_was_loaded_leaves_the_aging_report_on_reconcile(simulators, warehouse):
    # v1 lists only active and voided invoices: a reversal looks like a hard delete, which only a full
    # comparison of ids (`sync --reconcile`) can see.
    cluster = simulators(size=small_firm(iinsight_invoices=20, **ACTIVE_ONLY))
    firm = cluster.firm
    sync_one(warehouse, "iinsight", models=True)
    invoice = next(r["invoice_id"] for r in firm.truth().iinsight_invoices.to_pylist() if r["total_amount_payable"])
    assert str(invoice) in aging_ids(warehouse)

    firm.write(
        lambda con, t: con.execute(
            "UPDATE iinsight_invoices SET status = 'REVERSED', total_amount_payable = 0, last_update_utc = ? "
            "WHERE invoice_id = ?",
            [t, invoice],
        )
    )
    sync_one(warehouse, "iinsight", models=True)
    assert str(invoice) in aging_ids(warehouse)  # the incremental sync cannot know
    sync(warehouse, ["iinsight"], reconcile=True, publish=False)
    assert str(invoice) not in aging_ids(warehouse)


def test_an_expired_access_token_is_renewed_with_the_refresh_token(simulators, warehouse):
    cluster = simulators(size=small_firm(iinsight_invoices=1000, **ACTIVE_ONLY))
    paths = count_requests(cluster, "iinsight")
    tally: dict = {}
    source = dlt_source("iinsight", max_in_flight=1, tally=tally)
    run_resource(warehouse, source, "invoices", lambda n: n == 1 and expire_tokens(cluster, "iinsight"))

    stats = tally["invoices"]
    assert stats.reauths == 1 and stats.by_status == {200: 12, 401: 1}  # 10 full pages, 2 empty, 1 refusal
    assert paths[("POST", "/auth/refresh")] == 1  # the rotating refresh token, not the password, got a new one
    assert_iinsight_matches_truth(warehouse, cluster.firm)


def test_a_short_lived_access_token_is_refreshed_before_it_expires(simulators, warehouse):
    # 11 pages of active invoices at >= 120 ms each: the last ones start more than 1 s after the first, past the
    # half life of a 2-second token, when the client renews it
    settings = SimSettings(iinsight_token_ttl_s=2, latency_base_ms=120)
    cluster = simulators(size=small_firm(iinsight_invoices=1000, **ACTIVE_ONLY), settings=settings)
    paths = count_requests(cluster, "iinsight")
    stats = sync_one(warehouse, "iinsight", max_in_flight=1)["invoices"]

    assert stats.rows == 1000 and stats.reauths == 0 and set(stats.by_status) == {200}
    assert paths[("POST", "/auth/refresh")] >= 1
    assert_iinsight_matches_truth(warehouse, cluster.firm)


def test_a_refused_refresh_token_falls_back_to_a_new_login(simulators, warehouse, monkeypatch):
    monkeypatch.setattr(iinsight_simulator, "_REFRESH_TTL_S", 0)  # every refresh token is already expired
    cluster = simulators(size=small_firm(iinsight_invoices=1000, **ACTIVE_ONLY))
    paths = count_requests(cluster, "iinsight")
    tally: dict = {}
    run_resource(
        warehouse,
        dlt_source("iinsight", max_in_flight=1, tally=tally),
        "invoices",
        lambda n: n == 1 and expire_tokens(cluster, "iinsight"),
    )
    assert tally["invoices"].rows == 1000 and tally["invoices"].reauths == 1
    assert paths[("POST", "/auth/refresh")] == 1  # refused (400 invalid_grant) ...
    assert paths[("POST", "/auth/login")] >= 2  # ... so the client logged in again
    assert_iinsight_matches_truth(warehouse, cluster.firm)


@pytest.mark.parametrize(
    ("key", "bad"),
    [
        ("SOURCES__IINSIGHT__CLIENT_SECRET", "wrong-secret-1234"),
        ("SOURCES__IINSIGHT__PASSWORD", "wrong-password-1234"),  # refused as 400 invalid_grant, not 401
    ],
    ids=["client-secret", "password"],
)
def test_refused_credentials_are_a_config_error_naming_the_key(simulators, warehouse, monkeypatch, key, bad):
    simulators(size=small_firm())
    message, code = refused(warehouse, "iinsight", key, bad, monkeypatch)
    assert bad not in message and code == 2

