"""Point in time: reports as of a past date use each record's version valid at the end of that day (SCD2)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from history_dataset import d, load_history_dataset, ts

from pipelines.datatests import run_data_tests
from pipelines.models import ReportConfig, build_models, report


@pytest.fixture(scope="module")
def history_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("history") / "arwip.duckdb"
    with duckdb.connect(str(path)) as con:
        load_history_dataset(con)
        build_models(con, ReportConfig())
    return path


@pytest.fixture
def hcon(history_warehouse: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    with duckdb.connect(str(history_warehouse), read_only=True) as connection:
        yield connection


def open_amount(con: duckdb.DuckDBPyConnection, as_of: str, invoice_id: str) -> Decimal | None:
    rows = [r for r in report(con, "aging", d(as_of)).to_pylist() if r["invoice_id"] == invoice_id]
    assert len(rows) <= 1
    return rows[0]["open_amount"] if rows else None


def outstanding(con: duckdb.DuckDBPyConnection, as_of: str, wip_id: str) -> Decimal | None:
    rows = [r for r in report(con, "wip", d(as_of)).to_pylist() if r["wip_id"] == wip_id]
    assert len(rows) <= 1
    return rows[0]["outstanding_amount"] if rows else None


D = Decimal


@pytest.mark.parametrize(
    ("as_of", "invoice_id", "expected"),
    [
        # Aiwyn 1: 100 until amended to 120 on 01-20; 30 paid on 01-25; cancelled on 02-05
        ("2024-12-31", "1", None),  # not yet invoiced
        ("2025-01-10", "1", D("100.00")),
        ("2025-01-19", "1", D("100.00")),
        ("2025-01-20", "1", D("120.00")),
        ("2025-01-25", "1", D("90.00")),
        ("2025-02-04", "1", D("90.00")),
        ("2025-02-05", "1", None),
        # Aiwyn 2: no history, its current row counts from its invoice date on
        ("2025-01-04", "2", None),
        ("2025-01-05", "2", D("50.00")),
        ("2025-03-01", "2", D("50.00")),
        # Aiwyn 3: history has 70; the current row (75 since 01-22) is a version too
        ("2025-01-21", "3", D("70.00")),
        ("2025-01-22", "3", D("75.00")),
        # a change at 00:00:00Z of the next day is not in effect at the end of the day; one at 23:59:59Z is
        ("2025-01-30", "4", D("40.00")),
        ("2025-01-31", "4", None),
        ("2025-01-29", "5", D("45.00")),
        ("2025-01-30", "5", None),
        # iinsight: open while active, gone once voided (last_update_utc 2025-02-01)
        ("2025-01-10", "I-VOID", D("300.00")),
        ("2025-01-31", "I-VOID", D("300.00")),
        ("2025-02-01", "I-VOID", None),
        # iinsight payable from the version as of the date
        ("2025-01-24", "I-PAID", D("200.00")),
        ("2025-01-25", "I-PAID", D("50.00")),
        ("2025-02-09", "I-PAID", D("50.00")),
        ("2025-02-10", "I-PAID", None),
    ],
)
def test_aging_uses_the_version_as_of_the_date(
    hcon: duckdb.DuckDBPyConnection, as_of: str, invoice_id: str, expected: Decimal | None
) -> None:
    assert open_amount(hcon, as_of, invoice_id) == expected


def test_due_date_and_bucket_come_from_the_version(hcon: duckdb.DuckDBPyConnection) -> None:
    def row(as_of: str) -> dict:
        return next(r for r in report(hcon, "aging", d(as_of)).to_pylist() if r["invoice_id"] == "1")

    assert (row("2025-01-19")["due_date"], row("2025-01-19")["days_past_due"]) == (d("2025-01-15"), 4)
    assert row("2025-01-19")["aging_bucket"] == "1-30"
    assert (row("2025-01-20")["due_date"], row("2025-01-20")["days_past_due"]) == (d("2025-02-10"), -21)
    assert row("2025-01-20")["aging_bucket"] == "current"


def test_today_uses_the_current_state(hcon: duckdb.DuckDBPyConnection) -> None:
    ids = {r["invoice_id"] for r in report(hcon, "aging").to_pylist()}
    assert ids == {"2", "3"}  # 1, 4, 5 cancelled; I-VOID voided; I-PAID paid
    assert {r["wip_id"] for r in report(hcon, "wip").to_pylist()} == {"11", "N-LATE"}  # the others billed,
    # written off, deleted or internal


@pytest.mark.parametrize(
    ("as_of", "wip_id", "expected"),
    [
        # Aiwyn 10: 500 logged; 300 billed on 01-20; 200 written off on 02-03
        ("2025-01-01", "10", None),
        ("2025-01-19", "10", D("500.00")),
        ("2025-01-20", "10", D("200.00")),
        ("2025-02-02", "10", D("200.00")),
        ("2025-02-03", "10", None),
        # Aiwyn 11: no history
        ("2025-01-05", "11", D("80.00")),
        # NRB billed on 01-27: outstanding before
        ("2025-01-26", "N-BILL", D("862.50")),
        ("2025-01-27", "N-BILL", None),
        # NRB deleted on 01-28 12:00Z: counts before
        ("2025-01-27", "N-DEL", D("40.00")),
        ("2025-01-28", "N-DEL", None),
        # NRB billable only from 01-15
        ("2025-01-14", "N-LATE", None),
        ("2025-01-15", "N-LATE", D("60.00")),
        # NRB made internal on 01-18
        ("2025-01-17", "N-INT", D("70.00")),
        ("2025-01-18", "N-INT", None),
    ],
)
def test_wip_uses_the_version_as_of_the_date(
    hcon: duckdb.DuckDBPyConnection, as_of: str, wip_id: str, expected: Decimal | None
) -> None:
    assert outstanding(hcon, as_of, wip_id) == expected


def test_nrb_ages_from_its_creation(hcon: duckdb.DuckDBPyConnection) -> None:
    row = next(r for r in report(hcon, "wip", d("2025-01-15")).to_pylist() if r["wip_id"] == "N-LATE")
    assert (row["logged_date"], row["age_days"], row["client_name"], row["job"]) == (
        d("2025-01-07"), 8, "Gamma Energy", "Pipeline Repair",
    )  # fmt: skip


def test_invoice_versions_have_chained_validity(hcon: duckdb.DuckDBPyConnection) -> None:
    rows = hcon.sql(
        "select invoice_id, version_number, valid_from, valid_to, is_current, total_amount, invoice_status"
        " from facts.fct_invoice_versions where source_system = 'aiwyn' and invoice_id in ('1', '2', '3')"
        " order by invoice_id, version_number"
    ).fetchall()
    assert rows == [
        ("1", 1, ts("2025-01-01 09:00:00"), ts("2025-01-20 09:00:00"), False, D("100.00"), "POSTED"),
        ("1", 2, ts("2025-01-20 09:00:00"), ts("2025-02-05 10:00:00"), False, D("120.00"), "POSTED"),
        ("1", 3, ts("2025-02-05 10:00:00"), None, True, D("120.00"), "CANCELLED"),
        ("2", 1, ts("2025-01-05 09:00:00"), None, True, D("50.00"), "POSTED"),
        ("3", 1, ts("2025-01-02 09:00:00"), ts("2025-01-22 09:00:00"), False, D("70.00"), "POSTED"),
        ("3", 2, ts("2025-01-22 09:00:00"), None, True, D("75.00"), "POSTED"),
    ]


def test_first_version_counts_since_the_beginning_of_time(hcon: duckdb.DuckDBPyConnection) -> None:
    """Invoice 1 is dated 2025-01-01 12:00Z but first seen at 09:00Z that day: as of 2025-01-01 it is open."""
    assert open_amount(hcon, "2025-01-01", "1") == D("100.00")


def month_ends(first: date, last: date) -> list[date]:
    """Every month's last day from ``first``'s month through ``last``'s, the last one being ``last``."""
    out = []
    month = first.replace(day=1)
    while month <= last:
        following = (month + timedelta(days=32)).replace(day=1)
        out.append(min(following - timedelta(days=1), last))
        month = following
    return out


