"""What a real ``arwip serve`` child process does with the simulator's webhooks and its own schedule: a burst of
changes coalesced into few syncs, deletes soft-deleted, a dropped delivery caught by the next poll, and
``/healthz`` turning 503 when a source stops syncing (and 200 again when it recovers)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from simulators import Firm, SimSettings, SimulatorCluster, Webhooks
from tests.chaos.asgi import Intercept
from tests.chaos.harness import NOW
from tests.serve.harness import Service, free_port, serve_env, snapshot_rows, subscribe, touch, wait_until

FAST_RETRIES = Webhooks(retry_scale=0.01)


def visible(db: Path, table: str, ids: list[int], updated_at: str) -> bool:
    """True once every record ``ids`` of ``aiwyn.<table>`` has the ``updatedAt`` of the touch in the BI snapshot."""
    rows = snapshot_rows(db, f"select count(*) from aiwyn.{table} where id in (select unnest(?)) "
                             "and strftime(updated_at at time zone 'UTC', '%Y-%m-%dT%H:%M:%SZ') = ?",
                         [ids, updated_at])
    return bool(rows) and rows[0][0] == len(ids)


def started(cluster: SimulatorCluster, db: Path, **env: Any) -> Service:
    """A service subscribed to every Aiwyn change of ``cluster``, its first sync published."""
    port = free_port()
    secret = subscribe(cluster, f"http://127.0.0.1:{port}/webhooks/aiwyn")
    return Service(db, serve_env(cluster, secret, **env), port).ready()


def test_a_burst_of_changes_is_coalesced_into_few_syncs(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    with SimulatorCluster(Firm(seed=3, size="tiny", now=NOW), SimSettings(webhooks=FAST_RETRIES)) as cluster, \
            started(cluster, db) as service:
        before = service.metrics()
        changes = [(table, touch(cluster, entity, 60)) for entity, table in (("wip", "wip"), ("invoice", "invoices"),
                                                                              ("payment", "payments"))]
        events = sum(len(t["ids"]) for _, t in changes)
        wait_until(lambda: all(visible(db, table, t["ids"], t["updatedAt"]) for table, t in changes), 90,
                   "every change visible in the BI snapshot")
        wait_until(lambda: service.metrics()["arwip_webhook_event_lag_seconds_count"] == events, 30)
        after = service.metrics()
        assert service.stop() == 0
    syncs = after['arwip_syncs_total{kind="webhook"}'] - before['arwip_syncs_total{kind="webhook"}']
    assert after['arwip_webhook_events_received_total{source="aiwyn"}'] == events > 100
    assert 1 <= syncs <= 5, f"{events} events took {syncs} syncs"


def test_deletes_are_soft_deleted_and_leave_the_wip_report(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    with SimulatorCluster(Firm(seed=3, size="tiny", now=NOW), SimSettings(webhooks=FAST_RETRIES)) as cluster, \
            started(cluster, db) as service:
        gone = touch(cluster, "wip", 2, delete=True)["ids"]
        paid = touch(cluster, "payment", 1, delete=True)["ids"]

        def deleted() -> list[tuple[Any, ...]]:
            rows = snapshot_rows(db, "select entity, guid from aiwyn.deletions where deleted_at is not null "
                                     "order by all")
            return rows if len(rows) == 3 else []

        assert wait_until(deleted, 60, "3 soft deletes") == sorted(
            [("payments", str(paid[0]))] + [("wip", str(i)) for i in gone])
        in_report = snapshot_rows(db, "select count(*) from reports.rpt_wip_outstanding where source_system = "
                                      "'aiwyn' and wip_id in (select unnest(?)::varchar)", [gone])
        assert service.stop() == 0
    assert in_report == [(0,)]


def test_a_dropped_delivery_is_caught_by_the_next_poll(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    settings = SimSettings(webhooks=Webhooks(retry_scale=0.01, drop=1.0))
    with SimulatorCluster(Firm(seed=4, size="tiny", now=NOW), settings) as cluster, \
            started(cluster, db, SOURCES__AIWYN__POLL_INTERVAL="3s") as service:
        changed = touch(cluster, "wip", 5)
        wait_until(lambda: visible(db, "wip", changed["ids"], changed["updatedAt"]), 60, "the changes polled")
        m = service.metrics()
        dropped = httpx.get(cluster.urls["aiwyn"] + "/_sim/stats").json()["faults"]["webhook_drop"]
        assert service.stop() == 0
    assert dropped == 5 and m['arwip_webhook_events_received_total{source="aiwyn"}'] == 0
    assert m['arwip_syncs_total{kind="poll"}'] >= 2 and m['arwip_syncs_total{kind="webhook"}'] == 0


def test_healthz_turns_503_when_a_source_stops_syncing_and_200_when_it_is_back(tmp_path: Path) -> None:
    down = [False]

    def iinsight(scope: dict[str, Any]) -> tuple[int, bytes] | None:
        return (503, b'{"error": "maintenance"}') if down[0] else None

    cluster = SimulatorCluster(Firm(seed=5, size="tiny", now=NOW), SimSettings())
    cluster.apps["iinsight"] = Intercept(cluster.apps["iinsight"], before=iinsight)
    db = tmp_path / "w.duckdb"
    env = serve_env(cluster.start(), None, SOURCES__IINSIGHT__POLL_INTERVAL="3s", SOURCES__IINSIGHT__MAX_ATTEMPTS=1)
    try:
        with Service(db, env) as service:
            service.ready()
            wait_until(lambda: service.http.get("/healthz").status_code == 200, 60, "/healthz answering 200")
            down[0] = True
            failing = wait_until(lambda: (r := service.http.get("/healthz")).status_code == 503 and r.json(), 60,
                                 "/healthz answering 503")
            assert failing["reason"].startswith("iinsight: last successful sync for ")
            assert "(limit 6 s: twice its poll_interval); last error: " in failing["reason"]
            assert failing["sources"]["iinsight"]["ok"] is False and failing["sources"]["aiwyn"]["ok"] is True
            assert "503" in failing["sources"]["iinsight"]["last_error"]
            down[0] = False
            wait_until(lambda: service.http.get("/healthz").status_code == 200, 60, "/healthz back to 200")
            m = service.metrics()
            assert service.stop() == 0
    finally:
        cluster.stop()
    assert m['arwip_source_failures_total{source="iinsight"}'] >= 1
    assert m['arwip_source_failures_total{source="aiwyn"}'] == 0
    assert "webhooks are refused (503) until it is set" in service.log  # no secret configured: polls only
