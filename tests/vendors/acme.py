"""Acme, a fourth vendor that exists only in the tests: its simulator (a small Starlette app), its client,
dlt source and :class:`sources._vendor.Vendor` descriptor, written the way ``sources/<vendor>/`` is, to show
that registering it is all ``pipelines/`` needs (``arwip check``, ``sync``, ``verify``, ``sync --reconcile``).

API (pinned here): ``X-Api-Key`` header on every call; ``GET /v1/items?since=<ISO Z>&page=<1..>`` → a bare
array of at most :data:`PAGE_SIZE` items ``{"id", "amount": "12.50", "updatedAt": "<ISO Z>"}`` changed at
or after ``since``, ordered by (updatedAt, id), an empty array ends; deleted items vanish. ``/v1/notes``
(optional) is not offered: 404.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import dlt
from dlt.sources import DltResource, DltSource
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sources._arrow import Decimal as Money
from sources._arrow import Field, Int, TableSpec, Timestamp, parse_instant
from sources._config import Setting, source_args, with_http
from sources._http import ApiClient, Auth, HttpSettings, RequestStats, Session
from sources._incremental import Page, Watermark, changed_batches, emit, every_page, isoformat, parse_start_date
from sources._vendor import ApiTotals, Config, Entity, Vendor, guarded

PAGE_SIZE = 50
API_KEY = "acme-key"
ITEMS = TableSpec(
    "items",
    ("id",),
    (Field("id", Int(), required=True), Field("amount", Money(), required=True), Field("updatedAt", Timestamp())),
    newest_wins="updated_at",
)


class AcmeSimulator:
    """The Acme API over ``n`` items (ids 1..n, amounts ``id.50``, one change a minute from 2025-01-01)."""

    def __init__(self, n: int) -> None:
        start = datetime(2025, 1, 1, tzinfo=UTC)
        self.items = {i: {"id": i, "amount": f"{i}.50", "updatedAt": isoformat(start + timedelta(minutes=i))}
                      for i in range(1, n + 1)}

    def app(self) -> Starlette:
        async def items(request: Request) -> JSONResponse:
            if request.headers.get("x-api-key") != API_KEY:
                return JSONResponse({"error": "bad key"}, 401)
            since = request.query_params.get("since", "1970-01-01T00:00:00Z")
            page = int(request.query_params.get("page", "1"))
            rows = sorted((r for r in self.items.values() if r["updatedAt"] >= since),
                          key=lambda r: (r["updatedAt"], r["id"]))
            return JSONResponse(rows[(page - 1) * PAGE_SIZE : page * PAGE_SIZE])

        return Starlette(routes=[Route("/v1/items", items)])


class ApiKey(Auth):
    """The ``X-Api-Key`` header on every call."""

    def __init__(self, key: str) -> None:
        self._headers = {"X-Api-Key": key}

    async def headers(self, client: ApiClient) -> dict[str, str]:
        return self._headers


def acme_client(base_url: str, api_key: str, http: HttpSettings) -> ApiClient:
    """The Acme client: the API key on every call."""
    return ApiClient(
        "acme", base_url, ApiKey(api_key), http, base_url_key="SOURCES__ACME__BASE_URL",
        credentials_hint="SOURCES__ACME__API_KEY",
    )


async def item_pages(client: ApiClient, since: datetime, tally: RequestStats) -> AsyncIterator[Page]:
    """Every page of items changed at or after ``since``."""
    page = 1
    while True:
        rows = await client.request("GET", "/v1/items", params={"since": isoformat(since), "page": page}, tally=tally)
        if rows:
            yield rows
        if len(rows or []) < PAGE_SIZE:
            return
        page += 1


@dlt.source(name="acme", max_table_nesting=0)
def acme(
    base_url: str,
    api_key: str,
    start_date: str,
    http: HttpSettings = HttpSettings(),  # noqa: B008 (frozen)
    tally: dict[str, RequestStats] | None = None,
) -> Sequence[DltResource]:
    """Acme's ``items`` (core) and ``notes`` (optional, never offered)."""
    start = parse_start_date(start_date, "SOURCES__ACME__START_DATE")
    session = Session(lambda: acme_client(base_url, api_key, http))
    tally = {} if tally is None else tally

    @dlt.resource(name="items", primary_key="id", write_disposition="merge")
    def items() -> Iterator[Any]:
        stats = tally.setdefault("items", RequestStats())
        mark = Watermark.from_state("items", start, timedelta(0))
        pages = session.iterate(lambda client: item_pages(client, mark.start, stats))
        for parsed in changed_batches(pages, ITEMS, mark, "updated_at", stats):
            yield from emit(parsed, stats, "acme")

    @dlt.resource(name="notes", primary_key="id", write_disposition="merge")
    def notes() -> Iterator[Any]:
        def rows() -> Iterator[Any]:
            yield from session.run(lambda client: client.request("GET", "/v1/notes")) or []

        yield from guarded(VENDOR.entity("notes"), rows(), tally.setdefault("notes", RequestStats()))

    return items, notes


class Acme(Vendor):
    """The test vendor."""

    name = "acme"
    config_keys = with_http(Setting("base_url"), Setting("api_key", secret=True), Setting("start_date", "2000-01-01"))
    entities = (
        Entity("items", "/v1/items", "id", "updated_at", money="amount", reconcile=True),
        Entity("notes", "/v1/notes", "id", "updated_at", core=False, fallback="items show no notes"),
    )
    tables = (ITEMS,)

    def client(self, config: Config) -> ApiClient:
        return acme_client(config["base_url"], config["api_key"], self.http(config))

    def source(self, config: Config, tally: dict[str, RequestStats]) -> DltSource:
        return acme(**source_args(config), tally=tally)

    async def probe(self, client: ApiClient, entity: Entity, config: Config) -> None:
        await client.request("GET", entity.path, params={"page": 1})

    async def totals(self, client: ApiClient, config: Config) -> dict[str, ApiTotals]:
        rows = [r async for page in every_page(item_pages(client, _start(config), RequestStats())) for r in page]
        newest = max((parse_instant(r["updatedAt"]) for r in rows), default=None)
        return {"items": ApiTotals(len(rows), sum((Decimal(r["amount"]) for r in rows), Decimal(0)), newest)}

    async def ids(self, client: ApiClient, entity: Entity, config: Config) -> set[str]:
        pages = item_pages(client, _start(config), RequestStats())
        return {str(r["id"]) async for page in every_page(pages) for r in page}


def _start(config: Config) -> datetime:
    return parse_start_date(config["start_date"], "SOURCES__ACME__START_DATE")


VENDOR = Acme()
