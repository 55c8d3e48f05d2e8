"""AR aging and WIP outstanding as of a fixed date, on the hand-built warehouse of conftest.py: exact rows."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal

import duckdb
import pyarrow as pa
import pytest
from models_dataset import AS_OF, BOUNDARIES, day

from pipelines.models import REPORTS, ModelsNotBuilt, report, report_sql, today_utc

AGING_COLUMNS = [
    "source_system",
    "invoice_id",
    "invoice_number",
    "client_name",
    "invoice_date",
    "due_date",
    "open_amount",
    "days_past_due",
    "aging_bucket",
    "open_amount_basis",
]
WIP_COLUMNS = [
    "source_system",
    "wip_id",
    "client_name",
    "job",
    "wip_type",
    "logged_date",
    "outstanding_amount",
    "age_days",
    "aging_bucket",
]
SUMMARY_COLUMNS = [
    "client_name",
    "bucket_current",
    "bucket_1_30",
    "bucket_31_60",
    "bucket_61_90",
    "bucket_91_plus",
    "total",
]
BUCKET_COLUMN = {
    "current": "bucket_current",
    "1-30": "bucket_1_30",
    "31-60": "bucket_31_60",
    "61-90": "bucket_61_90",
    "91+": "bucket_91_plus",
}


def bucket(days: int) -> str:
    if days <= 0:
        return "current"
    if days <= 30:
        return "1-30"
    if days <= 60:
        return "31-60"
    if days <= 90:
        return "61-90"
    return "91+"


def D(text: str) -> Decimal:
    return Decimal(text)


def expected_aging() -> list[tuple]:
    """(source, invoice_id, invoice_number, client, invoice_date, due_date, open, days, bucket, basis), report
    order. The dataset has no iinsight payments (never synced): iinsight's open amounts are its payables."""
    rows: list[tuple] = []
    aiwyn_open = {31: D("111.00"), 60: D("150.00")}  # 131 - 20 confirmed; 160 - 10 confirmed on AS_OF
    for k in BOUNDARIES:
        rows.append(
            (
                "aiwyn",
                str(1000 + k),
                f"A-{1000 + k}",
                "Acme Corp",
                day(-k - 30),
                day(-k),
                aiwyn_open.get(k, D(f"{100 + k}.00")),
                k,
                bucket(k),
                "payments",
            )
        )
        rows.append(
            ("iinsight", f"I-{k}", f"N-{k}", "Beta Pty Ltd", day(-k - 14), day(-k), D(f"{500 + k}.00"), k, bucket(k),
             "vendor_payable")
        )  # fmt: skip
    rows += [
        ("aiwyn", "2002", "A-2002", "Acme Corp", day(-40), day(-10), D("300.00"), 10, "1-30", "payments"),
        ("aiwyn", "2006", "A-2006", "Acme Corp", day(0), None, D("42.00"), 0, "current", "payments"),
        ("aiwyn", "2007", "A-2007", "Acme Corp", day(-5), day(15), D("75.00"), -15, "current", "payments"),
        ("iinsight", "I-NODUE", "N-I-NODUE", "Beta Pty Ltd", day(-45), None, D("777.00"), 45, "31-60",
         "vendor_payable"),
    ]  # fmt: skip
    return sorted(rows, key=lambda r: (-r[7], r[3], r[0], r[1]))


def expected_wip() -> list[tuple]:
    """(source, wip_id, client, job, type, logged_date, outstanding, age, bucket), report order."""
    rows: list[tuple] = [
        ("aiwyn", str(100 + k), "Delta Inc", f"Job {100 + k}", "TIME" if k % 2 else "EXPENSE", day(-k),
         D(f"{10 + k}.00"), k, bucket(k))
        for k in BOUNDARIES
    ]  # fmt: skip
    rows += [
        ("aiwyn", "3", "Acme Corp", "Job 3", "TIME", day(-95), D("300.00"), 95, "91+"),
        ("aiwyn", "1", "Acme Corp", "Job 1", "TIME", day(-10), D("500.00"), 10, "1-30"),
        ("aiwyn", "6", "Beta LLC", "Job 6", "EXPENSE", day(0), D("80.00"), 0, "current"),
        ("aimsio", "N7", "Gamma Energy", "Pipeline Repair", "NRB", day(-90), D("1000.00"), 90, "61-90"),
        ("aimsio", "N6", "Gamma Energy", "Pipeline Repair", "NRB", day(-61), D("100.00"), 61, "61-90"),
        ("aimsio", "N1", "Gamma Energy", "Pipeline Repair", "NRB", day(-31), D("862.50"), 31, "31-60"),
        ("aimsio", "N9", "J-404", "J-404", "NRB", day(-1), D("5.00"), 1, "1-30"),  # job unknown: its number
    ]
    return sorted(rows, key=lambda r: (-r[7], r[2] is None, r[2] or "", r[0], r[1]))


