"""`arwip verify` finds a warehouse that drifted from the source; reconciling ids repairs hard deletes."""

import duckdb
import pyarrow.compute as pc

from pipelines.models import report
from pipelines.reconcile import last_reconciled
from pipelines.sync import sync
from pipelines.verify import verify

SOURCES = ["aiwyn", "aimsio", "iinsight"]


def _differences(warehouse):
    return [(c.source, c.entity, c.metric) for c in verify(warehouse, SOURCES) if not c.ok]


def test_an_iinsight_v1_reversal_is_reconciled_once_the_last_reconcile_is_older_than_reconcile_every(
    simulators, warehouse
):
    cluster = simulators(size="tiny", seed=3)
    sync(warehouse)
    assert _differences(warehouse) == []
    assert last_reconciled(warehouse, "iinsight") is not None  # the first sync starts the clock

    # API v1 lists only active and voided invoices: a reversed invoice just disappears from the lists.
    firm = cluster.firm
    active = firm.truth()["iinsight_invoices"]
    gone = str(active.filter(pc.equal(active["status"], "ACTIVE"))["invoice_id"][0].as_py())
    firm.write(
        lambda con, t: con.execute(
            "update iinsight_invoices set status = 'REVERSED', total_amount_payable = 0, last_update_utc = ? "
            "where invoice_id = ?",
            [t, int(gone)],
        )
    )
    sync(warehouse)  # within reconcile_every (24 h): the ids are not read again, the reversal stays unseen
    assert _differences(warehouse) == [("iinsight", "invoices", "rows"), ("iinsight", "invoices", "money sum")]
    before = last_reconciled(warehouse, "iinsight")
    sync(warehouse, source_args={"iinsight": {"reconcile_every": "0s"}})
    assert _differences(warehouse) == []
    assert last_reconciled(warehouse, "iinsight") > before
    with duckdb.connect(str(warehouse), read_only=True) as con:
        deleted = con.execute("select guid from iinsight.deletions where deleted_at is not null").fetchall()
        aging = report(con, "aging")
    assert deleted == [(gone,)]
    assert gone not in set(aging.filter(pc.equal(aging["source_system"], "iinsight"))["invoice_id"].to_pylist())


def test_verify_finds_an_aiwyn_hard_delete_and_reconcile_repairs_it(simulators, warehouse):
    cluster = simulators(size="tiny", seed=3)
    sync(warehouse)
    firm = cluster.firm
    wip = firm.truth()["aiwyn_wip"]
    gone = wip["id"][0].as_py()
    firm.write(lambda con, t: con.execute("delete from aiwyn_wip where id = ?", [gone]))

    sync(warehouse)  # an incremental read cannot see a hard delete
    assert ("aiwyn", "wip", "rows") in _differences(warehouse)

    sync(warehouse, reconcile=True)
    assert _differences(warehouse) == []
    with duckdb.connect(str(warehouse), read_only=True) as con:
        wip_report = report(con, "wip")
        flagged = con.execute("select is_deleted from staging.stg_aiwyn__wip where wip_entry_id = ?", [gone]).fetchall()
    assert str(gone) not in set(wip_report["wip_id"].to_pylist())
    assert flagged == [(True,)]
