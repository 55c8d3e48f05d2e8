"""build_models: missing raw tables, build order, schemas, transaction; discover_models' ordering rules."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
import sqlglot
from models_dataset import AS_OF, aiwyn_invoices, load
from sqlglot import exp

from pipelines.models import (
    LOAD_ID,
    MODEL_SCHEMAS,
    REPORTS,
    SQL_DIR,
    Model,
    ReportConfig,
    build_models,
    discover_models,
    raw_tables,
    report,
)
from pipelines.models.build import VERSIONS_TEMPLATE, history_model
from pipelines.models.config import CONFIG_TABLES

FACTS_AND_REPORTS = [
    "facts.int_aimsio__jobs",
    "facts.int_aimsio__nrb_versions",
    "facts.int_aimsio__wip_nrbs",
    "facts.int_aiwyn__invoice_versions",
    "facts.int_aiwyn__wip_versions",
    "facts.int_iinsight__availability",
    "facts.int_iinsight__billings",
    "facts.int_iinsight__invoice_versions",
    "facts.fct_invoice_versions",
    "facts.fct_invoices",
    "facts.fct_payments",
    "facts.fct_wip",
    "facts.fct_wip_versions",
    "reports.rpt_exceptions",
    "reports.rpt_invoices_as_of",
    "reports.rpt_ar_aging",
    "reports.rpt_ar_aging_by_client",
    "reports.rpt_month_ends",
    "reports.rpt_ar_aging_trend",
    "reports.rpt_top_overdue_clients",
    "reports.rpt_wip_as_of",
    "reports.rpt_kpis",
    "reports.rpt_wip_outstanding",
    "reports.rpt_client_summary",
    "reports.rpt_wip_outstanding_by_client",
    "reports.rpt_wip_trend",
]
HISTORY_TABLES = {
    "aiwyn.wip_history": ("id", "updated_at"),
    "aiwyn.invoices_history": ("id", "updated_at"),
    "aimsio.nrbs_history": ("nrb_guid", "nrb_updated_at"),
    "iinsight.invoices_history": ("invoice_id", "last_update_utc"),
    "iinsight.payments_history": ("payment_id", "last_update_utc"),
}


def test_empty_database(tmp_path: Path) -> None:
    with duckdb.connect(str(tmp_path / "empty.duckdb")) as con:
        built = build_models(con, ReportConfig())
        assert built[-len(FACTS_AND_REPORTS) :] == FACTS_AND_REPORTS
        assert all(name.startswith("staging.stg_") for name in built[: -len(FACTS_AND_REPORTS)])
        for schema, spec in raw_tables():
            got = con.sql(f"select * from {schema}.{spec.name}").to_arrow_table()
            assert got.num_rows == 0
            expected = spec.arrow_schema().append(pa.field(LOAD_ID, pa.string()))  # as dlt loads
            assert [(f.name, f.type) for f in got.schema] == [(f.name, f.type) for f in expected], spec.name
            not_null = con.sql(
                "select column_name from information_schema.columns"
                " where table_schema = ? and table_name = ? and is_nullable = 'NO'",
                params=[schema, spec.name],
            ).fetchall()
            assert {c for (c,) in not_null} == {f.name for f in expected if not f.nullable}, spec.name
        for relation in built:
            # the KPIs' total row, with zeros; iinsight's optional entities, never synced: unavailable
            rows = 1 if relation in ("reports.rpt_kpis", "facts.int_iinsight__availability") else 0
            assert con.sql(f"select count(*) from {relation}").fetchall() == [(rows,)], relation
        for name, summary in ((r.name, r.summary) for r in REPORTS.values()):
            for by_client in (False, True) if summary else (False,):
                expected = 1 if name == "kpis" else 0  # the total row, with zeros
                assert report(con, name, AS_OF, by_client=by_client).num_rows == expected, name
        assert con.sql("select current_setting('TimeZone')").fetchall() == [("UTC",)]
        assert build_models(con, ReportConfig()) == built  # idempotent


def relations(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {f"{s}.{t}" for s, t in con.sql("select table_schema, table_name from information_schema.tables").fetchall()}


def test_partial_sync_creates_the_other_raw_tables(tmp_path: Path) -> None:
    with duckdb.connect(str(tmp_path / "aiwyn_only.duckdb")) as con:
        load(con, "aiwyn", "invoices", aiwyn_invoices())
        build_models(con, ReportConfig())
        assert {f"{schema}.{spec.name}" for schema, spec in raw_tables()} <= relations(con)
        rows = report(con, "aging", AS_OF).to_pylist()
        assert {r["source_system"] for r in rows} == {"aiwyn"}
        assert len(rows) == 12


def test_rebuild_drops_stale_views(tmp_path: Path) -> None:
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        built = set(build_models(con, ReportConfig()))
        con.execute("create view reports.old_report as select 1 as x")
        build_models(con, ReportConfig())
        assert "reports.old_report" not in relations(con)
        assert built <= relations(con)


def test_failed_build_changes_nothing(tmp_path: Path) -> None:
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        build_models(con, ReportConfig())
        before = relations(con)
        con.execute("alter table aiwyn.invoices drop column total_amount")  # stg_aiwyn__invoices no longer binds
        with pytest.raises(duckdb.BinderException):
            build_models(con, ReportConfig())
        assert relations(con) == before
    with duckdb.connect(str(tmp_path / "fresh.duckdb")) as con:
        con.execute("create schema aiwyn")
        con.execute("create table aiwyn.invoices (id bigint)")
        with pytest.raises(duckdb.BinderException):
            build_models(con, ReportConfig())
        assert relations(con) == {"aiwyn.invoices"}  # no raw table, schema or view was left behind


def test_build_order_puts_every_dependency_first() -> None:
    models = discover_models()
    position = {m.relation: i for i, m in enumerate(models)}
    raw = {f"{schema}.{spec.name}" for schema, spec in raw_tables()} | set(CONFIG_TABLES)
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


def test_history_tables_are_raw_tables_with_key_and_change_time_not_null(tmp_path: Path) -> None:
    raw = {f"{schema}.{spec.name}": spec for schema, spec in raw_tables()}
    assert set(HISTORY_TABLES) <= set(raw)
    for name, key in HISTORY_TABLES.items():
        assert raw[name].primary_key == key
        base = raw[name.removesuffix("_history")]
        assert [(f.name, f.type) for f in raw[name].arrow_schema()] == [(f.name, f.type) for f in base.arrow_schema()]
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        build_models(con, ReportConfig())
        for name, key in HISTORY_TABLES.items():
            schema, table = name.split(".")
            not_null = con.sql(
                "select column_name from information_schema.columns"
                " where table_schema = ? and table_name = ? and is_nullable = 'NO'",
                params=[schema, table],
            ).fetchall()
            assert {c for (c,) in not_null} == set(key), name


def test_history_staging_has_the_columns_of_current_staging(con: duckdb.DuckDBPyConnection) -> None:
    """The versions union the history staging model with the current one: same columns, same order, same types."""

    def columns(relation: str) -> list[tuple[str, str]]:
        schema, name = relation.split(".")
        return con.sql(
            "select column_name, data_type from information_schema.columns"
            " where table_schema = ? and table_name = ? order by ordinal_position",
            params=[schema, name],
        ).fetchall()

    for current in ("stg_aiwyn__invoices", "stg_aiwyn__wip", "stg_aimsio__nrbs", "stg_iinsight__invoices"):
        assert columns(f"staging.{current}_history") == columns(f"staging.{current}"), current


def test_versions_are_materialized_and_config_tables_written(con: duckdb.DuckDBPyConnection) -> None:
    kinds = dict(
        con.sql(
            "select table_schema || '.' || table_name, table_type from information_schema.tables"
            " where table_schema in ('staging', 'facts', 'reports')"
        ).fetchall()
    )
    tables = {name for name, kind in kinds.items() if kind == "BASE TABLE"}
    assert tables == {"facts.fct_invoice_versions", "facts.fct_wip_versions", *CONFIG_TABLES}
    buckets = con.sql("select * from reports.aging_buckets order by bucket_order").fetchall()
    assert buckets == [
        (1, "current", None, 0),
        (2, "1-30", 1, 30),
        (3, "31-60", 31, 60),
        (4, "61-90", 61, 90),
        (5, "91+", 91, None),
    ]
    assert con.sql("select * from reports.report_settings").fetchall() == [("due_date",)]


def test_bad_materialization_marker(tmp_path: Path) -> None:
    write(tmp_path, "staging", "a", "-- materialized: incremental\nselect id from aiwyn.wip")
    with pytest.raises(ValueError, match="materialized must be view or table"):
        discover_models(tmp_path)


def test_history_staging_is_its_model_over_the_history_table() -> None:
    """Each ``*_history`` staging view is built from its current model's file, which says so at its top: the same
    query with only the raw table swapped for its ``*_history`` table, built right after it."""
    models = discover_models()
    derived = {m.relation: m for m in models if m.name != m.path.stem and m.schema == "staging"}
    assert {name: m.path.name for name, m in derived.items()} == {
        "staging.stg_aimsio__nrbs_history": "stg_aimsio__nrbs.sql",
        "staging.stg_aiwyn__invoices_history": "stg_aiwyn__invoices.sql",
        "staging.stg_aiwyn__wip_history": "stg_aiwyn__wip.sql",
        "staging.stg_iinsight__invoices_history": "stg_iinsight__invoices.sql",
        "staging.stg_iinsight__payments_history": "stg_iinsight__payments.sql",
    }
    assert not list((SQL_DIR / "staging").glob("*_history.sql"))
    for i, model in enumerate(models):
        if model.relation not in derived:
            continue
        base = models[i - 1]
        assert (base.path, base.name + "_history") == (model.path, model.name), model.relation
        (history,) = model.references() & set(HISTORY_TABLES)
        raw = history.removesuffix("_history")
        assert model.references() == base.references() - {raw} | {history}
        header = " ".join(base.path.read_text().splitlines()[:2])
        assert f"-- also built over {history} as {model.name}" in header, base.path.name
        back = sqlglot.parse_one(model.sql, read="duckdb")
        for table in back.find_all(exp.Table):
            if f"{table.db}.{table.name}" == history:
                table.set("this", exp.to_identifier(raw.split(".")[1]))
        expected = sqlglot.parse_one(base.sql, read="duckdb").sql(dialect="duckdb", comments=False)
        assert back.sql(dialect="duckdb", comments=False) == expected, model.relation
        assert model.materialized == base.materialized


def test_scd2_versions_are_one_template_over_each_staging_model() -> None:
    """The SCD2 validity logic is written once (``sql/templates/scd2_versions.sql``); each versions model is that
    template over the staging model whose file names it, and that model's ``*_history`` twin."""
    models = discover_models()
    versions = {m.relation: m for m in models if m.path == VERSIONS_TEMPLATE}
    assert sorted(versions) == [
        "facts.int_aimsio__nrb_versions",
        "facts.int_aiwyn__invoice_versions",
        "facts.int_aiwyn__wip_versions",
        "facts.int_iinsight__invoice_versions",
    ]
    assert not list((SQL_DIR / "intermediate").glob("*_versions.sql"))
    for staging in (m for m in models if m.schema == "staging" and "-- versions in" in m.sql):
        relation, key = staging.sql.split("-- versions in ")[1].split("\n")[0].split(" by ")
        assert versions[relation].references() == {staging.relation, f"{staging.relation}_history"}
        assert f"partition by versions.{key}" in versions[relation].sql.lower()
        assert models.index(versions[relation]) > models.index(staging)


