"""``arwip verify``: does the warehouse equal the source? Per entity: row count, money sum, newest change.

The API side is each vendor's :meth:`sources._vendor.Vendor.totals` (Aiwyn's search aggregates, Aimsio's
stub list, every iinsight page). The warehouse side reads the merged table ``<source>.<entity>``, leaving out
records soft-deleted in ``<source>.deletions`` (Aimsio stub list, ``sync --reconcile``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from pipelines.warehouse import Connection, RelationMissing, Warehouse, as_warehouse
from sources import registry
from sources._vendor import ApiTotals, Entity


@dataclass(frozen=True)
class Check:
    """One comparison: ``metric`` of ``source.entity`` in the warehouse and at the API (as text)."""

    source: str
    entity: str
    metric: str
    warehouse: str
    api: str

    @property
    def ok(self) -> bool:
        return self.warehouse == self.api


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value)


def _warehouse(con: Connection, source: str, entity: Entity) -> ApiTotals:
    """Rows, money sum and newest change of ``<source>.<entity>``, leaving out records soft-deleted in
    ``<source>.deletions``."""
    total = f"sum(t.{entity.money})" if entity.money else "null"
    sql = (
        f"select count(*), {total}, max(t.{entity.changed_at}) from {source}.{entity.name} as t "
        f"left join {source}.deletions as d on d.entity = $1 and d.guid = cast(t.{entity.key} as varchar) "
        "where d.deleted_at is null"
    )
    try:
        rows, money, newest = con.fetch(sql, [entity.name])[0]
    except RelationMissing:
        rows, money, newest = 0, None, None
    return ApiTotals(rows, money, newest)


def verify(warehouse: Warehouse | Path, sources: list[str] | None = None) -> list[Check]:
    """Compare ``warehouse`` (a :class:`~pipelines.warehouse.Warehouse` or the path of a DuckDB file) with the APIs
    of ``sources`` (default: every vendor); one :class:`Check` per metric of each entity the vendor gives totals
    for.

    Raises ConfigError for missing configuration, SourceError when an API cannot be read, ValueError for an
    unknown source.
    """
    checks: list[Check] = []
    with as_warehouse(warehouse).connect() as con:
        for vendor in registry.vendors(sources):
            config = vendor.config()
            api = vendor.session(config).run(lambda client, v=vendor, c=config: v.totals(client, c))
            for name, there in api.items():
                here = _warehouse(con, vendor.name, vendor.entity(name))
                checks += _compare(vendor.name, name, here, there)
    return checks


def _compare(source: str, entity: str, here: ApiTotals, api: ApiTotals) -> list[Check]:
    metrics = [
        ("rows", here.rows, api.rows),
        ("money sum", here.money, api.money),
        ("newest change", here.newest, api.newest),
    ]
    return [
        Check(source, entity, metric, _fmt(h), _fmt(a))
        for metric, h, a in metrics
        if not (metric == "money sum" and a is None)  # the API gives no amounts (Aimsio's stub list)
    ]
