"""The PostgreSQL warehouse's seam on a real server: configuration and credentials, reads back as DuckDB gives
them (numeric → Decimal), the writer's advisory lock, the models' rebuild (built aside, analyzed, tested, swapped
in; a failing build never visible; backups dropped), consistent reads across a swap, a read-only BI role, and
the demo's recreate guard."""

from __future__ import annotations

from decimal import Decimal

import psycopg2
import pyarrow as pa
import pytest

from pipelines.cli import app
from pipelines.datatests import DataTestsFailed, check_data_tests
from pipelines.errors import EXIT_CONFIG, explain
from pipelines.models import MODEL_SCHEMAS, ReportConfig, build_models, report
from pipelines.warehouse import (
    POSTGRES,
    DuckDBWarehouse,
    PostgresWarehouse,
    RelationMissing,
    SyncLocked,
    open_warehouse,
)
from pipelines.warehouse.postgres import DEFAULT_THREADS, STEP_SECONDS
from pipelines.warehouse.steps import load_seconds
from sources._http import ConfigError
from tests.pg_server import PostgresServer
from tests.serve.harness import lock_held

KEY = "DESTINATION__POSTGRES__CREDENTIALS"


def sql(dsn: str, *statements: str) -> list[tuple]:
    """Run ``statements`` with psycopg2 (autocommit) as the test's user; the last one's rows, if any."""
    con = psycopg2.connect(dsn)
    con.autocommit = True
    try:
        with con.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
            return cur.fetchall() if cur.description else []
    finally:
        con.close()


def schemas(dsn: str) -> list[str]:
    rows = sql(dsn, "select nspname from pg_namespace where nspname !~ '^(pg_|information_schema)' order by 1")
    return [name for (name,) in rows]


# -- configuration --------------------------------------------------------------------------------------------


def test_the_destination_comes_from_the_configuration(postgres: PostgresServer, monkeypatch, tmp_path):
    monkeypatch.setenv(KEY, postgres.dsn)
    assert isinstance(open_warehouse(None, tmp_path / "w.duckdb"), DuckDBWarehouse)  # the default
    monkeypatch.setenv("WAREHOUSE__DESTINATION", "postgres")
    chosen = open_warehouse(None, tmp_path / "w.duckdb")
    assert isinstance(chosen, PostgresWarehouse)
    assert chosen.location == f"postgresql://arwip@127.0.0.1:{postgres.port}/arwip"  # no password
    assert isinstance(open_warehouse("duckdb", tmp_path / "w.duckdb"), DuckDBWarehouse)  # --destination wins
    monkeypatch.setenv("WAREHOUSE__DESTINATION", "snowflake")
    with pytest.raises(ConfigError, match=r"\[warehouse\] destination \(WAREHOUSE__DESTINATION\) must be duckdb or "):
        open_warehouse(None, tmp_path / "w.duckdb")


def test_the_rebuild_threads_come_from_the_configuration(postgres_dsn, monkeypatch, tmp_path):
    assert PostgresWarehouse(postgres_dsn, state_dir=tmp_path).threads == DEFAULT_THREADS
    monkeypatch.setenv("WAREHOUSE__THREADS", "2")
    assert PostgresWarehouse(postgres_dsn, state_dir=tmp_path).connect().threads == 2
    monkeypatch.setenv("WAREHOUSE__THREADS", "many")
    with pytest.raises(ConfigError, match=r"^\[warehouse\] threads \(WAREHOUSE__THREADS\) must be a whole number of at "
                       r"least 1; got 'many'$"):
        PostgresWarehouse(postgres_dsn, state_dir=tmp_path)


def test_missing_credentials_name_the_key(monkeypatch):
    monkeypatch.delenv(KEY, raising=False)
    with pytest.raises(ConfigError) as info:
        open_warehouse("postgres")
    message, code = explain(info.value)
    assert code == EXIT_CONFIG
    assert message.startswith(f"missing configuration: {KEY} (postgresql://user:password@host:5432/database)")


