"""Aiwyn webhooks (CONTRACT.md "Aiwyn event subscriptions"): subscriptions and their signing secrets, the
change feed off `Firm.write`, and the dispatcher that POSTs signed deliveries with retries.

- Change feed: after every committed `Firm.write` (activity, `/_sim/aiwyn/touch`, a page-shift fault...), the
  rows of `aiwyn_wip` / `aiwyn_invoices` / `aiwyn_payments` stamped with the write's `t` are the changes:
  CREATE when created at `t`, else UPDATE; the write's `aiwyn_deletions` tombstones are DELETEs (WIP and
  payments are hard-deleted; a cancelled invoice is an UPDATE). Nothing is read while no subscription
  is active.
- One delivery per change per matching active subscription, body `{"eventId": "evt_<uuid>",
  "subscriptionId", "entityType", "operation", "entityId", "occurredAt", "data": {"id", "updatedAt"}}`
  (`occurredAt` = `updatedAt` = the write's `t`, ISO `…Z`), headers `X-Aiwyn-Event-Id`, `X-Aiwyn-Timestamp`
  (epoch s of the attempt) and `X-Aiwyn-Signature: sha256=<hex HMAC-SHA256(secret bytes, "<ts>.<body>")>`,
  two comma-separated values while a rotated-out secret is still valid.
- The dispatcher runs on the simulator's event loop: a bounded queue, at most `Webhooks.concurrency`
  requests in flight (httpx), retries after `retry_delays_s × retry_scale` on anything but a 2xx within
  `timeout_s`, then drops. Faults per `Webhooks` (drop, duplicate, reorder, bad signature, stale timestamp).
  Counters `webhook_*` go to the vendor's stats; the last attempts to `log`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import random
import secrets
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx
import orjson

from simulators._activity import AIWYN_TABLES

if TYPE_CHECKING:
    from simulators._app import Vendor

ENTITY_TYPES = tuple(AIWYN_TABLES)
OPERATIONS = ("CREATE", "UPDATE", "DELETE")
COUNTERS = ("queued", "attempted", "succeeded", "failed", "dropped")
"""Stats keys `webhook_<name>`: deliveries queued (duplicates included), attempts, attempts answered 2xx,
attempts that failed (non-2xx, timeout, connection error), deliveries given up (never sent by the `drop`
fault, retries exhausted, queue full, subscription deactivated)."""
FAULTS = ("drop", "duplicate", "reorder", "bad_signature", "stale_timestamp")
"""The delivery faults of `Webhooks` (rates), drawn in this order."""
_CHANGES_SQL = " UNION ALL ".join(
    f"SELECT '{entity}' AS e, id, CASE WHEN created_at = ? THEN 'CREATE' ELSE 'UPDATE' END "
    f"FROM {table} WHERE updated_at = ?" for entity, table in AIWYN_TABLES.items()
) + " UNION ALL SELECT entity, id, 'DELETE' FROM aiwyn_deletions WHERE deleted_at = ? ORDER BY 1, 2"
"""The changes of the write at `t` (every `?` bound to `t`): (entity type, id, operation), in that order."""
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Change:
    """One changed Aiwyn record: entity type (`wip` | `invoice` | `payment`), operation, id, and the
    instant of the write (its `updatedAt`; for a DELETE, when it was deleted), UTC."""

    entity_type: str
    operation: str
    entity_id: int
    at: datetime


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def sign(key: bytes, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of `"<timestamp>.<body>"` with `key` (the secret's decoded bytes)."""
    return hmac.new(key, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


@dataclass
class Subscription:
    """A subscription: what it wants, where deliveries go, its signing key (32 random bytes) and, after a
    rotation, the previous key with the epoch second it stops signing at."""

    id: int
    name: str
    url: str
    entity_types: tuple[str, ...]
    operations: tuple[str, ...]
    active: bool = True
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    previous: tuple[bytes, float] | None = None

    def public(self) -> dict[str, Any]:
        """The API shape `{id, name, url, entityTypes, operations, active, createdAt}` (no secret)."""
        return {"id": self.id, "name": self.name, "url": self.url, "entityTypes": list(self.entity_types),
                "operations": list(self.operations), "active": self.active, "createdAt": _iso(self.created_at)}

    @property
    def secret(self) -> str:
        """The current secret as the API shows it: `whsec_<base64 of the 32 key bytes>`."""
        return "whsec_" + base64.b64encode(self.key).decode()

    def rotate(self, overlap_s: float) -> str:
        """A new key; the current one keeps signing for `overlap_s` seconds. Returns the new secret."""
        self.previous = (self.key, time.time() + overlap_s)
        self.key = secrets.token_bytes(32)
        return self.secret

    def signature(self, timestamp: int, body: bytes) -> str:
        """`X-Aiwyn-Signature`: `sha256=<hex>` with the current key, then the previous one while it is valid."""
        keys = [self.key]
        if self.previous is not None and time.time() < self.previous[1]:
            keys.append(self.previous[0])
        return ",".join("sha256=" + sign(key, timestamp, body) for key in keys)


@dataclass
class Delivery:
    """One event for one subscription: its body (fixed for every attempt), attempts made, first-attempt fault."""

    event_id: str
    subscription_id: int
    change: Change
    body: bytes
    attempts: int = 0
    first_fault: str | None = None


class WebhookDispatcher:
    """Subscriptions of one Aiwyn app and the delivery of its changes (see the module docstring).

    `start()` binds it to the running event loop (the API calls it when a subscription is created) and
    subscribes to the firm's commits; `close()` cancels pending deliveries and retries. `subscriptions`
    (id → `Subscription`) is edited by the API routes on the loop.
    """

    def __init__(self, vendor: Vendor) -> None:
        self.vendor = vendor
        self.settings = vendor.settings.webhooks
        self.subscriptions: dict[int, Subscription] = {}
        self.log: deque[dict[str, Any]] = deque(maxlen=self.settings.log_size)
        self._counts = vendor.stats.extra
        self._counts.update({f"webhook_{name}": 0 for name in COUNTERS})
        self._rng = random.Random(f"{self.settings.seed}:aiwyn-webhooks")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[Delivery] | None = None
        self._client: httpx.AsyncClient | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._workers: set[asyncio.Task[None]] = set()
        self._timers: set[asyncio.TimerHandle] = set()
        self._in_flight = 0

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> None:
        """Bind to the running loop (idempotent; a new loop replaces a closed one). Call on the loop."""
        loop = asyncio.get_running_loop()
        if self._loop is loop:
            return
        self._loop = loop
        self._queue = asyncio.Queue(self.settings.queue_size)
        self._client = httpx.AsyncClient(timeout=self.settings.timeout_s, limits=httpx.Limits(
            max_connections=self.settings.concurrency), headers={"User-Agent": "Aiwyn-Webhooks/1.0 (simulator)"})
        self._workers, self._timers, self._in_flight = set(), set(), 0
        if self._unsubscribe is None:
            self._unsubscribe = self.vendor.firm.on_commit(self._committed)

    async def close(self) -> None:
        """Stop: unsubscribe from the firm, cancel queued deliveries, retries and requests in flight."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for timer in self._timers:
            timer.cancel()
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
        self._loop = self._queue = self._client = None

    @property
    def pending(self) -> int:
        """Deliveries not finished yet: queued, in flight or waiting for a retry (or a reorder delay)."""
        return (self._queue.qsize() if self._queue else 0) + self._in_flight + len(self._timers)

    # -- changes -----------------------------------------------------------------------------------
    def _committed(self, t: datetime) -> None:
        """`Firm.on_commit` listener (writer thread, write lock held): hand the write's changes to the loop."""
        loop = self._loop
        if loop is None or loop.is_closed() or not any(s.active for s in list(self.subscriptions.values())):
            return
        rows = self.vendor.firm.query(_CHANGES_SQL, [t] * _CHANGES_SQL.count("?"))
        if rows:
            changes = [Change(entity, op, int(entity_id), t) for entity, entity_id, op in rows]
            try:
                loop.call_soon_threadsafe(self.publish, changes)
            except RuntimeError:  # the loop closed meanwhile
                pass

    def publish(self, changes: list[Change]) -> int:
        """Queue one delivery per change per matching active subscription (faults drawn here, in order).
        Call on the loop; nothing happens before `start()` or after `close()`. Returns the deliveries queued
        (duplicates included)."""
        if self._queue is None:
            return 0
        subs = [s for _, s in sorted(self.subscriptions.items()) if s.active]
        queued = 0
        for change in changes:
            for sub in subs:
                if change.entity_type in sub.entity_types and change.operation in sub.operations:
                    queued += self._deliver(sub, change)
        return queued

    def _draw(self) -> set[str]:
        rates = {name: getattr(self.settings, name) for name in FAULTS}
        hits = {name for name, rate in rates.items() if rate > 0 and self._rng.random() < rate}
        for name in hits:
            self.vendor.stats.faults[f"webhook_{name}"] += 1
        return hits

    def _deliver(self, sub: Subscription, change: Change) -> int:
        event_id = f"evt_{uuid.uuid4()}"
        at = _iso(change.at)
        body = orjson.dumps({"eventId": event_id, "subscriptionId": sub.id, "entityType": change.entity_type,
                             "operation": change.operation, "entityId": change.entity_id, "occurredAt": at,
                             "data": {"id": change.entity_id, "updatedAt": at}})
        faults = self._draw()
        first = next((f for f in ("bad_signature", "stale_timestamp") if f in faults), None)
        delivery = Delivery(event_id, sub.id, change, body, first_fault=first)
        if "drop" in faults:
            self._give_up(delivery, "fault: drop")
            return 0
        copies = [delivery, Delivery(event_id, sub.id, change, body)] if "duplicate" in faults else [delivery]
        for copy in copies:
            self._count("queued")
            if "reorder" in faults and copy is delivery:
                self._later(self.settings.reorder_delay_s * self.settings.retry_scale, copy)
            else:
                self._put(copy)
        return len(copies)

    # -- queue, workers, retries -------------------------------------------------------------------
    def _count(self, name: str) -> None:
        self._counts[f"webhook_{name}"] += 1

    def _put(self, delivery: Delivery) -> None:
        assert self._queue is not None and self._loop is not None
        try:
            self._queue.put_nowait(delivery)
        except asyncio.QueueFull:
            self._give_up(delivery, "queue full")
            return
        if sum(not task.done() for task in self._workers) < self.settings.concurrency:
            task = self._loop.create_task(self._work())
            self._workers.add(task)
            task.add_done_callback(self._workers.discard)

    def _later(self, delay_s: float, delivery: Delivery) -> None:
        assert self._loop is not None
        handle: asyncio.TimerHandle

        def fire() -> None:
            self._timers.discard(handle)
            self._put(delivery)

        handle = self._loop.call_later(delay_s, fire)
        self._timers.add(handle)

    async def _work(self) -> None:
        """A worker: sends queued deliveries until the queue is empty, then ends."""
        assert self._queue is not None
        while not self._queue.empty():
            delivery = self._queue.get_nowait()
            self._in_flight += 1
            try:
                await self._attempt(delivery)
            except Exception:  # never lose the worker to one bad delivery
                _log.exception("webhook delivery %s failed", delivery.event_id)
            finally:
                self._in_flight -= 1

    async def _attempt(self, delivery: Delivery) -> None:
        """One attempt; on failure the next retry is scheduled, or the delivery is dropped after the last."""
        sub = self.subscriptions.get(delivery.subscription_id)
        if sub is None or not sub.active:
            self._give_up(delivery, "subscription inactive")
            return
        fault = delivery.first_fault if delivery.attempts == 0 else None
        delivery.attempts += 1
        ts = int(time.time()) - (self.settings.stale_by_s if fault == "stale_timestamp" else 0)
        signature = ("sha256=" + sign(secrets.token_bytes(32), ts, delivery.body) if fault == "bad_signature"
                     else sub.signature(ts, delivery.body))
        headers = {"Content-Type": "application/json", "X-Aiwyn-Event-Id": delivery.event_id,
                   "X-Aiwyn-Timestamp": str(ts), "X-Aiwyn-Signature": signature}
        self._count("attempted")
        status: int | None = None
        error: str | None = None
        assert self._client is not None
        try:
            response = await self._client.post(sub.url, content=delivery.body, headers=headers)
            status = response.status_code
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        ok = status is not None and 200 <= status < 300
        self._count("succeeded" if ok else "failed")
        self._record(delivery, "delivered" if ok else "failed", status=status, error=error, fault=fault)
        if ok:
            return
        delays = self.settings.retry_delays_s
        if delivery.attempts > len(delays):
            self._give_up(delivery, "retries exhausted")
        else:
            self._later(delays[delivery.attempts - 1] * self.settings.retry_scale, delivery)

    def _give_up(self, delivery: Delivery, reason: str) -> None:
        self._count("dropped")
        self._record(delivery, "dropped", error=reason)

    def _record(self, delivery: Delivery, outcome: str, *, status: int | None = None, error: str | None = None,
                fault: str | None = None) -> None:
        change = delivery.change
        self.log.append({"eventId": delivery.event_id, "subscriptionId": delivery.subscription_id,
                         "entityType": change.entity_type, "operation": change.operation,
                         "entityId": change.entity_id, "attempt": delivery.attempts, "outcome": outcome,
                         "status": status, "error": error, "fault": fault, "at": time.time()})
