"""``arwip serve --destination postgres`` as a real child process: its first sync, then an Aiwyn change that a
signed webhook names, visible in PostgreSQL's live tables and reports within the service's own sync (no BI
snapshot: readers read the server), the event processed, and the lock naming ``serve`` to a sync meanwhile."""

from __future__ import annotations

from pathlib import Path

from pipelines.warehouse import EXIT_LOCKED, PostgresWarehouse
from simulators import Firm, SimSettings, SimulatorCluster, Webhooks
from tests.chaos.harness import NOW, run_arwip, sync_env
from tests.serve.harness import Service, free_port, serve_env, subscribe, touch, wait_until

KEY = "DESTINATION__POSTGRES__CREDENTIALS"


def test_serve_keeps_a_postgres_warehouse_fresh(postgres_dsn: str, tmp_path: Path) -> None:
    pg = PostgresWarehouse(postgres_dsn, state_dir=tmp_path / "unused")
    with SimulatorCluster(Firm(seed=3, size="tiny", now=NOW), SimSettings(webhooks=Webhooks(retry_scale=0.01))) \
            as cluster:
        port = free_port()
        secret = subscribe(cluster, f"http://127.0.0.1:{port}/webhooks/aiwyn")
        env = serve_env(cluster, secret, **{KEY: postgres_dsn})
        with Service(tmp_path / "unused.duckdb", env, port, "--destination", "postgres", cwd=tmp_path) as service:
            service.ready()
            assert "readers see the new models" in service.log and "BI snapshot" not in service.log
            assert pg.lock_holder() == f"serve (pid {service.proc.pid})"
            locked = run_arwip(["sync", "--destination", "postgres"], sync_env(cluster, **{KEY: postgres_dsn}),
                               cwd=tmp_path)
            assert locked.returncode == EXIT_LOCKED, locked.describe()
            assert f"another arwip serve (pid {service.proc.pid}) is writing {pg.location}" in locked.stderr

            change = touch(cluster, "wip", 3)

            def seen() -> bool:
                with pg.connect() as con:
                    rows = con.fetch(
                        "select count(*) from aiwyn.wip where id = any(string_to_array($1, ',')::bigint[]) "
                        "and to_char(updated_at at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') = $2",
                        [",".join(map(str, change["ids"])), change["updatedAt"]],
                    )
                return rows[0][0] == len(change["ids"])

            wait_until(seen, 90, "the touched WIP rows in PostgreSQL")
            wait_until(lambda: service.metrics()["arwip_webhook_event_lag_seconds_count"] >= 3, 30,
                       "the events processed")
            assert service.metrics()['arwip_webhook_events_received_total{source="aiwyn"}'] >= 3
            assert service.stop() == 0
    assert pg.lock_holder() is None
    assert (tmp_path / ".arwip").is_dir() and not list(tmp_path.glob("*.duckdb"))  # the inbox beside, no file