def test_a_wrong_password_is_one_line_naming_the_key_without_the_secret(postgres: PostgresServer, tmp_path):
    wrong = postgres.dsn.replace(postgres.password, "not-the-password")
    warehouse = PostgresWarehouse(wrong, state_dir=tmp_path)
    with pytest.raises(ConfigError) as info:
        warehouse.require()
    message, code = explain(info.value)
    assert code == EXIT_CONFIG
    assert message.startswith(f"cannot connect to the Postgres warehouse postgresql://arwip@127.0.0.1:{postgres.port}/")
    assert KEY in message and "password authentication failed" in message
    assert "not-the-password" not in message and postgres.password not in message
    assert "\n" not in message


def test_the_cli_names_the_key_of_a_missing_credential(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    monkeypatch.delenv(KEY, raising=False)
    monkeypatch.chdir(tmp_path)
    for args in (["report", "aging"], ["verify"], ["sync"]):
        result = CliRunner().invoke(app, [*args, "--destination", "postgres"])
        assert result.exit_code == EXIT_CONFIG, result.output
        assert f"missing configuration: {KEY}" in result.output


# -- connections ----------------------------------------------------------------------------------------------


def test_reads_come_back_as_duckdb_gives_them(pg):
    with pg.connect(read_only=False) as con:
        con.execute(
            "create table t (money numeric(18, 2), ratio numeric(9, 4), n integer, big bigint, name varchar, "
            "day date, at timestamptz)"
        )
        con.execute(
            "insert into t values (1234567890123456.78, 0.1235, $1, $2, $3, date '2025-01-31', "
            "timestamptz '2025-01-31 23:59:59+00')",
            [7, 2**40, "Acme"],
        )
        con.execute("insert into t (money) values (-0.05)")
        table = con.arrow("select *, sum(money) over () as total, money / 4 as quarter from t order by n")
        rows = con.fetch("select money, n from t order by money")
    assert table.schema.field("money").type == pa.decimal128(18, 2)
    assert table.schema.field("ratio").type == pa.decimal128(9, 4)
    assert table.schema.field("n").type == pa.int32() and table.schema.field("big").type == pa.int64()
    assert table.schema.field("day").type == pa.date32()
    assert table.schema.field("at").type == pa.timestamp("us", tz="UTC")
    assert table.schema.field("total").type == pa.decimal128(38, 2)  # unconstrained numeric: the data's scale
    assert table.column("total").to_pylist() == [Decimal("1234567890123456.73")] * 2
    assert table.column("quarter").to_pylist()[0] == Decimal("308641972530864.195")  # exact, not a float
    assert not any(field.metadata for field in table.schema)
    assert rows == [(Decimal("-0.05"), None), (Decimal("1234567890123456.78"), 7)]


def test_a_missing_relation_raises_relation_missing(pg):
    with pg.connect() as con:
        with pytest.raises(RelationMissing, match=r"reports\.rpt_ar_aging"):
            con.fetch("select * from reports.rpt_ar_aging")
        with pytest.raises(RelationMissing):
            con.fetch("select * from nowhere")
        assert con.fetch("select 1") == [(1,)]  # the connection goes on


def test_read_only_connections_cannot_write(pg):
    with pg.connect() as con, pytest.raises(con.errors, match="read-only"):
        con.execute("create table t (x int)")


def test_the_writer_lock_is_held_by_one_process_at_a_time(pg, postgres_dsn, tmp_path):
    with lock_held(f"PostgresWarehouse({postgres_dsn!r}, state_dir=Path({str(tmp_path / 'other')!r}))") as pid:
        assert pg.lock_holder() == f"serve (pid {pid})"
        with pytest.raises(SyncLocked, match=rf"another arwip serve \(pid {pid}\) is writing postgresql://arwip@"):
            with pg.writer_lock():
                pass
    assert pg.lock_holder() is None  # released with its connection
    with pg.writer_lock("serve"), pg.writer_lock():  # re-entrant: serve's syncs run under serve's lock
        assert pg.holds_writer_lock() and pg.lock_holder() is None
    assert not pg.holds_writer_lock()


def test_a_database_that_does_not_sort_by_byte_gets_a_note(pg, postgres: PostgresServer, tmp_path):
    assert pg.notes() == []  # the test server's databases sort as DuckDB does (C)
    sql(postgres.dsn, "create database icu_en template template0 locale_provider icu icu_locale 'en-US'")
    icu = PostgresWarehouse(postgres.dsn_of("icu_en"), state_dir=tmp_path)
    assert icu.notes() == [
        "database icu_en sorts text by en-US: client names order (and tied ranks) as in DuckDB only with byte "
        "order; create it with `createdb --locale=C` (or LC_COLLATE 'C')"
    ]


def test_divisions_stay_exact_and_descending_keys_keep_nulls_last():
    generated = POSTGRES.render("select round(a / b, 4) as r from t order by r desc")
    assert "DOUBLE" not in generated.upper() and "round(a / b, 4)".upper() in generated.upper()
    assert generated.upper().endswith("ORDER BY R DESC NULLS LAST")


# -- the models' rebuild --------------------------------------------------------------------------------------


def test_the_models_are_built_aside_analyzed_and_swapped_in(pg, postgres_dsn):
    with pg.connect(read_only=False) as con:
        built = build_models(con, ReportConfig())
        aging = report(con, "aging")
    assert aging.num_rows == 0 and "staging.stg_aiwyn__invoices" in built
    assert set(MODEL_SCHEMAS) <= set(schemas(postgres_dsn))
    assert not [s for s in schemas(postgres_dsn) if "__" in s]  # no __new left, backups dropped
    tables = {f"{s}.{t}" for s, t in sql(postgres_dsn, "select schemaname, tablename from pg_tables")}
    assert {m for m in built if m.startswith("staging.")} <= tables  # staging: tables, not views over raw tables
    assert "reports.rpt_ar_aging" not in tables and "facts.fct_invoice_versions" in tables
    never = sql(postgres_dsn, "select relname from pg_stat_user_tables where schemaname = 'staging' "
                "and last_analyze is null")
    assert never == []  # every table the build created has statistics


def test_a_rebuild_runs_its_steps_on_several_connections_and_keeps_their_times(postgres_dsn, tmp_path):
    warehouse = PostgresWarehouse(postgres_dsn, state_dir=tmp_path, threads=3)
    with warehouse.connect(read_only=False) as con:
        build_models(con, ReportConfig(), check=check_data_tests)
        sessions = con.fetch("select sessions from pg_stat_database where datname = current_database()")[0][0]
    times = load_seconds(tmp_path / STEP_SECONDS)  # every model and data test, and the tests' verdict
    assert {"staging.stg_aiwyn__wip", "facts.fct_wip_versions", "reports.rpt_kpis", "assert_unique_keys"} <= set(times)
    assert "data tests" in times and all(seconds >= 0 for seconds in times.values())
    assert sessions >= 3  # the rebuild's pool had connections of its own (closed: counted when they end)
    assert not [s for s in schemas(postgres_dsn) if "__" in s]


def test_step_times_that_cannot_be_kept_do_not_fail_the_rebuild(postgres_dsn, tmp_path, caplog):
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")  # the working folder cannot be created under it
    with PostgresWarehouse(postgres_dsn, state_dir=blocked).connect(read_only=False) as con:
        build_models(con, ReportConfig(), check=check_data_tests)
        assert con.fetch("select count(*) from reports.aging_buckets") == [(5,)]  # swapped in
    assert "could not keep the rebuild's step times" in caplog.text


def test_a_failing_build_is_never_visible(pg, postgres_dsn):
    with pg.connect(read_only=False) as con:
        build_models(con, ReportConfig(), check=check_data_tests)
        con.execute(
            "insert into aiwyn.payments (id, amount, status, payment_date, updated_at) values "
            "(1, 5.00, 'FAILED', '2025-01-01', '2025-01-01'), (1, 6.00, 'FAILED', '2025-01-01', '2025-01-01')"
        )
        with pytest.raises(DataTestsFailed, match="assert_unique_keys"):
            build_models(con, ReportConfig((30, 60)), check=check_data_tests)
        live = con.fetch("select count(*) from staging.stg_aiwyn__payments")
        buckets = con.fetch("select count(*) from reports.aging_buckets")
    assert live == [(0,)] and buckets == [(5,)]  # the first build's models, untouched
    assert not [s for s in schemas(postgres_dsn) if "__" in s]


def test_a_read_that_straddles_a_swap_is_read_again(pg, postgres_dsn, tmp_path):
    with pg.connect(read_only=False) as con:
        build_models(con, ReportConfig())
    calls = []

    def read() -> int:
        calls.append(1)
        if len(calls) == 1:  # a sync swaps new models in while this read runs
            with PostgresWarehouse(postgres_dsn, state_dir=tmp_path).connect(read_only=False) as writer:
                build_models(writer, ReportConfig())
        return len(calls)

    with pg.connect() as con:
        assert con.consistent(read, MODEL_SCHEMAS) == 2


def test_a_read_only_role_reads_every_rebuild(pg, postgres: PostgresServer, postgres_dsn):
    reader = f"bi_reader_{postgres_dsn.rsplit('_', 1)[1]}"
    sql(
        postgres_dsn,
        f"create role {reader} login password 'reader'",
        f"alter default privileges for role {postgres.user} grant usage on schemas to {reader}",
        f"alter default privileges for role {postgres.user} grant select on tables to {reader}",
    )
    reader_dsn = postgres_dsn.replace(f"{postgres.user}:{postgres.password}", f"{reader}:reader")
    for buckets in ((30, 60, 90), (30, 60)):
        with pg.connect(read_only=False) as con:
            build_models(con, ReportConfig(buckets))
        rows = sql(reader_dsn, "select count(*) from reports.aging_buckets")
        assert rows == [(len(buckets) + 2,)]  # the new schemas, readable at once
    with pytest.raises(psycopg2.errors.InsufficientPrivilege):
        sql(reader_dsn, "create table reports.mine (x int)")


def test_the_demo_recreates_only_its_own_database(pg, postgres_dsn, tmp_path):
    with pg.connect(read_only=False) as con:
        build_models(con, ReportConfig())
    with pytest.raises(ConfigError, match=r"already holds schemas \(aimsio, .*that `arwip demo` did not make"):
        pg.recreate()
    assert "reports" in schemas(postgres_dsn)
    sql(postgres_dsn, "drop schema aiwyn, aimsio, iinsight, staging, facts, reports cascade")
    (pg.state_dir / "arwip_aiwyn").mkdir(parents=True)
    pg.recreate()  # an empty database becomes the demo's
    assert schemas(postgres_dsn) == ["arwip_demo", "public"] and not pg.state_dir.exists()
    with pg.connect(read_only=False) as con:
        build_models(con, ReportConfig())
    pg.recreate()  # the demo's own: emptied again
    assert schemas(postgres_dsn) == ["arwip_demo", "public"]


def test_a_reader_holding_the_models_delays_nothing_for_long(pg, postgres_dsn, monkeypatch, caplog):
    """A BI transaction that read the live models and stays open: the swap gives up locking them after its tries
    and swaps by the renames alone (the reader is not blocked); the old schemas it holds survive until the next
    build drops them."""
    from pipelines.warehouse import swap

    monkeypatch.setattr(swap, "LOCK_TRIES", 2)
    monkeypatch.setattr(swap, "DROP_TRIES", 1)
    with pg.connect(read_only=False) as con:
        build_models(con, ReportConfig())
    reader = psycopg2.connect(postgres_dsn)
    try:
        with reader.cursor() as cur:  # a transaction that read a live table and stays open
            cur.execute("select count(*) from reports.aging_buckets")
            with pg.connect(read_only=False) as con:
                build_models(con, ReportConfig((30, 60)))
                assert con.fetch("select count(*) from reports.aging_buckets") == [(4,)]  # the new models
            cur.execute("select count(*) from reports.aging_buckets")  # its next statement reads the new build
            assert cur.fetchone() == (4,)
        assert "swapped in by the renames alone" in caplog.text
        assert [s for s in schemas(postgres_dsn) if "__old_" in s] != []  # the reader kept the backup busy
    finally:
        reader.close()
    with pg.connect(read_only=False) as con:
        build_models(con, ReportConfig())
    assert not [s for s in schemas(postgres_dsn) if "__" in s]  # the next build dropped it
