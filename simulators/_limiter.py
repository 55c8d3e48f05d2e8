"""Aimsio's documented throughput limits (aimsio.md §3, CONTRACT.md "Aimsio"), enforced.

At most `rate` requests may start in any 1-second window and at most `max_in_flight` may run at once;
the excess waits in a FIFO queue. A request whose predicted wait (from the window alone) exceeds
`max_wait_s` is answered 429 at once; one still queued after `max_wait_s` (held back by in-flight
requests) is answered 429 then. `Retry-After` is the predicted wait rounded up (at least 1 s).
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Receive, Scope, Send

if TYPE_CHECKING:
    from simulators._app import Vendor


class Limiter:
    """Sliding 1-second window + in-flight cap + bounded FIFO wait (one event loop)."""

    def __init__(self, rate: int, max_in_flight: int, max_wait_s: float, extra: dict[str, int | float]) -> None:
        self.rate, self.max_in_flight, self.max_wait_s = rate, max_in_flight, max_wait_s
        self._starts: deque[float] = deque()
        self._waiting: deque[object] = deque()
        self._in_flight = 0
        self._cond: asyncio.Condition | None = None
        self.extra = extra
        extra.update(admitted=0, limited=0, admitted_peak_in_flight=0, admitted_peak_per_s=0, queued_peak=0,
                     max_wait_observed_s=0.0)

    def _prune(self, now: float) -> None:
        while self._starts and self._starts[0] <= now - 1.0:
            self._starts.popleft()

    def _predicted_wait(self, position: int, now: float) -> float:
        starts = list(self._starts)
        start = now
        for _ in range(position + 1):
            k = len(starts) - self.rate
            start = max(now, starts[k] + 1.0) if k >= 0 else now
            starts.append(start)
        return start - now

    def _admit(self, now: float, waited: float) -> None:
        self._starts.append(now)
        self._in_flight += 1
        extra = self.extra
        extra["admitted"] += 1
        extra["admitted_peak_in_flight"] = max(extra["admitted_peak_in_flight"], self._in_flight)
        extra["admitted_peak_per_s"] = max(extra["admitted_peak_per_s"], len(self._starts))
        extra["max_wait_observed_s"] = max(extra["max_wait_observed_s"], round(waited, 3))

    async def acquire(self) -> int | None:
        """Wait for a slot; None when admitted, else the Retry-After seconds of a 429."""
        loop = asyncio.get_running_loop()
        if self._cond is None:
            self._cond = asyncio.Condition()
        async with self._cond:
            arrived = loop.time()
            self._prune(arrived)
            predicted = self._predicted_wait(len(self._waiting), arrived)
            if predicted > self.max_wait_s:
                self.extra["limited"] += 1
                return max(1, math.ceil(predicted))
            me = object()
            self._waiting.append(me)
            try:
                while True:
                    now = loop.time()
                    self._prune(now)
                    if (self._waiting[0] is me and self._in_flight < self.max_in_flight
                            and len(self._starts) < self.rate):
                        self._waiting.popleft()
                        self._admit(now, now - arrived)
                        self._cond.notify_all()
                        return None
                    remaining = arrived + self.max_wait_s - now
                    if remaining <= 0:
                        self.extra["limited"] += 1
                        return 1
                    self.extra["queued_peak"] = max(self.extra["queued_peak"], len(self._waiting))
                    nap = remaining
                    if len(self._starts) >= self.rate:
                        nap = min(nap, self._starts[0] + 1.0 - now + 1e-4)
                    try:
                        await asyncio.wait_for(self._cond.wait(), max(nap, 1e-4))
                    except TimeoutError:
                        pass
            finally:
                if me in self._waiting:
                    self._waiting.remove(me)
                    self._cond.notify_all()

    async def release(self) -> None:
        """A request finished: free its in-flight slot and wake the queue."""
        assert self._cond is not None
        async with self._cond:
            self._in_flight -= 1
            self._cond.notify_all()


class LimitMiddleware:
    """Applies the `Limiter` to every non-admin request; refusals are 429 with `Retry-After`."""

    def __init__(self, app: ASGIApp, vendor: Vendor, limiter: Limiter) -> None:
        self.app, self.vendor, self.limiter = app, vendor, limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_sim/"):
            await self.app(scope, receive, send)
            return
        retry = await self.limiter.acquire()
        if retry is not None:
            response = self.vendor.error(429, "TOO_MANY_REQUESTS", "request queue wait would exceed "
                                         f"{self.limiter.max_wait_s:g} s", {"Retry-After": str(retry)})
            await response(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            await self.limiter.release()
