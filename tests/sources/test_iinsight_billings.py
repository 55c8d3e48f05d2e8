"""The iinsight billings resource against the simulator over real HTTP, into a real DuckDB file: the first sync
equal to the truth, an incremental sync after activity (new billings, billings invoiced and deleted between
syncs) within its request budget, a billing deleted while the first sync pages (no row lost to the shift), and
the endpoint forbidden (the rest of the source loads, entity_status says so)."""

from __future__ import annotations

from datetime import UTC, datetime, time

import orjson
import pyarrow as pa
import pytest
from source_checks import assert_table_matches, column_types, query, row_count, small_firm, sync_one

from pipelines.verify import verify
from simulators import Firm, SimSettings, SimulatorCluster
from sources.iinsight import settings
from tests.chaos.asgi import Intercept, params

PAGE = 50
SIZE = {"iinsight_invoices": 200, "iinsight_billings": 300}  # 60 unbilled, 240 billed (of ~400 invoice items)
COLUMNS = ["case_id", "invoice", "reference_date", "quantity", "unit_charge", "total_charge", "time_inserted"]


def expected_billings(firm: Firm) -> pa.Table:
    """The truth's billings as the API shows them: ``invoice`` "0" while unbilled, ``reference_date`` the work day
    at 12:00 UTC."""
    rows = firm.truth().iinsight_billings.to_pylist()
    for row in rows:
        row["invoice"] = str(row["invoice"])
        row["reference_date"] = datetime.combine(row["reference_date"], time(12), UTC)
    return pa.Table.from_pylist(rows)


def assert_billings_match_truth(db, firm: Firm) -> int:
    """The billings not soft-deleted equal the truth (which holds no deleted billing)."""
    where = "id not in (select guid from iinsight.deletions where entity = 'billings' and deleted_at is not null)"
    if row_count(db, "iinsight.deletions") is None:  # nothing deleted yet: no table
        where = "true"
    convert = {"id": str, "case_id": str}
    return assert_table_matches(db, "iinsight.billings", expected_billings(firm), ("id",), COLUMNS, convert, where)


def unbilled(firm: Firm) -> set[int]:
    truth = firm.truth().iinsight_billings
    return {r["id"] for r in truth.select(["id", "invoice"]).to_pylist() if r["invoice"] == 0}


