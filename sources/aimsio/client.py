"""Aimsio API: HTTP Basic auth and the "GET all" stub list (seed 003, aimsio.md §3-5); the "GET one" details
go through :meth:`sources._http.ApiClient.details`.

The API throttles above 10 calls/s or 10 in flight (requests queue, then time out), so the client keeps
to the limits itself and never relies on the server's throttle.
"""

from __future__ import annotations

from typing import Any

from sources._http import ApiClient, BasicAuth, HttpSettings, RequestStats, SourceError
from sources.aimsio import settings


def aimsio_client(base_url: str, username: str, password: str, http: HttpSettings) -> ApiClient:
    """An :class:`ApiClient` for Aimsio with Basic credentials on every call."""
    return ApiClient(
        "aimsio",
        base_url,
        BasicAuth(username, password),
        http,
        base_url_key="SOURCES__AIMSIO__BASE_URL",
        credentials_hint="SOURCES__AIMSIO__USERNAME and SOURCES__AIMSIO__PASSWORD",
    )


async def stub_list(client: ApiClient, entity_path: str, tally: RequestStats) -> list[Any]:
    """``GET /<Entity>``: every object's ``{dtype, guid|id, updatedAt}``; the API sends either a bare array
    (the intro's prose) or ``{"value": [...]}`` (the endpoint's example): both are accepted."""
    body = await client.request("GET", f"{settings.PREFIX}/{entity_path}", tally=tally)
    if isinstance(body, dict) and isinstance(body.get("value"), list):
        body = body["value"]
    if not isinstance(body, list):
        raise SourceError(f"aimsio: {entity_path} list is neither an array nor {{'value': [...]}}")
    for stub in body:
        if isinstance(stub, dict) and "guid" not in stub and "id" in stub:
            stub["guid"] = stub["id"]
    return body
