"""``arwip verify``: does the warehouse equal the source? Per entity: row count, money sum, newest cursor.

The API side uses the vendors' own aggregates where they exist (Aiwyn's search answers carry
``<entity>_aggregate.aggregate.count`` and ``sum``; Aimsio's stub list is the whole list) and otherwise
reads everything (iinsight: all pages of every status). The warehouse side reads the merged tables,
leaving out records soft-deleted in ``<source>.deletions`` (Aimsio stub list, ``sync --reconcile``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from pipelines.clients import session, setting, start_date
from sources._arrow import parse_instant
from sources._http import ApiClient, RequestStats
from sources._incremental import every_page, isoformat
from sources.aimsio.client import stub_list
from sources.aiwyn.client import count_of, rows_of, search
from sources.iinsight import settings as iinsight_settings
from sources.iinsight.client import invoice_pages


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


def _warehouse(
    con: duckdb.DuckDBPyConnection, source: str, table: str, key: str, entity: str, money: str | None, changed: str
) -> tuple[Any, ...]:
    """``(rows, money sum, newest change)`` of a table, leaving out records soft-deleted in ``deletions``."""
    total = f"sum(t.{money})" if money else "null"
    sql = (
        f"select count(*), {total}, max(t.{changed}) from {source}.{table} as t "
        f"left join {source}.deletions as d on d.entity = ? and d.guid = cast(t.{key} as varchar) "
        "where d.deleted_at is null"
    )
    try:
        return con.execute(sql, [entity]).fetchall()[0]
    except duckdb.CatalogException:
        return (0, None, None)


AIWYN = {"wip": ("wip", "value"), "invoices": ("invoices", "totalAmount"), "payments": ("payments", "amount")}


async def _aiwyn(client: ApiClient, start: datetime) -> dict[str, tuple[int, Decimal, datetime | None]]:
    stats = RequestStats()
    out = {}
    since = [{"updatedAt": {"_gte": isoformat(start)}}]
    for entity, (_, money) in AIWYN.items():
        body = await search(client, entity, since, 1, "desc", stats)
        rows = rows_of(body)
        aggregate = next(v for k, v in body.items() if k.endswith("aggregate"))["aggregate"]
        newest = parse_instant(rows[0]["updatedAt"]) if rows else None
        out[entity] = (count_of(body) or 0, Decimal(str(aggregate.get("sum", {}).get(money) or 0)), newest)
    return out


async def _iinsight(client: ApiClient, api_version: int, start: datetime) -> tuple[int, Decimal, datetime | None]:
    stats = RequestStats()
    count, total, newest = 0, Decimal(0), None
    for status in iinsight_settings.STATUSES[api_version]:
        async for page in every_page(invoice_pages(client, api_version, status, start, stats, 8)):
            for row in page:
                count += 1
                total += Decimal(row["total"])
                stamp = parse_instant(row["last_update_utc"])
                newest = stamp if newest is None or stamp > newest else newest
    return count, total, newest


def verify(db_path: Path, sources: list[str]) -> list[Check]:
    """Compare the warehouse ``db_path`` with the APIs of ``sources``; one :class:`Check` per metric.

    Raises ConfigError for missing configuration, SourceError when an API cannot be read.
    """
    checks: list[Check] = []
    with duckdb.connect(str(db_path), read_only=True) as con:
        if "aiwyn" in sources:
            api = session("aiwyn").run(lambda c: _aiwyn(c, start_date("aiwyn")))
            for entity, (table, money) in AIWYN.items():
                column = {"totalAmount": "total_amount"}.get(money, money)
                here = _warehouse(con, "aiwyn", table, "id", entity, column, "updated_at")
                checks += _compare("aiwyn", entity, here, api[entity])
        if "aimsio" in sources:
            stubs = session("aimsio").run(lambda c: stub_list(c, "NonRecurringBillableItem", RequestStats()))
            start = start_date("aimsio")
            stamps = [datetime.fromtimestamp(int(s["updatedAt"]) / 1000, UTC) for s in stubs]
            stamps = [s for s in stamps if s >= start]
            here = _warehouse(con, "aimsio", "nrbs", "nrb_guid", "nrbs", None, "nrb_updated_at")
            checks += _compare("aimsio", "nrbs", here, (len(stamps), None, max(stamps, default=None)))
        if "iinsight" in sources:
            version = int(setting("iinsight", "api_version", default=1))
            api = session("iinsight").run(lambda c: _iinsight(c, version, start_date("iinsight")))
            here = _warehouse(con, "iinsight", "invoices", "invoice_id", "invoices", "total", "last_update_utc")
            checks += _compare("iinsight", "invoices", here, api)
    return checks


def _compare(source: str, entity: str, here: tuple[Any, ...], api: tuple[Any, ...]) -> list[Check]:
    metrics = ("rows", "money sum", "newest change")
    return [
        Check(source, entity, metric, _fmt(h), _fmt(a))
        for metric, h, a in zip(metrics, here, api, strict=True)
        if not (metric == "money sum" and a is None)
    ]
