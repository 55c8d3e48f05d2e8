"""Report configuration: bucket edges, aging basis, reading and validating ``[reports]`` from dlt's config."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest
from models_dataset import AS_OF, load_dataset

from pipelines.models import (
    Bucket,
    ReportConfig,
    build_models,
    report,
    report_config_from_dlt,
    stored_report_config,
)

WIDE = ReportConfig(aging_buckets=(30, 60, 90, 120))
WIDE_COLUMNS = [
    "client_name",
    "bucket_current",
    "bucket_1_30",
    "bucket_31_60",
    "bucket_61_90",
    "bucket_91_120",
    "bucket_121_plus",
    "total",
]


@pytest.fixture(scope="module")
def wide_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("wide") / "arwip.duckdb"
    with duckdb.connect(str(path)) as con:
        load_dataset(con)
        build_models(con, WIDE)
    return path


@pytest.fixture
def wcon(wide_warehouse: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    with duckdb.connect(str(wide_warehouse), read_only=True) as connection:
        yield connection


def wide_bucket(days: int) -> str:
    for low, high in ((None, 0), (1, 30), (31, 60), (61, 90), (91, 120)):
        if (low is None or days >= low) and days <= high:
            return "current" if low is None else f"{low}-{high}"
    return "121+"


def test_bucket_labels() -> None:
    assert ReportConfig().buckets() == [
        Bucket(1, "current", None, 0),
        Bucket(2, "1-30", 1, 30),
        Bucket(3, "31-60", 31, 60),
        Bucket(4, "61-90", 61, 90),
        Bucket(5, "91+", 91, None),
    ]
    assert [(b.label, b.column) for b in WIDE.buckets()][-2:] == [
        ("91-120", "bucket_91_120"),
        ("121+", "bucket_121_plus"),
    ]
    assert [b.label for b in ReportConfig(aging_buckets=(7,)).buckets()] == ["current", "1-7", "8+"]


@pytest.mark.parametrize("later", [0, 40])
def test_wide_buckets(wcon: duckdb.DuckDBPyConnection, later: int) -> None:
    as_of = AS_OF + timedelta(days=later)
    for name, days in (("aging", "days_past_due"), ("wip", "age_days")):
        rows = report(wcon, name, as_of).to_pylist()  # type: ignore[arg-type]
        assert rows
        assert all(r["aging_bucket"] == wide_bucket(r[days]) for r in rows)
    labels = {r["aging_bucket"] for r in report(wcon, "aging", as_of).to_pylist()}
    assert "91-120" in labels
    assert ("121+" in labels) == (later == 40)


def test_wide_summary_columns_in_views_and_reports(wcon: duckdb.DuckDBPyConnection) -> None:
    for name, view in (("aging", "rpt_ar_aging_by_client"), ("wip", "rpt_wip_outstanding_by_client")):
        summary = report(wcon, name, AS_OF + timedelta(days=40), by_client=True)  # type: ignore[arg-type]
        assert summary.column_names == WIDE_COLUMNS
        for row in summary.to_pylist():
            assert row["total"] == sum(row[c] for c in WIDE_COLUMNS[1:-1])
        assert con_columns(wcon, f"reports.{view}") == WIDE_COLUMNS
        assert report(wcon, name, by_client=True).equals(wcon.sql(f"select * from reports.{view}").to_arrow_table())  # type: ignore[arg-type]


def con_columns(con: duckdb.DuckDBPyConnection, relation: str) -> list[str]:
    return con.sql(f"select * from {relation} limit 0").columns


def test_stored_config_and_explicit_config(wcon: duckdb.DuckDBPyConnection, con: duckdb.DuckDBPyConnection) -> None:
    """report() uses the warehouse's configuration by default; an explicit one wins, on any warehouse."""
    assert stored_report_config(wcon) == WIDE
    assert stored_report_config(con) == ReportConfig()
    as_of = AS_OF + timedelta(days=40)
    for name in ("aging", "wip", "aging_trend", "kpis", "top_overdue"):
        assert report(con, name, as_of, config=WIDE).equals(report(wcon, name, as_of)), name  # type: ignore[arg-type]
    assert report(con, "aging", as_of, by_client=True, config=WIDE).column_names == WIDE_COLUMNS
    assert report(wcon, "aging", as_of, by_client=True, config=ReportConfig()).column_names[-2] == "bucket_91_plus"


