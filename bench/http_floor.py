"""How close *any* client can get to the benchmark's lower bound: the simulators' per-request floor.

``python bench/http_floor.py`` starts the simulators (as ``sync_bench.py`` does: own process, latency model
50 ms + 0.5 ms/row) and sends Aiwyn invoice detail calls, the requests that bound the full sync, from a bare
``httpx.AsyncClient`` that does nothing else: no retries, no token refresh, no parsing, no loading. The
bound counts only the latency model (``base + per_row`` per detail ÷ the requests in flight); what the
bare client measures on top of it is the HTTP round trip both sides pay on this machine (the simulator's
HTTP parsing and middlewares, which run before the route's latency clock starts, and the event loops' timer
slack), which no client avoids. Ends with one JSON line:
``requests``, ``in_flight``, ``elapsed_s``, ``bound_s``, ``floor_over_bound``, ``mean_ms``, ``model_ms``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

import httpx
from _harness import Simulators

from simulators import SimSettings


async def probe(url: str, requests: int, in_flight: int) -> tuple[float, list[float]]:
    """``requests`` detail calls, ``in_flight`` at a time: (elapsed seconds, each call's seconds)."""
    limits = httpx.Limits(max_connections=in_flight, max_keepalive_connections=in_flight)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:
        token = await client.post("/v1/auth/token", json={"jwtApiKey": SimSettings().jwt_api_key})
        headers = {"Authorization": f"Bearer {token.raise_for_status().json()['accessToken']}"}
        listed = await client.post("/gql/v1/invoices/search", json={"pageSize": 1000}, headers=headers)
        ids = [row["id"] for row in listed.raise_for_status().json()["deid_invoice"]]
        wanted = [ids[i % len(ids)] for i in range(requests)]
        slots = asyncio.Semaphore(in_flight)
        took: list[float] = []

        async def one(invoice_id: int) -> None:
            async with slots:
                start = time.perf_counter()
                answer = await client.get(f"/gql/v1/invoice/{invoice_id}", headers=headers)
                answer.raise_for_status()
                took.append(time.perf_counter() - start)

        start = time.perf_counter()
        await asyncio.gather(*(one(i) for i in wanted))
        return time.perf_counter() - start, took


def main() -> None:
    """Start the simulators, probe, print a line of text and the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="medium", help="firm size (default medium)")
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--in-flight", type=int, default=8)
    parser.add_argument("--latency-base-ms", type=float, default=50.0)
    parser.add_argument("--latency-per-row-ms", type=float, default=0.5)
    args = parser.parse_args()
    model_ms = args.latency_base_ms + args.latency_per_row_ms  # a detail answer is one row
    with tempfile.TemporaryDirectory() as workdir, Simulators(
        args.size, 1, args.latency_base_ms, args.latency_per_row_ms, Path(workdir)
    ) as sims:
        elapsed, took = asyncio.run(probe(sims.urls["aiwyn"], args.requests, args.in_flight))
    bound = args.requests * model_ms / 1000 / args.in_flight
    result = {
        "requests": args.requests,
        "in_flight": args.in_flight,
        "elapsed_s": round(elapsed, 2),
        "bound_s": round(bound, 2),
        "floor_over_bound": round(elapsed / bound, 3),
        "mean_ms": round(1000 * sum(took) / len(took), 2),
        "model_ms": model_ms,
    }
    print(f"bare client: {elapsed:.1f} s for a bound of {bound:.1f} s = {elapsed / bound:.3f} x", flush=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
