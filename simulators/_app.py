"""Shared Starlette pieces of the three simulators: JSON and error responses, request stats, the
latency model, access-token bookkeeping, the `/_sim/` admin routes and the app factory.

Request pipeline (outermost first): `StatsMiddleware` (counts what clients see) → `FaultMiddleware`
(the fault-injection seam, `_faults.py`) → vendor middleware (Aimsio's limiter) → `OptionalEndpointsMiddleware`
→ `RouteClockMiddleware` (starts the latency clock) → routes.
Admin routes (`/_sim/...`) bypass stats, faults and limits and need no auth:

- `POST /_sim/activity` `{"fraction": 0.02, "seed": null}` → `Firm.activity` counts (whole firm);
- `POST /_sim/expire-tokens` → `{"expired": n}`: every access token of this vendor now gets 401;
- `GET /_sim/stats` → this vendor's `Stats.snapshot()`; `GET /_sim/info` → seed, size and clock;
- `POST /_sim/endpoints` `{"entity": "job_orders", "state": "on" | "off" | "forbidden"}` → every optional
  endpoint's state: `off` answers 404, `forbidden` 403 (CONTRACT.md "Optional endpoints").
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Lifespan, Message, Receive, Scope, Send

from simulators._cache import MISS, DocCache
from simulators._faults import FaultMiddleware, FaultPlan
from simulators.data import Firm
from simulators.hasura import HasuraError
from simulators.settings import SimSettings

ErrorBody = Callable[[int, str, str], dict[str, Any]]
"""(status, code, message) → error JSON of a vendor."""

_ROUTE_STARTED: ContextVar[float] = ContextVar("route_started")
"""When the route began on the current request (`time.perf_counter()`), set by `RouteClockMiddleware`."""


def envelope_error(status: int, code: str, message: str) -> dict[str, Any]:
    """CONTRACT.md's Aiwyn error body (also used for Aimsio): `{"error": {"code", "message"}}`."""
    return {"error": {"code": code, "message": message}}


class ApiError(Exception):
    """An error answer: HTTP status, machine code, message and extra headers."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """orjson-encoded JSON response (payload without Decimals; pages rendered in SQL use `raw_json`)."""
    return Response(orjson.dumps(payload), status, headers, media_type="application/json")


def raw_json(body: str | bytes, status: int = 200) -> Response:
    """A response around JSON already rendered (by DuckDB)."""
    return Response(body.encode() if isinstance(body, str) else body, status, media_type="application/json")


async def read_json(request: Request) -> dict[str, Any]:
    """The request's JSON object body ({} when empty); anything else → 400."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ApiError(400, "BAD_REQUEST", "body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "BAD_REQUEST", "body must be a JSON object")
    return body


def bearer_token(request: Request) -> str | None:
    """The token of an `Authorization: Bearer <token>` header (scheme case-insensitive)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def basic_credentials(request: Request) -> tuple[str, str] | None:
    """(user, password) of an `Authorization: Basic …` header, or None."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


def same(given: str, expected: str) -> bool:
    """Constant-time string comparison for credentials."""
    return hmac.compare_digest(given.encode(), expected.encode())


class TokenStore:
    """Issued access tokens and their expiry (epoch s); `revoke_all` models tokens expiring early."""

    def __init__(self) -> None:
        self._expiry: dict[str, float] = {}

    def add(self, token: str, ttl_s: float) -> float:
        """Register a token valid for `ttl_s` seconds; returns its expiry."""
        now = time.time()
        if len(self._expiry) > 10_000:
            self._expiry = {t: e for t, e in self._expiry.items() if e > now}
        self._expiry[token] = now + ttl_s
        return self._expiry[token]

    def valid(self, token: str | None) -> bool:
        """Known and not expired."""
        expiry = self._expiry.get(token or "")
        return expiry is not None and time.time() < expiry

    def revoke(self, token: str) -> None:
        """Invalidate one token."""
        self._expiry.pop(token, None)

    def revoke_all(self) -> int:
        """Invalidate every token; returns how many there were."""
        n = len(self._expiry)
        self._expiry.clear()
        return n


