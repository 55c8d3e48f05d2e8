"""``arwip push`` with a PostgreSQL warehouse: the input queried from the server (a DuckDB-SQL file generated for
PostgreSQL, and arwip's client summary report), the ledger in the server's ``push.ledger`` and ``push.runs``, an
unchanged rerun that sends nothing, ``push status``; the same records as a push from DuckDB."""

from __future__ import annotations

from decimal import Decimal

from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.push import push
from pipelines.sync import sync
from pipelines.warehouse import DuckDBWarehouse
from simulators import record_types_truth
from tests.push.helpers import RECORD_TYPE, create_record_type, record_rows_sql, stored_records, write_sql, writes

KEY = "DESTINATION__POSTGRES__CREDENTIALS"


def test_records_from_a_query_over_postgres_with_the_ledger_there(simulators, pg, postgres_dsn, tmp_path,
                                                                  monkeypatch):
    sims = simulators()
    create_record_type(sims)
    sql = write_sql(tmp_path / "rows.sql", record_rows_sql(150))  # DuckDB's SQL (range, lpad): generated for PG
    args = {"type": RECORD_TYPE, "sql": sql, "key": "key"}
    dry = push("aiwyn-records", args, pg)
    assert dry.plan.counts["create"] == 150 and dry.push_id is None
    with pg.connect() as con:
        assert con.fetch("select count(*) from information_schema.tables where table_schema = 'push'") == [(0,)]

    applied = push("aiwyn-records", args, pg, apply=True)
    assert applied.sent.counts["applied"] == 150 and applied.clean and applied.sent.batches == 2
    stored = {r["system_id"]: r["attributes"] for r in stored_records(sims)}
    assert len(stored) == 150 and stored["k-0007"]["amount"] == Decimal("7.10")
    with pg.connect() as con:
        statuses = con.fetch("select status, count(*) from push.ledger group by status order by status")
        runs = con.fetch("select outcome from push.runs")
    assert statuses == [("applied", 150), ("pending", 150)] and runs == [("done",)]

    before = writes(sims)
    again = push("aiwyn-records", args, pg, apply=True)
    assert again.plan.counts["unchanged"] == 150 and writes(sims) == before  # nothing sent twice

    monkeypatch.setenv(KEY, postgres_dsn)
    monkeypatch.chdir(tmp_path)
    status = CliRunner().invoke(app, ["push", "status", "--destination", "postgres"])
    assert status.exit_code == 0 and status.output.count("aiwyn-records") == 2, status.output


def test_the_client_summary_from_postgres_equals_the_one_from_duckdb(simulators, pg, tmp_path):
    """Each warehouse keeps its own ledger, so the push from PostgreSQL upserts every client again (the vendor
    matches them by key): the records it leaves are exactly those the push from DuckDB left."""
    sims = simulators()
    stored = {}
    for warehouse in (DuckDBWarehouse(tmp_path / "w.duckdb"), pg):
        sync(warehouse)
        result = push("aiwyn-records", {}, warehouse, apply=True)  # the type arwip_ar_summary, made by the first
        assert result.clean and result.sent.counts["applied"] == result.plan.counts["create"] > 0
        stored[warehouse.name] = {r["system_id"]: r["attributes"] for r in stored_records(sims, "arwip_ar_summary")}
    assert record_types_truth(sims.firm).num_rows == 1
    assert stored["postgres"] == stored["duckdb"]
