"""Page-shift safety: a record changed *while* a sync pages through it is never lost, and the warehouse ends
with its new version.

Each test makes one real change (an Aiwyn WIP entry billed in full, an iinsight invoice paid in full) to a
record of the first page right after the simulator served that page, exactly as the ``page_shift`` fault
does (the record gets the newest change timestamp: Aiwyn's keyset meets it again at the end; on iinsight it
moves to the end of the page order, so page-number paging skips the row that slides into its place).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson

import simulators.data
from simulators import Firm, FirmSize
from tests.chaos.harness import NOW, run_sync, sync_env
from tests.chaos.reconcile import reconcile
from tests.chaos.reconcile_tables import CHECKS

IINSIGHT_SIZE = FirmSize(clients=6, wip=20, aiwyn_invoices=5, nrbs=2, job_orders=2, iinsight_invoices=250,
                         iinsight_voided_share=0, iinsight_reversed_share=0)
"""250 active iinsight invoices: three pages of 100."""


def _once_after_first_page(path: str, change) -> dict:
    """An ``after`` hook: once, after the first 200 answer on ``path``, run ``change(first row of the page)``."""
    done: list[bool] = []

    def after(scope, status, body):
        if scope["path"] != path or status != 200 or done:
            return None
        rows = orjson.loads(body)
        rows = rows if isinstance(rows, list) else next(v for v in rows.values() if isinstance(v, list))
        if rows:
            done.append(True)
            change(rows[0])
        return None

    return after


def _bill_wip(firm: Firm):
    def change(row):
        firm.write(lambda con, t: con.execute(
            "UPDATE aiwyn_wip SET billed_amount = value - write_off_amount, outstanding_amount = 0, approved = true, "
            "updated_at = ? WHERE id = ?", [t, row["id"]]).fetchall())
        change.id = row["id"]

    return change


def _pay_invoice(firm: Firm):
    """Pay an iinsight invoice in full as iinsight records it: a payment of what was payable, and the invoice's
    payable 0, both stamped now."""

    def pay(con, t, invoice_id):
        con.execute(
            "INSERT INTO iinsight_payments (payment_id, payment_number, invoice_id, transaction_date, amount, "
            "v1_negative, paid_by, reference_number, card_type, bank, branch, bill_to_id, type, notes, status, "
            "last_update_utc) SELECT (SELECT coalesce(max(payment_id), 0) + 1 FROM iinsight_payments), "
            "invoice_number || '-PX', invoice_id, CAST(? AS DATE), total_amount_payable, false, 'test', 'RCPT-X', "
            "'', '', '', company_id, 'EFT', '', 'ACTIVE', ? FROM iinsight_invoices WHERE invoice_id = ?",
            [t, t, invoice_id],
        )
        con.execute("UPDATE iinsight_invoices SET total_amount_payable = 0, last_update_utc = ? WHERE invoice_id = ?",
                    [t, invoice_id])

    def change(row):
        firm.write(lambda con, t: pay(con, t, int(row["invoice_id"])))
        change.id = row["invoice_id"]

    return change


def test_aiwyn_entry_billed_while_paging_ends_current(cluster, tmp_path):
    firm = Firm(seed=2, size="tiny", now=NOW)  # 120 WIP entries: pages of 60, read by one keyset (no slices)
    change = _bill_wip(firm)
    sims = cluster(firm, after={"aiwyn": _once_after_first_page("/gql/v1/wips/search", change)})
    db = tmp_path / "w.duckdb"
    env = sync_env(sims, SOURCES__AIWYN__PAGE_SIZE=60)
    # the second run is the next scheduled one: nothing changed since, it must leave everything as it is
    runs = [run_sync(db, env, "--source", "aiwyn") for _ in range(2)]
    assert all(r.returncode in (0, 4) for r in runs), runs[-1].describe()  # 4: the data tests caught it
    result = reconcile(db, firm, sources=["aiwyn"])
    assert result.tables["aiwyn_wip"].missing == 0, result.summary()
    wip_ids = {k[1] for k in _report_keys(db, "wip", firm)}
    assert str(change.id) not in wip_ids, f"WIP entry {change.id} was billed in full but is still outstanding"
    assert result.differences == 0, f"{result.summary()}\nexit codes {[r.returncode for r in runs]}"
    assert [r.returncode for r in runs] == [0, 0], runs[-1].describe()


def test_iinsight_invoice_paid_while_paging_ends_current(cluster, tmp_path):
    firm = Firm(seed=3, size=IINSIGHT_SIZE, now=NOW)
    change = _pay_invoice(firm)
    sims = cluster(firm, after={"iinsight": _once_after_first_page("/api2/invoices", change)})
    db = tmp_path / "w.duckdb"
    env = sync_env(sims, SOURCES__IINSIGHT__API_VERSION=2)
    runs = [run_sync(db, env, "--source", "iinsight") for _ in range(2)]
    assert all(r.returncode in (0, 4) for r in runs), runs[-1].describe()  # 4: the data tests caught it
    result = reconcile(db, firm, sources=["iinsight"])
    assert result.tables["iinsight_invoices"].missing == 0, result.summary()  # the skipped row was re-scanned
    aging_ids = {k[1] for k in _report_keys(db, "aging", firm)}
    assert str(change.id) not in aging_ids, f"invoice {change.id} was paid in full but is still open AR"
    assert result.differences == 0, f"{result.summary()}\nexit codes {[r.returncode for r in runs]}"
    assert [r.returncode for r in runs] == [0, 0], runs[-1].describe()


def test_iinsight_row_skipped_while_paging_is_found_with_the_vendor_clock_behind(cluster, tmp_path, monkeypatch):
    real = datetime

    class VendorClock(datetime):
        """The simulators' clock, two minutes behind the client's."""

        @classmethod
        def now(cls, tz=None):
            return real.now(tz) - timedelta(minutes=2)

    firm = Firm(seed=3, size=IINSIGHT_SIZE, now=NOW)
    monkeypatch.setattr(simulators.data, "datetime", VendorClock)
    sims = cluster(firm, after={"iinsight": _once_after_first_page("/api2/invoices", _pay_invoice(firm))})
    db = tmp_path / "w.duckdb"
    run = run_sync(db, sync_env(sims, SOURCES__IINSIGHT__API_VERSION=2), "--source", "iinsight")
    assert run.returncode in (0, 4), run.describe()  # 4: the data tests find the paid invoice's old version
    result = reconcile(db, firm, checks=[c for c in CHECKS if c.truth == "iinsight_invoices"], reports=False)
    assert result.tables["iinsight_invoices"].missing == 0, result.summary()


def test_iinsight_rows_shifting_on_every_page_are_all_loaded(cluster, tmp_path):
    """The simulators' own ``page_shift`` fault on every list page: no row may go missing (re-scans), and
    the rows the shifts touched are only ever stale in their change timestamp."""
    from simulators import Faults, SimSettings

    firm = Firm(seed=4, size=IINSIGHT_SIZE, now=NOW)
    sims = cluster(firm, SimSettings(faults=Faults(seed=4, page_shift=1.0)))
    db = tmp_path / "w.duckdb"
    started = datetime.now(UTC).replace(microsecond=0)
    assert run_sync(db, sync_env(sims, SOURCES__IINSIGHT__API_VERSION=2), "--source", "iinsight").returncode == 0
    assert sims.stats["iinsight"]["faults"]["page_shift"] >= 3
    result = reconcile(db, firm, checks=[c for c in CHECKS if c.truth == "iinsight_invoices"], reports=False,
                       in_flight_since=started)
    table = result.tables["iinsight_invoices"]
    assert (table.missing, table.duplicate, table.extra, table.sum_mismatches) == (0, 0, 0, 0), result.summary()


def _report_keys(db, name, firm) -> set[tuple[str, str]]:
    import duckdb

    from pipelines.models import report

    with duckdb.connect(str(db), read_only=True) as con:
        table = report(con, name, firm.now.date())
    id_column = "invoice_id" if name == "aging" else "wip_id"
    return {(r["source_system"], str(r[id_column])) for r in table.to_pylist()}
