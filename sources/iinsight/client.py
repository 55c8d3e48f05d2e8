"""iinsight API: password-grant login with rotating refresh tokens, page-number paging of the status lists
(invoices, payments) and of billings.

Implements iinsight.md §2 (``/auth/login``, ``/auth/refresh``), §4 / seed 004 and §5 (``/api{1,2}/invoices``,
``/api{1,2}/payments``: ``modified_since``, ``page`` from 1, at most 100 rows, an empty page ends) and §7
(``/api1/billings``: ``page``, ``limit`` up to 1000, ``query`` and ``sort`` as JSON, ``{"status", "data"}``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime
from typing import Any

import httpx
import orjson

from sources._arrow import parse_instant
from sources._http import ApiClient, BadPayload, ConfigError, HttpSettings, RequestStats, SourceError, TokenAuth
from sources._incremental import Page, isoformat
from sources.iinsight import settings


def iinsight_client(
    base_url: str, client_id: str, client_secret: str, username: str, password: str, http: HttpSettings
) -> ApiClient:
    """An :class:`ApiClient` that logs in, refreshes with the (rotating) refresh token and logs in again
    when the refresh is refused."""
    basic = {"Authorization": httpx.BasicAuth(client_id, client_secret)._auth_header}
    refresh: dict[str, str] = {}

    async def fetch_token(client: ApiClient) -> tuple[str, float]:
        body = None
        if refresh.get("token"):
            try:
                body = await client.request(
                    "POST",
                    settings.REFRESH_PATH,
                    data={"grant_type": "refresh_token", "refresh_token": refresh["token"]},
                    headers=basic,
                    authenticated=False,
                )
            except SourceError as exc:
                if exc.status not in (400, 401, 403):
                    raise
                body = None  # refresh token expired or already rotated (invalid_grant): log in again
        if not isinstance(body, dict) or not body.get("access_token"):
            try:
                body = await client.request(
                    "POST",
                    settings.LOGIN_PATH,
                    data={"grant_type": "password", "username": username, "password": password},
                    headers=basic,
                    authenticated=False,
                )
            except SourceError as exc:
                if exc.status == 400:  # OAuth's invalid_grant: the user credentials are wrong
                    raise ConfigError(
                        "iinsight: login refused (invalid_grant); check SOURCES__IINSIGHT__USERNAME and "
                        "SOURCES__IINSIGHT__PASSWORD",
                        400,
                    ) from None
                raise
        if not isinstance(body, dict) or not body.get("access_token"):
            raise ConfigError("iinsight: login returned no access_token; check SOURCES__IINSIGHT__USERNAME")
        refresh["token"] = body.get("refresh_token") or ""
        return str(body["access_token"]), float(body.get("expires_in") or 3600)

    return ApiClient(
        "iinsight",
        base_url,
        TokenAuth(fetch_token),
        http,
        base_url_key="SOURCES__IINSIGHT__BASE_URL",
        credentials_hint=(
            "SOURCES__IINSIGHT__CLIENT_ID, SOURCES__IINSIGHT__CLIENT_SECRET, "
            "SOURCES__IINSIGHT__USERNAME and SOURCES__IINSIGHT__PASSWORD"
        ),
    )


async def list_pages(
    client: ApiClient,
    listing: settings.StatusList,
    api_version: int,
    status: str,
    since: datetime,
    tally: RequestStats,
    window: int,
    moved_since: datetime | None = None,
) -> AsyncIterator[Page]:
    """Pages of ``listing`` (invoices, payments) with ``status`` modified since ``since``, in page order.

    Fetches page 1, then ``window`` pages at a time concurrently. The first page shorter than 100 rows is
    the last; pages after it that still hold rows mean rows moved while we paged (the caller re-scans
    when a row changed at or after ``moved_since``, the scan's start less the lag).
    A page that is not JSON comes as its :class:`BadPayload` and counts as full (paging goes on), unless a
    whole window of pages is unreadable; its ``unread_from`` is the newest ``last_update_utc`` of the pages
    before it (rows come in that order), or ``since``. A row that moved may then sit on that page, unseen,
    having shifted others past a page seam: given ``moved_since``, and unless the cap is ``since`` anyway, one
    more page, of the rows changed since then, follows, so the caller sees any move (or, unreadable too, it
    caps the watermark at ``since``).

    Raises:
        EndpointUnavailable: the endpoint answers 403/404/405/501 (an optional listing, e.g. payments).
        SourceError: an answer that is not a JSON array.
    """
    params = listing.params(api_version, status)
    path = listing.path(api_version)

    async def page(n: int, changed: datetime = since) -> Page:
        query = {**params, "modified_since": isoformat(changed), "page": n}
        try:
            body = await client.request("GET", path, params=query, tally=tally)
        except BadPayload as exc:
            return exc
        if body is None:
            return []
        if not isinstance(body, list):
            raise SourceError(f"iinsight: {path} page {n} is not a JSON array")
        return body

    async def scan() -> AsyncIterator[Page]:
        first, ahead = 1, 1  # page 1 alone (most incremental runs end there), then `window` pages at a time
        while True:
            pages = await asyncio.gather(*(page(n) for n in range(first, first + ahead)))
            for rows in pages:
                yield rows
                if isinstance(rows, list) and len(rows) < settings.PAGE_SIZE:
                    return
            if ahead > 1 and all(isinstance(rows, BadPayload) for rows in pages):
                return  # a whole window unreadable: the list is down; the capped watermark reads it next run
            first, ahead = first + ahead, window

    read_to, before, unread_from = since, [], None  # before: the last readable page since read_to was set
    async for rows in scan():
        if isinstance(rows, BadPayload):  # stamps parsed only here, not for every page
            read_to, before = max([read_to, *_stamps(before)]), []
            rows.unread_from = read_to
            unread_from = unread_from or read_to
        elif rows:
            before = rows
        if rows:
            yield rows
    if unread_from is not None and unread_from > since and moved_since is not None:  # (at since: all re-read)
        latest = await page(1, moved_since)
        if isinstance(latest, BadPayload):
            latest.unread_from = since
        if latest:
            yield latest


def _stamps(rows: list[Any]) -> Iterator[datetime]:
    """The rows' ``last_update_utc`` instants that parse (a row that does not is quarantined later)."""
    for row in rows:
        with contextlib.suppress(AttributeError, TypeError, ValueError):
            yield parse_instant(row.get("last_update_utc"))


async def billing_pages(
    client: ApiClient,
    tally: RequestStats,
    limit: int,
    window: int,
    query: dict[str, list[str]] | None = None,
    sort: dict[str, str] | None = None,
    expected: int | None = None,
    stop: Callable[[list[dict[str, Any]]], bool] | None = None,
) -> AsyncIterator[list[dict[str, Any]]]:
    """Pages 1, 2, … of ``/api1/billings`` (``limit`` rows each; ``query`` and ``sort`` sent as JSON, CONTRACT.md
    "iinsight billings"), in page order: the rows of each page's ``data``.

    Ends after the first page shorter than ``limit`` or, given ``stop``, after the first page it is true of.
    ``expected``: how many pages the caller expects (the last one short): that many are fetched at once (at
    most ``window``), then ``window`` at a time; without it page 1 comes alone first.

    Raises:
        EndpointUnavailable: the endpoint answers 403/404/405/501; BadPayload: an answer that is not JSON;
        SourceError: JSON that is not ``{"status": true, "data": [...]}``.
    """
    params: dict[str, Any] = {"limit": limit}
    if query is not None:
        params["query"] = orjson.dumps(query).decode()
    if sort is not None:
        params["sort"] = orjson.dumps(sort).decode()
    path = settings.BILLINGS_PATH

    async def page(n: int) -> list[dict[str, Any]]:
        body = await client.request("GET", path, params={**params, "page": n}, tally=tally)
        rows = body.get("data") if isinstance(body, dict) and body.get("status") in (True, "true") else None
        if not isinstance(rows, list):
            raise SourceError(f"iinsight: {path} page {n} is not {{'status': true, 'data': [...]}}: {str(body)[:200]}")
        return rows

    def ahead(fetched: int) -> int:
        if expected is not None and fetched < expected:
            return min(window, expected - fetched)
        return window if fetched else 1

    fetched = 0
    while True:
        n = ahead(fetched)
        pages = await asyncio.gather(*(page(p) for p in range(fetched + 1, fetched + 1 + n)))
        fetched += n
        for rows in pages:
            if rows:
                yield rows
            if len(rows) < limit or (stop is not None and stop(rows)):
                return