@pytest.mark.parametrize("as_of", ["2025-02-15", "2025-03-31"])
def test_trends_equal_the_reports_at_every_month_end(hcon: duckdb.DuckDBPyConnection, as_of: str) -> None:
    checks = [
        ("aging_trend", "aging", "open_amount", "invoice_count", "client_name"),
        ("wip_trend", "wip", "outstanding_amount", "wip_count", "client_name"),
    ]
    for trend_name, report_name, amount, count, client in checks:
        trend = report(hcon, trend_name, d(as_of)).to_pylist()  # type: ignore[arg-type]
        snapshots = sorted({r["snapshot_date"] for r in trend})
        assert snapshots == month_ends(d("2025-01-01"), d(as_of)), trend_name
        for snapshot in snapshots:
            expected: dict[tuple, list] = defaultdict(lambda: [Decimal(0), 0])
            for r in report(hcon, report_name, snapshot).to_pylist():  # type: ignore[arg-type]
                key = (r["source_system"], r[client], r["aging_bucket"])
                expected[key][0] += r[amount]
                expected[key][1] += 1
            got = {
                (r["source_system"], r[client], r["aging_bucket"]): [r[amount], r[count]]
                for r in trend
                if r["snapshot_date"] == snapshot
            }
            assert got == dict(expected), (trend_name, snapshot)


def test_aging_trend_rows(hcon: duckdb.DuckDBPyConnection) -> None:
    rows = [tuple(r.values()) for r in report(hcon, "aging_trend", d("2025-02-15")).to_pylist()]
    assert rows == [
        # 2025-01-31: 1 (90 after the payment, due 02-10), 2, 3 (75), 4 (cancelled at 01-31 00:00Z: gone),
        # I-VOID (300, due 01-16: 15 days), I-PAID (50)
        (d("2025-01-31"), "aiwyn", "Acme Corp", "current", 1, D("215.00"), 3),
        (d("2025-01-31"), "iinsight", "Beta Pty Ltd", "current", 1, D("50.00"), 1),
        (d("2025-01-31"), "iinsight", "Beta Pty Ltd", "1-30", 2, D("300.00"), 1),
        # 2025-02-15: 1 cancelled; 2 (due 02-05) and 3 (due 02-02) overdue; I-VOID voided; I-PAID paid
        (d("2025-02-15"), "aiwyn", "Acme Corp", "1-30", 2, D("125.00"), 2),
    ]


def test_data_tests_pass_with_history(hcon: duckdb.DuckDBPyConnection) -> None:
    assert run_data_tests(hcon) == []
