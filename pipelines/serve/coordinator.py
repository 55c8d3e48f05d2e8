"""The scheduler of ``arwip serve``: one thread that runs the syncs, one at a time, and knows each source's health.

What it runs, each time it wakes (a webhook event was stored, a poll is due, or it is told to stop):

- **polls**: every source syncs once when the service starts, then every ``poll_interval`` (its config key) —
  a full incremental sync of every entity, which also reconciles when its ``reconcile_every`` is due;
- **webhook hints**: the pending events of the inbox, claimed together after a short pause that lets a burst
  gather (:data:`COALESCE_S`); the vendor turns them into hints (:meth:`sources._webhooks.Webhooks.hints`):
  the entities to sync and the records it deleted; a source that is not polled in the same sync syncs only
  those entities. Events stored while a sync runs wait for the next one.

Due polls and hints go into one sync (:func:`pipelines.sync.sync`: the sources extract concurrently, then the
models, the data tests, then the BI snapshot on DuckDB or the models' swap on PostgreSQL). A source whose last sync
failed is retried alone, with a growing pause (:data:`RETRY_S`, at most its interval), so that it cannot keep the
others' changes from being published; a due retry and pending events take turns; while a source with webhooks is
failing its events stay in the inbox (its retry is a full sync, then they are claimed). Events are marked processed
once their sources loaded; otherwise they are released for the next sync. A sync killed half-way (``kill -9``)
leaves what the next sync resumes, and claimed events go back to pending when the inbox is next opened.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pipelines.errors import explain
from pipelines.inbox import Batch, Inbox
from pipelines.publish import PublishResult
from pipelines.serve.metrics import ServeMetrics
from pipelines.sync import SourceRun, sync
from pipelines.warehouse import Warehouse
from sources._vendor import Config, Vendor
from sources._webhooks import Hints

COALESCE_S = 0.25
"""Pause between the first pending event and claiming the inbox, so that a burst goes into one sync (s)."""
RETRY_S = (5.0, 15.0, 60.0, 300.0)
"""Pauses before retrying a failed source, after 1, 2, 3, 4+ failures in a row (s; at most its interval)."""
IDLE_S = 60.0
"""Longest sleep of the scheduler with nothing due (s)."""
PURGE_EVERY_S = 3600.0
"""How often processed events older than a week are purged from the inbox (s)."""

log = logging.getLogger("arwip.serve")


@dataclass
class SourceState:
    """What the scheduler knows of one source: its ``interval`` (s), when its next poll is due (monotonic s),
    when its last successful poll ended (``last_success``, epoch s), its last error and failures in a row."""

    name: str
    interval: float
    next_poll: float
    last_success: float | None = None
    last_error: str | None = None
    failures: int = 0


@dataclass
class Plan:
    """One sync: ``polls`` (sources synced in full), ``batch`` (claimed events) with ``hints`` per source."""

    kind: str
    polls: list[str]
    batch: Batch | None = None
    hints: dict[str, Hints] = field(default_factory=dict)

    @property
    def sources(self) -> list[str]:
        return [*self.polls, *(s for s in self.hints if s not in self.polls)]

    @property
    def entities(self) -> dict[str, list[str]]:
        """Per source that is only hinted (not polled): the entities to sync."""
        return {s: sorted(h.entities) for s, h in self.hints.items() if s not in self.polls}

    @property
    def deleted(self) -> dict[str, Mapping[str, frozenset[str]]]:
        return {s: h.deleted for s, h in self.hints.items() if h.deleted}


class Coordinator:
    """Runs the syncs of ``arwip serve`` on its own thread (see the module docstring).

    Args:
        warehouse: the warehouse (the caller holds its writer's lock).
        vendors: the sources to sync, with their resolved configurations.
        inbox: the webhook inbox (the coordinator is its one consumer).
        metrics: where sync outcomes go.
    """

    def __init__(self, warehouse: Warehouse, vendors: Mapping[str, tuple[Vendor, Config]], inbox: Inbox,
                 metrics: ServeMetrics) -> None:
        self.warehouse = warehouse
        self.vendors = dict(vendors)
        self.inbox = inbox
        self.metrics = metrics
        self.started_at = time.time()
        now = time.monotonic()
        self.states = {name: SourceState(name, config["poll_interval"].total_seconds(), now)
                       for name, (_, config) in self.vendors.items()}
        self.webhook_sources = [name for name, (v, _) in self.vendors.items() if v.webhooks is not None]
        self.running: Plan | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="arwip-serve-sync", daemon=True)
        self._purged = now
        self._events_last = False  # the last sync took webhook events (a due retry goes next)

    # -- control (any thread) ----------------------------------------------------------------------
    def start(self) -> None:
        """Start the scheduler thread (the first sync of every source begins at once)."""
        self._thread.start()

    def notify(self) -> None:
        """An event was stored: wake the scheduler (thread-safe, cheap)."""
        self._wake.set()

    def stop(self, timeout_s: float) -> bool:
        """Ask the scheduler to stop after the running sync, waiting up to ``timeout_s`` for it. Returns True when it
        stopped, False when a sync is still running (the caller may abandon it: the next start resumes it)."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def health(self) -> tuple[bool, dict[str, Any]]:
        """``(ok, details)``: ok while every source synced (a full poll) within twice its interval — counted from
        the service's start until its first success. ``details`` says per source when it last succeeded, its
        last error (one line, no secret) and, when not ok, ``reason``."""
        now = time.time()
        sources, reasons = {}, []
        for s in self.states.values():
            since = s.last_success or self.started_at
            limit = 2 * s.interval
            ok = now - since <= limit
            sources[s.name] = {"ok": ok, "last_success": s.last_success, "seconds_since": round(now - since, 1),
                               "limit_s": limit, "failures_in_a_row": s.failures, "last_error": s.last_error}
            if not ok:
                what = "no successful sync" if s.last_success is None else "last successful sync"
                why = f"; last error: {s.last_error}" if s.last_error else ""
                reasons.append(f"{s.name}: {what} for {now - since:.0f} s (limit {limit:.0f} s: twice its "
                               f"poll_interval){why}")
        details: dict[str, Any] = {"status": "ok" if not reasons else "failing", "sources": sources,
                                   "syncing": self.running.sources if self.running else []}
        if reasons:
            details["reason"] = "; ".join(reasons)
        return not reasons, details

    # -- the scheduler thread ----------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stop.is_set():
            plan, wait_s = self._next()
            if plan is None:
                self._wake.wait(wait_s)
                self._wake.clear()
                continue
            self.running = plan
            try:
                self._run(plan)
            except Exception:  # never lose the scheduler to a bookkeeping error: log it, go on
                log.exception("the scheduler failed after a sync")
                if plan.batch is not None:
                    self.inbox.release(plan.batch)
            finally:
                self.running = None
            if time.monotonic() - self._purged > PURGE_EVERY_S:
                self._purged = time.monotonic()
                self.inbox.purge()
        log.info("scheduler stopped")

    def _next(self) -> tuple[Plan | None, float]:
        """The next sync to run, or None and how long to sleep."""
        now = time.monotonic()
        due = [s for s in self.states.values() if s.next_poll <= now]
        retry = next((s for s in due if s.failures), None)
        hooks_ok = not any(self.states[s].failures for s in self.webhook_sources)
        events = hooks_ok and bool(self.inbox.pending(limit=1))
        if retry is not None and (not events or self._events_last):  # events and retries take turns
            self._events_last = False
            return Plan("retry", [retry.name]), 0.0
        if events:
            self._stop.wait(COALESCE_S)  # let a burst gather
            now = time.monotonic()
            polls = [s.name for s in self.states.values() if s.next_poll <= now and not s.failures]
            batch = self.inbox.claim()
            self._events_last = bool(batch.events)
            if batch.events or polls:
                return Plan("poll" if polls else "webhook", polls, batch, self._hints(batch)), 0.0
        polls = [s.name for s in due if not s.failures]
        if polls:
            return Plan("poll", polls), 0.0
        next_due = min((s.next_poll for s in self.states.values()), default=now + IDLE_S)
        return None, min(max(next_due - now, 0.0), IDLE_S)

    def _hints(self, batch: Batch) -> dict[str, Hints]:
        """Per source, the hints of its events in ``batch`` (events of a source not served are dropped)."""
        by_source: dict[str, list[Any]] = {}
        for stored in batch.events:
            by_source.setdefault(stored.event.source, []).append(stored.event)
        hints = {}
        for source, events in by_source.items():
            vendor = self.vendors.get(source, (None, None))[0]
            if vendor is None or vendor.webhooks is None:
                log.warning("%d event(s) of %r, which this service does not sync, ignored", len(events), source)
                continue
            hints[source] = vendor.webhooks.hints(events)
        return hints

    def _run(self, plan: Plan) -> None:
        """Run ``plan`` as one sync, then account for it (states, metrics, inbox)."""
        events = len(plan.batch.events) if plan.batch else 0
        hinted = ", ".join(f"{s} ({', '.join(e)})" for s, e in plan.entities.items())
        log.info("sync (%s): %s%s%s", plan.kind, ", ".join(plan.polls) or "-",
                 f"; hinted {hinted}" if hinted else "", f"; {events} event(s)" if events else "")
        started_wall, started = time.time(), time.monotonic()
        loaded: dict[str, SourceRun] = {}
        published: list[PublishResult] = []
        error: Exception | None = None
        self.metrics.syncs.labels(plan.kind).inc()
        try:
            sync(self.warehouse, plan.sources, on_done=lambda run: self._loaded(run, loaded),
                 on_publish=published.append, entities=plan.entities, deleted=plan.deleted)
        except Exception as exc:  # one source failing, the data tests, the snapshot: accounted for below
            error = exc
        elapsed = time.monotonic() - started
        self.metrics.sync_seconds.observe(elapsed)
        message = explain(error)[0] if error is not None else None
        # a failure after every source loaded (models, data tests, snapshot) fails them all; otherwise the sources
        # that loaded count as synced (the next sync publishes them) and the others failed
        after_loads = error is not None and all(name in loaded for name in plan.sources)
        for name in plan.sources:
            state = self.states[name]
            if name in loaded and not after_loads:
                if name in plan.polls:
                    state.last_success, state.next_poll = time.time(), started + state.interval
                    self.metrics.last_success.labels(name).set(state.last_success)
                state.failures, state.last_error = 0, None
                continue
            state.failures += 1
            state.last_error = message
            pause = RETRY_S[min(state.failures, len(RETRY_S)) - 1]
            state.next_poll = time.monotonic() + min(pause, state.interval)
            self.metrics.failures.labels(name).inc()
        # readers see the sync: DuckDB once the BI snapshot is published; PostgreSQL once the models swapped in
        visible = bool(published) or (error is None and bool(loaded))
        if visible:
            self.metrics.published(list(loaded), started_wall)
        if published:
            log.info("published the BI snapshot (%.2f s); sync took %.1f s", published[0].seconds, elapsed)
        elif visible:
            log.info("readers see the new models; sync took %.1f s", elapsed)
        if error is not None:
            log.error("sync failed: %s", message)
        self._settle(plan, loaded, visible)

    def _loaded(self, run: SourceRun, loaded: dict[str, SourceRun]) -> None:
        loaded[run.name] = run
        self.metrics.loaded(run.name, run.resources.values(), run.seconds)
        parts = [f"{n} {s.rows:,} rows/{s.requests:,} req" for n, s in run.resources.items()]
        extra = [f"{run.marked_deleted} marked deleted"] if run.marked_deleted else []
        extra += [f"{r.entity} reconciled: {r.missing} disappeared, {r.returned} back" for r in run.reconciled]
        extra += [f"{name} unavailable ({why})" for name, why in
                  ((n, s.unavailable) for n, s in run.resources.items() if s.unavailable)]
        log.info("  %s: %s in %.1f s%s", run.name, ", ".join(parts) or "nothing to read", run.seconds,
                 f" ({'; '.join(extra)})" if extra else "")
        if run.error is not None:
            log.warning("  %s: reconciling failed: %s", run.name, explain(run.error)[0])

    def _settle(self, plan: Plan, loaded: Mapping[str, SourceRun], visible: bool) -> None:
        """Mark the plan's events processed when every source they hinted loaded, else hand them back; ``visible``:
        readers see the sync (its events' lag is observed)."""
        if plan.batch is None or not plan.batch.events:
            return
        if all(source in loaded for source in plan.hints):
            self.inbox.mark_processed(plan.batch)
            if visible:
                now = time.time()
                for stored in plan.batch.events:
                    self.metrics.event_lag.observe(max(now - stored.event.occurred_at.timestamp(), 0.0))
        else:
            self.inbox.release(plan.batch)
