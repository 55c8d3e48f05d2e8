"""Reconciling: find records the warehouse holds that the source no longer has.

Incremental cursors only see records that change; a record the vendor hard-deletes (or, on iinsight v1,
reverses: v1 lists only active and voided invoices) simply stops appearing. Reconciling reads the full set
of ids of every entity a vendor marks ``reconcile`` (:meth:`sources._vendor.Vendor.ids`), compares it with
the warehouse, and records each missing id in ``<source>.deletions`` (:data:`sources._deletions.DELETIONS`,
merged on ``entity, guid``; the same table Aimsio's stub-list comparison fills), with ``deleted_at`` back to
null for ids that reappeared. The models treat a row with a non-null ``deleted_at`` as soft-deleted: kept,
flagged, out of AR and WIP.

When: a sync reconciles a source when ``arwip sync --reconcile`` forces it, or when its last reconcile is older
than its ``reconcile_every`` (default 24 h; :func:`reconcile_due`), by ``arwip sync`` and ``arwip serve`` alike.
The time of each source's last reconcile is kept in ``<state dir>/reconciled/<source>``; the first sync that
finds none starts the clock without reconciling (a warehouse's first load holds every record there is).
A vendor's webhooks may also report deletes, which :func:`mark_deleted` records the same way.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dlt

from pipelines.warehouse import Connection, RelationMissing, Warehouse, as_warehouse
from sources._deletions import DELETIONS, deletion_rows
from sources._http import ApiClient, BadPayload
from sources._vendor import Config, Entity, Vendor


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


def _api_ids(vendor: Vendor, config: Config, entities: list[Entity]) -> dict[str, set[str] | BadPayload]:
    """Every id at the API, per entity, read with one client (one token); an entity whose id pages include one
    that is not JSON maps to that :class:`BadPayload`."""

    async def read(client: ApiClient) -> dict[str, set[str] | BadPayload]:
        found: dict[str, set[str] | BadPayload] = {}
        for entity in entities:
            try:
                found[entity.name] = await vendor.ids(client, entity, config)
            except BadPayload as exc:
                found[entity.name] = exc
        return found

    return vendor.session(config).run(read)


def _rows(con: Connection, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    try:
        return con.fetch(sql, params or [])
    except RelationMissing:
        return []


def _stamp_path(warehouse: Warehouse | Path, source: str) -> Path:
    return as_warehouse(warehouse).state_dir / "reconciled" / source


def last_reconciled(warehouse: Warehouse | Path, source: str) -> datetime | None:
    """When ``source`` was last reconciled into ``warehouse`` (UTC), None when never."""
    try:
        return datetime.fromisoformat(_stamp_path(warehouse, source).read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def mark_reconciled(warehouse: Warehouse | Path, source: str, at: datetime | None = None) -> None:
    """Record that ``source`` was reconciled at ``at`` (default now, UTC); written atomically."""
    path = _stamp_path(warehouse, source)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{source}.tmp-{os.getpid()}-{threading.get_ident()}")
    tmp.write_text((at or datetime.now(UTC)).isoformat())
    os.replace(tmp, path)


def reconcile_due(warehouse: Warehouse | Path, vendor: Vendor, config: Config) -> bool:
    """True when ``vendor`` has entities to reconcile and its last reconcile is older than its
    ``reconcile_every``. When it was never reconciled, the clock starts now (this is recorded) and it is not
    due: the first sync of a warehouse loads every record there is."""
    if not any(e.reconcile for e in vendor.entities):
        return False
    last = last_reconciled(warehouse, vendor.name)
    if last is None:
        mark_reconciled(warehouse, vendor.name)
        return False
    return datetime.now(UTC) - last >= config["reconcile_every"]


def _known(con: Connection, vendor: Vendor, entity: Entity) -> tuple[dict[str, int | None], set[str]]:
    """The warehouse's ids of ``entity`` with their change timestamps (epoch ms), and the ids soft-deleted now."""
    here = {
        str(k): (int(ts.timestamp() * 1000) if ts else None)
        for k, ts in _rows(con, f"select {entity.key}, {entity.changed_at} from {vendor.name}.{entity.name}")
    }
    sql = f"select guid from {vendor.name}.deletions where entity = $1 and deleted_at is not null"
    return here, {g for (g,) in _rows(con, sql, [entity.name])}


