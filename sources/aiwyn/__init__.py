"""Aiwyn source: WIP entries, invoices (with line items from the invoice detail) and payments.

API: https://api.doc.aiwyn.ai/bundle (seeds 000, 001; CONTRACT.md "Aiwyn"). Each resource reads the
search endpoint by keyset on ``(updatedAt, id)`` from its watermark (lag window + boundary de-dup) and
merges on ``id``. Money is ``DECIMAL(18,2)``, timestamps UTC.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import timedelta
from typing import Any

import dlt
from dlt.sources import DltResource

from sources._arrow import Parsed, TableSpec, parse_instant
from sources._http import ApiClient, BadPayload, HttpSettings, RequestStats, Session
from sources._incremental import Page, Watermark, changed_batches, children, emit, parse_start_date
from sources.aiwyn import settings
from sources.aiwyn.client import aiwyn_client, changed_rows, with_details


@dlt.source(name="aiwyn", max_table_nesting=0)
def aiwyn(
    base_url: str,
    jwt_api_key: str,
    start_date: str = settings.DEFAULT_START_DATE,
    lag_seconds: int = int(settings.DEFAULT_LAG.total_seconds()),
    page_size: int = settings.PAGE_SIZE,
    http: HttpSettings = HttpSettings(),  # noqa: B008 (frozen)
    tally: dict[str, RequestStats] | None = None,
) -> Sequence[DltResource]:
    """The Aiwyn resources ``wip``, ``invoices`` (+ ``invoice_line_items``) and ``payments``.

    Built by :class:`sources.aiwyn.vendor.Aiwyn` from the ``[sources.aiwyn]`` keys (:data:`settings.SETTINGS`).

    Args:
        base_url: API host, e.g. ``https://demo.api.aiwyn.ai`` (``SOURCES__AIWYN__BASE_URL``).
        jwt_api_key: key exchanged at ``/v1/auth/token`` for a 1-hour JWT (``SOURCES__AIWYN__JWT_API_KEY``).
        start_date: ISO date the first run reads changes from (``SOURCES__AIWYN__START_DATE``).
        lag_seconds: how far behind the watermark each run re-reads (late or same-second changes).
        page_size: rows per search request (1..1000).
        http: timeouts, tries, backoff and ``max_in_flight`` (concurrent requests, also the keyset slices).
        tally: per-resource counters filled while extracting (requests, rows, quarantined).

    Raises:
        ConfigError: malformed ``start_date``; (on extract) refused key or unreachable base URL.
    """
    start = parse_start_date(start_date, "SOURCES__AIWYN__START_DATE")
    lag = timedelta(seconds=lag_seconds)
    max_in_flight = http.max_in_flight
    session = Session(lambda: aiwyn_client(base_url, jwt_api_key, http))
    tally = {} if tally is None else tally

    def changes(
        entity: str, spec: TableSpec, stats: RequestStats, details: dict[Any, Any] | None = None
    ) -> Iterator[Parsed]:
        """The entity's changed rows as parsed Arrow batches, advancing its watermark; with ``details``
        (a dict), each new row's invoice detail is fetched on the loop, pipelined, and put there by id."""
        mark = Watermark.from_state(entity, start, lag)
        seen = dict(mark.seen)  # boundary rows already loaded: no detail request for them

        def loaded(row: dict[str, Any]) -> bool:
            stamp = seen.get(str(row.get("id")))
            return stamp is not None and stamp == parse_instant(str(row.get("updatedAt"))).isoformat()

        def pages(client: ApiClient) -> AsyncIterator[Page]:
            rows = changed_rows(client, entity, mark.start, stats, page_size, max_in_flight)
            return with_details(rows, client, stats, loaded) if details is not None else rows

        fetched = session.iterate(pages)
        if details is not None:
            fetched = detached(fetched, details)
        return changed_batches(fetched, spec, mark, "updated_at", stats)

    def detached(pages: Iterator[Page], found: dict[Any, Any]) -> Iterator[Page]:
        """Move each row's ``_detail`` into ``found`` (by id) before the row is parsed; a detail that was not
        JSON follows its page as a :class:`BadPayload` (quarantined; the invoice is read again next run)."""
        for page in pages:
            unreadable = []
            for row in page if isinstance(page, list) else ():
                if isinstance(row, dict) and "_detail" in row:
                    detail = row.pop("_detail")
                    if isinstance(detail, BadPayload):
                        unreadable.append(detail)
                    else:
                        found[row.get("id")] = detail
            yield page
            yield from unreadable

    def merged(spec: TableSpec) -> dict[str, Any]:
        # a record read twice in one run (it changed while we paged): newest wins (spec.newest_wins, see emit)
        return {"name": spec.name, "primary_key": spec.primary_key, "write_disposition": "merge"}

    @dlt.resource(**merged(settings.WIP))
    def wip() -> Iterator[Any]:
        """Time, expense, fixed-fee and disbursement WIP entries (``/gql/v1/wips/search``)."""
        stats = tally.setdefault("wip", RequestStats())
        for parsed in changes("wip", settings.WIP, stats):
            yield from emit(parsed, stats, "aiwyn")

    @dlt.resource(**merged(settings.INVOICES))
    def invoices() -> Iterator[Any]:
        """Invoices (``/gql/v1/invoices/search``) and, from each changed invoice's detail, its line items
        (table ``invoice_line_items``, replaced per invoice)."""
        stats = tally.setdefault("invoices", RequestStats())
        found: dict[Any, Any] = {}
        for parsed in changes("invoices", settings.INVOICES, stats, found):
            yield from emit(parsed, stats, "aiwyn")
            if parsed.table.num_rows:
                details = [d for d in (found.pop(i, None) for i in parsed.table["id"].to_pylist()) if d]
                found.clear()
                yield from children(
                    settings.INVOICE_LINE_ITEMS, details, "lineItems", {"invoice_id": "id"}, stats, "aiwyn"
                )

    @dlt.resource(**merged(settings.PAYMENTS))
    def payments() -> Iterator[Any]:
        """Payments against invoices (``/gql/v1/payments/search``)."""
        stats = tally.setdefault("payments", RequestStats())
        for parsed in changes("payments", settings.PAYMENTS, stats):
            yield from emit(parsed, stats, "aiwyn")

    return wip, invoices, payments
