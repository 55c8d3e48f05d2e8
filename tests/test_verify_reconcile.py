"""`arwip verify` finds a warehouse that drifted from the source; `sync --reconcile` repairs hard deletes."""

import duckdb
import pyarrow.compute as pc

from pipelines.models import report
from pipelines.sync import sync
from pipelines.verify import verify

SOURCES = ["aiwyn", "aimsio", "iinsight"]


def _differences(warehouse):
    return [(c.source, c.entity, c.metric) for c in verify(warehouse, SOURCES) if not c.ok]


def test_verify_and_reconcile_a_reversal_that_v1_no_longer_lists(simulators, warehouse):
    cluster = simulators(size="tiny", seed=3)
    sync(warehouse)
    assert _differences(warehouse) == []

    # Reverse an active iinsight invoice: API v1 lists only active and voided invoices, so it vanishes.
    firm = cluster.firm
    active = firm.truth()["iinsight_invoices"]
    active = active.filter(pc.equal(active["status"], "ACTIVE"))
    gone = str(active["invoice_id"][0].as_py())
    firm.write(
        lambda con, t: con.execute(
            "update iinsight_invoices set status = 'REVERSED', total_amount_payable = 0, last_update_utc = ? "
            "where invoice_id = ?",
            [t, int(gone)],
        )
    )
    sync(warehouse)  # incremental: v1 never shows the reversal
    assert ("iinsight", "invoices", "rows") in _differences(warehouse)

    sync(warehouse, reconcile=True)
    assert _differences(warehouse) == []
    with duckdb.connect(str(warehouse), read_only=True) as con:
        deleted = con.execute("select guid from iinsight.deletions where deleted_at is not null").fetchall()
        aging = report(con, "aging")
    assert deleted == [(gone,)]
    assert gone not in set(aging.filter(pc.equal(aging["source_system"], "iinsight"))["invoice_id"].to_pylist())
