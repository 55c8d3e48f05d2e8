"""Aimsio source: non-recurring billable items (NRBs, with their children) and job orders.

API: https://api.aimsio.com (seed 003; CONTRACT.md "Aimsio"). The API offers no change filter, only the
whole stub list ``{dtype, guid, updatedAt}``: each run reads it, fetches the detail only for objects whose
``updatedAt`` differs from the one last loaded (state keeps ``guid -> updatedAt``), and records objects
that vanished from the list as soft deletes in table ``deletions``. An answer that is not JSON is
quarantined and read again next run (an unreadable list skips the entity this run; an unreadable detail is
not marked loaded). Requests stay within 10/s and 10 in flight. Money ``DECIMAL(18,2)``; epoch milliseconds
become UTC timestamps.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import dlt
import pyarrow as pa
import pyarrow.compute as pc
from dlt.sources import DltResource

from sources._deletions import deletion_rows, deletions_table
from sources._http import BadPayload, HttpSettings, RequestStats, Session
from sources._incremental import children, emit, parse_start_date, unreadable
from sources._vendor import guarded, why_unavailable
from sources.aimsio import settings
from sources.aimsio.client import aimsio_client, stub_list

DETAIL_BATCH = 100  # details fetched per batch (bounded memory; the rate limit sets the pace)


@dlt.source(name="aimsio", max_table_nesting=0)
def aimsio(
    base_url: str,
    username: str,
    password: str,
    start_date: str = settings.DEFAULT_START_DATE,
    http: HttpSettings = HttpSettings(settings.MAX_IN_FLIGHT, settings.RATE_PER_S),  # noqa: B008 (frozen)
    tally: dict[str, RequestStats] | None = None,
) -> Sequence[DltResource]:
    """The Aimsio resources ``nrbs`` (+ ``nrb_children``, ``deletions``) and ``job_orders`` (optional: an
    endpoint the user cannot use leaves it out, see :func:`sources._vendor.guarded`).

    Built by :class:`sources.aimsio.vendor.Aimsio` from the ``[sources.aimsio]`` keys (:data:`settings.SETTINGS`).

    Args:
        base_url: e.g. ``https://sandbox.aimsio.com`` (``SOURCES__AIMSIO__BASE_URL``).
        username, password: an integration user with API permissions (``SOURCES__AIMSIO__USERNAME``/``PASSWORD``).
        start_date: the first run only loads objects updated at or after it (``SOURCES__AIMSIO__START_DATE``).
        http: timeouts, tries, backoff and the client-side limits (the API's documented 10/s and 10 in flight).
        tally: per-resource counters filled while extracting.

    Raises:
        ConfigError: malformed ``start_date``; (on extract) refused credentials or unreachable base URL.
    """
    start_ms = int(parse_start_date(start_date, "SOURCES__AIMSIO__START_DATE").timestamp() * 1000)
    session = Session(lambda: aimsio_client(base_url, username, password, http))
    tally = {} if tally is None else tally

    def sync_entity(name: str) -> Iterator[Any]:
        """Stub list -> details of what changed -> rows; vanished objects -> ``deletions``."""
        entity, spec = settings.ENTITIES[name]
        stats = tally.setdefault(name, RequestStats())
        state = dlt.current.resource_state()
        loaded: dict[str, int] = state.setdefault("loaded", {})
        deleted: dict[str, int] = state.setdefault("deleted", {})
        try:
            stubs = settings.STUBS.to_arrow(session.run(lambda client: stub_list(client, entity.path, stats)))
        except BadPayload as exc:  # nothing to compare with: no details, no deletions; next run tries again
            yield from emit(unreadable(spec, exc), stats, "aimsio")
            if not entity.core:
                stats.unavailable = why_unavailable(exc, entity)
            return
        yield from emit(_no_rows(stubs), stats, "aimsio")
        current = dict(zip(stubs.table["guid"].to_pylist(), _millis(stubs.table["updated_at"]), strict=True))
        changed = [g for g, ms in current.items() if loaded.get(g) != ms and (g in loaded or ms >= start_ms)]
        vanished = [g for g in loaded if g not in current]
        for i in range(0, len(changed), DETAIL_BATCH):
            batch = changed[i : i + DETAIL_BATCH]
            urls = [f"{entity.path}/{guid}" for guid in batch]
            found = session.run(lambda client, urls=urls: client.details(urls, stats))
            gone = [g for g, d in zip(batch, found, strict=True) if d is None]
            vanished.extend(g for g in gone if g in loaded)
            for bad in (d for d in found if isinstance(d, BadPayload)):  # not marked loaded: fetched again
                yield from emit(unreadable(spec, bad), stats, "aimsio")
            rows = [d for d in found if isinstance(d, dict)]
            parsed = spec.to_arrow(rows)
            yield from emit(parsed, stats, "aimsio")
            if spec is settings.NRBS:
                yield from children(
                    settings.NRB_CHILDREN, rows, "nrbChildren", {"nrbParentGuid": "nrbGuid"}, stats, "aimsio"
                )
            for g, d in zip(batch, found, strict=True):
                if isinstance(d, dict):
                    loaded[g] = current[g]
        back = [g for g in current if g in deleted and g in loaded]
        yield from _deletions(name, vanished, back, loaded, deleted, stats)

    def guarded_entity(name: str) -> Iterator[Any]:
        yield from guarded(settings.ENTITIES[name][0], sync_entity(name), tally.setdefault(name, RequestStats()))

    @dlt.resource(name="nrbs", primary_key="nrb_guid", write_disposition="merge")
    def nrbs() -> Iterator[Any]:
        """NRBs (``/NonRecurringBillableItem``), their ``nrbChildren`` (table ``nrb_children``)."""
        yield from guarded_entity("nrbs")

    @dlt.resource(name="job_orders", primary_key="job_guid", write_disposition="merge")
    def job_orders() -> Iterator[Any]:
        """Job orders (``/JobOrder``): job number, name and client of the NRBs (optional)."""
        yield from guarded_entity("job_orders")

    return nrbs, job_orders


def _deletions(
    entity: str,
    vanished: list[str],
    back: list[str],
    loaded: dict[str, int],
    deleted: dict[str, int],
    stats: RequestStats,
) -> Iterator[Any]:
    """Rows for table ``deletions``: vanished objects get ``deleted_at`` now, returned ones ``None``."""
    rows = deletion_rows(entity, {g: loaded.pop(g, None) for g in vanished}, {g: loaded[g] for g in back})
    for row in rows:
        if row["deleted_at"] is None:
            deleted.pop(row["guid"], None)
        else:
            deleted[row["guid"]] = row["deleted_at"]
    if rows:
        stats.deleted += len(vanished)
        yield deletions_table(rows)


def _millis(column: Any) -> list[int]:
    return pc.cast(column, pa.timestamp("ms", tz="UTC")).cast(pa.int64()).to_pylist()


def _no_rows(parsed: Any) -> Any:
    """Only the quarantined stubs of a parsed stub list (the stubs themselves are not a table)."""
    return type(parsed)(parsed.table.slice(0, 0), parsed.quarantined)
