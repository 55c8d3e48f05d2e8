"""Aiwyn event subscriptions API and its admin routes (CONTRACT.md "Aiwyn event subscriptions"; seed 002).

Under `/api/v1/event-subscriptions`, Bearer JWT as for reads, envelope `{"data", "error", "meta": {"success",
"message", "timestamp", "version"}}` (errors: `data` null, `error` `{"code", "message", "field"?}`):

- `GET /catalog` → `{"entityTypes": [{"entityType": "wip" | "invoice" | "payment", "operations": ["CREATE",
  "UPDATE", "DELETE"]}]}`;
- `POST /` `{"name", "url", "entityTypes", "operations", "active"?}` → 201 `{id, name, url, entityTypes,
  operations, active, createdAt}`; `GET /` → every subscription (inactive ones too), by id;
- `PUT /{id}` updates the fields given (`active: false` deactivates; `id` and `createdAt` are read-only and
  ignored) → 200 the subscription; `DELETE /{id}` deactivates → 204;
- `GET /{id}/secret` → `{"secret": "whsec_<base64 of 32 bytes>"}`; `POST /{id}/secret/rotate` → the new one
  (the old one keeps signing for `Webhooks.rotation_overlap_s`, 24 h).

Pinned where the contract is silent: ids are integers from 1; `name` (≤ 200 characters), `url` (http or
https), `entityTypes` and `operations` (non-empty, from the catalog) are required on create; an unknown
field → 400 `VALIDATION_ERROR` naming it; an unknown id → 404 `SUBSCRIPTION_NOT_FOUND`; a bad token → 401
`UNAUTHORIZED`, in the envelope.

Admin (no auth, not counted): `POST /_sim/aiwyn/touch {"entity": "wip" | "invoice" | "payment", "count": n,
"delete": false}` changes n records in one `Firm.write` (`_activity.touch_aiwyn`) → `{"entity", "operation",
"ids", "updatedAt": <the write's t, ISO Z>, "committedAt": <epoch s, wall clock, after the commit>}`;
`GET /_sim/aiwyn/deliveries?limit=100` → `{"pending", "counts", "deliveries": [the last attempts, oldest
first: eventId, subscriptionId, entityType, operation, entityId, attempt, outcome delivered | failed |
dropped, status, error, fault, at]}`; `POST /_sim/aiwyn/webhook-faults {"drop": 0.1, ...}` sets delivery fault
rates (`Webhooks` fields `drop`, `duplicate`, `reorder`, `bad_signature`, `stale_timestamp`, each in [0, 1]) from
the next change on → `{name: rate}` of all five.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from itertools import islice
from typing import Any
from urllib.parse import urlsplit

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from simulators._activity import touch_aiwyn
from simulators._app import ApiError, Vendor, json_response, read_json
from simulators._webhooks import COUNTERS, ENTITY_TYPES, FAULTS, OPERATIONS, Subscription, WebhookDispatcher

PREFIX = "/api/v1/event-subscriptions"
_READ_ONLY = ("id", "createdAt")
Handler = Callable[[Request], Awaitable[Response]]


def _meta(success: bool, message: str) -> dict[str, Any]:
    return {"success": success, "message": message,
            "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "version": "1.0"}


def envelope(data: Any, status: int = 200, message: str = "OK") -> Response:
    """A `{data, error: null, meta}` answer (204: no body, seed 002's "No content returned")."""
    if status == 204:
        return Response(status_code=204)
    return Response(orjson.dumps({"data": data, "error": None, "meta": _meta(True, message)}), status,
                    media_type="application/json")


def _error(exc: ApiError, field: str | None) -> Response:
    error: dict[str, Any] = {"code": exc.code, "message": exc.message}
    if field is not None:
        error["field"] = field
    return Response(orjson.dumps({"data": None, "error": error, "meta": _meta(False, exc.message)}), exc.status,
                    exc.headers, media_type="application/json")


class Invalid(ApiError):
    """400 `VALIDATION_ERROR` about one request field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(400, "VALIDATION_ERROR", message)
        self.field = field


def _choices(body: dict[str, Any], key: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
    value = body[key]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v in allowed for v in value):
        raise Invalid(key, f"{key} must be a non-empty list of {', '.join(allowed)}")
    return tuple(dict.fromkeys(value))


def validated(body: dict[str, Any], partial: bool) -> dict[str, Any]:
    """The subscription fields of a create (`partial` false: all but `active` required) or update body, as
    `Subscription` attributes. Raises `Invalid` naming the first bad, missing or unknown field."""
    fields = {"name": "name", "url": "url", "entityTypes": "entity_types", "operations": "operations",
              "active": "active"}
    for key in body:
        if key not in fields and key not in _READ_ONLY:
            raise Invalid(key, f"unknown field {key!r}")
    if not partial:
        for key in ("name", "url", "entityTypes", "operations"):
            if key not in body:
                raise Invalid(key, f"{key} is required")
    out: dict[str, Any] = {}
    if "name" in body:
        name = body["name"]
        if not isinstance(name, str) or not name.strip() or len(name) > 200:
            raise Invalid("name", "name must be a non-empty string of at most 200 characters")
        out["name"] = name
    if "url" in body:
        url = body["url"]
        parts = urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise Invalid("url", "url must be an absolute http(s) URL")
        out["url"] = url
    if "entityTypes" in body:
        out["entity_types"] = _choices(body, "entityTypes", ENTITY_TYPES)
    if "operations" in body:
        out["operations"] = _choices(body, "operations", OPERATIONS)
    if "active" in body:
        if not isinstance(body["active"], bool):
            raise Invalid("active", "active must be a boolean")
        out["active"] = body["active"]
    return out


def event_routes(vendor: Vendor, authorize: Callable[[Request], None]) -> tuple[list[Route], Callable[..., Any]]:
    """The subscription API and admin routes of the Aiwyn app over `vendor`, and the app lifespan that stops
    the dispatcher on shutdown. `authorize(request)` raises `ApiError` 401 for a bad bearer token."""
    hooks = WebhookDispatcher(vendor)

    def api(handler: Handler) -> Handler:
        async def call(request: Request) -> Response:
            try:
                authorize(request)
                return await handler(request)
            except ApiError as exc:
                return _error(exc, getattr(exc, "field", None))
        return call

    def find(request: Request) -> Subscription:
        sub = hooks.subscriptions.get(request.path_params["id"])
        if sub is None:
            raise ApiError(404, "SUBSCRIPTION_NOT_FOUND", f"no event subscription {request.path_params['id']}")
        return sub

    async def catalog(request: Request) -> Response:
        return envelope({"entityTypes": [{"entityType": e, "operations": list(OPERATIONS)} for e in ENTITY_TYPES]})

    async def create(request: Request) -> Response:
        fields = validated(await read_json(request), partial=False)
        hooks.start()
        sub = Subscription(max(hooks.subscriptions, default=0) + 1, **fields)
        hooks.subscriptions[sub.id] = sub
        return envelope(sub.public(), 201, "Subscription created")

    async def listing(request: Request) -> Response:
        return envelope([s.public() for _, s in sorted(hooks.subscriptions.items())])

    async def update(request: Request) -> Response:
        sub = find(request)
        for name, value in validated(await read_json(request), partial=True).items():
            setattr(sub, name, value)
        return envelope(sub.public(), message="Subscription updated")

    async def deactivate(request: Request) -> Response:
        find(request).active = False
        return envelope(None, 204)

    async def secret(request: Request) -> Response:
        return envelope({"secret": find(request).secret})

    async def rotate(request: Request) -> Response:
        sub = find(request)
        return envelope({"secret": sub.rotate(vendor.settings.webhooks.rotation_overlap_s)}, message="Secret rotated")

    async def touch(request: Request) -> Response:
        body = await read_json(request)
        entity, count, delete = body.get("entity"), body.get("count", 1), body.get("delete", False)
        if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= 100_000:
            raise ApiError(400, "BAD_REQUEST", "count must be an integer in [1 .. 100000]")
        if entity not in ENTITY_TYPES or not isinstance(delete, bool):
            raise ApiError(400, "BAD_REQUEST", f"entity must be one of {', '.join(ENTITY_TYPES)}; delete a boolean")

        def change() -> tuple[list[int], datetime, float]:
            ids, t = vendor.firm.write(lambda con, t: (touch_aiwyn(con, t, entity, count, delete), t))
            return ids, t, time.time()

        ids, t, committed = await vendor.db(change)
        operation = "DELETE" if delete and entity != "invoice" else "UPDATE"
        return json_response({"entity": entity, "operation": operation, "ids": ids,
                              "updatedAt": t.strftime("%Y-%m-%dT%H:%M:%SZ"), "committedAt": committed})

    async def deliveries(request: Request) -> Response:
        limit = request.query_params.get("limit", "100")
        if not limit.isdigit():
            raise ApiError(400, "BAD_REQUEST", "limit must be a non-negative integer")
        last = list(islice(reversed(hooks.log), int(limit)))[::-1]
        counts = {name: vendor.stats.extra[f"webhook_{name}"] for name in COUNTERS}
        return json_response({"pending": hooks.pending, "counts": counts, "deliveries": last})

    async def faults(request: Request) -> Response:
        body = await read_json(request)
        for name, rate in body.items():
            if name not in FAULTS or isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1:
                raise ApiError(400, "BAD_REQUEST", f"give rates in [0, 1] of {', '.join(FAULTS)}; not {name!r}")
        hooks.settings = dataclasses.replace(hooks.settings, **body)
        return json_response({name: getattr(hooks.settings, name) for name in FAULTS})

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await hooks.close()

    routes = [
        Route(PREFIX + "/catalog", api(catalog), methods=["GET"]),
        *(Route(PREFIX + slash, api(create), methods=["POST"]) for slash in ("", "/")),
        *(Route(PREFIX + slash, api(listing), methods=["GET"]) for slash in ("", "/")),
        Route(PREFIX + "/{id:int}", api(update), methods=["PUT"]),
        Route(PREFIX + "/{id:int}", api(deactivate), methods=["DELETE"]),
        Route(PREFIX + "/{id:int}/secret", api(secret), methods=["GET"]),
        Route(PREFIX + "/{id:int}/secret/rotate", api(rotate), methods=["POST"]),
        Route("/_sim/aiwyn/touch", touch, methods=["POST"]),
        Route("/_sim/aiwyn/deliveries", deliveries, methods=["GET"]),
        Route("/_sim/aiwyn/webhook-faults", faults, methods=["POST"]),
    ]
    return routes, lifespan
