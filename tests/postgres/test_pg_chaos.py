"""Crash safety on PostgreSQL: ``kill -9`` of ``arwip sync`` while it loads into the server, then the next sync
finishes what was left and the warehouse equals the source (as tests/chaos/test_chaos_crash.py proves for
DuckDB); a killed sync leaves no writer lock behind, and the live models untouched while it builds (its
half-built ``__new`` schemas are dropped by the next sync)."""

from __future__ import annotations

from pathlib import Path

from pipelines.warehouse import PostgresWarehouse
from tests.chaos.harness import NOW, SyncResult, run_arwip, sync_env
from tests.chaos.reconcile import reconcile

KEY = "DESTINATION__POSTGRES__CREDENTIALS"


def sync_pg(cwd: Path, env: dict[str, str], **kwargs: object) -> SyncResult:
    return run_arwip(["sync", "--destination", "postgres"], env, cwd=cwd, **kwargs)  # type: ignore[arg-type]


def test_kill_9_while_loading_into_postgres_then_the_next_sync_converges(simulators, postgres_dsn, tmp_path):
    sims = simulators("tiny", seed=5, now=NOW)
    firm = sims.firm
    env = sync_env(sims, SOURCES__IINSIGHT__API_VERSION=2, **{KEY: postgres_dsn})
    pg = PostgresWarehouse(postgres_dsn)
    state = tmp_path / ".arwip" / pg.state_dir.name  # the child's working folder: its cwd is tmp_path

    def loading() -> bool:  # a load job started: dlt is writing to the server
        return any(True for _ in state.glob("arwip_*/load/normalized/*/started_jobs/*"))

    for _ in range(3):  # the load phase lasts long enough to be caught; if not, there is another sync
        killed = sync_pg(tmp_path, env, kill_when=loading)
        if killed.killed:
            break
        firm.activity(0.05)
    assert killed.killed, killed.describe()

    resumed = sync_pg(tmp_path, env)  # the killed sync's advisory lock went with its connection
    assert resumed.returncode == 0, resumed.describe()
    assert "package(s) left by an earlier run" in resumed.stderr, resumed.stderr
    result = reconcile(pg, firm)
    assert result.differences == 0, result.summary()
    with pg.connect() as con:
        leftovers = con.fetch("select nspname from pg_namespace where nspname like '%\\_\\_%' order by 1")
    assert leftovers == []  # no __new, no __old_ schema


def test_kill_9_while_building_the_models_leaves_the_previous_ones(simulators, postgres_dsn, tmp_path):
    sims = simulators("tiny", seed=7, now=NOW)
    firm = sims.firm
    env = sync_env(sims, SOURCES__IINSIGHT__API_VERSION=2, **{KEY: postgres_dsn})
    assert sync_pg(tmp_path, env).returncode == 0
    pg = PostgresWarehouse(postgres_dsn)
    with pg.connect() as con:
        before = con.fetch("select count(*), sum(open_amount) from reports.rpt_ar_aging")

    firm.activity(0.2)
    with pg.connect() as watcher:  # the build is creating the models in staging__new…

        def building() -> bool:
            return bool(watcher.fetch("select 1 from pg_stat_activity where query like 'create % staging\\_\\_new.%'"))

        killed = sync_pg(tmp_path, env, kill_when=building)
    assert killed.killed, killed.describe()
    with pg.connect() as con:
        assert con.fetch("select count(*), sum(open_amount) from reports.rpt_ar_aging") == before
    resumed = sync_pg(tmp_path, env)
    assert resumed.returncode == 0, resumed.describe()
    result = reconcile(pg, firm)
    assert result.differences == 0, result.summary()
    with pg.connect() as con:
        assert con.fetch("select nspname from pg_namespace where nspname like '%\\_\\_%'") == []
