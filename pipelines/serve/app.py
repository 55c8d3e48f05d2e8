"""The HTTP side of ``arwip serve`` (Starlette): webhooks in, health and metrics out.

- ``POST /webhooks/<source>`` for every source with webhooks: the body is read (at most 1 MiB, else 413),
  verified and parsed by the vendor's receiver (a bad or stale signature: 401; malformed JSON or a missing
  field: 400), stored in the inbox (committed to disk) and only then answered ``200 {"eventId",
  "duplicate"}`` — a redelivery of a stored event too. Nothing is stored from a refused delivery. Without a
  configured secret the route answers 503 (``not_configured``), so the vendor retries later.
- ``GET /healthz``: 200 while every source synced within twice its ``poll_interval``, else 503; JSON with the
  reason and, per source, the last success and error.
- ``GET /metrics``: Prometheus text format (:mod:`pipelines.serve.metrics`).

Neither answer contains a secret.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from pipelines.inbox import Inbox
from pipelines.serve.coordinator import Coordinator
from pipelines.serve.metrics import ServeMetrics
from sources._webhooks import Receiver, WebhookRejected, read_body

log = logging.getLogger("arwip.serve")


def create_app(receivers: Mapping[str, Receiver | None], inbox: Inbox, coordinator: Coordinator,
               metrics: ServeMetrics, on_stop: Callable[[], None] | None = None) -> Starlette:
    """The service's app. ``receivers``: per webhook source, its receiver (None: no secret configured).
    The coordinator starts with the app (lifespan) and ``on_stop`` runs when the app shuts down."""

    def webhook(source: str, receiver: Receiver | None) -> Callable[[Request], Any]:
        async def receive(request: Request) -> Response:
            try:
                if receiver is None:
                    raise WebhookRejected("not_configured", f"no webhook secret is configured for {source}", 503)
                body = await read_body(request.stream(), request.headers.get("content-length"))
                event = receiver(request.headers, body)
                stored = await run_in_threadpool(inbox.store, event)
            except WebhookRejected as exc:
                metrics.rejected.labels(source, exc.reason).inc()
                log.warning("webhook %s refused (%s, HTTP %d): %s", source, exc.reason, exc.status, exc)
                return JSONResponse({"error": exc.reason, "message": str(exc)}, exc.status)
            if stored:
                metrics.received.labels(source).inc()
                coordinator.notify()
            else:
                metrics.deduplicated.labels(source).inc()
            return JSONResponse({"eventId": event.event_id, "duplicate": not stored})

        return receive

    async def healthz(request: Request) -> Response:
        ok, details = coordinator.health()
        return JSONResponse(details, 200 if ok else 503)

    async def metrics_page(request: Request) -> Response:
        body, content_type = metrics.exposition()
        return Response(body, headers={"Content-Type": content_type})

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        coordinator.start()
        yield
        if on_stop is not None:
            await run_in_threadpool(on_stop)

    routes = [Route("/healthz", healthz, methods=["GET"]), Route("/metrics", metrics_page, methods=["GET"])]
    routes += [Route(f"/webhooks/{source}", webhook(source, receiver), methods=["POST"])
               for source, receiver in receivers.items()]
    return Starlette(routes=routes, lifespan=lifespan)
