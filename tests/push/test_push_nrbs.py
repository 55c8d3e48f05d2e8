"""``arwip push aimsio-nrbs`` against the Aimsio simulator over loopback HTTP, checked against its ground truth
(``Firm.truth().aimsio_nrbs``), its request counters and the ledger; and the round trip push → sync → WIP."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import duckdb

from pipelines.push import push
from pipelines.sync import sync
from simulators import SimulatorCluster
from tests.push.helpers import newest, nrb, write_csv, write_sql, writes

Sims = Callable[..., SimulatorCluster]


def nrbs_by_external_id(sims: SimulatorCluster) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for row in sims.firm.truth().aimsio_nrbs.to_pylist():
        if row["nrb_external_id"]:
            out.setdefault(row["nrb_external_id"], []).append(row)
    return out


def test_invalid_rows_are_never_sent_and_notices_map_to_their_rows(simulators: Sims, warehouse: Path,
                                                                     tmp_path: Path) -> None:
    sims = simulators()
    rows = [nrb(1), nrb(2, nrbName=""), nrb(3, nrbAccountType="Maybe"), nrb(4, nrbRate="ten"),
            nrb(5, nrbIsBillable="perhaps"), nrb(6, nrbExternalId=""), nrb(7, nrbJobOrderNumber="JOB-NOPE"),
            nrb(8, nrbInvoiceDate="2025-04-01", nrbShouldReconcileWithPO="true"), nrb(9, nrbTypeName="")]
    csv = write_csv(tmp_path / "nrbs.csv", rows)
    dry = push("aimsio-nrbs", {"csv": csv}, warehouse)
    assert (dry.plan.counts["create"], dry.plan.counts["invalid"]) == (2, 7)
    assert dry.plan.invalid == [
        ("ARWIP-0002", "nrbName", "nrbName is required"),
        ("ARWIP-0003", "nrbAccountType", "nrbAccountType must be one of Billable, Not Billable, got 'Maybe'"),
        ("ARWIP-0004", "nrbRate", "nrbRate must be a number, got 'ten'"),
        ("ARWIP-0005", "nrbIsBillable", "nrbIsBillable must be true or false, got 'perhaps'"),
        ("", "nrbExternalId", "the key column nrbExternalId is empty"),
        ("ARWIP-0008", "nrbPONumber", "nrbPONumber is required when nrbShouldReconcileWithPO is true"),
        ("ARWIP-0009", "nrbTypeName", "nrbTypeName is required (or nrbTypeUname)")]
    result = push("aimsio-nrbs", {"csv": csv}, warehouse, apply=True)
    assert writes(sims)["POST /rest/api/standard/v1/NRB"] == 1
    assert (result.sent.counts["applied"], result.sent.counts["failed"]) == (1, 1)
    assert result.sent.failures == [("ARWIP-0007", "NOT_IMPORTED", "nrbJobOrderNumber",
                                     "nrbJobOrderNumber must be an existing job number: 'JOB-NOPE'")]
    stored = nrbs_by_external_id(sims)
    assert [k for k in stored if k.startswith("ARWIP-")] == ["ARWIP-0001"]  # no invalid row reached Aimsio
    (created,) = stored["ARWIP-0001"]
    assert (created["nrb_rate"], created["nrb_quantity"], created["nrb_total_after_markup"]) == (
        Decimal("10.125"), Decimal("2.000"), Decimal("20.25"))
    assert {k: e["status"] for k, e in newest(warehouse).items()} == {
        "ARWIP-0001": "applied", "ARWIP-0002": "invalid", "ARWIP-0003": "invalid", "ARWIP-0004": "invalid",
        "ARWIP-0005": "invalid", "": "invalid", "ARWIP-0007": "failed", "ARWIP-0008": "invalid",
        "ARWIP-0009": "invalid"}


def test_batches_of_100_and_a_rerun_edits_instead_of_duplicating(simulators: Sims, warehouse: Path,
                                                                 tmp_path: Path) -> None:
    sims = simulators()
    csv = write_csv(tmp_path / "nrbs.csv", [nrb(i) for i in range(101)])
    first = push("aimsio-nrbs", {"csv": csv}, warehouse, apply=True)
    assert (first.sent.batches, first.sent.counts["applied"]) == (2, 101)
    assert writes(sims)["POST /rest/api/standard/v1/NRB"] == 2
    assert sims.stats["aimsio"]["throttled"] == 0
    again = push("aimsio-nrbs", {"csv": csv}, warehouse, apply=True)
    assert (again.plan.counts["unchanged"], again.sent.batches) == (101, 0)
    assert writes(sims)["POST /rest/api/standard/v1/NRB"] == 2
    write_csv(csv, [nrb(i, nrbQuantity="3" if i == 50 else "2") for i in range(101)])
    edited = push("aimsio-nrbs", {"csv": csv}, warehouse, apply=True)
    assert (edited.plan.counts["update"], edited.sent.counts["applied"]) == (1, 1)
    stored = nrbs_by_external_id(sims)
    assert all(len(stored[f"ARWIP-{i:04d}"]) == 1 for i in range(101))  # each NRB once
    assert stored["ARWIP-0050"][0]["nrb_total_after_markup"] == Decimal("30.38")  # 10.125 × 3, edited in place


def test_a_query_of_typed_columns(simulators: Sims, warehouse: Path, tmp_path: Path) -> None:
    sims = simulators()
    sql = write_sql(tmp_path / "nrbs.sql", f"""
        select 'SQL-' || cast(i as varchar) as "nrbExternalId", '{nrb(0)["nrbJobOrderNumber"]}' as "nrbJobOrderNumber",
            'from sql' as "nrbName", 'Other' as "nrbTypeName", 'Billable' as "nrbAccountType",
            true as "nrbIsBillable", 'BIT' as "nrbVendorCode", cast(12.5 as decimal(18, 3)) as "nrbRate",
            cast(i as decimal(18, 3)) as "nrbQuantity", date '2025-04-01' as "nrbInvoiceDate"
        from range(1, 4) t(i)""")
    result = push("aimsio-nrbs", {"sql": sql}, warehouse, apply=True)
    assert result.sent.counts["applied"] == 3 and result.clean
    stored = nrbs_by_external_id(sims)
    assert stored["SQL-3"][0]["nrb_total_after_markup"] == Decimal("37.50")
    assert stored["SQL-3"][0]["nrb_invoice_date"].isoformat() == "2025-04-01T00:00:00+00:00"


def test_round_trip_pushed_nrbs_appear_in_the_warehouse_and_in_wip(simulators: Sims, warehouse: Path,
                                                                   tmp_path: Path) -> None:
    simulators()
    sync(warehouse, ["aimsio"])
    csv = write_csv(tmp_path / "nrbs.csv", [nrb(i, nrbRate="100.00", nrbQuantity=str(i)) for i in (1, 2, 3)])
    result = push("aimsio-nrbs", {"csv": csv}, warehouse, apply=True)
    assert result.sent.counts["applied"] == 3
    sync(warehouse, ["aimsio"])
    with duckdb.connect(str(warehouse), read_only=True) as con:
        loaded = dict(con.execute("select nrb_external_id, nrb_guid from aimsio.nrbs where nrb_external_id like "
                                  "'ARWIP-%'").fetchall())
        wip = con.execute("select wip_id, outstanding_amount, source_system from reports.rpt_wip_outstanding "
                          "where wip_id in (select nrb_guid from aimsio.nrbs where nrb_external_id like 'ARWIP-%') "
                          "order by outstanding_amount").fetchall()
    assert sorted(loaded) == ["ARWIP-0001", "ARWIP-0002", "ARWIP-0003"]
    assert wip == [(loaded["ARWIP-0001"], Decimal("100.00"), "aimsio"), (loaded["ARWIP-0002"], Decimal("200.00"),
                   "aimsio"), (loaded["ARWIP-0003"], Decimal("300.00"), "aimsio")]
    assert push("aimsio-nrbs", {"csv": csv}, warehouse, apply=True).plan.counts["unchanged"] == 3  # the sync kept
    # the ledger: it lives in the warehouse beside the loaded data
