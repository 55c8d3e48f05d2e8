"""build_models: missing raw tables, build order, schemas, transaction; discover_models' ordering rules."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest
from models_dataset import AS_OF, aiwyn_invoices, load

from pipelines.models import (
    MODEL_SCHEMAS,
    RAW_TABLES,
    build_models,
    discover_models,
    report,
)

FACTS_AND_REPORTS = [
    "facts.int_aimsio__wip_nrbs",
    "facts.fct_invoices",
    "facts.fct_payments",
    "facts.fct_wip",
    "reports.rpt_ar_aging",
    "reports.rpt_ar_aging_by_client",
    "reports.rpt_wip_outstanding",
    "reports.rpt_wip_outstanding_by_client",
]


def test_empty_database(tmp_path: Path) -> None:
    with duckdb.connect(str(tmp_path / "empty.duckdb")) as con:
        built = build_models(con)
        assert built[-len(FACTS_AND_REPORTS) :] == FACTS_AND_REPORTS
        assert all(name.startswith("staging.stg_") for name in built[: -len(FACTS_AND_REPORTS)])
        for schema, spec in RAW_TABLES:
            got = con.sql(f"select * from {schema}.{spec.name}").to_arrow_table()
            assert got.num_rows == 0
            expected = spec.arrow_schema()
            assert [(f.name, f.type) for f in got.schema] == [(f.name, f.type) for f in expected], spec.name
            not_null = con.sql(
                "select column_name from information_schema.columns"
                " where table_schema = ? and table_name = ? and is_nullable = 'NO'",
                params=[schema, spec.name],
            ).fetchall()
            assert {c for (c,) in not_null} == {f.name for f in expected if not f.nullable}, spec.name
        for relation in built:
            assert con.sql(f"select count(*) from {relation}").fetchall() == [(0,)], relation
        for name in ("aging", "wip"):
            for by_client in (False, True):
                assert report(con, name, AS_OF, by_client=by_client).num_rows == 0
                assert report(con, name, by_client=by_client).num_rows == 0
        assert con.sql("select current_setting('TimeZone')").fetchall() == [("UTC",)]
        assert build_models(con) == built  # idempotent


def relations(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {f"{s}.{t}" for s, t in con.sql("select table_schema, table_name from information_schema.tables").fetchall()}


def test_partial_sync_creates_the_other_raw_tables(tmp_path: Path) -> None:
    with duckdb.connect(str(tmp_path / "aiwyn_only.duckdb")) as con:
        load(con, "aiwyn", "invoices", aiwyn_invoices())
        build_models(con)
        assert {f"{schema}.{spec.name}" for schema, spec in RAW_TABLES} <= relations(con)
        rows = report(con, "aging", AS_OF).to_pylist()
        assert {r["source_system"] for r in rows} == {"aiwyn"}
        assert len(rows) == 12


def test_rebuild_drops_stale_views(tmp_path: Path) -> None:
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        built = set(build_models(con))
        con.execute("create view reports.old_report as select 1 as x")
        build_models(con)
        assert "reports.old_report" not in relations(con)
        assert built <= relations(con)


def test_failed_build_changes_nothing(tmp_path: Path) -> None:
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        build_models(con)
        before = relations(con)
        con.execute("alter table aiwyn.invoices drop column total_amount")  # stg_aiwyn__invoices no longer binds
        with pytest.raises(duckdb.BinderException):
            build_models(con)
        assert relations(con) == before
    with duckdb.connect(str(tmp_path / "fresh.duckdb")) as con:
        con.execute("create schema aiwyn")
        con.execute("create table aiwyn.invoices (id bigint)")
        with pytest.raises(duckdb.BinderException):
            build_models(con)
        assert relations(con) == {"aiwyn.invoices"}  # no raw table, schema or view was left behind


def test_build_order_puts_every_dependency_first() -> None:
    models = discover_models()
    position = {m.relation: i for i, m in enumerate(models)}
    raw = {f"{schema}.{spec.name}" for schema, spec in RAW_TABLES}
    for model in models:
        for ref in model.references():
            assert ref in raw or position[ref] < position[model.relation], (model.relation, ref)
    schemas = [m.schema for m in models]
    assert schemas == sorted(schemas, key=MODEL_SCHEMAS.index)


def write(root: Path, folder: str, name: str, sql: str) -> None:
    (root / folder).mkdir(parents=True, exist_ok=True)
    (root / folder / f"{name}.sql").write_text(sql)


def test_same_layer_dependency_moves_a_model_later(tmp_path: Path) -> None:
    write(tmp_path, "staging", "a_first", "select * from staging.b_second")
    write(tmp_path, "staging", "b_second", "select id from aiwyn.wip")
    write(tmp_path, "staging", "c_third", "select id from aiwyn.wip")
    write(tmp_path, "reports", "r", "with x as (select * from staging.a_first) select * from x")
    order = [m.relation for m in discover_models(tmp_path)]
    assert order == ["staging.b_second", "staging.a_first", "staging.c_third", "reports.r"]


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"a": "select * from staging.b", "b": "select * from staging.a"}, "cycle"),
        ({"a": "select * from facts.fct_later"}, "neither a raw table nor a model built before it"),
        ({"Bad-Name": "select 1 as x"}, "lowercase identifier"),
    ],
)
def test_bad_model_trees(tmp_path: Path, files: dict[str, str], message: str) -> None:
    for name, sql in files.items():
        write(tmp_path, "staging", name, sql)
    with pytest.raises(ValueError, match=message):
        discover_models(tmp_path)


def test_as_of_dates_are_calendar_dates(con: duckdb.DuckDBPyConnection) -> None:
    """The AS_OF boundary: an invoice dated AS_OF 23:59:59Z is in, one dated the next day 00:30Z is out."""
    ids = set(report(con, "aging", date(2025, 1, 31))["invoice_id"].to_pylist())
    assert "2006" in ids
    assert "2005" not in ids
    assert "2005" in set(report(con, "aging", date(2025, 2, 1))["invoice_id"].to_pylist())
