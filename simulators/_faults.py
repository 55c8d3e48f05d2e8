"""Fault injection: the seam between the stats middleware and a vendor's routes (see `Faults`).

Faults are drawn per request from a `random.Random` seeded by `Faults.seed` and the vendor name, so a
sequential client meets the same faults in the same places on every run. Every injected fault is
counted in the vendor's stats (`faults`).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from simulators.settings import Faults

if TYPE_CHECKING:
    from simulators._app import Vendor

_EXCLUSIVE = ("error_5xx", "throttle_429", "drop_connection", "truncate_body", "expire_token")


class SimulatedDisconnect(Exception):
    """Raised after a response head to make uvicorn close the connection (a dropped connection)."""


class _QuietDisconnects(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, SimulatedDisconnect)


logging.getLogger("uvicorn.error").addFilter(_QuietDisconnects())


class FaultPlan:
    """Seeded per-request fault draws for one vendor."""

    def __init__(self, faults: Faults, vendor: str, counts: Counter[str]) -> None:
        self.faults = faults
        self.counts = counts
        self._rng = random.Random(f"{faults.seed}:{vendor}")

    def draw(self) -> tuple[str | None, bool]:
        """(exclusive fault kind or None, slow?) for the next request."""
        kind, slow = None, False
        if self.faults.slow_response > 0 and self._rng.random() < self.faults.slow_response:
            slow = True
        for name in _EXCLUSIVE:
            rate = getattr(self.faults, name)
            if rate > 0 and self._rng.random() < rate and kind is None:
                kind = name
        return kind, slow

    def page_shift(self) -> bool:
        """Whether the list request being served should shift a row (counted when true)."""
        hit = self.faults.page_shift > 0 and self._rng.random() < self.faults.page_shift
        if hit:
            self.counts["page_shift"] += 1
        return hit

    def choice(self, options: tuple[int, ...]) -> int:
        """A seeded pick (e.g. which 5xx status)."""
        return options[self._rng.randrange(len(options))]


class FaultMiddleware:
    """Applies `Faults` to every non-admin request (pure ASGI, so it can cut bodies and connections)."""

    def __init__(self, app: ASGIApp, vendor: Vendor) -> None:
        self.app, self.vendor = app, vendor

    async def _send_json(self, send: Send, status: int, payload: dict[str, object],
                         headers: dict[str, str] | None = None) -> None:
        head = [(b"content-type", b"application/json")]
        head += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
        await send_response(send, status, orjson.dumps(payload), head)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        plan = self.vendor.faults
        if scope["type"] != "http" or scope["path"].startswith("/_sim/") or not plan.faults.any:
            await self.app(scope, receive, send)
            return
        kind, slow = plan.draw()
        if slow:
            plan.counts["slow_response"] += 1
            await asyncio.sleep(plan.faults.slow_s)
        error = self.vendor.error_body
        if kind in ("error_5xx", "throttle_429", "drop_connection", "truncate_body"):
            plan.counts[kind] += 1  # before answering: a client may read stats right after
        if kind == "error_5xx":
            status = plan.choice((500, 502, 503))
            await self._send_json(send, status, error(status, "INTERNAL_ERROR" if status == 500 else
                                                      "SERVICE_UNAVAILABLE", "simulated server error"))
        elif kind == "throttle_429":
            retry = str(plan.faults.retry_after_s)
            await self._send_json(send, 429, error(429, "RATE_LIMITED", "simulated throttling"),
                                  {"Retry-After": retry})
        elif kind == "drop_connection":
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")]})
            raise SimulatedDisconnect("simulated dropped connection")
        elif kind == "truncate_body":
            await self._truncated(scope, receive, send)
        else:
            if kind == "expire_token" and any(k == b"authorization" and v[:7].lower() == b"bearer "
                                              for k, v in scope["headers"]):
                self.vendor.tokens.revoke_all()
                plan.counts[kind] += 1
            await self.app(scope, receive, send)

    async def _truncated(self, scope: Scope, receive: Receive, send: Send) -> None:
        head, body = await capture_response(self.app, scope, receive)
        await send_response(send, head.get("status", 200), body[: len(body) // 2], head.get("headers", []))


async def capture_response(app: ASGIApp, scope: Scope, receive: Receive) -> tuple[dict[str, Any], bytes]:
    """Run `app` on the request and keep its answer instead of sending it: the `http.response.start`
    message (`{}` when the app sent none, e.g. it dropped the connection) and the whole body."""
    head: dict[str, Any] = {}
    chunks: list[bytes] = []

    async def keep(message: Message) -> None:
        if message["type"] == "http.response.start":
            head.update(message)
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, keep)
    return head, b"".join(chunks)


async def send_response(send: Send, status: int, body: bytes, headers: Sequence[tuple[bytes, bytes]]) -> None:
    """Send an answer with `headers`, their Content-Length replaced by the length of `body`."""
    kept = [(k, v) for k, v in headers if k.lower() != b"content-length"]
    kept.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": kept})
    await send({"type": "http.response.body", "body": body})
