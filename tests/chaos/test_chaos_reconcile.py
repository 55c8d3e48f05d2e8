"""The reconciliation the chaos proof rests on (``tests/chaos/reconcile.py``) finds what it claims to find:
a synced warehouse reconciles to zero, and each kind of damage done to a copy of it is counted."""

from __future__ import annotations

import shutil

import duckdb

from simulators import Firm
from tests.chaos.harness import NOW, run_sync, sync_env
from tests.chaos.reconcile import reconcile


def test_reconciliation_is_zero_after_a_sync_and_counts_every_kind_of_damage(cluster, tmp_path):
    firm = Firm(seed=1, size="tiny", now=NOW)  # a firm with NRB children too
    sims = cluster(firm)
    db = tmp_path / "w.duckdb"
    result = run_sync(db, sync_env(sims, SOURCES__IINSIGHT__API_VERSION=2))
    assert result.returncode == 0, result.describe()
    clean = reconcile(db, firm)
    assert clean.differences == 0 and clean.in_flight == 0, clean.summary()
    assert all(t.truth_rows and t.truth_rows == t.warehouse_rows for t in clean.tables.values()), clean.summary()

    damaged = tmp_path / "damaged.duckdb"
    shutil.copy(db, damaged)
    live_nrb, extra_nrb = firm.truth().aimsio_nrbs["nrb_guid"].to_pylist()[:2]
    with duckdb.connect(str(damaged)) as con:
        con.execute("DELETE FROM aiwyn.wip WHERE id = (SELECT min(id) FROM aiwyn.wip)")
        con.execute("INSERT INTO aiwyn.payments SELECT * FROM aiwyn.payments WHERE id = (SELECT min(id) FROM "
                    "aiwyn.payments)")
        con.execute("UPDATE iinsight.invoices SET total_amount_payable = total_amount_payable + 0.01 WHERE "
                    "invoice_id = (SELECT min(invoice_id) FROM iinsight.invoices WHERE status = 'ACTIVE' AND "
                    "total_amount_payable > 0)")
        con.execute("INSERT INTO aimsio.nrbs SELECT * REPLACE ('ghost-guid' AS nrb_guid) FROM aimsio.nrbs "
                    "WHERE nrb_guid = ?", [extra_nrb])
        con.execute("INSERT INTO aimsio.deletions (entity, guid, deleted_at) VALUES ('nrbs', ?, now())", [live_nrb])
    found = reconcile(damaged, firm)
    t = found.tables
    assert (t["aiwyn_wip"].missing, t["aiwyn_payments"].duplicate, t["iinsight_invoices"].stale) == (1, 1, 1)
    assert (t["aimsio_nrbs"].extra, t["aimsio_nrbs"].missing) == (1, 1), found.summary()
    assert t["aiwyn_payments"].sum_mismatches == 1 and t["iinsight_invoices"].sum_mismatches == 1
    # the reports read the versions (history), which the damage left alone, and the payments: the duplicated
    # payment shows up as an overpaid invoice
    assert found.reports["aging"].extra == 1, found.summary()
