"""Aimsio API: HTTP Basic auth and the "GET all" stub list (seed 003, aimsio.md §3-5); the "GET one" details
go through :meth:`sources._http.ApiClient.details`.

The API throttles above 10 calls/s or 10 in flight (requests queue, then time out), so the client keeps
to the limits itself and never relies on the server's throttle.
"""

from __future__ import annotations

from typing import Any

from sources._http import ApiClient, BasicAuth, HttpSettings, RequestStats, SourceError


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


async def stub_list(client: ApiClient, path: str, tally: RequestStats) -> list[Any]:
    """``GET <prefix>/<Entity>`` (``path``): every object's ``{dtype, guid|id, updatedAt}``; the API sends either
    a bare array (the intro's prose) or ``{"value": [...]}`` (the endpoint's example): both are accepted.

    Raises:
        EndpointUnavailable: the endpoint answered 403, 404, 405 or 501 (see :class:`sources._http.ApiClient`).
        SourceError: an answer that is JSON but neither shape.
    """
    body = await client.request("GET", path, tally=tally)
    if isinstance(body, dict) and isinstance(body.get("value"), list):
        body = body["value"]
    if not isinstance(body, list):
        raise SourceError(f"aimsio: {path} list is neither an array nor {{'value': [...]}}")
    for stub in body:
        if isinstance(stub, dict) and "guid" not in stub and "id" in stub:
            stub["guid"] = stub["id"]
    return body
