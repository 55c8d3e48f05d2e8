"""iinsight as arwip sees it: config keys, client, dlt source, entities, probes, totals and id listing
(:class:`sources._vendor.Vendor`; seed 004, iinsight.md, CONTRACT.md "iinsight").

API v1 lists only active and voided invoices: a reversed invoice just disappears, so on v1 only reconciling the
invoice ids (every ``reconcile_every``, see :mod:`pipelines.reconcile`) finds it; v2 lists reversed invoices
itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from decimal import Decimal
from typing import Any

from dlt.sources import DltSource

from sources._arrow import parse_instant
from sources._config import source_args
from sources._http import ApiClient, RequestStats
from sources._incremental import every_page, parse_start_date
from sources._vendor import ApiTotals, Config, Entity, Vendor
from sources.iinsight import iinsight, settings
from sources.iinsight.client import iinsight_client, invoice_pages


class Iinsight(Vendor):
    """Invoices of every status (and their items), by ``modified_since`` and page number."""

    name = "iinsight"
    config_keys = settings.SETTINGS
    entities = (settings.INVOICE_ENTITY,)
    tables = settings.invoice_specs(1)  # the same columns and types on API version 2

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
        """The first page of active invoices since the start date (the API's pages are 100 rows)."""
        pages = invoice_pages(client, config["api_version"], "active", _start(config), RequestStats(), 1)
        async for _ in every_page(pages):
            break

    async def totals(self, client: ApiClient, config: Config) -> dict[str, ApiTotals]:
        """Invoices: every page of every status (the API has no aggregate), summing ``total``."""
        count, total, newest = 0, Decimal(0), None
        async for row in _every_invoice(client, config):
            count += 1
            total += Decimal(row["total"])
            stamp = parse_instant(row["last_update_utc"])
            newest = stamp if newest is None or stamp > newest else newest
        return {"invoices": ApiTotals(count, total, newest)}

    async def ids(self, client: ApiClient, entity: Entity, config: Config) -> set[str]:
        return {str(row["invoice_id"]) async for row in _every_invoice(client, config)}


async def _every_invoice(client: ApiClient, config: Config) -> AsyncIterator[dict[str, Any]]:
    """Every invoice row since the start date, status by status, all pages (a page that is not JSON raises
    its :class:`sources._http.BadPayload`)."""
    version = int(config["api_version"])
    for status in settings.STATUSES[version]:
        pages = invoice_pages(client, version, status, _start(config), RequestStats(), client.settings.max_in_flight)
        async for page in every_page(pages):
            for row in page:
                yield row


def _start(config: Config) -> datetime:
    return parse_start_date(config["start_date"], "SOURCES__IINSIGHT__START_DATE")


VENDOR = Iinsight()
