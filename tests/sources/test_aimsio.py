"""The Aimsio source against the Aimsio simulator over real HTTP, into a real DuckDB file: NRBs with their
children and job orders equal the truth; later syncs fetch the details of changed objects only; objects that
vanish from the stub list become soft deletes (and leave the WIP report); both stub-list envelopes; the
documented limits of 10 requests per second and 10 in flight; refused credentials."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import duckdb
from source_checks import assert_table_matches, count_between, newest, query, refused, small_firm, sync_one

from pipelines.models import report
from simulators import SimSettings
from sources.aimsio.settings import JOB_ORDERS

NRB_KEY = ("nrb_guid",)


def assert_aimsio_matches_truth(db, firm, deleted: frozenset[str] = frozenset()) -> None:
    """NRBs, children and job orders equal the truth; rows of ``deleted`` NRBs (soft deletes) are left aside."""
    truth = firm.truth()
    gone = ", ".join(f"'{g}'" for g in deleted) or "''"
    assert_table_matches(db, "aimsio.nrbs", truth.aimsio_nrbs, NRB_KEY, where=f"nrb_guid not in ({gone})")
    assert_table_matches(
        db, "aimsio.nrb_children", truth.aimsio_nrb_children, NRB_KEY, where=f"nrb_parent_guid not in ({gone})"
    )
    # job orders: the columns the source declares (fields it does not know, e.g. the location's latitude, are kept
    # too, as text: they are not compared here)
    declared = [f.name for f in JOB_ORDERS.fields if f.name in truth.aimsio_job_orders.column_names]
    assert_table_matches(db, "aimsio.job_orders", truth.aimsio_job_orders, ("job_guid",), declared)


def wip_report_guids(db) -> set[str]:
    with duckdb.connect(str(db), read_only=True) as con:
        rows = report(con, "wip").to_pylist()
    return {r["wip_id"] for r in rows if r["source_system"] == "aimsio"}


def test_details_of_changed_objects_only_and_deletions_are_soft(simulators, warehouse):
    cluster = simulators(size=small_firm(nrbs=12, job_orders=2))
    firm = cluster.firm
    before = firm.truth()
    assert before.aimsio_nrb_children.num_rows > 0  # AP-invoice NRBs with children are part of the test

    first = sync_one(warehouse, "aimsio")
    assert (first["nrbs"].rows, first["nrbs"].requests) == (12, 1 + 12)  # the stub list, then each detail
    assert (first["job_orders"].rows, first["job_orders"].requests) == (2, 1 + 2)
    assert_aimsio_matches_truth(warehouse, firm)

    idle = sync_one(warehouse, "aimsio")
    for name in ("nrbs", "job_orders"):
        assert (idle[name].rows, idle[name].requests, idle[name].deleted) == (0, 1, 0), name  # the stub list only

    # an NRB that is work in progress now (it is in the report once it is restored, below), deleted in Aimsio
    old_top = newest(before.aimsio_nrbs, "nrb_updated_at")
    counts = firm.activity(fraction=0.3)["aimsio.nrbs"]
    removed = next(
        r["nrb_guid"]
        for r in firm.truth().aimsio_nrbs.to_pylist()
        if r["nrb_is_billable"]
        and not r["is_internal"]
        and r["nrb_billed_in_guid"] is None
        and r["nrb_guid"] in before.aimsio_nrbs["nrb_guid"].to_pylist()
    )

    def delete(con, t):
        con.execute(
            "UPDATE aimsio_nrbs SET deleted = true, nrb_updated_at = ? WHERE ? IN (nrb_guid, nrb_parent_guid)",
            [t, removed],
        )

    firm.write(delete)
    after = firm.truth()
    deleted = frozenset(before.aimsio_nrbs["nrb_guid"].to_pylist()) - frozenset(
        after.aimsio_nrbs["nrb_guid"].to_pylist()
    )
    assert removed in deleted and len(deleted) == counts["deleted"] + 1
    changed = count_between(after.aimsio_nrbs, "nrb_updated_at", old_top + timedelta(seconds=1))
    assert changed == counts["new"] + counts["edited"] > 0

    third = sync_one(warehouse, "aimsio", models=True)
    assert third["nrbs"].rows == changed
    assert third["nrbs"].requests == 1 + changed  # no detail for what did not change or is gone
    assert third["nrbs"].deleted == len(deleted)
    assert_aimsio_matches_truth(warehouse, firm, deleted)
    gone = query(warehouse, "select guid, deleted_at from aimsio.deletions where entity = 'nrbs'")
    assert {r["guid"] for r in gone} == deleted and all(r["deleted_at"] is not None for r in gone)
    flags = {r["nrb_guid"]: r["is_deleted"] for r in query(warehouse, "select * from staging.stg_aimsio__nrbs")}
    assert {g for g, is_deleted in flags.items() if is_deleted} == deleted
    assert removed not in wip_report_guids(warehouse)

    # the NRB comes back (restored in Aimsio): loaded again, no longer deleted
    firm.write(
        lambda con, t: con.execute(
            "UPDATE aimsio_nrbs SET deleted = false, nrb_updated_at = ? WHERE ? IN (nrb_guid, nrb_parent_guid)",
            [t, removed],
        )
    )
    back = sync_one(warehouse, "aimsio", models=True)
    assert (back["nrbs"].rows, back["nrbs"].requests, back["nrbs"].deleted) == (1, 2, 0)
    assert query(warehouse, f"select deleted_at from aimsio.deletions where guid = '{removed}'") == [
        {"deleted_at": None}
    ]
    assert removed in wip_report_guids(warehouse)
    assert_aimsio_matches_truth(warehouse, firm, deleted - {removed})

    # never throttled: every answer of every sync was a 200
    stats = cluster.stats["aimsio"]
    assert stats["throttled"] == 0 and stats["limited"] == 0 and set(stats["by_status"]) == {"200"}
    assert stats["peak_in_flight"] <= 10 and stats["admitted_peak_in_flight"] <= 10


def test_a_bare_array_stub_list_is_read_like_the_wrapped_one(simulators, warehouse):
    cluster = simulators(size=small_firm(nrbs=4, job_orders=2), settings=SimSettings(aimsio_bare_array=True))
    stats = sync_one(warehouse, "aimsio")
    assert (stats["nrbs"].rows, stats["job_orders"].rows) == (4, 2)
    assert_aimsio_matches_truth(warehouse, cluster.firm)


def test_requests_keep_to_the_configured_rate_on_their_own(simulators, warehouse):
    # at 2 requests a second (server and client alike) a burst shows whatever the machine's load; the default
    # 10/s fails the same way, by one request, less reliably
    cluster = simulators(size=small_firm(nrbs=2, job_orders=1), settings=SimSettings(aimsio_rate_per_s=2))
    stats = sync_one(warehouse, "aimsio", rate_per_s=2)
    assert all(429 not in s.by_status for s in stats.values())
    server = cluster.stats["aimsio"]
    assert server["throttled"] == 0
    assert server["peak_in_flight"] <= 10
    assert server["peak_per_s"] <= 2  # request starts seen in any 1-second window
    assert server["queued_peak"] == 0  # the server never had to hold a request back


def test_a_refused_password_is_a_config_error_naming_the_key(simulators, warehouse, monkeypatch):
    simulators(size=small_firm())
    message, code = refused(warehouse, "aimsio", "SOURCES__AIMSIO__PASSWORD", "wrong-password-1234", monkeypatch)
    assert code == 2 and "wrong-password-1234" not in message


def aimsio_wip(db) -> dict[str, tuple[str | None, Decimal]]:
    """The WIP report's Aimsio rows: NRB guid -> (client, outstanding amount)."""
    with duckdb.connect(str(db), read_only=True) as con:
        rows = report(con, "wip").to_pylist()
    return {r["wip_id"]: (r["client_name"], r["outstanding_amount"]) for r in rows if r["source_system"] == "aimsio"}


