"""One arwip sync in its own process, timed: ``python bench/_sync_runner.py --db PATH``.

The sources read their base URLs and credentials from the ``SOURCES__*`` environment (set by
``sync_bench.py`` from the simulators it started). The runner calls :func:`pipelines.sync.sync` exactly as
``arwip sync`` does and prints **one JSON line** (prefixed ``RESULT``) with:

- ``sync_s``: the ``sync()`` call (extract, normalize, load of all sources, then the models);
- per source: ``seconds`` (arwip's own ``SourceRun.seconds``), dlt's ``extract_s`` / ``normalize_s`` /
  ``load_s`` from the pipeline trace, and per resource ``requests``, ``rows``, ``retries``, ``by_status``;
- per API, from the HTTP calls as the client saw them (``httpx.AsyncClient.request`` timed, no other
  change): ``requests``, ``first``/``last`` (seconds since the sync started), ``busy_s`` (summed request
  durations), and the same split by kind (Aiwyn ``search`` / ``detail``, Aimsio ``stub_list`` /
  ``detail``, iinsight ``invoices`` / ``payments`` / ``billings``, ``auth``), and a timeline of busy seconds per 10 s;
- ``models_s`` (``build_models``), ``after_sources_s`` (each step ``sync()`` runs after the sources: models,
  data tests, BI snapshot, as this version of :mod:`pipelines.sync` has them), ``self_maxrss_mb`` and
  ``rss_peak_mb_by_phase`` (RSS sampled every 0.2 s: ``sources``, then each of those steps).

With ``BENCH_TRACE=<file>`` every request's ``(api, kind, start, end)`` is also written there (diagnostics).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx

from pipelines import sync as sync_mod
from sources import registry

T0 = time.perf_counter()


BUCKET_S = 10.0  # width of the utilization timeline's buckets


class HttpTimes:
    """Per API and kind of call: count, busy seconds, first start and last end (relative to ``T0``), and a
    timeline of busy seconds per :data:`BUCKET_S` (divided by the budget, the share of the budget in use)."""

    def __init__(self, bases: dict[str, str]) -> None:
        self.bases = {url.rstrip("/"): api for api, url in bases.items() if url}
        self.by_kind: dict[str, dict[str, dict[str, float]]] = defaultdict(dict)
        self.timeline: dict[str, list[float]] = defaultdict(list)
        self.trace: list[tuple[str, str, float, float]] | None = [] if os.environ.get("BENCH_TRACE") else None

    def api_of(self, client: httpx.AsyncClient) -> str:
        """The API a client talks to (by its base URL), or its host when unknown."""
        base = str(client.base_url).rstrip("/")
        return self.bases.get(base, base)

    @staticmethod
    def kind_of(api: str, path: str) -> str:
        """Classify a request path: ``auth``, ``search``, ``detail``, ``stub_list``, iinsight's ``invoices``,
        ``payments`` or ``billings`` (list pages) or ``other``."""
        if "auth" in path:
            return "auth"
        if api == "aiwyn":
            return "search" if path.endswith("/search") else "detail"
        if api == "aimsio":
            return "stub_list" if path.rstrip("/").endswith(("/NonRecurringBillableItem", "/JobOrder")) else "detail"
        if api == "iinsight":  # the list pages of each entity
            return next((kind for kind in ("payments", "billings") if kind in path), "invoices")
        return "other"

    def record(self, api: str, path: str, start: float, end: float) -> None:
        """Add one finished request (``start``/``end`` from ``time.perf_counter()``)."""
        kind = self.by_kind[api].setdefault(
            self.kind_of(api, path), {"requests": 0, "busy_s": 0.0, "first": start, "last": end}
        )
        kind["requests"] += 1
        kind["busy_s"] += end - start
        kind["first"] = min(kind["first"], start)
        kind["last"] = max(kind["last"], end)
        if self.trace is not None:
            self.trace.append((api, self.kind_of(api, path), start - T0, end - T0))
        line = self.timeline[api]
        t = start - T0
        while t < end - T0:
            bucket = int(t // BUCKET_S)
            upto = min(end - T0, (bucket + 1) * BUCKET_S)
            line.extend([0.0] * (bucket + 1 - len(line)))
            line[bucket] += upto - t
            t = upto

    def as_dict(self, origin: float) -> dict[str, Any]:
        """JSON-able summary; times relative to ``origin`` (the start of ``sync()``); the timeline starts at
        the runner's start (``T0``)."""
        out: dict[str, Any] = {}
        for api, kinds in self.by_kind.items():
            first = min(k["first"] for k in kinds.values())
            last = max(k["last"] for k in kinds.values())
            out[api] = {
                "requests": sum(int(k["requests"]) for k in kinds.values()),
                "busy_s": round(sum(k["busy_s"] for k in kinds.values()), 3),
                "first": round(first - origin, 3),
                "last": round(last - origin, 3),
                "phase_s": round(last - first, 3),
                "kinds": {
                    name: {
                        "requests": int(k["requests"]),
                        "busy_s": round(k["busy_s"], 3),
                        "first": round(k["first"] - origin, 3),
                        "last": round(k["last"] - origin, 3),
                    }
                    for name, k in kinds.items()
                },
                "timeline_bucket_s": BUCKET_S,
                "timeline_origin": round(T0 - origin, 3),
                "timeline_busy_s": [round(x, 2) for x in self.timeline[api]],
            }
        return out