def mark_deleted(
    warehouse: Warehouse | Path,
    vendor: Vendor,
    deleted: Mapping[str, Collection[str]],
    lock: threading.Lock | None = None,
) -> int:
    """Soft-delete records the vendor reported deleted (webhooks): ``deleted`` maps an entity name to ids (text).
    Ids already soft-deleted keep their ``deleted_at``. Returns how many rows were written. Call under the
    warehouse lock; reading and writing hold ``lock`` (a sync's load lock)."""
    warehouse = as_warehouse(warehouse)
    lock = lock or threading.Lock()
    rows: list[dict[str, Any]] = []
    with lock:
        with warehouse.connect() as con:
            for name, ids in deleted.items():
                here, already = _known(con, vendor, vendor.entity(name))
                rows += deletion_rows(name, {k: here.get(k) for k in ids if k not in already}, {})
        if rows:
            _write_deletions(vendor.name, warehouse, rows)
    return len(rows)


def reconcile_source(
    warehouse: Warehouse | Path, vendor: Vendor, config: Config, lock: threading.Lock | None = None
) -> list[Reconciled]:
    """Reconcile the id sets of ``vendor``'s entities marked ``reconcile`` with the warehouse; one
    :class:`Reconciled` per entity (``[]`` for a vendor without any).

    Runs under the warehouse lock, after the source's load. The API's ids are read without ``lock``; reading
    the warehouse and writing the deletions hold it (the load lock of a sync whose other sources may be
    loading meanwhile). An entity whose id pages include one that is not JSON is skipped
    (``Reconciled.skipped``; an incomplete id set would flag records that exist). When none was skipped, the
    reconcile clock restarts (:func:`mark_reconciled`). Raises ConfigError/SourceError like a sync.
    """
    warehouse = as_warehouse(warehouse)
    lock = lock or threading.Lock()
    entities = [e for e in vendor.entities if e.reconcile]
    if not entities:
        return []
    started = datetime.now(UTC)
    results = []
    rows: list[dict[str, Any]] = []
    listed = _api_ids(vendor, config, entities)
    for entity in entities:
        api = listed[entity.name]
        if isinstance(api, BadPayload):
            results.append(Reconciled(vendor.name, entity.name, 0, 0, 0, 0, skipped=str(api)))
            continue
        with lock, warehouse.connect() as con:
            here, deleted = _known(con, vendor, entity)
        missing = {k: ms for k, ms in here.items() if k not in api and k not in deleted}
        back = {k: here.get(k) for k in deleted if k in api}
        rows += deletion_rows(entity.name, missing, back)
        results.append(Reconciled(vendor.name, entity.name, len(api), len(here), len(missing), len(back)))
    if rows:
        with lock:
            _write_deletions(vendor.name, warehouse, rows)
    if not any(r.skipped for r in results):
        mark_reconciled(warehouse, vendor.name, started)
    return results


def _write_deletions(source: str, warehouse: Warehouse, rows: list[dict[str, Any]]) -> None:
    """Merge soft-delete rows into ``<source>.deletions`` through the source's own dlt pipeline."""
    table = DELETIONS.to_arrow(rows).table

    @dlt.resource(name="deletions", write_disposition="merge", primary_key=DELETIONS.primary_key)
    def deletions() -> Any:
        yield table

    pipeline = warehouse.pipeline(source)
    schema = pipeline.default_schema if pipeline.default_schema_name else None
    pipeline.run(deletions(), loader_file_format="parquet", schema=schema)