@dataclass
class Stats:
    """Per-vendor request statistics (admin routes excluded).

    `peak_in_flight`: most requests open at once (queued ones included); `peak_per_s`: most requests
    arriving within any 1-second window; `by_path`: answers per `"<METHOD> <route template>"` (e.g.
    `"POST /api/v1/records"`, `"GET /gql/v1/wip/{id:int}"`; the raw path when no route matched), so a test
    can prove a call was never sent; `extra`: vendor counters (Aimsio's limiter).
    """

    requests: int = 0
    by_status: Counter[int] = field(default_factory=Counter)
    by_path: Counter[str] = field(default_factory=Counter)
    in_flight: int = 0
    peak_in_flight: int = 0
    peak_per_s: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    extra: dict[str, int | float] = field(default_factory=dict)
    _arrivals: deque[float] = field(default_factory=deque)

    def arrive(self) -> None:
        """Count a request arriving now."""
        now = time.monotonic()
        self.requests += 1
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        while self._arrivals and self._arrivals[0] <= now - 1.0:
            self._arrivals.popleft()
        self._arrivals.append(now)
        self.peak_per_s = max(self.peak_per_s, len(self._arrivals))

    def snapshot(self) -> dict[str, Any]:
        """A JSON-able copy: requests, by_status, throttled (429s), peaks, faults, extra."""
        return {"requests": self.requests, "by_status": {str(k): v for k, v in sorted(self.by_status.items())},
                "by_path": dict(sorted(self.by_path.items())),
                "throttled": self.by_status.get(429, 0), "in_flight": self.in_flight,
                "peak_in_flight": self.peak_in_flight, "peak_per_s": self.peak_per_s,
                "faults": dict(self.faults), **self.extra}


ENDPOINT_STATES = ("on", "off", "forbidden")


