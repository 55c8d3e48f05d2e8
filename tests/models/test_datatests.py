"""Data tests (sql/tests): a good warehouse passes; each kind of broken data fails exactly its test."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from models_dataset import at, load_dataset

from pipelines.datatests import (
    DataTestFailure,
    DataTestsFailed,
    check_data_tests,
    discover_data_tests,
    run_data_tests,
)
from pipelines.models import MODEL_SCHEMAS, ReportConfig, build_models
from pipelines.warehouse import Rebuild, as_connection
from pipelines.warehouse.steps import run_in_order

Breakage = Callable[[duckdb.DuckDBPyConnection], None]


@pytest.fixture(scope="module")
def built() -> Iterator[duckdb.DuckDBPyConnection]:
    """The dataset in memory, built; tests break it inside a transaction they roll back."""
    with duckdb.connect() as con:
        load_dataset(con)
        build_models(con, ReportConfig())
        yield con


def check(con: duckdb.DuckDBPyConnection) -> None:
    """The sync's check (:func:`check_data_tests`) of the models built on ``con``, run in order on it."""
    check_data_tests(Rebuild({s: s for s in MODEL_SCHEMAS}, functools.partial(run_in_order, as_connection(con))))


def test_good_warehouse_passes(con: duckdb.DuckDBPyConnection) -> None:
    check(con)  # raises DataTestsFailed on any failure


def test_every_rule_has_a_test() -> None:
    assert [p.stem for p in discover_data_tests()] == [
        "assert_invoice_total_equals_parts",
        "assert_line_items_have_invoices",
        "assert_line_items_sum_to_subtotal",
        "assert_not_null_keys",
        "assert_open_amount_within_total",
        "assert_open_invoices_in_one_bucket",
        "assert_payments_have_invoices",
        "assert_report_totals_match_facts",
        "assert_unique_keys",
    ]


def sql(statement: str) -> Breakage:
    return lambda con: con.execute(statement)


# (id, breakage of the raw tables (the staging models are views: no rebuild needed) or of the built models,
#  whether the models must be rebuilt after it (the SCD2 versions are tables), expected failure, sample row)
BREAKAGES: list[tuple[str, Breakage, bool, str, dict]] = [
    (
        "duplicate payment id",
        sql(
            "insert into aiwyn.payments (id, amount, status, payment_date, updated_at)"
            " values (1, 5.00, 'FAILED', '2025-01-01 00:00:00+00', '2025-01-01 00:00:00+00')"
        ),
        False,
        "assert_unique_keys",
        {"relation": "staging.stg_aiwyn__payments", "key_value": "1", "row_count": 2},
    ),
    (
        "null line number",
        sql("insert into iinsight.invoice_items (invoice_id, item_no, total) values ('I-0', null, 0.00)"),
        False,
        "assert_not_null_keys",
        {"relation": "staging.stg_iinsight__invoice_items", "row_count": 1},
    ),
    (
        "payment of an unknown invoice",
        sql(
            "insert into aiwyn.payments (id, invoice_id, amount, status, payment_date, updated_at)"
            " values (50, 9999, 5.00, 'CONFIRMED', '2025-01-01 00:00:00+00', '2025-01-01 00:00:00+00')"
        ),
        False,
        "assert_payments_have_invoices",
        {"payment_id": "50", "invoice_id": "9999"},
    ),
    (
        "line item of an unknown invoice",
        sql("insert into aiwyn.invoice_line_items (invoice_id, id, amount) values (9999, 1, 5.00)"),
        False,
        "assert_line_items_have_invoices",
        {"source_system": "aiwyn", "invoice_id": "9999", "line_count": 1},
    ),
    (
        "line items not summing to the subtotal",
        sql("update aiwyn.invoices set subtotal = 90.00, tax_amount = 10.00 where id = 1000"),  # lines: 100.00
        False,
        "assert_line_items_sum_to_subtotal",
        {"invoice_id": 1000, "subtotal_amount": Decimal("90.00"), "line_total": Decimal("100.00")},
    ),
    (
        "total not subtotal + tax",
        sql("update iinsight.invoices set sub_total = 900.00, total_tax = 50.00 where invoice_id = 'I-1'"),
        False,
        "assert_invoice_total_equals_parts",
        {"source_system": "iinsight", "invoice_id": "I-1", "total_amount": Decimal("1001.00")},
    ),
    (
        "payable above the total",
        sql("update iinsight.invoices set total_amount_payable = 2000.00 where invoice_id = 'I-30'"),
        True,
        "assert_open_amount_within_total",
        {"invoice_id": "I-30", "total_amount": Decimal("1030.00"), "open_amount": Decimal("2000.00")},
    ),
    (
        "a bucket missing",  # every invoice of the dataset is 91+ days past due today
        sql("delete from reports.aging_buckets where bucket_label = '91+'"),
        False,
        "assert_open_invoices_in_one_bucket",
        {"report_rows": 1, "bucketed_rows": 0},
    ),
    (
        "history newer than the current row",  # the versions say 1.00 is payable, the current table 500.00
        lambda con: con.execute(
            'insert into iinsight.invoices_history (invoice_id, "to", date_of_invoice, due_date, total,'
            " total_amount_payable, status, last_update_utc) values ('I-0', 'Beta Pty Ltd', ?, ?, 1000.00, 1.00,"
            " 'ACTIVE', ?)",
            [at(-14).date(), at(0).date(), at(5)],
        ),
        True,
        "assert_report_totals_match_facts",
        {"check_name": "ar_aging"},
    ),
]