def test_the_first_sync_reads_every_billing_then_the_unbilled_set(simulators, warehouse):
    cluster = simulators(size=small_firm(**SIZE))
    stats = sync_one(warehouse, "iinsight", billings_page_size=PAGE, max_in_flight=1)["billings"]

    assert len(unbilled(cluster.firm)) == 60
    assert (stats.rows, stats.quarantined, stats.deleted) == (300, 0, 0)
    # every billing by id descending (6 full pages, then an empty one), then the unbilled set (50 + 10)
    assert stats.requests == (300 // PAGE + 1) + (60 // PAGE + 1)
    assert assert_billings_match_truth(warehouse, cluster.firm) == 300
    types = column_types(warehouse, "iinsight.billings")
    assert (types["reference_date"], types["unit_charge"], types["time_based"]) == (
        "TIMESTAMP WITH TIME ZONE", "DECIMAL(18,2)", "BOOLEAN"
    )


@pytest.mark.parametrize(
    ("billings", "requests"), [(0, 1 + 1), (50, 2 + 1), (51, 2 + 1)], ids=["none", "page", "page+1"]
)
def test_first_sync_paging_edges(simulators, warehouse, billings, requests):
    # every billing (a full page is followed by another), then the unbilled set (none: one empty page)
    cluster = simulators(size=small_firm(iinsight_invoices=60, iinsight_billings=billings, iinsight_unbilled_share=0))
    stats = sync_one(warehouse, "iinsight", billings_page_size=PAGE, max_in_flight=1)["billings"]

    assert (stats.rows, stats.requests, stats.retries, stats.quarantined) == (billings, requests, 0, 0)
    if billings:
        assert assert_billings_match_truth(warehouse, cluster.firm) == billings


def test_an_incremental_sync_reads_the_unbilled_set_new_billings_and_what_left(simulators, warehouse):
    cluster = simulators(size=small_firm(**SIZE))
    firm = cluster.firm
    sync_one(warehouse, "iinsight", billings_page_size=PAGE, max_in_flight=1)
    before = unbilled(firm)
    counts = firm.activity(fraction=0.05)["iinsight.billings"]
    after = unbilled(firm)
    truth = {r["id"]: r for r in firm.truth().iinsight_billings.to_pylist()}
    invoiced = sorted(i for i in before if i in truth and truth[i]["invoice"])
    deleted = sorted(i for i in before if i not in truth)
    assert (len(invoiced), len(deleted)) == (counts["edited"], counts["deleted"]) and min(counts.values()) >= 1
    assert len(after) == len(before) - len(invoiced) - len(deleted) + counts["new"]  # new billings are unbilled

    stats = sync_one(warehouse, "iinsight", billings_page_size=PAGE, max_in_flight=1)["billings"]
    # the new billings (one page, down to the newest id loaded), the unbilled set, the ids that left it
    assert stats.requests == 1 + (len(after) // PAGE + 1) + 1
    assert stats.requests <= (len(after) + counts["new"]) / PAGE + 3  # the target of the issue
    assert stats.rows == len(after) + len(invoiced)  # the unbilled set (the new billings in it), the invoiced
    assert stats.deleted == len(deleted)
    assert_billings_match_truth(warehouse, firm)
    on_invoices = query(warehouse, "select id, invoice from iinsight.billings where id in "
                                   f"({', '.join(repr(str(i)) for i in invoiced)}) order by id")
    assert [(r["id"], r["invoice"]) for r in on_invoices] == sorted(
        (str(i), str(truth[i]["invoice"])) for i in invoiced
    )
    gone = query(warehouse, "select guid from iinsight.deletions where entity = 'billings' and deleted_at is not null")
    assert sorted(int(r["guid"]) for r in gone) == deleted

    idle = sync_one(warehouse, "iinsight", billings_page_size=PAGE, max_in_flight=1)["billings"]
    assert (idle.requests, idle.deleted) == (1 + len(after) // PAGE + 1, 0)  # nothing left the set: no id query


def test_a_billing_deleted_while_the_first_sync_pages_loses_no_other(warehouse):
    # after the first page (the newest 50 billings) is served, one unbilled billing on it is deleted: every
    # billing after it moves up one place, so the first billing of the next page slides onto the page already read
    firm = Firm(seed=1, size=small_firm(**SIZE), now=datetime(2026, 6, 30, 12, tzinfo=UTC))
    victim: list[int] = []

    def delete_after_first_page(scope, status, body):
        if scope["path"] != settings.BILLINGS_PATH or status != 200 or victim or params(scope).get("page") != "1":
            return None
        rows = orjson.loads(body)["data"]
        victim.append(max(int(r["id"]) for r in rows if r["invoice"] == "0"))
        firm.write(lambda con, t: con.execute(
            "UPDATE iinsight_billings SET deleted = true, changed_utc = ? WHERE id = ?", [t, victim[0]]).fetchall())
        return None

    cluster = SimulatorCluster(firm, SimSettings())
    cluster.apps["iinsight"] = Intercept(cluster.apps["iinsight"], after=delete_after_first_page)
    with cluster, pytest.MonkeyPatch.context() as patch:
        for key, value in cluster.credentials.items():
            patch.setenv(key, value)
        stats = sync_one(warehouse, "iinsight", billings_page_size=PAGE, max_in_flight=1)["billings"]
    assert stats.deleted == 1 and assert_billings_match_truth(warehouse, firm) == 299
    gone = query(warehouse, "select guid from iinsight.deletions where entity = 'billings'")
    assert gone == [{"guid": str(victim[0])}]
    firm.close()


def test_billings_unavailable_leave_the_rest_of_the_source_loading(simulators, warehouse):
    cluster = simulators(size=small_firm(**SIZE))
    cluster.set_endpoint("iinsight.billings", "forbidden")
    stats = sync_one(warehouse, "iinsight")

    assert stats["invoices"].rows == 196 and stats["payments"].rows > 0  # v1: 4 reversed invoices not listed
    assert (stats["billings"].rows, stats["billings"].unavailable) == (0, "HTTP 403 at /api1/billings")
    status = query(warehouse, "select entity, available, reason from iinsight.entity_status order by entity")
    assert status[0] == {"entity": "billings", "available": False, "reason": "HTTP 403 at /api1/billings"}
    cluster.set_endpoint("iinsight.billings", "on")
    again = sync_one(warehouse, "iinsight")["billings"]
    assert (again.rows, again.unavailable) == (300, None)  # no state was saved: a first read


def test_verify_compares_payments_and_billings_with_the_api(simulators, warehouse):
    cluster = simulators(size=small_firm(**SIZE))
    sync_one(warehouse, "iinsight")
    cluster.firm.activity(fraction=0.05)  # billings deleted and invoiced, payments voided
    sync_one(warehouse, "iinsight", models=True)

    checks = verify(warehouse, ["iinsight"])
    assert {(c.entity, c.metric) for c in checks} >= {
        (e, m) for e in ("payments", "billings") for m in ("rows", "money sum", "newest change")
    }
    assert [c for c in checks if not c.ok] == []
    cluster.set_endpoint("iinsight.billings", "forbidden")  # an unavailable optional entity is not compared
    assert {c.entity for c in verify(warehouse, ["iinsight"])} == {"invoices", "payments"}
