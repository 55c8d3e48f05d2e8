"""Aiwyn as arwip sees it: config keys, client, dlt source, entities, probes, totals and id listing
(:class:`sources._vendor.Vendor`; CONTRACT.md "Aiwyn", seeds 000 and 001)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from dlt.sources import DltSource

from sources._arrow import parse_instant
from sources._config import source_args
from sources._http import ApiClient, RequestStats
from sources._incremental import every_page, isoformat, parse_start_date
from sources._vendor import ApiTotals, Config, Entity, Vendor
from sources.aiwyn import aiwyn, settings
from sources.aiwyn.client import aiwyn_client, changed_rows, count_of, rows_of, search
from sources.aiwyn.push import TARGET as PUSH_TARGET

# entity -> the API's money field its totals sum (the aggregate's ``sum``)
_API_MONEY = {"wip": "value", "invoices": "totalAmount", "payments": "amount"}


class Aiwyn(Vendor):
    """WIP entries, invoices (line items from each invoice's detail) and payments, read by keyset on the
    search endpoints; every entity is core, and hard-deleted ones (WIP, payments) are found by reconciling."""

    name = "aiwyn"
    config_keys = settings.SETTINGS
    entities = (
        Entity("wip", settings.SEARCH_PATHS["wip"], "id", "updated_at", money="value", reconcile=True),
        Entity("invoices", settings.SEARCH_PATHS["invoices"], "id", "updated_at", money="total_amount", reconcile=True),
        Entity("payments", settings.SEARCH_PATHS["payments"], "id", "updated_at", money="amount", reconcile=True),
    )
    tables = (settings.WIP, settings.INVOICES, settings.INVOICE_LINE_ITEMS, settings.PAYMENTS)
    push_targets = (PUSH_TARGET,)

    def client(self, config: Config) -> ApiClient:
        return aiwyn_client(config["base_url"], config["jwt_api_key"], self.http(config))

    def source(self, config: Config, tally: dict[str, RequestStats]) -> DltSource:
        return aiwyn(**source_args(config), tally=tally)

    async def probe(self, client: ApiClient, entity: Entity, config: Config) -> None:
        """One search row of ``entity``; for invoices also that invoice's detail (it carries the line items)."""
        since = [{"updatedAt": {"_gte": isoformat(_start(config))}}]
        rows = rows_of(await search(client, entity.name, since, 1, "desc", RequestStats()))
        if entity.name == "invoices" and rows:
            await client.request("GET", settings.INVOICE_DETAIL_PATH.format(id=rows[0]["id"]), detail=True)

    async def totals(self, client: ApiClient, config: Config) -> dict[str, ApiTotals]:
        """Rows and money from each search answer's aggregate (``<entity>_aggregate.aggregate``), the newest
        ``updatedAt`` from one row in descending order."""
        since = [{"updatedAt": {"_gte": isoformat(_start(config))}}]
        out = {}
        for entity, money in _API_MONEY.items():
            body = await search(client, entity, since, 1, "desc", RequestStats())
            rows = rows_of(body)
            aggregate: dict[str, Any] = next(v for k, v in body.items() if k.endswith("aggregate"))["aggregate"]
            newest = parse_instant(rows[0]["updatedAt"]) if rows else None
            total = Decimal(str((aggregate.get("sum") or {}).get(money) or 0))
            out[entity] = ApiTotals(count_of(body) or 0, total, newest)
        return out

    async def ids(self, client: ApiClient, entity: Entity, config: Config) -> set[str]:
        pages = changed_rows(client, entity.name, _start(config), RequestStats(), slices=client.settings.max_in_flight)
        return {str(row["id"]) async for page in every_page(pages) for row in page}


def _start(config: Config) -> datetime:
    return parse_start_date(config["start_date"], "SOURCES__AIWYN__START_DATE")


VENDOR = Aiwyn()