def expected_aimsio_wip(firm, with_jobs: bool) -> dict[str, tuple[str | None, Decimal]]:
    """Unbilled billable external top-level NRBs at their value, client from the job order, or (without job
    orders) the job number, computed from the simulator's truth."""
    truth = firm.truth()
    jobs = {j["job_number"]: j["job_client_name"] for j in truth.aimsio_job_orders.to_pylist()} if with_jobs else {}
    return {
        n["nrb_guid"]: (jobs.get(n["nrb_job_order_number"], n["nrb_job_order_number"]), n["nrb_total_after_markup"])
        for n in truth.aimsio_nrbs.to_pylist()
        if n["nrb_is_billable"] and not n["is_internal"] and n["nrb_billed_in_guid"] is None
    }


def test_unavailable_job_orders_leave_the_nrbs_loading_and_come_back(simulators, warehouse):
    """CONTRACT.md "Optional endpoints": JobOrder off (404), then forbidden (403): NRBs load and count in WIP with
    the job number as client; once JobOrder answers again, the next sync loads the job orders and the clients."""
    cluster = simulators(size=small_firm(nrbs=12, job_orders=3))
    firm = cluster.firm
    expected_without = expected_aimsio_wip(firm, with_jobs=False)
    assert expected_without and expected_without != expected_aimsio_wip(firm, with_jobs=True)

    cluster.set_endpoint("aimsio.job_orders", "off")
    off = sync_one(warehouse, "aimsio", models=True)
    assert off["job_orders"].unavailable == "HTTP 404 at /rest/api/standard/v1/JobOrder"
    assert (off["job_orders"].rows, off["nrbs"].rows, off["nrbs"].unavailable) == (0, 12, None)
    assert aimsio_wip(warehouse) == expected_without

    cluster.set_endpoint("aimsio.job_orders", "forbidden")
    forbidden = sync_one(warehouse, "aimsio", models=True)
    assert forbidden["job_orders"].unavailable == "HTTP 403 at /rest/api/standard/v1/JobOrder"
    assert aimsio_wip(warehouse) == expected_without

    cluster.set_endpoint("aimsio.job_orders", "on")
    back = sync_one(warehouse, "aimsio", models=True)
    assert (back["job_orders"].unavailable, back["job_orders"].rows, back["nrbs"].rows) == (None, 3, 0)
    assert_aimsio_matches_truth(warehouse, firm)
    assert aimsio_wip(warehouse) == expected_aimsio_wip(firm, with_jobs=True)


def test_a_core_endpoint_that_is_missing_fails_its_source_in_one_line(simulators, warehouse, monkeypatch):
    from pipelines.errors import explain

    cluster = simulators(size=small_firm())
    monkeypatch.setenv("SOURCES__AIMSIO__BASE_URL", cluster.urls["aimsio"] + "/nothing")
    try:
        sync_one(warehouse, "aimsio")
    except Exception as exc:
        message, code = explain(exc)
    else:
        raise AssertionError("the sync did not fail")
    assert code == 1 and "\n" not in message
    assert message == (
        f"aimsio: GET /rest/api/standard/v1/NonRecurringBillableItem answered HTTP 404 (no such endpoint at "
        f"{cluster.urls['aimsio']}/nothing/; check SOURCES__AIMSIO__BASE_URL)"
    )
