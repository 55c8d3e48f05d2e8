"""The three simulators in their own process, instrumented for the benchmark's lower bound.

``python bench/_simserver.py --size large --latency-base-ms 50 --latency-per-row-ms 0.5`` generates the
firm, serves it like ``arwip simulate`` (same :class:`simulators.SimulatorCluster`, free loopback ports)
and prints **one JSON line** ``{"urls": {...}, "credentials": {...}, "generated_s": ...}`` once all three
answer; then it serves until SIGTERM / SIGINT.

The simulators count requests, statuses and 429s (``GET /_sim/stats``) but not the latency they add. This
wrapper wraps :meth:`simulators._app.Vendor.delay` (the latency model, ``base + per_row × rows`` slept
per response) so each vendor's ``/_sim/stats`` also reports, in its ``extra`` counters:

- ``latency_ms_sum``: the summed modelled latency of every response (what the bound divides);
- ``latency_rows``: rows the latency model was charged for; ``latency_responses``: responses delayed;
- ``server_ms_sum``: summed time from a request's arrival to its last byte sent (latency included; the
  Aimsio queue included), and ``db_ms_sum``: summed time of the DuckDB calls rendering the answers
  (:meth:`Vendor.db`, thread-pool wait included). ``server - latency`` is what a request took beyond the
  model: the Aimsio queue, the middlewares, and route work longer than the latency (work that fits in the
  latency is inside it, see :meth:`Vendor.delay`).

Nothing else changes: the apps, the Aimsio limiter and the data are the project's own.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.types import Receive, Scope, Send

from simulators import _app
from simulators.cluster import SimulatorCluster
from simulators.data import Firm
from simulators.settings import SimSettings

_original_delay = _app.Vendor.delay
_original_db = _app.Vendor.db
_original_stats_call = _app.StatsMiddleware.__call__


async def _counted_delay(self: _app.Vendor, rows: int) -> None:
    """The project's latency model, plus a tally of what it charged (in ``stats.extra``)."""
    ms = self.settings.latency_base_ms + self.settings.latency_per_row_ms * rows
    extra = self.stats.extra
    extra["latency_ms_sum"] = extra.get("latency_ms_sum", 0.0) + ms
    extra["latency_rows"] = extra.get("latency_rows", 0) + rows
    extra["latency_responses"] = extra.get("latency_responses", 0) + 1
    await _original_delay(self, rows)


async def _timed_db(self: _app.Vendor, fn: Callable[..., Any], *args: Any) -> Any:
    """The project's DuckDB call in the thread pool, timed into ``stats.extra["db_ms_sum"]``."""
    started = time.perf_counter()
    try:
        return await _original_db(self, fn, *args)
    finally:
        extra = self.stats.extra
        extra["db_ms_sum"] = extra.get("db_ms_sum", 0.0) + (time.perf_counter() - started) * 1000


async def _timed_stats_call(self: _app.StatsMiddleware, scope: Scope, receive: Receive, send: Send) -> None:
    """The project's stats middleware, plus the summed server time of counted requests."""
    if scope["type"] != "http" or scope["path"].startswith("/_sim/"):
        await _original_stats_call(self, scope, receive, send)
        return
    started = time.perf_counter()
    try:
        await _original_stats_call(self, scope, receive, send)
    finally:
        extra = self.vendor.stats.extra
        extra["server_ms_sum"] = extra.get("server_ms_sum", 0.0) + (time.perf_counter() - started) * 1000


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, start the instrumented cluster, print its JSON line, serve until signalled."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="demo")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--latency-base-ms", type=float, default=50.0)
    parser.add_argument("--latency-per-row-ms", type=float, default=0.5)
    parser.add_argument("--age-minutes", type=float, default=0.0,
                        help="generate the firm as of this long ago (its data's newest changes are that old)")
    args = parser.parse_args(argv)

    _app.Vendor.delay = _counted_delay  # type: ignore[method-assign]
    _app.Vendor.db = _timed_db  # type: ignore[method-assign]
    _app.StatsMiddleware.__call__ = _timed_stats_call  # type: ignore[method-assign]
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    started = time.perf_counter()
    firm = Firm(seed=args.seed, size=args.size, now=datetime.now(UTC) - timedelta(minutes=args.age_minutes))
    generated_s = time.perf_counter() - started
    settings = SimSettings(latency_base_ms=args.latency_base_ms, latency_per_row_ms=args.latency_per_row_ms)
    cluster = SimulatorCluster(firm, settings, log_level="warning").start(timeout_s=60)
    info: dict[str, Any] = {
        "urls": cluster.urls,
        "credentials": cluster.credentials,
        "generated_s": round(generated_s, 2),
        "size": args.size,
        "latency_base_ms": args.latency_base_ms,
        "latency_per_row_ms": args.latency_per_row_ms,
    }
    print(json.dumps(info), flush=True)
    try:
        while cluster.running:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        cluster.stop()
        firm.close()
    sys.exit(0)


if __name__ == "__main__":
    main()
