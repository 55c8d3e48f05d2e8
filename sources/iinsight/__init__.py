"""iinsight source: invoices of every status (active, voided; reversed on v2) and their items, payments
(active, voided) and billings.

API: https://api-usa.iinsightonline.com (seed 004; iinsight.md; CONTRACT.md "iinsight", "iinsight payments",
"iinsight billings"). Invoices and payments are status lists: one watermark per status on ``last_update_utc``
(lag window, boundary de-dup). Page-number paging can skip a row when another row changes mid-scan and moves
to the end; a row changed since the scan began (minus the lag window, which absorbs a vendor clock running
behind ours) triggers a re-scan of that status, so nothing is lost. A payment's status is the one its request
asked for (its rows carry none). Billings have no change filter: see :mod:`sources.iinsight.billings`.
Payments and billings are optional entities (:func:`sources._vendor.guarded`). Day-first dates (v1) and ISO
dates (v2) become ``DATE``; string amounts become ``DECIMAL(18,2)``; epoch seconds UTC timestamps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import dlt
import pyarrow as pa
import pyarrow.compute as pc
from dlt.sources import DltResource

from sources._arrow import TableSpec
from sources._deletions import deletion_rows, deletions_table
from sources._http import ConfigError, HttpSettings, RequestStats, Session
from sources._incremental import Page, Watermark, changed_batches, children, emit, parse_start_date
from sources._vendor import guarded
from sources.iinsight import settings
from sources.iinsight.billings import BillingsRead, BillingState, read_billings
from sources.iinsight.client import iinsight_client, list_pages


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
    billings_page_size: int = settings.BILLINGS_MAX_PAGE_SIZE,
    http: HttpSettings = HttpSettings(),  # noqa: B008 (frozen)
    tally: dict[str, RequestStats] | None = None,
) -> Sequence[DltResource]:
    """The iinsight resources ``invoices`` (+ ``invoice_items``), ``payments`` and ``billings`` (+ ``deletions``);
    payments and billings are optional (an endpoint the user cannot use leaves them out and says so in
    ``entity_status``).

    Built by :class:`sources.iinsight.vendor.Iinsight` from the ``[sources.iinsight]`` keys
    (:data:`settings.SETTINGS`).

    Args:
        base_url: regional host, e.g. ``https://api-usa.iinsightonline.com`` (``SOURCES__IINSIGHT__BASE_URL``).
        client_id, client_secret: API client credentials (Basic auth on ``/auth/login``).
        username, password: the iinsight user the API acts as.
        api_version: 1 (``/api1``, default) or 2 (``/api2``, ISO dates, ``reversed`` status, ``cost_id``);
            billings are read from ``/api1`` either way (the only version that has them).
        start_date: first-run ``modified_since`` (``SOURCES__IINSIGHT__START_DATE``).
        lag_seconds: how far behind the watermark each run re-reads.
        billings_page_size: billings per request, 1..1000.
        http: timeouts, tries, backoff and ``max_in_flight`` (pages fetched ahead concurrently).
        tally: per-resource counters filled while extracting.

    Raises:
        ConfigError: bad ``api_version``, ``start_date`` or ``billings_page_size``; (on extract) refused
            credentials, unreachable host.
    """
    if api_version not in settings.API_VERSIONS:
        raise ConfigError(f"SOURCES__IINSIGHT__API_VERSION={api_version!r}: use 1 or 2")
    if not 1 <= billings_page_size <= settings.BILLINGS_MAX_PAGE_SIZE:
        raise ConfigError(f"SOURCES__IINSIGHT__BILLINGS_PAGE_SIZE={billings_page_size!r}: use 1 to 1000")
    start = parse_start_date(start_date, "SOURCES__IINSIGHT__START_DATE")
    lag = timedelta(seconds=lag_seconds)
    invoice_spec, item_spec = settings.invoice_specs(api_version)
    max_in_flight = http.max_in_flight
    session = Session(lambda: iinsight_client(base_url, client_id, client_secret, username, password, http))
    tally = {} if tally is None else tally

    def status_list(
        listing: settings.StatusList,
        spec: TableSpec,
        stats: RequestStats,
        nested: Callable[[list[dict[str, Any]]], Iterator[Any]] | None = None,
    ) -> Iterator[Any]:
        """Every status of ``listing`` under its own watermark, re-scanned when rows moved while we paged;
        ``nested`` emits the child tables of the raw rows loaded."""
        key = listing.key
        for status in listing.statuses[api_version]:
            mark = Watermark.from_state(status, start, lag)
            since = mark.start
            emitted: dict[str, Any] = {}  # id -> last_update_utc loaded by this run (re-scans skip them)
            tag = None if listing.status_in_rows else status
            for _ in range(settings.MAX_PASSES):
                # rows changed after this moved while we paged; the lag absorbs a vendor clock behind ours
                changed_since = datetime.now(UTC).replace(microsecond=0) - lag
                raw: dict[str, dict[str, Any]] = {}
                pages = _keep_raw(
                    session.iterate(
                        lambda client, status=status, since=since, moved=changed_since: list_pages(
                            client, listing, api_version, status, since, stats, max_in_flight, moved
                        )
                    ),
                    raw,
                    key,
                    tag,
                )
                moved, n_pages = False, 0
                for parsed in changed_batches(pages, spec, mark, "last_update_utc", stats):
                    n_pages += 1
                    parsed.table = _not_emitted(parsed.table, emitted, key)
                    yield from emit(parsed, stats, "iinsight")
                    if nested is not None:
                        yield from nested([raw[i] for i in parsed.table[key].to_pylist()])
                    raw.clear()
                    newest = pc.max(parsed.table["last_update_utc"]).as_py() if parsed.table.num_rows else None
                    moved = moved or (newest is not None and newest >= changed_since)
                if not moved or n_pages < 2:  # a single page cannot have skipped a row
                    break

    def items(rows: list[dict[str, Any]]) -> Iterator[Any]:
        stats = tally.setdefault("invoices", RequestStats())
        yield from children(item_spec, rows, "item", {"invoice_id": "invoice_id"}, stats, "iinsight", "item_no")

    @dlt.resource(name="invoices", primary_key="invoice_id", write_disposition="merge")
    def invoices() -> Iterator[Any]:
        """Invoices by status under ``modified_since``; items to table ``invoice_items``."""
        yield from status_list(settings.INVOICES, invoice_spec, tally.setdefault("invoices", RequestStats()), items)

    @dlt.resource(name="payments", primary_key="payment_id", write_disposition="merge")
    def payments() -> Iterator[Any]:
        """Payments by status under ``modified_since``, each row's ``status`` the one its request asked for."""
        stats = tally.setdefault("payments", RequestStats())
        spec = settings.payment_spec(api_version)
        yield from guarded(settings.PAYMENT_ENTITY, status_list(settings.PAYMENTS, spec, stats), stats)

    @dlt.resource(name="billings", primary_key="id", write_disposition="merge")
    def billings() -> Iterator[Any]:
        """New billings, the unbilled set and what left it (:mod:`sources.iinsight.billings`); deleted billings
        to table ``deletions``."""
        stats = tally.setdefault("billings", RequestStats())
        yield from guarded(settings.BILLING_ENTITY, _billings(session, stats, billings_page_size, max_in_flight), stats)

    return invoices, payments, billings


