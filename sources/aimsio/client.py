"""Aimsio API: HTTP Basic auth, the "GET all" stub list and "GET one" details (seed 003, aimsio.md §3-5).

The API throttles above 10 calls/s or 10 in flight (requests queue, then time out), so the client spaces
its requests itself and never relies on the server's throttle.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sources._http import ApiClient, BadPayload, BasicAuth, HttpSettings, RequestStats, SourceError
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


async def details(client: ApiClient, entity_path: str, guids: list[str], tally: RequestStats) -> list[Any]:
    """``GET /<Entity>/{guid}`` for each guid, concurrently within the rate limit, in the order of ``guids``:
    the object, ``None`` where gone (404), or the :class:`BadPayload` of an answer that was not JSON."""

    async def detail(guid: str) -> Any:
        try:
            return await client.request("GET", f"{settings.PREFIX}/{entity_path}/{guid}", tally=tally, detail=True)
        except BadPayload as exc:
            return exc

    return list(await asyncio.gather(*(detail(guid) for guid in guids)))