def as_tuples(table: pa.Table) -> list[tuple]:
    return [tuple(row.values()) for row in table.to_pylist()]


def test_aging_rows_as_of_date(con: duckdb.DuckDBPyConnection) -> None:
    table = report(con, "aging", AS_OF)
    assert table.column_names == AGING_COLUMNS
    assert table.schema.field("open_amount").type == pa.decimal128(18, 2)
    assert table.schema.field("invoice_date").type == pa.date32()
    assert table.schema.field("days_past_due").type == pa.int32()
    assert as_tuples(table) == expected_aging()


def test_aging_excludes(con: duckdb.DuckDBPyConnection) -> None:
    ids = set(report(con, "aging", AS_OF)["invoice_id"].to_pylist())
    # paid in full, cancelled, draft, dated after AS_OF; voided, reversed, nothing payable, dated after AS_OF
    assert not ids & {"2001", "2003", "2004", "2005", "I-VOID", "I-REV", "I-PAID", "I-LATER"}


def test_aging_payments_count_by_date(con: duckdb.DuckDBPyConnection) -> None:
    """The open amount is the total minus confirmed payments dated on or before the report date."""

    def open_of(as_of: date, invoice_id: str) -> Decimal | None:
        table = report(con, "aging", as_of)
        found = [r["open_amount"] for r in table.to_pylist() if r["invoice_id"] == invoice_id]
        return found[0] if found else None

    assert open_of(AS_OF, "1031") == D("111.00")
    assert open_of(day(1), "1031") == D("100.00")  # the 11.00 paid at 00:00:01Z the next day now counts
    assert open_of(day(-6), "1031") == D("131.00")  # before the 20.00 payment
    assert open_of(day(-1), "1060") == D("160.00")  # the 10.00 was paid on AS_OF
    assert open_of(day(-11), "2001") == D("500.00")  # not yet paid
    assert open_of(day(-10), "2001") is None  # paid in full that day
    assert open_of(day(2), "2002") is None
    assert open_of(day(-31), "1000") is None  # dated day(-30): not yet invoiced


def test_wip_rows_as_of_date(con: duckdb.DuckDBPyConnection) -> None:
    table = report(con, "wip", AS_OF)
    assert table.column_names == WIP_COLUMNS
    assert table.schema.field("outstanding_amount").type == pa.decimal128(18, 2)
    assert table.schema.field("logged_date").type == pa.date32()
    assert table.schema.field("age_days").type == pa.int32()
    assert as_tuples(table) == expected_wip()


def test_wip_as_of_later_date_ages_and_adds(con: duckdb.DuckDBPyConnection) -> None:
    rows = {r["wip_id"]: r for r in report(con, "wip", day(1)).to_pylist()}
    assert rows["4"]["age_days"] == 0  # logged at 00:00:01Z the next day
    assert rows["N8"]["age_days"] == 0
    assert rows["3"]["age_days"] == 96
    assert rows["3"]["aging_bucket"] == "91+"


def test_fct_wip_counts_parent_nrb_once(con: duckdb.DuckDBPyConnection) -> None:
    """NRB WIP: top-level, billable, not internal, not deleted; a billed one (N4) is billed at its value."""
    rows = con.sql(
        "select wip_id, wip_value, billed_amount, outstanding_amount from facts.fct_wip where source_system = 'aimsio'"
    ).fetchall()
    assert sorted(rows) == [
        ("N1", D("862.50"), D("0.00"), D("862.50")),
        ("N4", D("30.00"), D("30.00"), D("0.00")),
        ("N6", D("100.00"), D("0.00"), D("100.00")),
        ("N7", D("1000.00"), D("0.00"), D("1000.00")),
        ("N8", D("50.00"), D("0.00"), D("50.00")),
        ("N9", D("5.00"), D("0.00"), D("5.00")),
    ]


