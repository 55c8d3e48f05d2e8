"""The Aiwyn source against the Aiwyn simulator over real HTTP, into a real DuckDB file: keyset paging edges,
the watermark (lag window, boundary de-duplication), incremental syncs, invoice line items, payments,
token expiry and refresh, a refused key, and parallel keyset slices."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

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
    run_resource,
    small_firm,
    sync_one,
)

from simulators import SimSettings
from sources.aiwyn.client import _Range, _Ranges

WIP_KEY = ("id",)


def assert_aiwyn_matches_truth(db, firm) -> None:
    """Every Aiwyn table of the warehouse equals the firm's truth (each row once, all API columns)."""
    truth = firm.truth()
    assert_table_matches(db, "aiwyn.wip", truth.aiwyn_wip, WIP_KEY)
    assert_table_matches(db, "aiwyn.invoices", truth.aiwyn_invoices, ("id",))
    assert_table_matches(db, "aiwyn.invoice_line_items", truth.aiwyn_invoice_line_items, ("invoice_id", "id"))
    assert_table_matches(db, "aiwyn.payments", truth.aiwyn_payments, ("id",))


@pytest.mark.parametrize(
    ("rows", "page_size"),
    [(1000, 1000), (1001, 1000), (999, 1000), (100, 100), (200, 100)],
    ids=["exactly-one-full-page", "full-page-plus-one", "one-short", "100-of-100", "two-full-pages"],
)
def test_keyset_paging_edges_load_every_row_once(simulators, warehouse, rows, page_size):
    cluster = simulators(size=small_firm(wip=rows))
    stats = sync_one(warehouse, "aiwyn", page_size=page_size)

    assert stats["wip"].rows == rows
    # a full page is followed by one more request, which comes back short (or empty)
    assert stats["wip"].requests == rows // page_size + 1
    assert stats["wip"].retries == stats["wip"].quarantined == 0
    assert assert_table_matches(warehouse, "aiwyn.wip", cluster.firm.truth().aiwyn_wip, WIP_KEY) == rows
    types = column_types(warehouse, "aiwyn.wip")
    assert types["value"] == types["outstanding_amount"] == "DECIMAL(18,2)"
    assert types["updated_at"] == types["logged_date"] == "TIMESTAMP WITH TIME ZONE"
    assert types["id"] == "BIGINT"


def test_incremental_syncs_fetch_only_what_changed(simulators, warehouse):
    cluster = simulators(size=small_firm(wip=300, aiwyn_invoices=30))
    firm = cluster.firm
    before = firm.truth()

    sequential = {"page_size": 100, "max_in_flight": 1}  # one keyset scan: request counts are exact
    first = sync_one(warehouse, "aiwyn", **sequential)
    assert first["wip"].rows == 300 and first["wip"].requests == 4  # 100, 100, 100, then an empty page
    assert first["invoices"].rows == 30
    assert first["invoices"].requests == 1 + 30  # one search page, one detail per invoice (its line items)
    assert first["payments"].rows == before.aiwyn_payments.num_rows
    assert_aiwyn_matches_truth(warehouse, firm)

    # nothing changed: no row loaded; the rows of the lag window are read again and dropped as already loaded
    idle = sync_one(warehouse, "aiwyn", **sequential)
    for name, table in (("wip", "aiwyn_wip"), ("invoices", "aiwyn_invoices"), ("payments", "aiwyn_payments")):
        top = newest(before[table], "updated_at")
        assert idle[name].rows == 0, name
        assert idle[name].reread == count_between(before[table], "updated_at", top - LAG), name
        assert idle[name].requests == 1, name  # the lag window holds less than a page; no invoice detail
    assert_aiwyn_matches_truth(warehouse, firm)

    tops = {t: newest(before[t], "updated_at") for t in ("aiwyn_wip", "aiwyn_invoices", "aiwyn_payments")}
    counts = firm.activity(fraction=0.05)
    after = firm.truth()
    changed = {t: count_between(after[t], "updated_at", top + timedelta(seconds=1)) for t, top in tops.items()}
    assert changed["aiwyn_wip"] == counts["aiwyn.wip"]["new"] + counts["aiwyn.wip"]["edited"] > 0

    third = sync_one(warehouse, "aiwyn", **sequential)
    assert third["wip"].rows == changed["aiwyn_wip"]
    assert third["invoices"].rows == changed["aiwyn_invoices"] > 0
    assert third["invoices"].requests == 1 + changed["aiwyn_invoices"]  # details of the changed invoices only
    assert third["payments"].rows == changed["aiwyn_payments"] > 0
    # the re-read rows are those still stamped inside the old lag window
    old = tops["aiwyn_wip"]
    assert third["wip"].reread == count_between(after.aiwyn_wip, "updated_at", old - LAG, old)
    assert_aiwyn_matches_truth(warehouse, firm)

    # the changed rows are the boundary now: the next run re-reads and drops exactly them
    again = sync_one(warehouse, "aiwyn", **sequential)
    assert again["wip"].rows == 0 and again["wip"].reread == changed["aiwyn_wip"]


