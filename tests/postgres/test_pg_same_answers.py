"""Same answers on both warehouses: the demo firm synced into DuckDB and into PostgreSQL gives identical reports
(every report of the catalog, detail and by client, several as-of dates and two configurations, row for row,
column types included, to the cent), identical ``verify`` results and identical HTML pages; then the same after
a burst of activity and an incremental sync with ``--reconcile``.

Aimsio's documented limit (10 requests a second) is what bounds a demo sync (~60 s); the simulators and the
source are given a higher one here, which changes how fast the data comes, not what it is.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from pipelines.cli import write_report_page
from pipelines.models import REPORTS, ReportConfig, report
from pipelines.sync import sync
from pipelines.verify import verify
from pipelines.warehouse import DuckDBWarehouse, PostgresWarehouse, Warehouse
from simulators import Firm, SimSettings, SimulatorCluster
from tests.conftest import NOW
from tests.pg_server import PostgresServer

AS_OF = (date(2025, 1, 31), date(2025, 6, 30), date(2025, 12, 31), date(2026, 3, 15), NOW.date())
CONFIGS = (ReportConfig(), ReportConfig((30, 60, 90, 120), "invoice_date"))
FAST_AIMSIO = 100  # requests a second, simulator and source alike


@pytest.fixture(scope="module")
def cluster() -> Iterator[SimulatorCluster]:
    settings = SimSettings(aimsio_rate_per_s=FAST_AIMSIO, aimsio_max_in_flight=FAST_AIMSIO)
    with SimulatorCluster(Firm(seed=1, size="demo", now=NOW), settings) as sims:
        yield sims


@pytest.fixture
def aimed(cluster: SimulatorCluster, monkeypatch: pytest.MonkeyPatch) -> SimulatorCluster:
    for key, value in cluster.credentials.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("SOURCES__AIMSIO__RATE_PER_S", str(FAST_AIMSIO))
    monkeypatch.setenv("SOURCES__AIMSIO__MAX_IN_FLIGHT", str(FAST_AIMSIO))
    return cluster


def differences(duck: Warehouse, pg: Warehouse) -> list[str]:
    """Every (report, by client, date, configuration) whose answer differs between the two warehouses."""
    found = []
    with duck.connect() as a, pg.connect() as b:
        for name, chosen in REPORTS.items():
            for by_client in (False, True) if chosen.summary else (False,):
                for config in CONFIGS:
                    for day in AS_OF:
                        left, right = report(a, name, day, by_client, config), report(b, name, day, by_client, config)
                        if left.schema != right.schema or left.to_pylist() != right.to_pylist():
                            found.append(f"{name} by_client={by_client} {day} {config}: {left.num_rows} vs "
                                         f"{right.num_rows} rows, schemas equal: {left.schema == right.schema}")
                        assert left.num_rows or name not in ("aging", "wip") or day < date(2025, 6, 30), (name, day)
    return found


def pages(warehouse: Warehouse, folder: Path) -> dict[str, str]:
    return {
        name: write_report_page(warehouse, name, NOW.date(), folder / f"{name}.html").read_text()
        for name, chosen in REPORTS.items()
        if chosen.page
    }


def test_the_demo_firm_gives_the_same_answers_on_duckdb_and_postgres(aimed, postgres: PostgresServer, tmp_path):
    duck = DuckDBWarehouse(tmp_path / "arwip.duckdb")
    pg = PostgresWarehouse(postgres.create_database("same_answers"), state_dir=tmp_path / "pg-state")
    for reconcile in (False, True):  # the full sync, then activity and an incremental sync that reconciles
        if reconcile:
            aimed.firm.activity(fraction=0.05)
        runs = {w.name: sync(w, reconcile=reconcile) for w in (duck, pg)}
        rows = {name: {r.name: r.rows for r in ran} for name, ran in runs.items()}
        assert rows["duckdb"] == rows["postgres"] and sum(rows["postgres"].values()) > 0
        assert differences(duck, pg) == []
        checks = {w.name: verify(w) for w in (duck, pg)}
        assert checks["duckdb"] == checks["postgres"] and all(c.ok for c in checks["postgres"])
        assert pages(duck, tmp_path / "duckdb") == pages(pg, tmp_path / "postgres")