@dataclass
class Vendor:
    """Everything one simulator app shares between its routes and middlewares."""

    name: str
    firm: Firm
    settings: SimSettings
    error_body: ErrorBody = envelope_error
    stats: Stats = field(default_factory=Stats)
    tokens: TokenStore = field(default_factory=TokenStore)
    faults: FaultPlan = field(init=False)
    optional: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Optional entity → the path prefixes of its endpoints (CONTRACT.md "Optional endpoints")."""
    endpoint_states: dict[str, str] = field(default_factory=dict)
    """Optional entity → `on`, `off` (404) or `forbidden` (403); see :meth:`set_endpoint`."""

    def __post_init__(self) -> None:
        self.faults = FaultPlan(self.settings.faults, self.name, self.stats.faults)

    def set_endpoint(self, entity: str, state: str) -> None:
        """Switch optional entity `entity`'s endpoints `on`, `off` (404) or `forbidden` (403).

        Raises:
            ValueError: an entity that is not optional here, or an unknown state.
        """
        if entity not in self.optional:
            known = ", ".join(sorted(self.optional)) or "none"
            raise ValueError(f"{self.name}: {entity!r} is not an optional endpoint (optional: {known})")
        if state not in ENDPOINT_STATES:
            raise ValueError(f"endpoint state must be one of {', '.join(ENDPOINT_STATES)}; got {state!r}")
        self.endpoint_states[entity] = state

    def switched_off(self, path: str) -> str | None:
        """The state (`off` / `forbidden`) of the optional endpoint serving `path`, None when it answers."""
        for entity, prefixes in self.optional.items():
            state = self.endpoint_states.get(entity, "on")
            if state != "on" and any(path == p or path.startswith(p + "/") for p in prefixes):
                return state
        return None

    def error(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
        """This vendor's error response."""
        return json_response(self.error_body(status, code, message), status, headers)

    async def delay(self, rows: int) -> None:
        """The latency model: the answer leaves `latency_base_ms + latency_per_row_ms × rows` after the route
        began on the request (`RouteClockMiddleware`), or at once when the route's own work (queries, a write
        and its wait for the write lock) took longer; slept on the event loop. A real API's latency includes
        its own work, so the simulator's is not charged on top of the model. Called once, as a route answers."""
        ms = self.settings.latency_base_ms + self.settings.latency_per_row_ms * rows
        left = ms / 1000 - (time.perf_counter() - _ROUTE_STARTED.get())
        if left > 0:
            await asyncio.sleep(left)

    async def db(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run a (blocking) DuckDB call in the thread pool, so latency sleeps of requests overlap."""
        return await run_in_threadpool(fn, *args)

    async def document(self, cache: DocCache, key: str, what: str) -> Response:
        """A detail answer served from `cache` (rendered in the thread pool on a miss), with the latency of
        one row; 404 in the vendor's error shape when the record `what key` is gone."""
        doc = cache.peek(key)
        if doc is MISS:
            doc = await self.db(cache.load, key)
        if doc is None:
            raise ApiError(404, "NOT_FOUND", f"{what} {key} not found")
        await self.delay(1)
        return raw_json(doc)


class StatsMiddleware:
    """Counts requests, statuses, answers per route, peak concurrency and peak arrivals per second (non-admin
    paths)."""

    def __init__(self, app: ASGIApp, vendor: Vendor) -> None:
        self.app, self.vendor = app, vendor

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_sim/"):
            await self.app(scope, receive, send)
            return
        stats = self.vendor.stats
        stats.arrive()

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                stats.by_status[message["status"]] += 1
                route = getattr(scope.get("route"), "path", None)  # set by the router on the shared scope
                path = scope.get("root_path", "") + route if route else scope["path"]
                stats.by_path[f"{scope['method']} {path}"] += 1
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        finally:
            stats.in_flight -= 1


class OptionalEndpointsMiddleware:
    """Answers 404 for an optional endpoint switched `off` and 403 for a `forbidden` one (a user without the
    permission), in the vendor's error shape, after the vendor's limits and before auth and the routes
    (`Vendor.switched_off`)."""

    def __init__(self, app: ASGIApp, vendor: Vendor) -> None:
        self.app, self.vendor = app, vendor

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = self.vendor.switched_off(scope["path"]) if scope["type"] == "http" else None
        if state is None:
            await self.app(scope, receive, send)
            return
        status, code = (404, "NOT_FOUND") if state == "off" else (403, "FORBIDDEN")
        message = "no such endpoint" if state == "off" else "the API user lacks the permission for this endpoint"
        await self.vendor.error(status, code, message)(scope, receive, send)


class RouteClockMiddleware:
    """Starts the latency clock of a request as its route begins, after the vendor's limits (`Vendor.delay`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            _ROUTE_STARTED.set(time.perf_counter())
        await self.app(scope, receive, send)


def _admin_routes(vendor: Vendor) -> list[Route]:
    async def activity(request: Request) -> Response:
        body = await read_json(request)
        fraction, seed = body.get("fraction", 0.02), body.get("seed")
        if not isinstance(fraction, int | float) or isinstance(fraction, bool) or not 0 < fraction <= 1:
            raise ApiError(400, "BAD_REQUEST", "fraction must be a number in (0, 1]")
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise ApiError(400, "BAD_REQUEST", "seed must be an integer or null")
        return json_response(await vendor.db(vendor.firm.activity, float(fraction), seed))

    async def expire(request: Request) -> Response:
        return json_response({"expired": vendor.tokens.revoke_all()})

    async def stats(request: Request) -> Response:
        return json_response(vendor.stats.snapshot())

    async def info(request: Request) -> Response:
        return json_response({"vendor": vendor.name, **vendor.firm.describe()})

    async def endpoints(request: Request) -> Response:
        body = await read_json(request)
        try:
            vendor.set_endpoint(str(body.get("entity")), str(body.get("state")))
        except ValueError as exc:
            raise ApiError(400, "BAD_REQUEST", str(exc)) from None
        return json_response({e: vendor.endpoint_states.get(e, "on") for e in vendor.optional})

    return [Route("/_sim/activity", activity, methods=["POST"]),
            Route("/_sim/endpoints", endpoints, methods=["POST"]),
            Route("/_sim/expire-tokens", expire, methods=["POST"]),
            Route("/_sim/stats", stats, methods=["GET"]), Route("/_sim/info", info, methods=["GET"])]


def build_app(vendor: Vendor, routes: Sequence[BaseRoute], middleware: Sequence[Middleware] = (),
              optional: dict[str, tuple[str, ...]] | None = None,
              lifespan: Lifespan[Starlette] | None = None) -> Starlette:
    """A vendor app: its routes plus the admin routes, error handlers and the middleware stack; `lifespan`
    (Starlette's) runs at server start and stop (the Aiwyn webhook dispatcher stops there).

    `optional`: optional entity → the path prefixes of its endpoints, which can be switched off or forbidden
    (initially from `SimSettings.endpoints_off` / `endpoints_forbidden`, names `<vendor>.<entity>`).
    """
    vendor.optional = dict(optional or {})
    for entity in vendor.optional:
        name = f"{vendor.name}.{entity}"
        if name in vendor.settings.endpoints_forbidden:
            vendor.set_endpoint(entity, "forbidden")
        elif name in vendor.settings.endpoints_off:
            vendor.set_endpoint(entity, "off")

    async def api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return vendor.error(exc.status, exc.code, exc.message, exc.headers)

    async def bad_query(request: Request, exc: Exception) -> Response:
        return vendor.error(400, "BAD_REQUEST", str(exc))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(exc.status_code, "BAD_REQUEST")
        return vendor.error(exc.status_code, code, str(exc.detail))

    async def crash(request: Request, exc: Exception) -> Response:
        return vendor.error(500, "INTERNAL_ERROR", f"{type(exc).__name__}: {exc}")

    app = Starlette(
        routes=[*routes, *_admin_routes(vendor)],
        middleware=[Middleware(StatsMiddleware, vendor=vendor), Middleware(FaultMiddleware, vendor=vendor),
                    *middleware, Middleware(OptionalEndpointsMiddleware, vendor=vendor),
                    Middleware(RouteClockMiddleware)],
        exception_handlers={ApiError: api_error, HasuraError: bad_query, HTTPException: http_error,
                            Exception: crash},
        lifespan=lifespan,
    )
    app.state.vendor = vendor
    return app