def test_late_rows_inside_the_lag_window_are_picked_up(simulators, warehouse):
    cluster = simulators(size=small_firm(wip=50))
    firm = cluster.firm
    sync_one(warehouse, "aiwyn")
    wip = firm.truth().aiwyn_wip
    top = newest(wip, "updated_at")
    older = [r["id"] for r in wip.to_pylist() if r["updated_at"] < top - LAG]
    late, same_second = older[0], older[1]

    def late_changes(con, t):
        # stamped before the watermark (a change that committed late), and in the watermark's own second
        con.execute(
            "UPDATE aiwyn_wip SET notes = 'late', updated_at = ? WHERE id = ?", [top - timedelta(seconds=90), late]
        )
        con.execute("UPDATE aiwyn_wip SET notes = 'same second', updated_at = ? WHERE id = ?", [top, same_second])

    firm.write(late_changes)
    stats = sync_one(warehouse, "aiwyn")
    assert stats["wip"].rows == 2
    assert query(warehouse, f"select notes from aiwyn.wip where id in ({late}, {same_second}) order by notes") == [
        {"notes": "late"},
        {"notes": "same second"},
    ]
    assert_table_matches(warehouse, "aiwyn.wip", firm.truth().aiwyn_wip, WIP_KEY)


def test_a_changed_invoice_gets_its_new_line_items(simulators, warehouse):
    cluster = simulators(size=small_firm(aiwyn_invoices=6))
    firm = cluster.firm
    sync_one(warehouse, "aiwyn")
    lines = firm.truth().aiwyn_invoice_line_items.to_pylist()
    per_invoice = Counter(r["invoice_id"] for r in lines)
    invoice = next(i for i, n in sorted(per_invoice.items()) if n >= 2)
    first, second = [r for r in lines if r["invoice_id"] == invoice][:2]

    def merge_two_lines(con, t):  # the invoice's total is unchanged: two lines become one
        amount = first["amount"] + second["amount"]
        con.execute("DELETE FROM aiwyn_line_items WHERE id = ?", [second["id"]])
        con.execute(
            "UPDATE aiwyn_line_items SET description = 'merged', quantity = 1, unit_price = ?, amount = ? WHERE id = ?",
            [amount, amount, first["id"]],
        )
        con.execute("UPDATE aiwyn_invoices SET updated_at = ? WHERE id = ?", [t, invoice])

    firm.write(merge_two_lines)
    stats = sync_one(warehouse, "aiwyn")
    assert stats["invoices"].rows == 1
    assert stats["invoices"].requests == 2  # the search page and the one detail
    rows = query(warehouse, f"select id, description from aiwyn.invoice_line_items where invoice_id = {invoice}")
    assert {r["id"] for r in rows} == {r["id"] for r in lines if r["invoice_id"] == invoice} - {second["id"]}
    assert {"id": first["id"], "description": "merged"} in rows
    assert_aiwyn_matches_truth(warehouse, firm)


def test_an_invoice_whose_lines_were_all_removed_keeps_none(simulators, warehouse):
    cluster = simulators(size=small_firm(aiwyn_invoices=4))
    firm = cluster.firm
    sync_one(warehouse, "aiwyn")
    invoice = firm.truth().aiwyn_invoice_line_items["invoice_id"][0].as_py()

    def remove_lines(con, t):
        con.execute("DELETE FROM aiwyn_line_items WHERE invoice_id = ?", [invoice])
        con.execute("UPDATE aiwyn_invoices SET updated_at = ? WHERE id = ?", [t, invoice])

    firm.write(remove_lines)
    assert sync_one(warehouse, "aiwyn")["invoices"].rows == 1
    assert query(warehouse, f"select id from aiwyn.invoice_line_items where invoice_id = {invoice}") == []


def test_a_token_revoked_mid_run_is_renewed_once(simulators, warehouse):
    cluster = simulators(size=small_firm(wip=200))
    tally: dict = {}
    source = dlt_source("aiwyn", page_size=10, max_in_flight=1, tally=tally)
    run_resource(warehouse, source, "wip", lambda n: n == 1 and expire_tokens(cluster, "aiwyn"))

    stats = tally["wip"]
    assert stats.reauths == 1  # the next request met the revoked token, got a new one and went again
    assert stats.by_status == {200: 21, 401: 1}  # 20 full pages, the empty one, one refusal
    assert stats.rows == 200
    assert_table_matches(warehouse, "aiwyn.wip", cluster.firm.truth().aiwyn_wip, WIP_KEY)


def test_a_short_lived_token_is_refreshed_before_it_expires(simulators, warehouse):
    # 16 WIP pages at >= 80 ms each: the last ones start more than 1 s after the first, past the half life of a
    # 2-second token, when the client renews it
    cluster = simulators(size=small_firm(wip=150), settings=SimSettings(aiwyn_token_ttl_s=2, latency_base_ms=80))
    paths = count_requests(cluster, "aiwyn")
    tally: dict = {}
    run_resource(warehouse, dlt_source("aiwyn", page_size=10, max_in_flight=1, tally=tally), "wip", lambda n: None)

    assert tally["wip"].rows == 150
    assert tally["wip"].by_status == {200: 16} and tally["wip"].reauths == 0  # never sent an expired token
    assert paths[("POST", "/v1/auth/token")] >= 2  # one client, so every token after the first is a refresh
    assert_table_matches(warehouse, "aiwyn.wip", cluster.firm.truth().aiwyn_wip, WIP_KEY)


