"""Deletes: an Aimsio NRB that vanishes, iinsight voided / reversed invoices and a cancelled Aiwyn invoice are
soft-deleted or flagged by the next ``arwip sync``, never kept as open AR or WIP."""

from __future__ import annotations

import duckdb

from pipelines.models import report
from simulators import Firm
from tests.chaos.harness import NOW, run_sync, sync_env
from tests.chaos.reconcile import reconcile


def _open(db, firm) -> tuple[set[str], set[str]]:
    """Ids in the AR aging and in the WIP outstanding report, as of the firm's date."""
    with duckdb.connect(str(db), read_only=True) as con:
        aging = report(con, "aging", firm.now.date())["invoice_id"].to_pylist()
        wip = report(con, "wip", firm.now.date())["wip_id"].to_pylist()
    return set(map(str, aging)), set(map(str, wip))


def _pick(firm: Firm, sql: str) -> str:
    return str(firm.scalar(sql))


OPEN_IINSIGHT = ("SELECT min(invoice_id) FROM iinsight_invoices WHERE status = 'ACTIVE' AND total_amount_payable > 0 "
                 "AND invoice_id > ?")


def test_deleted_voided_reversed_and_cancelled_records_leave_ar_and_wip(cluster, tmp_path):
    firm = Firm(seed=8, size="tiny", now=NOW)
    sims = cluster(firm)
    db = tmp_path / "w.duckdb"
    env = sync_env(sims, SOURCES__IINSIGHT__API_VERSION=2)
    assert run_sync(db, env).returncode == 0

    nrb = _pick(firm, "SELECT min(nrb_guid) FROM aimsio_nrbs WHERE NOT deleted AND nrb_parent_guid IS NULL "
                      "AND nrb_is_billable AND NOT is_internal AND nrb_billed_in_guid IS NULL")
    voided = _pick(firm, OPEN_IINSIGHT.replace("?", "0"))
    reversed_ = _pick(firm, OPEN_IINSIGHT.replace("?", voided))
    cancelled = _pick(firm, "SELECT min(id) FROM aiwyn_invoices WHERE status IN ('POSTED', 'OVERDUE') "
                            "AND paid_amount = 0")
    aging, wip = _open(db, firm)
    assert {voided, reversed_, cancelled} <= aging and nrb in wip

    def change(con, t):
        con.execute("UPDATE aimsio_nrbs SET deleted = true, nrb_updated_at = ? WHERE nrb_guid = ? OR "
                    "nrb_parent_guid = ?", [t, nrb, nrb])
        for status, invoice in (("VOIDED", voided), ("REVERSED", reversed_)):
            con.execute("UPDATE iinsight_invoices SET status = ?, total_amount_payable = 0, last_update_utc = ? "
                        "WHERE invoice_id = ?", [status, t, int(invoice)])
        con.execute("UPDATE aiwyn_invoices SET status = 'CANCELLED', updated_at = ? WHERE id = ?", [t, int(cancelled)])

    firm.write(change)
    result = run_sync(db, env)
    assert result.returncode == 0, result.describe()

    aging, wip = _open(db, firm)
    assert not {voided, reversed_, cancelled} & aging and nrb not in wip
    with duckdb.connect(str(db), read_only=True) as con:
        flagged = con.execute("SELECT guid FROM aimsio.deletions WHERE entity = 'nrbs' AND deleted_at IS NOT NULL"
                              ).fetchall()
        statuses = dict(con.execute("SELECT invoice_id, status FROM iinsight.invoices WHERE invoice_id IN (?, ?)",
                                    [voided, reversed_]).fetchall())
    assert flagged == [(nrb,)]  # soft-deleted: the row is kept, flagged
    assert statuses == {voided: "VOIDED", reversed_: "REVERSED"}
    full = reconcile(db, firm)
    assert full.differences == 0, full.summary()


def test_a_reversed_invoice_leaves_ar_on_api_v1_with_a_plain_sync_once_reconcile_is_due(cluster, tmp_path):
    firm = Firm(seed=8, size="tiny", now=NOW)
    sims = cluster(firm)
    db = tmp_path / "w.duckdb"
    env = sync_env(sims)  # API v1: the default
    assert run_sync(db, env).returncode == 0
    invoice = _pick(firm, OPEN_IINSIGHT.replace("?", "0"))
    assert invoice in _open(db, firm)[0]
    firm.write(lambda con, t: con.execute(
        "UPDATE iinsight_invoices SET status = 'REVERSED', total_amount_payable = 0, last_update_utc = ? "
        "WHERE invoice_id = ?", [t, int(invoice)]).fetchall())
    result = run_sync(db, env)  # the last reconcile (the first sync) is younger than reconcile_every
    assert result.returncode == 0, result.describe()
    assert "reconciled" not in result.output and invoice in _open(db, firm)[0]
    result = run_sync(db, {**env, "SOURCES__IINSIGHT__RECONCILE_EVERY": "0s"})
    assert result.returncode == 0, result.describe()
    assert "iinsight.invoices: reconciled" in result.output, result.output
    assert invoice not in _open(db, firm)[0], f"reversed invoice {invoice} is still open AR"
