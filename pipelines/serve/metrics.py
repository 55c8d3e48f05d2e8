"""The metrics of ``arwip serve`` (``GET /metrics``, Prometheus text format, prometheus-client).

Every name starts with ``arwip_``; counters end in ``_total``; times are seconds, timestamps epoch seconds (UTC).
Per source (label ``source``): last success, sync duration, rows, requests, retries, quarantined, failures and
freshness; per webhook source: events received, rejected (label ``reason``) and deduplicated; the inbox depth;
the end-to-end lag of webhook events. No label or value ever holds a secret.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from sources._http import RequestStats

SYNC_KINDS = ("poll", "webhook", "retry")
"""Why a sync ran: a source's poll was due, webhook events asked for it, or a failed source was retried."""
_DURATION_BUCKETS = (0.5, 1, 2, 3, 5, 7.5, 10, 15, 30, 60, 120, 300, 900)
_LAG_BUCKETS = (0.5, 1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 60, 120, 300, 900)


class ServeMetrics:
    """The service's metrics in a registry of their own (so that tests may build several).

    Args:
        sources: the names of the sources the service syncs (their series start at 0).
        webhook_sources: those that receive webhooks.
        inbox_depth: called at each scrape: events stored and not processed yet.
    """

    def __init__(self, sources: Iterable[str], webhook_sources: Iterable[str], inbox_depth: Callable[[], int]) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        per_source = ["source"]
        self.last_success = Gauge("arwip_source_last_success_timestamp_seconds",
                                  "When the last successful full sync (poll) of the source ended (epoch s, UTC)",
                                  per_source, registry=r)
        self.sync_duration = Histogram("arwip_source_sync_duration_seconds",
                                       "Wall time of a source's sync (extract, load; models and snapshot excluded)",
                                       per_source, buckets=_DURATION_BUCKETS, registry=r)
        self.rows = Counter("arwip_source_rows", "Rows fetched from the source", per_source, registry=r)
        self.requests = Counter("arwip_source_requests", "Requests sent to the source (retries included)",
                                per_source, registry=r)
        self.retries = Counter("arwip_source_retries", "Requests to the source that were retried", per_source,
                               registry=r)
        self.quarantined = Counter("arwip_source_quarantined", "Records the source sent that were quarantined",
                                   per_source, registry=r)
        self.failures = Counter("arwip_source_failures", "Syncs of the source that failed", per_source, registry=r)
        self.freshness = Gauge("arwip_source_freshness_seconds",
                               "Age of the source's data readers see (the BI snapshot, or PostgreSQL's models): "
                               "seconds since the start of the last sync readers see that read it (-1: none yet)",
                               per_source, registry=r)
        self.syncs = Counter("arwip_syncs", "Syncs run, by why they ran (poll, webhook, retry)", ["kind"], registry=r)
        self.sync_seconds = Histogram("arwip_sync_seconds",
                                      "Wall time of a whole sync: sources, models, data tests, BI snapshot or swap",
                                      buckets=_DURATION_BUCKETS, registry=r)
        self.received = Counter("arwip_webhook_events_received", "Webhook events verified and stored",
                                per_source, registry=r)
        self.rejected = Counter("arwip_webhook_events_rejected", "Webhook deliveries refused, by reason",
                                ["source", "reason"], registry=r)
        self.deduplicated = Counter("arwip_webhook_events_deduplicated",
                                    "Webhook deliveries of an event already stored (same event id)", per_source,
                                    registry=r)
        self.event_lag = Histogram("arwip_webhook_event_lag_seconds",
                                   "End-to-end freshness of a webhook event: from the change (occurredAt) to "
                                   "readers seeing it (the BI snapshot, or PostgreSQL's models)", buckets=_LAG_BUCKETS,
                                   registry=r)
        Gauge("arwip_inbox_depth", "Webhook events stored and not processed yet", registry=r).set_function(
            inbox_depth)
        self._published_start: dict[str, float] = {}
        for source in sources:
            for metric in (self.rows, self.requests, self.retries, self.quarantined, self.failures):
                metric.labels(source)
            self.freshness.labels(source).set_function(lambda s=source: self._age(s))
        for source in webhook_sources:
            self.received.labels(source)
            self.deduplicated.labels(source)
        for kind in SYNC_KINDS:
            self.syncs.labels(kind)

    def _age(self, source: str) -> float:
        started = self._published_start.get(source)
        return -1.0 if started is None else time.time() - started

    def loaded(self, source: str, resources: Iterable[RequestStats], seconds: float) -> None:
        """A source's sync loaded: add its counters (``resources``: one per entity) and duration."""
        for stats in resources:
            self.rows.labels(source).inc(stats.rows)
            self.requests.labels(source).inc(stats.requests)
            self.retries.labels(source).inc(stats.retries)
            self.quarantined.labels(source).inc(stats.quarantined)
        self.sync_duration.labels(source).observe(seconds)

    def published(self, sources: Iterable[str], started: float) -> None:
        """A sync that started at ``started`` (epoch s) and read ``sources`` is what readers see now (DuckDB: the BI
        snapshot was published; PostgreSQL: the models were swapped in)."""
        for source in sources:
            self._published_start[source] = max(started, self._published_start.get(source, 0.0))

    def exposition(self) -> tuple[bytes, str]:
        """The metrics in Prometheus text format, and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