@pytest.mark.parametrize("name", ["aging", "wip"])
def test_summary_sums_equal_detail(con: duckdb.DuckDBPyConnection, name: str) -> None:
    amount = "open_amount" if name == "aging" else "outstanding_amount"
    detail = report(con, name, AS_OF).to_pylist()
    summary = report(con, name, AS_OF, by_client=True)
    assert summary.column_names == SUMMARY_COLUMNS
    assert all(t == pa.decimal128(18, 2) for t in summary.schema.types[1:])
    sums: dict[str | None, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for row in detail:
        sums[row["client_name"]][BUCKET_COLUMN[row["aging_bucket"]]] += row[amount]
        sums[row["client_name"]]["total"] += row[amount]
    got = summary.to_pylist()
    assert {r["client_name"] for r in got} == set(sums)
    for row in got:
        for column in SUMMARY_COLUMNS[1:]:
            assert row[column] == sums[row["client_name"]][column], (row["client_name"], column)
        assert row["total"] == sum(row[c] for c in SUMMARY_COLUMNS[1:-1])
    totals = [r["total"] for r in got]
    assert totals == sorted(totals, reverse=True)


def test_aging_summary_values(con: duckdb.DuckDBPyConnection) -> None:
    rows = {r["client_name"]: r for r in report(con, "aging", AS_OF, by_client=True).to_pylist()}
    assert rows["Beta Pty Ltd"]["bucket_91_plus"] == D("591.00")
    assert rows["Beta Pty Ltd"]["bucket_31_60"] == D("531.00") + D("560.00") + D("777.00")
    assert rows["Acme Corp"]["bucket_current"] == D("100.00") + D("42.00") + D("75.00")


def test_default_as_of_is_today_utc_and_matches_views(con: duckdb.DuckDBPyConnection) -> None:
    """report() without a date equals the views (as of today, UTC): the sqlglot rewrite keeps the SQL's meaning."""
    for name, view, summary in ((r.name, r.model, r.summary) for r in REPORTS.values()):
        for by_client, relation in [(False, view), (True, summary)]:
            if relation is None:
                continue
            from_view = con.sql(f"select * from reports.{relation}").to_arrow_table()
            assert report(con, name, by_client=by_client).equals(from_view), relation
            assert report(con, name, today_utc(), by_client=by_client).equals(from_view), relation


def test_session_time_zone_does_not_move_dates(warehouse) -> None:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        for zone in ("Pacific/Kiritimati", "America/Los_Angeles"):
            con.execute(f"set TimeZone = '{zone}'")
            assert as_tuples(report(con, "aging", AS_OF)) == expected_aging()
            assert as_tuples(report(con, "wip", AS_OF)) == expected_wip()


def test_unknown_report_and_bad_date(con: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(ValueError, match="unknown report 'ar'"):
        report(con, "ar", AS_OF)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no by-client summary"):
        report(con, "kpis", AS_OF, by_client=True)
    with pytest.raises(TypeError):
        report(con, "aging", datetime(2025, 1, 31, 12))
    with pytest.raises(TypeError):
        report(con, "aging", "2025-01-31")  # type: ignore[arg-type]


@pytest.mark.parametrize("name", list(REPORTS))
def test_as_of_is_a_date_literal_in_the_sql(name: str) -> None:
    sql = report_sql(name, AS_OF, by_client=REPORTS[name].summary is not None)  # type: ignore[arg-type]
    assert "CAST('2025-01-31' AS DATE) AS as_of_date" in sql
    assert "CURRENT_TIMESTAMP" not in sql.upper()
    assert "REPORTS." not in sql.upper()  # every report model and configuration table is inlined


def test_report_without_models_is_a_clear_error(tmp_path) -> None:
    with duckdb.connect(str(tmp_path / "empty.duckdb")) as con, pytest.raises(ModelsNotBuilt, match="arwip sync"):
        report(con, "aging", AS_OF)
