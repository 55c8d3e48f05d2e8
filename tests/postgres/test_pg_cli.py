"""The ``arwip`` command line against PostgreSQL, as child processes (the real CLI, dlt's credentials in the
environment, the working folder in the test's tmp_path): ``sync --reconcile``, ``report`` (table, JSON, CSV,
HTML), ``verify``, ``check``, the destination from ``[warehouse] destination``, ``demo``, and a wrong credential as
one line naming the key."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from pathlib import Path

from pipelines.errors import EXIT_CONFIG
from pipelines.models import report
from pipelines.warehouse import PostgresWarehouse
from tests.chaos.harness import SyncResult, run_arwip, sync_env
from tests.pg_server import PostgresServer

KEY = "DESTINATION__POSTGRES__CREDENTIALS"


def arwip(cwd: Path, env: dict[str, str], *args: str) -> SyncResult:
    return run_arwip(args, env, cwd=cwd, timeout_s=300)


def test_sync_report_verify_and_check_against_postgres(simulators, postgres_dsn, tmp_path):
    sims = simulators("tiny")
    env = sync_env(sims, **{KEY: postgres_dsn})
    synced = arwip(tmp_path, env, "sync", "--destination", "postgres")
    assert synced.returncode == 0, synced.describe()
    location = PostgresWarehouse(postgres_dsn).location
    assert f"into {location}" in synced.stderr and "BI snapshot" not in synced.stderr
    assert (tmp_path / ".arwip").is_dir() and not list(tmp_path.glob("*.duckdb"))  # nothing beside: a server

    sims.firm.activity(0.1)
    reconciled = arwip(tmp_path, env, "sync", "--destination", "postgres", "--reconcile")
    assert reconciled.returncode == 0, reconciled.describe()
    assert "aiwyn.invoices: reconciled" in reconciled.stderr

    verified = arwip(tmp_path, env, "verify", "--destination", "postgres")
    assert verified.returncode == 0, verified.describe()
    assert "the warehouse equals the sources" in verified.stderr and "DIFFERS" not in verified.stdout

    as_json = json.loads(arwip(tmp_path, env, "report", "aging", "--destination", "postgres", "-f", "json").stdout)
    with PostgresWarehouse(postgres_dsn).connect() as con:
        expected = report(con, "aging")
    assert len(as_json) == expected.num_rows > 0
    assert sum(Decimal(str(r["open_amount"])) for r in as_json) == sum(expected.column("open_amount").to_pylist())
    as_csv = arwip(tmp_path, env, "report", "wip", "--by", "client", "--destination", "postgres", "-f", "csv")
    by_client = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert by_client and all(row["client_name"] and Decimal(row["total"]) for row in by_client)
    table = arwip(tmp_path, env, "report", "kpis", "--destination", "postgres")
    assert table.returncode == 0 and "debtor_days" in table.stdout, table.describe()

    page = tmp_path / "aging.html"
    html = arwip(tmp_path, env, "report", "aging", "--destination", "postgres", "-f", "html", "--out", str(page))
    assert html.returncode == 0, html.describe()
    text = page.read_text()
    assert text.startswith("<!DOCTYPE html>") and expected.column("client_name")[0].as_py() in text

    configured = arwip(tmp_path, {**env, "WAREHOUSE__DESTINATION": "postgres"}, "report", "top_overdue")
    assert configured.returncode == 0, configured.describe()
    checked = arwip(tmp_path, env, "check")  # needs no warehouse
    assert checked.returncode == 0, checked.describe()


def test_a_wrong_credential_is_one_line_naming_the_key(simulators, postgres: PostgresServer, tmp_path):
    sims = simulators("tiny")
    wrong = postgres.dsn.replace(postgres.password, "wrong-secret")
    for args in (["sync"], ["report", "aging"], ["verify"]):
        result = arwip(tmp_path, sync_env(sims, **{KEY: wrong}), *args, "--destination", "postgres")
        assert result.returncode == EXIT_CONFIG, result.describe()
        message = result.error_message()
        assert message.startswith("error: cannot connect to the Postgres warehouse postgresql://arwip@"), message
        assert KEY in message and "wrong-secret" not in result.output and "Traceback" not in result.output
        assert len(result.error_lines()) <= 2  # one line (wrapped at most once by the terminal width)
    nowhere = arwip(tmp_path, sync_env(sims, WAREHOUSE__DESTINATION="postgres"), "sync")
    assert nowhere.returncode == EXIT_CONFIG and f"missing configuration: {KEY}" in nowhere.error_message()


def test_the_demo_runs_on_postgres(postgres: PostgresServer, tmp_path):
    dsn = postgres.create_database("cli_demo")
    env = sync_env(None, **{KEY: dsn})
    demo = arwip(tmp_path, env, "demo", "--size", "tiny", "--destination", "postgres")
    assert demo.returncode == 0, demo.describe()
    assert "AR aging by client" in demo.stdout and "psql" in demo.stderr
    assert (tmp_path / "reports" / "cli_demo-aging.html").is_file()
    again = arwip(tmp_path, env, "demo", "--size", "tiny", "--destination", "postgres")  # its own database: again
    assert again.returncode == 0, again.describe()
    other = postgres.create_database("cli_not_a_demo")
    with PostgresWarehouse(other, state_dir=tmp_path / "x").connect(read_only=False) as con:
        con.execute("create schema finance")
    refused = arwip(tmp_path, sync_env(None, **{KEY: other}), "demo", "--size", "tiny", "--destination", "postgres")
    assert refused.returncode == EXIT_CONFIG and "did not make: give the demo an empty database" in refused.stderr
