"""Small HTTP helpers shared by the simulator tests (authenticated httpx clients, paging loops)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from simulators import SimulatorCluster

NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)
AIMSIO = "/rest/api/standard/v1"


def aiwyn(cluster: SimulatorCluster) -> httpx.Client:
    """A client with a fresh Aiwyn bearer token."""
    client = httpx.Client(base_url=cluster.urls["aiwyn"], timeout=30)
    token = client.post("/v1/auth/token", json={"jwtApiKey": cluster.settings.jwt_api_key}).json()["accessToken"]
    client.headers["Authorization"] = f"bearer {token}"
    return client


def aimsio(cluster: SimulatorCluster) -> httpx.Client:
    """A client with Aimsio Basic credentials."""
    s = cluster.settings
    return httpx.Client(base_url=cluster.urls["aimsio"] + AIMSIO, auth=(s.aimsio_username, s.aimsio_password),
                        timeout=30)


def iinsight_login(cluster: SimulatorCluster) -> dict[str, Any]:
    """The token response of `POST /auth/login`."""
    s = cluster.settings
    form = {"grant_type": "password", "username": s.iinsight_username, "password": s.iinsight_password}
    response = httpx.post(cluster.urls["iinsight"] + "/auth/login",
                          auth=(s.iinsight_client_id, s.iinsight_client_secret), data=form)
    response.raise_for_status()
    return response.json()


def iinsight(cluster: SimulatorCluster) -> httpx.Client:
    """A client with an iinsight bearer token."""
    token = iinsight_login(cluster)["access_token"]
    return httpx.Client(base_url=cluster.urls["iinsight"], headers={"Authorization": f"Bearer {token}"}, timeout=30)


def keyset(client: httpx.Client, path: str, page_size: int, upper: str | None = None) -> list[dict[str, Any]]:
    """Every row of an Aiwyn search, paged by keyset on (updatedAt, id) as CONTRACT.md prescribes."""
    rows: list[dict[str, Any]] = []
    last: tuple[str, int] = ("1900-01-01T00:00:00Z", 0)
    while True:
        where: dict[str, Any] = {"_or": [{"updatedAt": {"_gt": last[0]}},
                                         {"_and": [{"updatedAt": {"_eq": last[0]}}, {"id": {"_gt": last[1]}}]}]}
        if upper:
            where = {"_and": [where, {"updatedAt": {"_lte": upper}}]}
        response = client.post(path, json={"pageSize": page_size, "where": where,
                                           "orderBy": [{"updatedAt": "asc"}, {"id": "asc"}]})
        response.raise_for_status()
        page = next(v for k, v in response.json().items() if isinstance(v, list))
        if not page:
            return rows
        rows.extend(page)
        last = (page[-1]["updatedAt"], page[-1]["id"])


def iinsight_all(client: httpx.Client, version: int, status: str, since: str = "2000-01-01T00:00:00Z",
                 param: str = "status", entity: str = "invoices") -> list[dict[str, Any]]:
    """Every row of one status of `/api{version}/{entity}` (invoices or payments), by page number until an
    empty page."""
    rows: list[dict[str, Any]] = []
    page = 1
    while True:
        response = client.get(f"/api{version}/{entity}", params={"modified_since": since, "page": page, param: status})
        response.raise_for_status()
        batch = response.json()
        if not batch:
            return rows
        rows.extend(batch)
        page += 1


def billings_all(client: httpx.Client, limit: int = 1000, **params: str) -> list[dict[str, Any]]:
    """Every billing `/api1/billings` selects with `params` (query, sort, fields), page by page until an
    empty `data`."""
    rows: list[dict[str, Any]] = []
    page = 1
    while True:
        response = client.get("/api1/billings", params={"page": page, "limit": limit, **params})
        response.raise_for_status()
        body = response.json()
        assert body["status"] is True
        if not body["data"]:
            return rows
        rows.extend(body["data"])
        page += 1
