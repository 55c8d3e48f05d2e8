"""Soft deletes, for every vendor: table ``<source>.deletions``, one row per record that vanished.

Filled by Aimsio's stub-list comparison on every sync and by ``arwip sync --reconcile`` (records a vendor
hard-deletes, and iinsight v1 reversals). ``deleted_at`` is when our sync saw the record vanish (vendors
give no deletion time), null again once the record is back; the models treat a record with a non-null
``deleted_at`` as soft-deleted from that instant on.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import dlt

from sources._arrow import EpochMillis, Field, TableSpec, Text

DELETIONS = TableSpec(
    "deletions",
    ("entity", "guid"),
    (
        Field("entity", Text(), required=True),
        Field("guid", Text(), required=True),
        Field("deleted_at", EpochMillis()),
        Field("last_updated_at", EpochMillis()),
    ),
)
"""``entity`` (the entity name, e.g. ``nrbs``), ``guid`` (its key, as text), ``deleted_at`` (UTC, null when
back), ``last_updated_at`` (the record's last change timestamp we loaded, UTC); merged on (entity, guid)."""


def deletion_rows(
    entity: str, vanished: Mapping[str, int | None], back: Mapping[str, int | None]
) -> list[dict[str, Any]]:
    """Rows for :data:`DELETIONS`: each ``vanished`` key deleted now, each key ``back`` undeleted; the values
    are the records' last change timestamps (epoch milliseconds, None when unknown)."""
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    rows = [{"entity": entity, "guid": k, "deleted_at": now_ms, "last_updated_at": ms} for k, ms in vanished.items()]
    rows += [{"entity": entity, "guid": k, "deleted_at": None, "last_updated_at": ms} for k, ms in back.items()]
    return rows


def deletions_table(rows: list[dict[str, Any]]) -> Any:
    """``rows`` (of :func:`deletion_rows`) as an Arrow table for a resource to yield: merged into table
    ``deletions`` on (entity, guid)."""
    hints = dlt.mark.make_hints(table_name=DELETIONS.name, write_disposition="merge", primary_key=DELETIONS.primary_key)
    return dlt.mark.with_hints(DELETIONS.to_arrow(rows).table, hints, create_table_variant=True)
