"""The throwaway PostgreSQL server of the tests (tests/pg_server.py): it starts, answers over loopback with a
password, gives each test its own database, stops and leaves nothing behind; without PostgreSQL a test fails
under CI and is skipped elsewhere."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg2
import pytest

from tests.pg_server import (
    BINDIR_ENV,
    PostgresServer,
    PostgresUnavailable,
    in_ci,
    throwaway_postgres,
    unavailable,
)

ROOT = Path(__file__).resolve().parents[2]


def _query(dsn: str, sql: str) -> list[tuple]:
    con = psycopg2.connect(dsn)
    try:
        with con.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()
    finally:
        con.close()


def test_server_answers_over_loopback_with_a_password(postgres: PostgresServer, postgres_dsn: str):
    assert postgres.dsn.startswith(f"postgresql://arwip:{postgres.password}@127.0.0.1:{postgres.port}/arwip")
    user, db, addr, version = _query(
        postgres_dsn, "select current_user, current_database(), host(inet_server_addr()), version()"
    )[0]
    assert (user, addr) == ("arwip", "127.0.0.1")
    assert db.startswith("test_") and db != postgres.database
    assert version.startswith("PostgreSQL ")
    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        psycopg2.connect(postgres.dsn.replace(postgres.password, "wrong"))


def test_each_test_gets_an_empty_database(postgres_dsn: str):
    con = psycopg2.connect(postgres_dsn)
    with con, con.cursor() as cur:
        cur.execute("select count(*) from information_schema.tables where table_schema = 'public'")
        assert cur.fetchone() == (0,)
        cur.execute("create table t (x int)")
    con.close()


def test_stopped_server_leaves_nothing():
    try:
        with throwaway_postgres(database="other", user="someone") as server:
            assert _query(server.dsn, "select current_user, current_database()") == [("someone", "other")]
            data_dir, dsn = server.data_dir, server.dsn
            assert (data_dir / "PG_VERSION").is_file()
    except PostgresUnavailable as exc:
        unavailable(str(exc))
    assert not data_dir.parent.exists()
    with pytest.raises(psycopg2.OperationalError):
        psycopg2.connect(dsn, connect_timeout=2)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), ("TRUE", True), ("1", True), ("yes", True), ("false", False), ("0", False), ("", False)],
)
def test_in_ci(value: str, expected: bool):
    assert in_ci({"CI": value}) is expected
    assert in_ci({}) is False


def test_unavailable_fails_under_ci_and_skips_elsewhere():
    with pytest.raises(pytest.fail.Exception, match="CI=true and no PostgreSQL server could be started: why"):
        unavailable("why", {"CI": "true"})
    with pytest.raises(pytest.skip.Exception, match="no PostgreSQL server could be started: why"):
        unavailable("why", {})


def _run_pytest_without_postgres(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_needs_postgres.py").write_text("def test_needs_postgres(postgres_dsn):\n    pass\n")
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env |= {BINDIR_ENV: str(tmp_path / "no-postgres"), "PYTHONPATH": str(ROOT)}
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "tests.pg_server", "-p", "no:cacheprovider"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_without_postgres_a_test_fails_under_ci(tmp_path: Path):
    done = _run_pytest_without_postgres(tmp_path, ci="true")
    assert done.returncode == 1, done.stdout
    assert "CI=true and no PostgreSQL server could be started" in done.stdout
    assert f"{BINDIR_ENV}={tmp_path / 'no-postgres'} has no initdb" in done.stdout
    assert "1 error" in done.stdout


def test_without_postgres_a_developer_gets_a_skip_with_the_reason(tmp_path: Path):
    done = _run_pytest_without_postgres(tmp_path, ci=None)
    assert done.returncode == 0, done.stdout
    assert "1 skipped" in done.stdout
    assert "SKIPPED" in done.stdout and "has no initdb" in done.stdout
