"""The politeness budget of one API: how many requests at once, how many starts per second.

:class:`HttpSettings` holds an API's HTTP knobs (from its config, :mod:`sources._config`); :class:`Slots`
bounds the requests in flight (list pages before detail calls), :class:`RateLimit` the starts in any
second (a sliding window, pyrate-limiter); :class:`Throttle` is the two together, shared by every client
of one API.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass

from pyrate_limiter import InMemoryBucket, Limiter, Rate, SingleBucketFactory


@dataclass(frozen=True)
class HttpSettings:
    """Per-API HTTP behaviour, from the source's config (``sources.<api>.max_in_flight``, ``timeout_s``,
    ``max_attempts``, ``backoff_max_s``; Aimsio's ``rate_per_s``); ``rate_per_s`` None means unlimited."""

    max_in_flight: int = 8
    rate_per_s: float | None = None
    timeout_s: float = 30.0
    max_attempts: int = 8
    backoff_max_s: float = 30.0
    verify_tls: bool = True


class Slots:
    """At most ``n`` requests at once; waiting list-page requests get a free slot before waiting detail calls.

    A keyset or page-number scan is a chain (each page needs the one before), while detail calls come by the
    thousand and can go in any order: served first come first served, a page would queue behind every detail
    already waiting and the scan would end long after them, alone. Use as ``async with slots.hold(detail)``.
    """

    def __init__(self, n: int) -> None:
        self._free = n
        self._waiting: tuple[deque[asyncio.Future[None]], deque[asyncio.Future[None]]] = (deque(), deque())

    @contextlib.asynccontextmanager
    async def hold(self, detail: bool = False) -> AsyncIterator[None]:
        """Hold one slot for the block; ``detail`` calls wait behind list pages."""
        await self._acquire(self._waiting[detail])
        try:
            yield
        finally:
            self._release()

    async def _acquire(self, line: deque[asyncio.Future[None]]) -> None:
        if self._free and not any(self._waiting):
            self._free -= 1
            return
        ticket = asyncio.get_running_loop().create_future()
        line.append(ticket)
        try:
            await ticket
        except asyncio.CancelledError:
            if ticket.done() and not ticket.cancelled():
                self._release()  # the slot came just as we were cancelled: pass it on
            else:
                with contextlib.suppress(ValueError):  # a release may have skipped (and dropped) it already
                    line.remove(ticket)
            raise

    def _release(self) -> None:
        for line in self._waiting:
            while line:
                ticket = line.popleft()
                if not ticket.done():
                    ticket.set_result(None)  # the slot goes straight to the next waiter
                    return
        self._free += 1


class RateLimit:
    """No more than ``per_s`` request starts in any sliding window of 1.02 s (2% margin for the jitter between
    our clock and the server's arrivals): ``await rate.acquire()`` before each request.

    A sliding-window log (pyrate-limiter), not evenly spaced starts: a start the event loop made late (a busy
    core) is caught up within the window instead of being lost, so the API's rate is used in full without one
    second ever holding more than it allows (Aimsio: 10/s, ``../shared/api/CONTRACT.md``). The log is trimmed
    on each start (no background leak thread).
    """

    def __init__(self, per_s: float) -> None:
        limit = max(1, int(per_s))
        self._bucket = InMemoryBucket([Rate(limit, round(limit * 1020 / per_s))])
        self._limiter = Limiter(SingleBucketFactory(self._bucket, schedule_leak=False), buffer_ms=0)

    async def acquire(self) -> None:
        """Wait until one more start fits in the window, and count it."""
        await self._limiter.try_acquire_async("requests")
        self._bucket.leak(self._bucket.now())


@dataclass
class Throttle:
    """The politeness budget of one API: at most ``max_in_flight`` requests at once and, with a rate, at most
    ``rate_per_s`` request starts in any second (:class:`RateLimit`). Shared by every client a
    :class:`Session` creates, so the budget holds across clients."""

    slots: Slots
    rate: RateLimit | None

    @classmethod
    def of(cls, settings: HttpSettings) -> Throttle:
        rate = settings.rate_per_s
        return cls(Slots(settings.max_in_flight), RateLimit(rate) if rate else None)
