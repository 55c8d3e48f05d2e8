"""Aiwyn as arwip sees it: config keys, client, dlt source, entities, probes, totals, id listing and webhooks
(:class:`sources._vendor.Vendor`; CONTRACT.md "Aiwyn" and "Aiwyn event subscriptions", seeds 000-002)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from dlt.sources import DltSource

from sources._arrow import parse_instant
from sources._config import source_args
from sources._http import ApiClient, RequestStats
from sources._incremental import every_page, isoformat, parse_start_date
from sources._vendor import ApiTotals, Config, Entity, Vendor
from sources._webhooks import Hints, Receiver, Subscription, WebhookEvent, Webhooks
from sources.aiwyn import aiwyn, settings
from sources.aiwyn import subscriptions as api
from sources.aiwyn.client import aiwyn_client, changed_rows, count_of, rows_of, search
from sources.aiwyn.push import TARGET as PUSH_TARGET
from sources.aiwyn.webhooks import WebhookVerifier, parse_event

# entity -> the API's money field its totals sum (the aggregate's ``sum``)
_API_MONEY = {"wip": "value", "invoices": "totalAmount", "payments": "amount"}


class AiwynWebhooks(Webhooks):
    """Aiwyn's event subscriptions: signed deliveries for ``wip``, ``invoice`` and ``payment`` changes
    (:mod:`sources.aiwyn.webhooks`), managed through ``/api/v1/event-subscriptions``
    (:mod:`sources.aiwyn.subscriptions`)."""

    entity_types = tuple(settings.EVENT_ENTITIES)

    def receiver(self, secrets: Iterable[str]) -> Receiver:
        verifier = WebhookVerifier(list(secrets))

        def receive(headers: Any, body: bytes) -> WebhookEvent:
            verifier.verify(headers, body)
            return parse_event(body)

        return receive

    def hints(self, events: Iterable[WebhookEvent]) -> Hints:
        """Each event's entity type names the entity to sync (:data:`settings.EVENT_ENTITIES`); a DELETE also
        names the record as deleted (Aiwyn hard-deletes WIP and payments: they leave the search endpoints)."""
        entities: set[str] = set()
        deleted: dict[str, set[str]] = {}
        for event in events:
            entity = settings.EVENT_ENTITIES[event.entity_type]
            entities.add(entity)
            if event.operation == "DELETE":
                deleted.setdefault(entity, set()).add(str(event.entity_id))
        return Hints(frozenset(entities), {k: frozenset(v) for k, v in deleted.items()})

    async def subscriptions(self, client: ApiClient) -> list[Subscription]:
        return await api.list_subscriptions(client)

    async def subscribe(self, client: ApiClient, url: str, entity_types: Iterable[str] | None) -> Subscription:
        return await api.create_subscription(client, url, entity_types)

    async def unsubscribe(self, client: ApiClient, subscription_id: str) -> None:
        await api.delete_subscription(client, subscription_id)

    async def secret(self, client: ApiClient, subscription_id: str) -> str:
        return await api.get_secret(client, subscription_id)

    async def rotate(self, client: ApiClient, subscription_id: str) -> str:
        return await api.rotate_secret(client, subscription_id)


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
    webhooks = AiwynWebhooks()
    push_targets = (PUSH_TARGET,)

    def client(self, config: Config) -> ApiClient:
        return aiwyn_client(config["base_url"], config["jwt_api_key"], self.http(config))

    def source(self, config: Config, tally: dict[str, RequestStats]) -> DltSource:
        args = source_args(config)
        del args[AiwynWebhooks.secret_key]  # the receiver's (arwip serve), not the source's
        return aiwyn(**args, tally=tally)

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
