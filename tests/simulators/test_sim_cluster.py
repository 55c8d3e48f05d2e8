"""The cluster: URLs, dlt-style credentials, explicit ports, stats, admin info, clean stop."""

from __future__ import annotations

import socket

import httpx
from sim_clients import NOW

from simulators import Firm, SimulatorCluster


def test_urls_and_credentials(cluster: SimulatorCluster) -> None:
    assert set(cluster.urls) == {"aiwyn", "aimsio", "iinsight"}
    assert all(u.startswith("http://127.0.0.1:") for u in cluster.urls.values())
    creds = cluster.credentials
    assert set(creds) == {
        "SOURCES__AIWYN__BASE_URL", "SOURCES__AIWYN__JWT_API_KEY", "SOURCES__AIMSIO__BASE_URL",
        "SOURCES__AIMSIO__USERNAME", "SOURCES__AIMSIO__PASSWORD", "SOURCES__IINSIGHT__BASE_URL",
        "SOURCES__IINSIGHT__CLIENT_ID", "SOURCES__IINSIGHT__CLIENT_SECRET", "SOURCES__IINSIGHT__USERNAME",
        "SOURCES__IINSIGHT__PASSWORD"}
    assert creds["SOURCES__AIWYN__BASE_URL"] == cluster.urls["aiwyn"]
    info = httpx.get(cluster.urls["iinsight"] + "/_sim/info").json()
    assert info["vendor"] == "iinsight" and info["seed"] == cluster.firm.seed


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_explicit_ports_stats_and_stop() -> None:
    ports = {"aiwyn": _free_port(), "aimsio": _free_port(), "iinsight": _free_port()}
    cluster = SimulatorCluster(Firm(seed=9, size="tiny", now=NOW), ports=ports).start()
    try:
        assert cluster.urls["aimsio"] == f"http://127.0.0.1:{ports['aimsio']}"
        assert httpx.post(cluster.urls["aiwyn"] + "/gql/v1/wip", json={}).status_code == 401
        assert httpx.get(cluster.urls["aiwyn"] + "/nowhere").status_code == 404
        stats = cluster.stats
        assert stats["aiwyn"]["requests"] == 2 and stats["aiwyn"]["by_status"] == {"401": 1, "404": 1}
        assert stats["aimsio"]["requests"] == 0 and "admitted_peak_per_s" in stats["aimsio"]
    finally:
        cluster.stop()
        cluster.stop()
    assert not cluster.running
    with socket.socket() as s:  # the port is free again
        s.bind(("127.0.0.1", ports["aiwyn"]))