def test_broken_data_fails_the_right_tests() -> None:
    """Every breakage at once: each test fails, and its sample shows the row its breakage made."""
    with duckdb.connect() as con:
        load_dataset(con)
        build_models(con, ReportConfig())  # creates the raw tables the dataset does not have
        for _, breakage, rebuild, _, _ in BREAKAGES:
            if rebuild:
                breakage(con)
        build_models(con, ReportConfig())
        for _, breakage, rebuild, _, _ in BREAKAGES:
            if not rebuild:
                breakage(con)
        failures = {f.name: f for f in run_data_tests(con)}
    assert sorted(failures) == sorted({name for *_, name, _ in BREAKAGES})
    for what, _, _, name, sample in BREAKAGES:
        failure = failures[name]
        assert failure.error is None, what
        assert 1 <= len(failure.sample) <= 5 and failure.rows >= len(failure.sample), what
        assert all("message" in row for row in failure.sample), what
        assert any(row.items() >= sample.items() for row in failure.sample), (what, failure.sample)


@pytest.mark.parametrize(
    ("breakage", "name"),
    [pytest.param(b, n, id=i) for i, b, rebuild, n, _ in BREAKAGES if not rebuild][:3],
)
def test_one_breakage_fails_only_its_test(built: duckdb.DuckDBPyConnection, breakage: Breakage, name: str) -> None:
    built.begin()
    try:
        breakage(built)
        failures = run_data_tests(built)
    finally:
        built.rollback()
    assert [f.name for f in failures] == [name]


def test_deleted_payment_of_an_unknown_invoice_is_not_checked(built: duckdb.DuckDBPyConnection) -> None:
    """A payment the source deleted (``aiwyn.deletions``) counts nowhere: its invoice may have vanished with it."""
    built.begin()
    try:
        built.execute(
            "insert into aiwyn.payments (id, invoice_id, amount, status, payment_date, updated_at)"
            " values (50, 9999, 5.00, 'CONFIRMED', '2025-01-01 00:00:00+00', '2025-01-01 00:00:00+00')"
        )
        built.execute(
            "insert into aiwyn.deletions (entity, guid, deleted_at) values ('payments', '50', '2025-01-02 00:00:00+00')"
        )
        failures = run_data_tests(built)
    finally:
        built.rollback()
    assert failures == []


def test_failures_are_counted_and_sampled(built: duckdb.DuckDBPyConnection) -> None:
    built.begin()
    try:
        built.execute(
            "insert into aiwyn.invoice_line_items (invoice_id, id, amount)"
            " select 9000 + i, 1, 1.00 from range(7) as t(i)"
        )
        with pytest.raises(
            DataTestsFailed, match=r"1 data test\(s\) failed: assert_line_items_have_invoices: 7 row"
        ) as info:
            check(built)
    finally:
        built.rollback()
    failures = info.value.failures
    assert [(f.name, f.rows, len(f.sample)) for f in failures] == [("assert_line_items_have_invoices", 7, 5)]


@pytest.mark.parametrize(
    ("sql", "error"),
    [("select * from facts.no_such_model", "no_such_model"), ("select (1 from", "ParseError")],
    ids=["missing relation", "does not parse"],
)
def test_a_test_that_cannot_run_is_a_failure(tmp_path: Path, sql: str, error: str) -> None:
    (tmp_path / "assert_broken.sql").write_text(sql)
    (tmp_path / "assert_fine.sql").write_text("select 1 as x where false")
    with duckdb.connect() as con:
        failures = run_data_tests(con, tmp_path)
    assert [(f.name, f.rows) for f in failures] == [("assert_broken", 0)]
    assert isinstance(failures[0], DataTestFailure)
    assert failures[0].error is not None and error in failures[0].error
    assert "could not run" in failures[0].describe()


def test_test_files_must_be_named_assert(tmp_path: Path) -> None:
    (tmp_path / "check_things.sql").write_text("select 1 as x where false")
    with pytest.raises(ValueError, match=r"assert_<rule>\.sql"):
        discover_data_tests(tmp_path)
