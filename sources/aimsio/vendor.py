"""Aimsio as arwip sees it: config keys, client, dlt source, entities (NRBs core, job orders optional),
probes and totals (:class:`sources._vendor.Vendor`; seed 003, CONTRACT.md "Aimsio").

Aimsio needs no reconcile: every sync compares the whole stub list with what it loaded and soft-deletes
what vanished (see :mod:`sources.aimsio`).
"""

from __future__ import annotations

from datetime import UTC, datetime

from dlt.sources import DltSource

from sources._config import source_args
from sources._http import ApiClient, RequestStats
from sources._incremental import parse_start_date
from sources._vendor import ApiTotals, Config, Entity, Vendor
from sources.aimsio import aimsio, settings
from sources.aimsio.client import aimsio_client, stub_list
from sources.aimsio.push import TARGET as PUSH_TARGET


class Aimsio(Vendor):
    """NRBs (and their children) and job orders, from the GET-all stub lists and per-object details."""

    name = "aimsio"
    config_keys = settings.SETTINGS
    entities = (settings.NRB_ENTITY, settings.JOB_ORDER_ENTITY)
    tables = (settings.NRBS, settings.NRB_CHILDREN, settings.JOB_ORDERS)
    push_targets = (PUSH_TARGET,)

    def client(self, config: Config) -> ApiClient:
        return aimsio_client(config["base_url"], config["username"], config["password"], self.http(config))

    def source(self, config: Config, tally: dict[str, RequestStats]) -> DltSource:
        return aimsio(**source_args(config), tally=tally)

    async def probe(self, client: ApiClient, entity: Entity, config: Config) -> None:
        """The stub list (the API has no smaller read) and the detail of its first object."""
        stubs = await stub_list(client, entity.path, RequestStats())
        if stubs:
            await client.request("GET", f"{entity.path}/{stubs[0]['guid']}", detail=True)

    async def totals(self, client: ApiClient, config: Config) -> dict[str, ApiTotals]:
        """NRBs from the stub list: those updated since the start date, and the newest ``updatedAt`` (the stubs
        carry no amounts)."""
        stubs = await stub_list(client, settings.NRB_ENTITY.path, RequestStats())
        start = parse_start_date(config["start_date"], "SOURCES__AIMSIO__START_DATE")
        stamps = [s for s in (datetime.fromtimestamp(int(s["updatedAt"]) / 1000, UTC) for s in stubs) if s >= start]
        return {"nrbs": ApiTotals(len(stamps), None, max(stamps, default=None))}


VENDOR = Aimsio()
