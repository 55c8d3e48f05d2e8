"""``arwip sync --reconcile``: find records the warehouse holds that the source no longer has.

Incremental cursors only see records that change; a record the vendor hard-deletes (or, on iinsight v1,
reverses: v1 lists only active and voided invoices) simply stops appearing. Reconciling reads the full set
of ids from the API, compares it with the warehouse, and records each missing id in
``<source>.deletions`` (``entity, guid, deleted_at, last_updated_at``, merged on ``entity, guid``; the same
table Aimsio's stub-list comparison fills), with ``deleted_at`` back to null for ids that reappeared. The
models treat a row with a non-null ``deleted_at`` as soft-deleted: kept, flagged, out of AR and WIP.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dlt
import duckdb

from pipelines.clients import session, setting, start_date
from pipelines.sync import make_pipeline
from sources._http import ApiClient, BadPayload, RequestStats
from sources._incremental import every_page
from sources.aimsio.settings import DELETIONS
from sources.aiwyn.client import changed_rows
from sources.iinsight import settings as iinsight_settings
from sources.iinsight.client import invoice_pages

# source -> entity -> (warehouse table, key column, change timestamp column)
TABLES: dict[str, dict[str, tuple[str, str, str]]] = {
    "aiwyn": {
        "wip": ("wip", "id", "updated_at"),
        "invoices": ("invoices", "id", "updated_at"),
        "payments": ("payments", "id", "updated_at"),
    },
    "iinsight": {"invoices": ("invoices", "invoice_id", "last_update_utc")},
}


@dataclass(frozen=True)
class Reconciled:
    """What reconciling one entity found: ids at the API, in the warehouse, newly missing, back again."""

    source: str
    entity: str
    api_ids: int
    warehouse_ids: int
    missing: int
    returned: int
    skipped: str | None = None  # why this entity was not reconciled (an id page that was not JSON)


async def _aiwyn_ids(client: ApiClient, entity: str, since: datetime) -> set[str]:
    pages = changed_rows(client, entity, since, RequestStats(), slices=client.settings.max_in_flight)
    return {str(row["id"]) async for page in every_page(pages) for row in page}


async def _iinsight_ids(client: ApiClient, api_version: int, since: datetime) -> set[str]:
    ids: set[str] = set()
    for status in iinsight_settings.STATUSES[api_version]:
        pages = invoice_pages(client, api_version, status, since, RequestStats(), client.settings.max_in_flight)
        ids.update([str(row["invoice_id"]) async for page in every_page(pages) for row in page])
    return ids


def _api_ids(source: str) -> dict[str, set[str] | BadPayload]:
    """Every id at the API, per entity of ``source``, read with one client (one token); an entity whose id
    pages include one that is not JSON maps to that :class:`BadPayload`."""
    since = start_date(source)
    version = int(setting("iinsight", "api_version", default=1)) if source == "iinsight" else 0

    async def read(client: ApiClient) -> dict[str, set[str] | BadPayload]:
        found: dict[str, set[str] | BadPayload] = {}
        for entity in TABLES[source]:
            try:
                if source == "aiwyn":
                    found[entity] = await _aiwyn_ids(client, entity, since)
                else:
                    found[entity] = await _iinsight_ids(client, version, since)
            except BadPayload as exc:
                found[entity] = exc
        return found

    return session(source).run(read)


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    try:
        return con.execute(sql, params or []).fetchall()
    except duckdb.CatalogException:
        return []


def reconcile(db_path: Path, source: str, lock: threading.Lock | None = None) -> list[Reconciled]:
    """Reconcile the id sets of ``source`` (one with hard deletes: aiwyn, iinsight; others: ``[]``) with the
    warehouse; one :class:`Reconciled` per entity.

    Runs under the warehouse lock, after the source's load. The API's ids are read without ``lock``; reading
    the warehouse and writing the deletions hold it (the load lock of a sync whose other sources may be
    loading meanwhile). An entity whose id pages include one that is not JSON is skipped
    (``Reconciled.skipped``; an incomplete id set would flag records that exist). Raises
    ConfigError/SourceError like a sync.
    """
    lock = lock or threading.Lock()
    results = []
    rows: list[dict[str, Any]] = []
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    listed = _api_ids(source) if source in TABLES else {}
    for entity, (table, key, changed) in TABLES.get(source, {}).items():
        api = listed[entity]
        if isinstance(api, BadPayload):
            results.append(Reconciled(source, entity, 0, 0, 0, 0, skipped=str(api)))
            continue
        with lock, duckdb.connect(str(db_path), read_only=True) as con:
            here = {
                str(k): (int(ts.timestamp() * 1000) if ts else None)
                for k, ts in _rows(con, f"select {key}, {changed} from {source}.{table}")
            }
            sql = f"select guid from {source}.deletions where entity = ? and deleted_at is not null"
            deleted = {g for (g,) in _rows(con, sql, [entity])}
        missing = [k for k in here if k not in api and k not in deleted]
        back = [k for k in deleted if k in api]
        rows += [{"entity": entity, "guid": k, "deleted_at": now_ms, "last_updated_at": here[k]} for k in missing]
        rows += [{"entity": entity, "guid": k, "deleted_at": None, "last_updated_at": here.get(k)} for k in back]
        results.append(Reconciled(source, entity, len(api), len(here), len(missing), len(back)))
    if rows:
        with lock:
            _write_deletions(source, db_path, rows)
    return results


def _write_deletions(source: str, db_path: Path, rows: list[dict[str, Any]]) -> None:
    """Merge soft-delete rows into ``<source>.deletions`` through the source's own dlt pipeline."""
    table = DELETIONS.to_arrow(rows).table

    @dlt.resource(name="deletions", write_disposition="merge", primary_key=DELETIONS.primary_key)
    def deletions() -> Any:
        yield table

    pipeline = make_pipeline(source, db_path)
    schema = pipeline.default_schema if pipeline.default_schema_name else None
    pipeline.run(deletions(), loader_file_format="parquet", schema=schema)