def test_versions_directive_needs_a_history_twin(tmp_path: Path) -> None:
    write(tmp_path, "staging", "a", "-- versions in facts.int_a_versions by id\nselect id, updated_at from aiwyn.wip")
    with pytest.raises(ValueError, match="history twin"):
        discover_models(tmp_path)


def test_history_model_is_kept_with_its_model_in_the_build_order(tmp_path: Path) -> None:
    write(tmp_path, "staging", "a_first", "select * from staging.b_second_history")
    marker = "-- also built over aiwyn.wip_history as b_second_history\n"
    write(tmp_path, "staging", "b_second", marker + "select id from aiwyn.wip")
    write(tmp_path, "staging", "c_third", "select id from aiwyn.wip")
    order = [m.relation for m in discover_models(tmp_path)]
    assert order == ["staging.b_second", "staging.b_second_history", "staging.a_first", "staging.c_third"]
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        build_models(con, ReportConfig())
        con.execute("insert into aiwyn.wip (id, updated_at) values (1, '2025-01-02 00:00:00+00')")
        con.execute("insert into aiwyn.wip_history (id, updated_at) values (1, '2025-01-01 00:00:00+00')")
        con.execute("insert into aiwyn.wip_history (id, updated_at) values (1, '2025-01-02 00:00:00+00')")
        assert con.sql("select count(*) from staging.stg_aiwyn__wip_history").fetchall() == [(2,)]


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("-- also built over aiwyn.invoices_history as x_history\nselect id from aiwyn.wip", "not the versions"),
        ("-- also built over aiwyn.payments as x_history\nselect id from aiwyn.payments", "not the versions"),
        ("-- also built over aiwyn.wip as x_history\nselect id from aiwyn.wip", "not the versions"),
        ("-- also built over aiwyn.wip_history as x_versions\nselect id from aiwyn.wip", "name it x_history"),
        (
            "-- also built over aiwyn.wip_history as x_history\n-- also built over aiwyn.wip_history as y\n"
            "select id from aiwyn.wip",
            "one `-- also built over",
        ),
    ],
)
def test_bad_history_markers(tmp_path: Path, sql: str, message: str) -> None:
    write(tmp_path, "staging", "x", sql)
    with pytest.raises(ValueError, match=message):
        discover_models(tmp_path)


def test_history_model_rewrites_every_reference_and_keeps_the_materialization() -> None:
    sql = (
        "-- also built over aiwyn.wip_history as w_history\n-- materialized: table\n"
        "with a as (select id from aiwyn.wip), b as (select w.id from aiwyn.wip as w)"
        " select a.id from a join b on a.id = b.id"
    )
    derived = history_model(Model("w", "staging", Path("w.sql"), sql))
    assert derived is not None
    assert (derived.relation, derived.materialized) == ("staging.w_history", "table")
    assert derived.references() == {"aiwyn.wip_history"}
    assert history_model(Model("w", "staging", Path("w.sql"), "select id from aiwyn.wip")) is None