def test_invoice_date_basis(con: duckdb.DuckDBPyConnection) -> None:
    by_due = report(con, "aging", AS_OF).to_pylist()
    by_invoice = report(con, "aging", AS_OF, config=ReportConfig(aging_basis="invoice_date")).to_pylist()
    assert {r["invoice_id"] for r in by_invoice} == {r["invoice_id"] for r in by_due}
    for row in by_invoice:
        assert row["days_past_due"] == (AS_OF - row["invoice_date"]).days
        assert row["aging_bucket"] == wide_bucket_default(row["days_past_due"])
    days = [r["days_past_due"] for r in by_invoice]
    assert days == sorted(days, reverse=True)
    # the trend ages the same way
    trend = report(con, "aging_trend", AS_OF, config=ReportConfig(aging_basis="invoice_date")).to_pylist()
    last = {(r["source_system"], r["client_name"], r["aging_bucket"]): r["open_amount"] for r in trend
            if r["snapshot_date"] == AS_OF}  # fmt: skip
    assert sum(last.values()) == sum(r["open_amount"] for r in by_invoice)
    assert ("aiwyn", "Acme Corp", "31-60") in last  # A-1001: due yesterday, dated 31 days ago


def wide_bucket_default(days: int) -> str:
    if days <= 0:
        return "current"
    for high in (30, 60, 90):
        if days <= high:
            return f"{high - 29}-{high}"
    return "91+"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"aging_buckets": (30, 30)}, "aging_buckets must be strictly increasing"),
        ({"aging_buckets": (60, 30)}, "aging_buckets must be strictly increasing"),
        ({"aging_buckets": (0, 30)}, "aging_buckets must be strictly increasing positive"),
        ({"aging_buckets": ()}, "aging_buckets must be a non-empty list"),
        ({"aging_buckets": ("30",)}, "aging_buckets must be whole numbers"),
        ({"aging_buckets": (True,)}, "aging_buckets must be whole numbers"),
        ({"aging_buckets": (30.0,)}, "aging_buckets must be whole numbers"),
        ({"aging_basis": "posting_date"}, "aging_basis must be 'due_date' or 'invoice_date'"),
    ],
)
def test_config_validation(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ReportConfig(**kwargs)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.delenv("REPORTS__AGING_BUCKETS", raising=False)
    monkeypatch.delenv("REPORTS__AGING_BASIS", raising=False)
    return monkeypatch


def test_config_from_dlt_defaults(clean_env: pytest.MonkeyPatch) -> None:
    assert report_config_from_dlt() == ReportConfig()


@pytest.mark.parametrize(
    ("buckets", "basis", "expected"),
    [
        ("[30, 60, 90, 120]", None, WIDE),
        ("15, 45", "invoice_date", ReportConfig(aging_buckets=(15, 45), aging_basis="invoice_date")),
        (None, "due_date", ReportConfig()),
    ],
)
def test_config_from_dlt_env(
    clean_env: pytest.MonkeyPatch, buckets: str | None, basis: str | None, expected: ReportConfig
) -> None:
    if buckets is not None:
        clean_env.setenv("REPORTS__AGING_BUCKETS", buckets)
    if basis is not None:
        clean_env.setenv("REPORTS__AGING_BASIS", basis)
    assert report_config_from_dlt() == expected


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("REPORTS__AGING_BUCKETS", "[60, 30]", r"reports\.aging_buckets must be strictly increasing"),
        ("REPORTS__AGING_BUCKETS", "thirty", r"reports\.aging_buckets must be a list of days"),
        ("REPORTS__AGING_BUCKETS", "[30, -5]", r"reports\.aging_buckets"),
        ("REPORTS__AGING_BASIS", "posting_date", r"reports\.aging_basis must be 'due_date' or 'invoice_date'"),
    ],
)
def test_config_from_dlt_errors_name_the_key(
    clean_env: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    clean_env.setenv(variable, value)
    with pytest.raises(ValueError, match=message):
        report_config_from_dlt()


def test_build_models_reads_dlt_config_by_default(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("REPORTS__AGING_BUCKETS", "[30, 60, 90, 120]")
    with duckdb.connect() as con:
        build_models(con)
        assert stored_report_config(con) == WIDE
        clean_env.setenv("REPORTS__AGING_BUCKETS", "[30, 20]")
        with pytest.raises(ValueError, match=r"reports\.aging_buckets"):
            build_models(con)
        assert stored_report_config(con) == WIDE  # nothing changed