def _billings(session: Session, stats: RequestStats, limit: int, window: int) -> Iterator[Any]:
    """Rows of :func:`read_billings` parsed and emitted; the gone ones soft-deleted; the state saved last."""
    state = dlt.current.resource_state()
    before = BillingState.load(state)
    for item in session.iterate(lambda client: read_billings(client, before, stats, limit, window)):
        if isinstance(item, BillingsRead):
            if item.gone:
                stats.deleted += len(item.gone)
                gone = dict.fromkeys(map(str, item.gone))
                yield deletions_table(deletion_rows(settings.BILLING_ENTITY.name, gone, {}))
            item.state.save(state)
        else:
            yield from emit(settings.BILLINGS.to_arrow(item), stats, "iinsight")


def _keep_raw(pages: Iterator[Page], raw: dict[str, dict[str, Any]], key: str, status: str | None) -> Iterator[Page]:
    """Pass pages through, remembering each raw row by ``key`` (children are read from the raw rows) and, given
    ``status``, setting it on each row (rows that carry none: it is the status the request asked for)."""
    for rows in pages:
        if isinstance(rows, list):
            for row in rows:
                if isinstance(row, dict):
                    if status is not None:
                        row["status"] = status
                    raw[str(row.get(key))] = row
        yield rows


def _not_emitted(table: pa.Table, emitted: dict[str, Any], key: str) -> pa.Table:
    """Drop rows this run already loaded with the same ``last_update_utc``; remember the rest."""
    ids = table[key].to_pylist()
    stamps = table["last_update_utc"].to_pylist()
    keep = [emitted.get(i) != t for i, t in zip(ids, stamps, strict=True)]
    emitted.update(zip(ids, stamps, strict=True))
    return table if all(keep) else table.filter(pa.array(keep))
