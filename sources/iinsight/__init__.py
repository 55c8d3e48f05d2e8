"""iinsight source: invoices of every status (active, voided; reversed on v2) and their items.

API: https://api-usa.iinsightonline.com (seed 004; CONTRACT.md "iinsight"). One watermark per status on
``last_update_utc`` (lag window, boundary de-dup). Page-number paging can skip a row when another row
changes mid-scan and moves to the end; a row changed since the scan began (minus the lag window, which
absorbs a vendor clock running behind ours) triggers a re-scan of that status, so nothing is lost.
Day-first dates (v1) and ISO dates (v2) become ``DATE``; string amounts become ``DECIMAL(18,2)``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import dlt
import pyarrow as pa
import pyarrow.compute as pc
from dlt.sources import DltResource

from sources._http import ConfigError, HttpSettings, RequestStats, Session
from sources._incremental import Page, Watermark, changed_batches, children, emit, parse_start_date
from sources.iinsight import settings
from sources.iinsight.client import iinsight_client, invoice_pages


@dlt.source(name="iinsight", max_table_nesting=0)
def iinsight(
    base_url: str,
    client_id: str,
    client_secret: str,
    username: str,
    password: str,
    api_version: int = 1,
    start_date: str = settings.DEFAULT_START_DATE,
    lag_seconds: int = int(settings.DEFAULT_LAG.total_seconds()),
    http: HttpSettings = HttpSettings(),  # noqa: B008 (frozen)
    tally: dict[str, RequestStats] | None = None,
) -> Sequence[DltResource]:
    """The iinsight resource ``invoices`` (+ ``invoice_items``).

    Built by :class:`sources.iinsight.vendor.Iinsight` from the ``[sources.iinsight]`` keys
    (:data:`settings.SETTINGS`).

    Args:
        base_url: regional host, e.g. ``https://api-usa.iinsightonline.com`` (``SOURCES__IINSIGHT__BASE_URL``).
        client_id, client_secret: API client credentials (Basic auth on ``/auth/login``).
        username, password: the iinsight user the API acts as.
        api_version: 1 (``/api1``, default) or 2 (``/api2``, ISO dates, ``reversed`` status, ``cost_id``).
        start_date: first-run ``modified_since`` (``SOURCES__IINSIGHT__START_DATE``).
        lag_seconds: how far behind the watermark each run re-reads.
        http: timeouts, tries, backoff and ``max_in_flight`` (pages fetched ahead concurrently).
        tally: per-resource counters filled while extracting.

    Raises:
        ConfigError: bad ``api_version`` or ``start_date``; (on extract) refused credentials, unreachable host.
    """
    if api_version not in settings.INVOICES_PATH:
        raise ConfigError(f"SOURCES__IINSIGHT__API_VERSION={api_version!r}: use 1 or 2")
    start = parse_start_date(start_date, "SOURCES__IINSIGHT__START_DATE")
    lag = timedelta(seconds=lag_seconds)
    invoice_spec, item_spec = settings.invoice_specs(api_version)
    max_in_flight = http.max_in_flight
    session = Session(lambda: iinsight_client(base_url, client_id, client_secret, username, password, http))
    tally = {} if tally is None else tally

    @dlt.resource(
        name="invoices",
        primary_key="invoice_id",
        write_disposition="merge",
    )
    def invoices() -> Iterator[Any]:
        """Invoices by status under ``modified_since``; items to table ``invoice_items``."""
        stats = tally.setdefault("invoices", RequestStats())
        for status in settings.STATUSES[api_version]:
            mark = Watermark.from_state(status, start, lag)
            since = mark.start
            emitted: dict[str, Any] = {}  # id -> last_update_utc loaded by this run (re-scans skip them)
            for _ in range(settings.MAX_PASSES):
                # rows changed after this moved while we paged; the lag absorbs a vendor clock behind ours
                changed_since = datetime.now(UTC).replace(microsecond=0) - lag
                raw: dict[str, dict[str, Any]] = {}
                pages = _keep_raw(
                    session.iterate(
                        lambda client, status=status, since=since, moved=changed_since: invoice_pages(
                            client, api_version, status, since, stats, max_in_flight, moved
                        )
                    ),
                    raw,
                )
                moved, n_pages = False, 0
                for parsed in changed_batches(pages, invoice_spec, mark, "last_update_utc", stats):
                    n_pages += 1
                    parsed.table = _not_emitted(parsed.table, emitted)
                    yield from emit(parsed, stats, "iinsight")
                    rows = [raw[i] for i in parsed.table["invoice_id"].to_pylist()]
                    item_parents = {"invoice_id": "invoice_id"}
                    yield from children(item_spec, rows, "item", item_parents, stats, "iinsight", "item_no")
                    raw.clear()
                    newest = pc.max(parsed.table["last_update_utc"]).as_py() if parsed.table.num_rows else None
                    moved = moved or (newest is not None and newest >= changed_since)
                if not moved or n_pages < 2:  # a single page cannot have skipped a row
                    break

    return (invoices,)


def _keep_raw(pages: Iterator[Page], raw: dict[str, dict[str, Any]]) -> Iterator[Page]:
    """Pass pages through, remembering each raw row by id (items are read from the raw rows)."""
    for rows in pages:
        if isinstance(rows, list):
            raw.update((str(row.get("invoice_id")), row) for row in rows if isinstance(row, dict))
        yield rows


def _not_emitted(table: pa.Table, emitted: dict[str, Any]) -> pa.Table:
    """Drop rows this run already loaded with the same ``last_update_utc``; remember the rest."""
    ids = table["invoice_id"].to_pylist()
    stamps = table["last_update_utc"].to_pylist()
    keep = [emitted.get(i) != t for i, t in zip(ids, stamps, strict=True)]
    emitted.update(zip(ids, stamps, strict=True))
    return table if all(keep) else table.filter(pa.array(keep))
