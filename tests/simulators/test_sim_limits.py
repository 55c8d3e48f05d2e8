"""Aimsio throughput limits: excess requests queue; 429 + Retry-After only beyond the queue budget."""

from __future__ import annotations

import asyncio
import time
from collections import deque

import httpx
from sim_clients import AIMSIO, NOW

from simulators import Firm, SimSettings, SimulatorCluster

FIRM = Firm(seed=4, size="tiny", now=NOW)


async def _burst(url: str, n: int) -> list[httpx.Response]:
    async with httpx.AsyncClient(auth=("sim-user", "sim-pass"), timeout=30,
                                 limits=httpx.Limits(max_connections=n)) as client:
        return await asyncio.gather(*(client.get(url + AIMSIO + "/JobOrder") for _ in range(n)))


def test_burst_beyond_the_limits_gets_429_with_retry_after() -> None:
    with SimulatorCluster(FIRM, SimSettings(aimsio_max_queue_wait_s=0.5)) as c:
        responses = asyncio.run(_burst(c.urls["aimsio"], 40))
        stats = c.stats["aimsio"]
    codes = [r.status_code for r in responses]
    assert codes.count(200) >= 10 and codes.count(429) >= 20 and set(codes) == {200, 429}
    limited = next(r for r in responses if r.status_code == 429)
    assert int(limited.headers["Retry-After"]) >= 1
    assert stats["throttled"] == codes.count(429) == stats["limited"]
    assert stats["admitted_peak_per_s"] <= 10 and stats["admitted_peak_in_flight"] <= 10


def test_in_flight_cap_queues_instead_of_failing() -> None:
    settings = SimSettings(aimsio_rate_per_s=100, aimsio_max_in_flight=10, latency_base_ms=200)
    with SimulatorCluster(FIRM, settings) as c:
        responses = asyncio.run(_burst(c.urls["aimsio"], 20))
        stats = c.stats["aimsio"]
    assert {r.status_code for r in responses} == {200}
    assert stats["admitted_peak_in_flight"] == 10 and stats["peak_in_flight"] == 20 and stats["queued_peak"] >= 1


def test_in_flight_wait_beyond_budget_is_429() -> None:
    settings = SimSettings(aimsio_rate_per_s=100, aimsio_max_in_flight=1, aimsio_max_queue_wait_s=0.1,
                           latency_base_ms=400)
    with SimulatorCluster(FIRM, settings) as c:
        codes = sorted(r.status_code for r in asyncio.run(_burst(c.urls["aimsio"], 2)))
    assert codes == [200, 429]


async def _polite(url: str, n: int, rate: int, in_flight: int) -> list[int]:
    """A client that keeps to `rate` starts per rolling second and `in_flight` concurrent calls."""
    starts: deque[float] = deque()
    gate = asyncio.Semaphore(in_flight)
    lock = asyncio.Lock()
    async with httpx.AsyncClient(auth=("sim-user", "sim-pass"), timeout=30) as client:

        async def one() -> int:
            async with gate:
                async with lock:
                    while len(starts) >= rate and time.monotonic() - starts[0] < 1.0:
                        await asyncio.sleep(1.0 - (time.monotonic() - starts[0]))
                    if len(starts) >= rate:
                        starts.popleft()
                    starts.append(time.monotonic())
                return (await client.get(url + AIMSIO + "/NonRecurringBillableItem")).status_code

        return list(await asyncio.gather(*(one() for _ in range(n))))


def test_a_client_within_the_limits_is_never_throttled() -> None:
    with SimulatorCluster(FIRM, SimSettings(latency_base_ms=50)) as c:
        codes = asyncio.run(_polite(c.urls["aimsio"], 15, rate=10, in_flight=10))
        stats = c.stats["aimsio"]
    assert codes == [200] * 15 and stats["throttled"] == 0
    assert stats["admitted_peak_per_s"] <= 10 and stats["admitted_peak_in_flight"] <= 10
