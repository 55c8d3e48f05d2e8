"""The per-API rate limit (``sources._http.RateLimit``): never more starts in a 1-second window than the rate,
and starts a busy event loop made late are caught up instead of lost."""

from __future__ import annotations

import asyncio
import time

from sources._http import RateLimit


def _starts(rate: RateLimit, n: int, late_after: int | None = None) -> list[float]:
    async def scenario() -> list[float]:
        starts: list[float] = []
        for i in range(n):
            await rate.acquire()
            starts.append(time.monotonic())
            if i == late_after:
                await asyncio.sleep(0.5)  # the caller comes back late, as on a busy core
        return starts

    return asyncio.run(scenario())


def _most_in_one_second(starts: list[float]) -> int:
    return max(sum(1 for t in starts if s <= t < s + 1.0) for s in starts)


def test_no_second_holds_more_starts_than_the_rate():
    starts = _starts(RateLimit(20), 60)
    assert _most_in_one_second(starts) == 20
    # the log is trimmed as it goes: it never holds more than one window of starts
    rate = RateLimit(20)
    _starts(rate, 60)
    assert len(rate._bucket.items) <= 20


def test_a_late_start_is_caught_up_within_the_window():
    # 20/s; the caller pauses half a second after the 25th start. Evenly spaced starts would lose that
    # half second; the sliding window lets the next starts through at once until the window is full again.
    starts = _starts(RateLimit(20), 40, late_after=24)
    resumed = starts[25]
    caught_up = [t for t in starts[25:] if t - resumed < 0.05]
    assert len(caught_up) >= 5
    assert _most_in_one_second(starts) <= 20