class RssSampler(threading.Thread):
    """Samples this process's RSS (``/proc/self/status``) every 0.2 s; keeps the peak per phase label."""

    def __init__(self) -> None:
        super().__init__(name="rss-sampler", daemon=True)
        self.phase = "sources"
        self.peaks: dict[str, float] = {}

    def run(self) -> None:
        while True:
            try:
                with open("/proc/self/status") as status:
                    kb = next(int(line.split()[1]) for line in status if line.startswith("VmRSS"))
            except (OSError, StopIteration, ValueError):
                return
            self.peaks[self.phase] = max(self.peaks.get(self.phase, 0.0), kb / 1024)
            time.sleep(0.2)


def instrument(times: HttpTimes) -> None:
    """Time every ``httpx.AsyncClient.request`` (the sources' one HTTP call; body read included)."""
    original = httpx.AsyncClient.request

    async def timed(self: httpx.AsyncClient, method: str, url: Any, *args: Any, **kwargs: Any) -> httpx.Response:
        start = time.perf_counter()
        try:
            return await original(self, method, url, *args, **kwargs)
        finally:
            times.record(times.api_of(self), str(url), start, time.perf_counter())

    httpx.AsyncClient.request = timed  # type: ignore[method-assign]


def main(argv: list[str] | None = None) -> None:
    """Run one sync and print the ``RESULT`` JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--source", action="append", help="source to sync (repeatable); default all")
    args = parser.parse_args(argv)

    times = HttpTimes({api: os.environ.get(f"SOURCES__{api.upper()}__BASE_URL", "") for api in registry.names()})
    instrument(times)
    pipelines: dict[str, Any] = {}
    make_pipeline = sync_mod.make_pipeline

    def keep_pipeline(name: str, db_path: Path) -> Any:
        pipelines[name] = make_pipeline(name, db_path)
        return pipelines[name]

    phases: dict[str, dict[str, float]] = {}

    sampler = RssSampler()
    sampler.start()

    def timed(name: str, fn: Any) -> Any:
        def wrapper(*a: Any, **kw: Any) -> Any:
            sampler.phase = name
            phase = phases.setdefault(name, {"start": time.perf_counter(), "seconds": 0.0})
            step = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                phase["seconds"] += time.perf_counter() - step

        return wrapper

    sync_mod.make_pipeline = keep_pipeline  # type: ignore[assignment]
    # the steps sync() runs after the sources, and reconciling the id sets of the sources that hard-delete
    for name, label in (
        ("build_models", "build_models"),
        ("check_data_tests", "check_data_tests"),
        ("publish_snapshot", "publish_snapshot"),
        ("reconcile_source", "reconcile"),
    ):
        setattr(sync_mod, name, timed(label, getattr(sync_mod, name)))

    started = time.perf_counter()
    runs = sync_mod.sync(args.db, args.source)
    sync_s = time.perf_counter() - started

    sources: dict[str, Any] = {}
    for run in runs:
        steps: dict[str, float] = {}
        trace = pipelines[run.name].last_trace if run.name in pipelines else None
        for step in getattr(trace, "steps", []) or []:
            if step.finished_at and step.started_at:
                seconds = (step.finished_at - step.started_at).total_seconds()
                steps[f"{step.step}_s"] = round(steps.get(f"{step.step}_s", 0.0) + seconds, 3)
        sources[run.name] = {
            "seconds": round(run.seconds, 3),
            **steps,
            "rows": run.rows,
            "requests": run.requests,
            "resources": {
                name: {
                    "rows": s.rows,
                    "requests": s.requests,
                    "retries": s.retries,
                    "reread": s.reread,
                    "quarantined": s.quarantined,
                    "by_status": {str(k): v for k, v in sorted(s.by_status.items())},
                }
                for name, s in run.resources.items()
            },
        }
    result = {
        "sync_s": round(sync_s, 3),
        "process_s": round(time.perf_counter() - T0, 3),
        "models_s": round(phases.get("build_models", {}).get("seconds", 0.0), 3),
        "models_start": round(phases.get("build_models", {}).get("start", started) - started, 3),
        "after_sources_s": {k: round(v["seconds"], 3) for k, v in phases.items()},
        "sources": sources,
        "http": times.as_dict(started),
        "rss_peak_mb_by_phase": {k: round(v, 1) for k, v in sampler.peaks.items()},
        "self_maxrss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    if times.trace is not None:  # BENCH_TRACE=path: every request (api, kind, start, end), for diagnostics
        Path(os.environ["BENCH_TRACE"]).write_text(json.dumps(times.trace))
    print("RESULT " + json.dumps(result), flush=True)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
