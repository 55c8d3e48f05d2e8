"""Shared fixtures: simulators on loopback, pointed at by the same config keys a deployment sets."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from simulators import Firm, FirmSize, SimSettings, SimulatorCluster

# the throwaway PostgreSQL server: fixtures `postgres` (the session's server) and `postgres_dsn` (a database per test)
pytest_plugins = ("tests.pg_server",)

NOW = datetime(2026, 6, 30, 12, 0, 0, tzinfo=UTC)  # a fixed "now" makes generated data deterministic


@pytest.fixture
def simulators(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., SimulatorCluster]]:
    """Start a simulator cluster over a new firm and point the ``SOURCES__*`` config at it.

    Call it as ``simulators(size="tiny", seed=1, settings=SimSettings(...), now=NOW)``; the cluster is
    stopped at the end of the test.
    """
    started: list[SimulatorCluster] = []

    def start(
        size: str | FirmSize = "tiny",
        seed: int = 1,
        settings: SimSettings | None = None,
        now: datetime | None = NOW,
    ) -> SimulatorCluster:
        cluster = SimulatorCluster(Firm(seed=seed, size=size, now=now), settings or SimSettings()).start()
        started.append(cluster)
        for key, value in cluster.credentials.items():
            monkeypatch.setenv(key, value)
        return cluster

    yield start
    for cluster in started:
        cluster.stop()


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    """Path of a fresh DuckDB warehouse file (its dlt state goes beside it)."""
    return tmp_path / "warehouse.duckdb"