def test_a_refused_api_key_is_a_config_error_naming_the_key(simulators, warehouse, monkeypatch):
    simulators(size=small_firm())
    message, code = refused(warehouse, "aiwyn", "SOURCES__AIWYN__JWT_API_KEY", "not-the-key-1234", monkeypatch)
    assert code == 2 and "SOURCES__AIWYN__JWT_API_KEY" in message
    assert "not-the-key-1234" not in message


def test_parallel_keyset_slices_load_the_same_rows_as_one_sequential_scan(simulators, tmp_path):
    cluster = simulators(size=small_firm(wip=2500))
    parallel, sequential = tmp_path / "parallel.duckdb", tmp_path / "sequential.duckdb"

    by_slices = sync_one(parallel, "aiwyn", page_size=100)  # default: 8 slices in flight
    one_by_one = sync_one(sequential, "aiwyn", page_size=100, max_in_flight=1)

    assert by_slices["wip"].rows == one_by_one["wip"].rows == 2500
    assert one_by_one["wip"].requests == 26
    assert by_slices["wip"].requests > one_by_one["wip"].requests  # the slice bounds cost a few short pages
    truth = cluster.firm.truth().aiwyn_wip
    assert_table_matches(parallel, "aiwyn.wip", truth, WIP_KEY)
    assert_table_matches(sequential, "aiwyn.wip", truth, WIP_KEY)
    ordered = "select * exclude (_dlt_load_id) from aiwyn.wip order by id"
    assert query(parallel, ordered) == query(sequential, ordered)


@pytest.mark.parametrize(
    "stamp",
    ["?::timestamptz - to_seconds(id % 300)", "?::timestamptz"],
    ids=["nine-in-ten-within-five-minutes", "nine-in-ten-in-one-second"],
)
def test_keyset_readers_split_a_skewed_range_and_still_load_every_row_once(simulators, tmp_path, stamp):
    """Nine in ten rows changed within the last few minutes, or all in one second (a bulk update): the
    first equal-time cut leaves almost all of them to the last reader, which hands halves of its range (of
    its time, or of the ids of one second) to the idle readers; every row arrives once."""
    cluster = simulators(size=small_firm(wip=3000))
    firm = cluster.firm
    firm.write(lambda con, t: con.execute(f"update aiwyn_wip set updated_at = {stamp} where id % 10 <> 0", [t]))
    db = tmp_path / "skewed.duckdb"
    stats = sync_one(db, "aiwyn", page_size=50)
    assert stats["wip"].rows == 3000
    assert_table_matches(db, "aiwyn.wip", firm.truth().aiwyn_wip, WIP_KEY)


def test_a_waiting_reader_gets_the_second_half_of_a_running_range():
    start = datetime(2026, 1, 1, tzinfo=UTC)
    running = _Range(start, start + timedelta(hours=2))
    ranges = _Ranges([], horizon=start + timedelta(hours=2))
    ranges.split(running, start + timedelta(minutes=30))  # nobody waits: nothing moves
    assert running.until == start + timedelta(hours=2) and not ranges.todo
    ranges.waiting = 1
    ranges.split(running, start + timedelta(minutes=30))
    assert running.until == start + timedelta(minutes=75)
    assert list(ranges.todo) == [_Range(start + timedelta(minutes=75), start + timedelta(hours=2))]
    ranges.todo.clear()
    open_ended = _Range(start, None)
    ranges.split(open_ended, start + timedelta(hours=1))  # the open end splits at the horizon's half
    assert open_ended.until == start + timedelta(minutes=90) and ranges.todo[0].until is None
    ranges.todo.clear()
    narrow = _Range(start, start + timedelta(seconds=1))
    ranges.split(narrow, start)  # under two seconds left: not split
    assert narrow.until == start + timedelta(seconds=1) and not ranges.todo


def test_a_waiting_reader_gets_the_second_half_of_the_ids_left_in_one_second():
    start = datetime(2026, 1, 1, tzinfo=UTC)
    stamp = "2026-01-01T00:00:00Z"
    ranges = _Ranges([], horizon=start)
    pile = _Range(start, None, after=(stamp, 1000))
    ranges.split_second(pile, (stamp, 5000), page_size=100)  # nobody waits
    assert pile.before is None and not ranges.todo
    ranges.waiting = 1
    ranges.split_second(pile, ("2026-01-01T00:00:07Z", 5000), page_size=100)  # the range goes on past the second
    assert pile.before is None and not ranges.todo
    ranges.split_second(pile, (stamp, 1150), page_size=100)  # under two pages left
    assert pile.before is None and not ranges.todo
    ranges.split_second(pile, (stamp, 5000), page_size=100)
    assert pile.before == (stamp, 3000)
    assert list(ranges.todo) == [_Range(start, None, after=(stamp, 2999))]
    assert not ranges.split(pile, start)  # a range cut inside a second has no time left to cut

