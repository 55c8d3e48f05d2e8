"""Soft deletes (``aiwyn.deletions``, ``iinsight.deletions``): a deleted invoice leaves AR, a deleted payment
pays nothing, a deleted WIP entry leaves WIP outstanding, from the end of the day of ``deleted_at`` on (as of
an earlier date they count); a record that came back (``deleted_at`` null) always counts. Dataset:
deletions_dataset.py."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from deletions_dataset import load_deletions_dataset
from history_dataset import d, ts

from pipelines.datatests import run_data_tests
from pipelines.models import ReportConfig, build_models, report

D = Decimal


@pytest.fixture(scope="module")
def deletions_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("deletions") / "arwip.duckdb"
    with duckdb.connect(str(path)) as con:
        load_deletions_dataset(con)
        build_models(con, ReportConfig())
    return path


@pytest.fixture
def dcon(deletions_warehouse: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    with duckdb.connect(str(deletions_warehouse), read_only=True) as connection:
        yield connection


def aging(con: duckdb.DuckDBPyConnection, as_of: str | None = None) -> dict[str, Decimal]:
    """invoice_id -> open_amount of the AR aging as of ``as_of`` (default today)."""
    rows = report(con, "aging", None if as_of is None else d(as_of)).to_pylist()
    return {r["invoice_id"]: r["open_amount"] for r in rows}


def wip(con: duckdb.DuckDBPyConnection, as_of: str | None = None) -> dict[str, Decimal]:
    """wip_id -> outstanding_amount of WIP outstanding as of ``as_of`` (default today)."""
    rows = report(con, "wip", None if as_of is None else d(as_of)).to_pylist()
    return {r["wip_id"]: r["outstanding_amount"] for r in rows}


def test_staging_flags_deleted_records_by_entity(dcon: duckdb.DuckDBPyConnection) -> None:
    def flags(relation: str, key: str) -> dict:
        sql = f"select cast({key} as varchar), is_deleted, deleted_at from staging.{relation}"
        return {k: (deleted, at) for k, deleted, at in dcon.sql(sql).fetchall()}

    assert flags("stg_aiwyn__invoices", "invoice_id") == {
        "1": (True, ts("2025-01-20 23:59:59")),
        "2": (False, None),
        "3": (False, None),  # came back
    }
    assert flags("stg_aiwyn__payments", "payment_id") == {
        "1": (True, ts("2025-01-25 08:00:00")),
        "2": (False, None),
        "3": (False, None),
        "4": (True, ts("2025-02-05 09:00:00")),
    }
    # invoice 1 and payment 1 are deleted, WIP 1 is not: a deletion matches its entity
    assert flags("stg_aiwyn__wip", "wip_entry_id") == {"1": (False, None), "2": (True, ts("2025-01-22 00:00:00"))}
    assert flags("stg_iinsight__invoices", "invoice_id") == {
        "I-DEL": (True, ts("2025-01-28 00:00:00")),
        "I-BACK": (False, None),
    }
    # the history staging carries today's deletion state on every version
    history = dcon.sql("select invoice_id, is_deleted from staging.stg_aiwyn__invoices_history").fetchall()
    assert sorted(history) == [(1, True), (1, True)]


def test_facts_keep_deleted_invoices_and_payments_out_of_ar(dcon: duckdb.DuckDBPyConnection) -> None:
    invoices = dcon.sql(
        "select source_system, invoice_id, counts_toward_ar, is_deleted from facts.fct_invoices order by all"
    ).fetchall()
    assert invoices == [
        ("aiwyn", "1", False, True),
        ("aiwyn", "2", True, False),
        ("aiwyn", "3", True, False),
        ("iinsight", "I-BACK", True, False),
        ("iinsight", "I-DEL", False, True),
    ]
    payments = dcon.sql("select payment_id, is_confirmed, is_deleted from facts.fct_payments order by all").fetchall()
    assert payments == [("1", True, True), ("2", True, False), ("3", True, False), ("4", True, True)]
    assert dcon.sql("select wip_id from facts.fct_wip").fetchall() == [("1",)]
    versions = dcon.sql(
        "select invoice_id, version_number, counts_toward_ar, deleted_at from facts.fct_invoice_versions"
        " where source_system = 'aiwyn' and invoice_id = '1' order by version_number"
    ).fetchall()  # counts_toward_ar by status; the deletion applies by date
    assert versions == [("1", 1, True, ts("2025-01-20 23:59:59")), ("1", 2, True, ts("2025-01-20 23:59:59"))]


def test_reports_today_leave_deleted_records_out(dcon: duckdb.DuckDBPyConnection) -> None:
    # 1 and I-DEL deleted; 2 without the deleted 60.00; 3 and I-BACK came back; payment 4 never counts
    assert aging(dcon) == {"2": D("150.00"), "3": D("300.00"), "I-BACK": D("250.00")}
    assert wip(dcon) == {"1": D("150.00")}
    listed = dcon.sql(
        "select invoice_id, counts_toward_ar, paid_amount, open_amount from reports.rpt_invoices_as_of"
        " where invoice_id in ('1', 'I-DEL') order by invoice_id"
    ).fetchall()  # still listed, out of AR
    assert listed == [("1", False, D("40.00"), D("70.00")), ("I-DEL", False, None, D("500.00"))]


def test_reports_before_the_deletions_count_them(dcon: duckdb.DuckDBPyConnection) -> None:
    assert aging(dcon, "2025-01-19") == {
        "1": D("70.00"),  # 110 (amended on 01-10) - 40 paid
        "2": D("90.00"),  # 200 - 60 (not yet deleted) - 50
        "3": D("300.00"),
        "I-DEL": D("500.00"),
        "I-BACK": D("250.00"),
    }
    assert wip(dcon, "2025-01-14") == {"1": D("150.00"), "2": D("400.00")}
    assert wip(dcon, "2025-01-21") == {"1": D("150.00"), "2": D("300.00")}


@pytest.mark.parametrize(
    ("name", "as_of", "record", "expected"),
    [
        # invoice 1 deleted at 01-20 23:59:59Z: gone at the end of 01-20
        ("aging", "2025-01-19", "1", D("70.00")),
        ("aging", "2025-01-20", "1", None),
        # payment 1 (60.00) deleted at 01-25 08:00Z: it paid invoice 2 through 01-24
        ("aging", "2025-01-24", "2", D("90.00")),
        ("aging", "2025-01-25", "2", D("150.00")),
        # I-DEL deleted at 01-28 00:00:00Z, the very end of 01-27: still open as of 01-27
        ("aging", "2025-01-27", "I-DEL", D("500.00")),
        ("aging", "2025-01-28", "I-DEL", None),
        # payment 4 (dated 02-10) deleted on 02-05, before its date: never counts
        ("aging", "2025-02-10", "3", D("300.00")),
        # WIP 2 deleted at 01-22 00:00:00Z, the very end of 01-21: still outstanding as of 01-21
        ("wip", "2025-01-21", "2", D("300.00")),
        ("wip", "2025-01-22", "2", None),
    ],
)
def test_deletion_counts_from_the_end_of_its_day(
    dcon: duckdb.DuckDBPyConnection, name: str, as_of: str, record: str, expected: Decimal | None
) -> None:
    amounts = aging(dcon, as_of) if name == "aging" else wip(dcon, as_of)
    assert amounts.get(record) == expected


@pytest.mark.parametrize(
    ("as_of", "ar_open", "billed", "wip_outstanding", "wip_value"),
    [
        ("2025-01-19", D("1210.00"), D("1360.00"), D("450.00"), D("550.00")),
        # 1 and I-DEL deleted: neither open nor billed; WIP 2 deleted: neither outstanding nor valued
        ("2025-01-31", D("700.00"), D("750.00"), D("150.00"), D("150.00")),
    ],
)
def test_kpis_leave_deleted_records_out(
    dcon: duckdb.DuckDBPyConnection,
    as_of: str,
    ar_open: Decimal,
    billed: Decimal,
    wip_outstanding: Decimal,
    wip_value: Decimal,
) -> None:
    total = report(dcon, "kpis", d(as_of)).to_pylist()[-1]
    assert total["source_system"] == "all"
    got = (total["ar_open_amount"], total["billed_amount"], total["wip_outstanding_amount"], total["wip_value_amount"])
    assert got == (ar_open, billed, wip_outstanding, wip_value)
    assert ar_open == sum(aging(dcon, as_of).values())
    assert wip_outstanding == sum(wip(dcon, as_of).values())


@pytest.mark.parametrize("as_of", ["2025-01-19", "2025-01-21", "2025-01-22", "2025-01-25", "2025-02-15"])
def test_trends_apply_deletions_like_the_reports(dcon: duckdb.DuckDBPyConnection, as_of: str) -> None:
    """Every snapshot of the trends (month ends, and as_of itself) equals the report as of that date."""
    for trend_name, report_name, amount, count in [
        ("aging_trend", "aging", "open_amount", "invoice_count"),
        ("wip_trend", "wip", "outstanding_amount", "wip_count"),
    ]:
        trend = report(dcon, trend_name, d(as_of)).to_pylist()  # type: ignore[arg-type]
        for snapshot in sorted({r["snapshot_date"] for r in trend}):
            expected: dict[tuple, list] = defaultdict(lambda: [Decimal(0), 0])
            for r in report(dcon, report_name, snapshot).to_pylist():  # type: ignore[arg-type]
                key = (r["source_system"], r["client_name"], r["aging_bucket"])
                expected[key][0] += r[amount]
                expected[key][1] += 1
            got = {
                (r["source_system"], r["client_name"], r["aging_bucket"]): [r[amount], r[count]]
                for r in trend
                if r["snapshot_date"] == snapshot
            }
            assert got == dict(expected), (trend_name, snapshot)
        assert max(r["snapshot_date"] for r in trend) == d(as_of), trend_name


def test_data_tests_pass_with_deletions(dcon: duckdb.DuckDBPyConnection) -> None:
    """Payment 3 pays the deleted invoice 1 (still loaded); deleted payments and records are not duplicated."""
    assert run_data_tests(dcon) == []
