"""iinsight as arwip sees it: config keys, client, dlt source, entities, probes, totals and id listing
(:class:`sources._vendor.Vendor`; seed 004, iinsight.md, CONTRACT.md "iinsight", "iinsight payments", "iinsight
billings").

API v1 lists only active and voided invoices: a reversed invoice just disappears, so on v1 only reconciling the
invoice ids (every ``reconcile_every``, see :mod:`pipelines.reconcile`) finds it; v2 lists reversed invoices
itself. Payments are voided, never deleted; deleted billings are found by every sync
(:mod:`sources.iinsight.billings`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from dlt.sources import DltSource

from sources._arrow import parse_instant
from sources._config import source_args
from sources._http import ApiClient, EndpointUnavailable, RequestStats
from sources._incremental import every_page, parse_start_date
from sources._vendor import ApiTotals, Config, Entity, Vendor
from sources.iinsight import iinsight, settings
from sources.iinsight.client import billing_pages, iinsight_client, list_pages
from sources.iinsight.push import TARGET as PUSH_TARGET

_LISTS = {"invoices": settings.INVOICES, "payments": settings.PAYMENTS}


class Iinsight(Vendor):
    """Invoices of every status (and their items) and payments, by ``modified_since`` and page number; billings
    by the Query Builder."""

    name = "iinsight"
    config_keys = settings.SETTINGS
    entities = settings.ENTITIES
    tables = (*settings.invoice_specs(1), settings.payment_spec(1), settings.BILLINGS)  # same columns on API v2
    push_targets = (PUSH_TARGET,)

    def client(self, config: Config) -> ApiClient:
        return iinsight_client(
            config["base_url"],
            config["client_id"],
            config["client_secret"],
            config["username"],
            config["password"],
            self.http(config),
        )

    def source(self, config: Config, tally: dict[str, RequestStats]) -> DltSource:
        return iinsight(**source_args(config), tally=tally)

    async def probe(self, client: ApiClient, entity: Entity, config: Config) -> None:
        """Invoices, payments: the first page of active ones since the start date (the API's pages are 100
        rows). Billings: one billing."""
        if entity.name == settings.BILLING_ENTITY.name:
            async for _ in billing_pages(client, RequestStats(), 1, 1, expected=1):
                break
            return
        listing = _LISTS[entity.name]
        pages = list_pages(client, listing, config["api_version"], "active", _start(config), RequestStats(), 1)
        async for _ in every_page(pages):
            break

    async def totals(self, client: ApiClient, config: Config) -> dict[str, ApiTotals]:
        """Every page of every status of invoices (summing ``total``) and payments (summing ``amount`` as the
        API shows it), and every billing (summing ``total_charge``; newest ``time_inserted``): the API has no
        aggregates. An optional entity whose endpoint is unavailable is left out."""
        reads = {
            settings.INVOICE_ENTITY: (_every_row(client, config, settings.INVOICES), _changed_at),
            settings.PAYMENT_ENTITY: (_every_row(client, config, settings.PAYMENTS), _changed_at),
            settings.BILLING_ENTITY: (_every_billing(client, int(config["billings_page_size"])), _inserted_at),
        }
        found = {}
        for entity, (rows, stamp) in reads.items():
            try:
                found[entity.name] = await _sum(rows, str(entity.money), stamp)
            except EndpointUnavailable:
                if entity.core:
                    raise
        return found

    async def ids(self, client: ApiClient, entity: Entity, config: Config) -> set[str]:
        return {str(row[entity.key]) async for row in _every_row(client, config, _LISTS[entity.name])}


async def _sum(
    rows: AsyncIterator[dict[str, Any]], money: str, stamp: Callable[[dict[str, Any]], datetime]
) -> ApiTotals:
    """Rows, the sum of their ``money`` field and the newest ``stamp(row)``."""
    count, total, newest = 0, Decimal(0), None
    async for row in rows:
        count += 1
        total += Decimal(row[money])
        at = stamp(row)
        newest = at if newest is None or at > newest else newest
    return ApiTotals(count, total, newest)


def _changed_at(row: dict[str, Any]) -> datetime:
    return parse_instant(row["last_update_utc"])


def _inserted_at(row: dict[str, Any]) -> datetime:
    return datetime.fromtimestamp(int(row["time_inserted"]), UTC)


async def _every_row(client: ApiClient, config: Config, listing: settings.StatusList) -> AsyncIterator[dict[str, Any]]:
    """Every row of ``listing`` since the start date, status by status, all pages (a page that is not JSON raises
    its :class:`sources._http.BadPayload`)."""
    version = int(config["api_version"])
    for status in listing.statuses[version]:
        window = client.settings.max_in_flight
        pages = list_pages(client, listing, version, status, _start(config), RequestStats(), window)
        async for page in every_page(pages):
            for row in page:
                yield row


async def _every_billing(client: ApiClient, limit: int) -> AsyncIterator[dict[str, Any]]:
    """Every billing, in id order."""
    async for page in billing_pages(client, RequestStats(), limit, client.settings.max_in_flight):
        for row in page:
            yield row


def _start(config: Config) -> datetime:
    return parse_start_date(config["start_date"], "SOURCES__IINSIGHT__START_DATE")


VENDOR = Iinsight()
