"""The models on PostgreSQL give DuckDB's answers on the hand-built datasets of ``tests/models`` (every bucket
edge, versions and their validity, soft deletes): the same raw tables in both warehouses, the models built in
each, every report compared row for row (types included) at dates around each rule, with two configurations;
and the data tests agree, passing and failing."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import duckdb
import pytest

from pipelines.datatests import run_data_tests
from pipelines.models import MODEL_SCHEMAS, REPORTS, ReportConfig, build_models, report
from pipelines.warehouse import DuckDBConnection, PostgresWarehouse

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "models"))
from deletions_dataset import load_deletions_dataset
from history_dataset import load_history_dataset
from models_dataset import AS_OF, load_dataset

DATASETS: dict[str, tuple[Callable[[duckdb.DuckDBPyConnection], None], tuple[date, ...]]] = {
    "models": (load_dataset, (AS_OF, date(2024, 12, 31), date(2025, 3, 1))),
    "history": (load_history_dataset, (date(2024, 1, 31), date(2024, 3, 15), date(2024, 6, 30), date(2025, 1, 1))),
    "deletions": (load_deletions_dataset, (date(2024, 2, 29), date(2024, 6, 30), date(2025, 1, 31))),
}
CONFIGS = (ReportConfig(), ReportConfig((15, 45), "invoice_date"))


def copy_raw_tables(duck: duckdb.DuckDBPyConnection, pg: PostgresWarehouse) -> None:
    """Every raw table of ``duck`` (not the models) into ``pg``, with the same column types."""
    tables = duck.execute(
        "select table_schema, table_name from information_schema.tables where table_type = 'BASE TABLE' "
        f"and table_schema not in ({', '.join(repr(s) for s in MODEL_SCHEMAS)}) order by all"
    ).fetchall()
    with pg.connect(read_only=False) as con:
        for schema, table in tables:
            columns = duck.execute(
                "select column_name, data_type from information_schema.columns where table_schema = $1 and "
                "table_name = $2 order by ordinal_position",
                [schema, table],
            ).fetchall()
            types = ", ".join(f'"{c}" {t.replace("VARCHAR", "varchar")}' for c, t in columns)
            con.execute(f'create schema if not exists "{schema}"')
            con.execute(f'create table "{schema}"."{table}" ({types})')
            data = duck.sql(f'select * from "{schema}"."{table}"').to_arrow_table()
            if data.num_rows:
                con.cursor.adbc_ingest(table, data, mode="append", db_schema_name=schema)


@pytest.fixture(params=sorted(DATASETS))
def both(request, pg: PostgresWarehouse) -> Iterator[tuple[DuckDBConnection, PostgresWarehouse, tuple[date, ...]]]:
    load, dates = DATASETS[request.param]
    with duckdb.connect() as duck:
        load(duck)
        copy_raw_tables(duck, pg)
        yield DuckDBConnection(duck), pg, dates


def test_every_report_is_the_same_on_both_warehouses(both):
    duck, pg, dates = both
    with pg.connect(read_only=False) as con:
        for config in CONFIGS:
            build_models(duck, config)
            build_models(con, config)
            for name, chosen in REPORTS.items():
                for by_client in (False, True) if chosen.summary else (False,):
                    for day in (*dates, None):
                        left, right = report(duck, name, day, by_client), report(con, name, day, by_client)
                        assert left.schema == right.schema, (name, by_client, day, config)
                        assert left.to_pylist() == right.to_pylist(), (name, by_client, day, config)
                    view = chosen.summary if by_client else chosen.model  # the views as built, as BI reads them
                    query = f"select * from reports.{view}"
                    assert duck.arrow(query).to_pylist() == con.arrow(query).to_pylist(), (view, config)


def test_the_data_tests_agree(both):
    duck, pg, _ = both
    with pg.connect(read_only=False) as con:
        for warehouse in (duck, con):
            build_models(warehouse, ReportConfig())
        assert run_data_tests(duck) == run_data_tests(con) == []
        for warehouse in (duck, con):  # a payment of an invoice nobody has, and a duplicate key
            warehouse.execute(
                "insert into aiwyn.payments (id, invoice_id, amount, status, payment_date, updated_at) values "
                "(77, 9999, 5.00, 'CONFIRMED', timestamptz '2025-01-01 00:00:00+00', "
                "timestamptz '2025-01-01 00:00:00+00')"
            )
            warehouse.execute("insert into aiwyn.payments select * from aiwyn.payments where id = 77")
            build_models(warehouse, ReportConfig())
        failing = run_data_tests(duck)
        assert [f.name for f in failing] == ["assert_payments_have_invoices", "assert_unique_keys"]
        assert run_data_tests(con) == failing
