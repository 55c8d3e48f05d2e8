"""Benchmark of ``arwip serve``: how fresh the BI snapshot stays while Aiwyn changes, with webhooks on.

    .venv/bin/python bench/serve_bench.py                    # medium firm, 2 minutes at 5 changes/s (~8 min)
    .venv/bin/python bench/serve_bench.py --minutes 30       # the RSS check (~40 min)
    .venv/bin/python bench/serve_bench.py --size demo --minutes 0.5 --drop-seconds 20   # a quick look

The simulators (``bench/_simserver.py``, latency 50 ms + 0.5 ms/row as in ``sync_bench.py``; the firm generated as of
an hour ago, so that the 5-minute lag window each sync re-reads holds only the benchmark's changes) serve it and
deliver signed webhooks to an ``arwip serve`` child process subscribed to every Aiwyn change; the benchmark waits
for its first full sync, then:

1. **steady**: for ``--minutes``, once a second, ``POST /_sim/aiwyn/touch`` changes ``--rate`` records (WIP,
   WIP, WIP, invoices, payments in turn: 5 per second by default). An observer opens the BI snapshot read-only
   every 100 ms, as a BI tool would, and notes when each change (its id with its new ``updatedAt``) is visible.
   Latency = visible − ``committedAt`` (the simulator's wall clock just after the commit): p50, p95 (target
   ≤ 10 s), max. The service's RSS is sampled every 2 s; it rises and falls with each sync, so the peak of the
   last minute is compared with the peak of the fifth minute (target: within 10 %).
2. **burst**: ``--burst`` WIP changes in one write (one second); syncs that ended from then until all are
   visible (target ≤ 5).
3. **drop**: the simulator drops ``--drop`` of the deliveries (``POST /_sim/aiwyn/webhook-faults``); changes at
   ``--rate``/s for ``--drop-seconds``; how many are still not visible one Aiwyn poll interval
   (``--poll-interval``, the service's ``SOURCES__AIWYN__POLL_INTERVAL``) after the last one, plus the time a sync
   takes (target 0).

Ends with one JSON line (``RESULT {...}``); ``--workdir`` keeps the warehouse, the service log and the JSON.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import httpx

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
for path in (str(ROOT), str(BENCH)):
    if path not in sys.path:
        sys.path.insert(0, path)

from _harness import Simulators  # noqa: E402

from pipelines.publish import default_snapshot_path  # noqa: E402
from tests.serve.harness import Service, free_port, wait_until  # noqa: E402

TABLES = {"wip": "wip", "invoice": "invoices", "payment": "payments"}
CYCLE = ("wip", "wip", "wip", "invoice", "payment")
"""The entity changed in each second of the steady and drop phases, in turn."""


@dataclass
class Change:
    """One touched record: where, its new ``updatedAt`` (ISO Z), when the simulator committed it (epoch s), and
    when the observer first saw it in the BI snapshot."""

    table: str
    id: int
    updated_at: str
    committed_at: float
    seen_at: float | None = None


@dataclass
class Observer:
    """Opens the BI snapshot every ``period_s`` and stamps the changes that became visible."""

    snapshot: Path
    period_s: float = 0.1
    changes: list[Change] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)

    def add(self, found: list[Change]) -> None:
        with self.lock:
            self.changes += found

    def pending(self) -> list[Change]:
        with self.lock:
            return [c for c in self.changes if c.seen_at is None]

    def run(self) -> None:
        while not self.stop.wait(self.period_s):
            waiting = self.pending()
            if not waiting or not self.snapshot.exists():
                continue
            try:
                visible = self._visible(waiting)
            except duckdb.Error:  # replaced while we opened it: the next look sees the new one
                continue
            now = time.time()
            for change in waiting:
                if (change.table, change.id, change.updated_at) in visible:
                    change.seen_at = now

    def _visible(self, waiting: list[Change]) -> set[tuple[str, int, str]]:
        found: set[tuple[str, int, str]] = set()
        with duckdb.connect(str(self.snapshot), read_only=True) as con:
            for table in {c.table for c in waiting}:
                ids = [c.id for c in waiting if c.table == table]
                rows = con.execute(f"select id, strftime(updated_at at time zone 'UTC', '%Y-%m-%dT%H:%M:%SZ') "
                                   f"from aiwyn.{table} where id in (select unnest(?))", [ids]).fetchall()
                found |= {(table, int(i), stamp) for i, stamp in rows}
        return found


def touch(aiwyn: httpx.Client, entity: str, count: int) -> list[Change]:
    answer = aiwyn.post("/_sim/aiwyn/touch", json={"entity": entity, "count": count})
    answer.raise_for_status()
    body = answer.json()
    return [Change(TABLES[entity], int(i), body["updatedAt"], float(body["committedAt"])) for i in body["ids"]]


def change_for(aiwyn: httpx.Client, observer: Observer, seconds: float, rate: int, rss: Any = None) -> list[Change]:
    """Touch ``rate`` records once a second for ``seconds``; returns the changes (also handed to ``observer``)."""
    made: list[Change] = []
    start = time.monotonic()
    tick = 0
    while time.monotonic() - start < seconds:
        found = touch(aiwyn, CYCLE[tick % len(CYCLE)], rate)
        observer.add(found)
        made += found
        if rss is not None:
            rss()
        tick += 1
        time.sleep(max(start + tick - time.monotonic(), 0.0))
    return made


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def syncs_ended(service: Service) -> float:
    """Syncs finished so far: the burst's count is those that ended after its commit, until it is visible (the
    one running at the commit included when it read the burst)."""
    return service.metrics()["arwip_sync_seconds_count"]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(round(q * (len(ordered) - 1)), len(ordered) - 1)] if ordered else float("nan")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", default="medium", help="firm size (default medium)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--minutes", type=float, default=2.0, help="length of the steady phase (default 2)")
    p.add_argument("--rate", type=int, default=5, help="changes per second (default 5)")
    p.add_argument("--burst", type=int, default=1000, help="changes in the burst (default 1000; 0 skips it)")
    p.add_argument("--drop", type=float, default=0.1, help="share of deliveries dropped in the drop phase")
    p.add_argument("--drop-seconds", type=float, default=60.0, help="length of the drop phase (0 skips it)")
    p.add_argument("--poll-interval", type=float, default=60.0, help="the service's Aiwyn poll interval (s)")
    p.add_argument("--latency-base-ms", type=float, default=50.0)
    p.add_argument("--latency-per-row-ms", type=float, default=0.5)
    p.add_argument("--workdir", type=Path, default=None, help="keep the warehouse, log and result here")
    args = p.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="serve-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    db = workdir / "serve.duckdb"
    for leftover in (db, default_snapshot_path(db), workdir / ".arwip"):
        shutil.rmtree(leftover, ignore_errors=True) if leftover.is_dir() else leftover.unlink(missing_ok=True)
    result: dict[str, Any] = {"size": args.size, "rate_per_s": args.rate, "minutes": args.minutes,
                              "poll_interval_s": args.poll_interval}
    # generated an hour ago: the firm's own newest changes (thousands stamped at its "now") are older than the
    # 5-minute lag window, which then holds only the benchmark's changes, as in production
    with Simulators(args.size, args.seed, args.latency_base_ms, args.latency_per_row_ms, workdir, 60) as sims:
        aiwyn = httpx.Client(base_url=sims.urls["aiwyn"], timeout=120)
        token = aiwyn.post("/v1/auth/token", json={"jwtApiKey": sims.info["credentials"][
            "SOURCES__AIWYN__JWT_API_KEY"]}).json()["accessToken"]
        admin = {"Authorization": f"Bearer {token}"}
        port = free_port()
        sub = aiwyn.post("/api/v1/event-subscriptions", headers=admin, json={
            "name": "bench", "url": f"http://127.0.0.1:{port}/webhooks/aiwyn", "entityTypes": list(TABLES),
            "operations": ["CREATE", "UPDATE", "DELETE"]}).json()["data"]
        secret = aiwyn.get(f"/api/v1/event-subscriptions/{sub['id']}/secret", headers=admin).json()["data"]["secret"]
        env = {**sims.env, "SOURCES__AIWYN__WEBHOOK_SECRET": secret,
               "SOURCES__AIWYN__POLL_INTERVAL": f"{args.poll_interval}s", "PYTHONUNBUFFERED": "1"}
        started = time.monotonic()
        with Service(db, env, port) as service:
            service.ready(timeout_s=3600)
            result["first_sync_s"] = round(time.monotonic() - started, 1)
            print(f"first full sync published after {result['first_sync_s']} s", flush=True)
            observer = Observer(default_snapshot_path(db))
            threading.Thread(target=observer.run, daemon=True).start()

            # 1. steady changes, latency and RSS
            samples: list[tuple[float, float]] = []
            phase = time.monotonic()

            def sample_rss() -> None:
                if not samples or time.monotonic() - samples[-1][0] - phase >= 2:
                    samples.append((time.monotonic() - phase, rss_mb(service.proc.pid)))

            steady = change_for(aiwyn, observer, args.minutes * 60, args.rate, sample_rss)
            wait_until(lambda: not [c for c in steady if c.seen_at is None], 300, "every steady change visible")
            latencies = [c.seen_at - c.committed_at for c in steady if c.seen_at is not None]
            result.update(changes=len(steady), latency_p50_s=round(statistics.median(latencies), 2),
                          latency_p95_s=round(percentile(latencies, 0.95), 2), latency_max_s=round(max(latencies), 2))
            # RSS rises and falls with each sync (models, snapshot): compare the peaks of a minute's samples
            end = samples[-1][0]
            at_5 = max((mb for t, mb in samples if 240 <= t <= 300), default=None)
            last = max(mb for t, mb in samples if t >= end - 60)
            result.update(rss_first_mb=round(samples[0][1], 1), rss_at_5min_mb=at_5 and round(at_5, 1),
                          rss_end_mb=round(last, 1), rss_end_over_5min=at_5 and round(last / at_5, 3),
                          rss_samples=[(round(t), round(mb, 1)) for t, mb in samples])
            print(f"steady: {len(steady)} changes, latency p50 {result['latency_p50_s']} s, p95 "
                  f"{result['latency_p95_s']} s, max {result['latency_max_s']} s; RSS {result['rss_first_mb']} MB "
                  f"at the start, peaks {result['rss_at_5min_mb']} MB in minute 5, {result['rss_end_mb']} MB in the "
                  "last", flush=True)

            # 2. a burst in one write
            if args.burst:
                before = syncs_ended(service)
                burst = touch(aiwyn, "wip", args.burst)
                observer.add(burst)
                wait_until(lambda: not [c for c in burst if c.seen_at is None], 600, "every burst change visible")
                result.update(burst_changes=len(burst), burst_syncs=int(syncs_ended(service) - before),
                              burst_visible_s=round(max(c.seen_at for c in burst) - burst[0].committed_at, 2))
                print(f"burst: {len(burst)} changes visible after {result['burst_visible_s']} s in "
                      f"{result['burst_syncs']} sync(s)", flush=True)

            # 3. dropped deliveries, caught by the next poll
            if args.drop_seconds:
                aiwyn.post("/_sim/aiwyn/webhook-faults", json={"drop": args.drop}).raise_for_status()
                dropped_before = sims.stats()["aiwyn"]["faults"].get("webhook_drop", 0)
                made = change_for(aiwyn, observer, args.drop_seconds, args.rate)
                aiwyn.post("/_sim/aiwyn/webhook-faults", json={"drop": 0}).raise_for_status()
                deadline = max(c.committed_at for c in made) + args.poll_interval + 30
                while time.time() < deadline and [c for c in made if c.seen_at is None]:
                    time.sleep(0.2)
                missing = [c for c in made if c.seen_at is None]
                result.update(drop_changes=len(made), drop_deliveries_dropped=sims.stats()["aiwyn"]["faults"].get(
                    "webhook_drop", 0) - dropped_before, drop_missing_after_poll=len(missing))
                print(f"drop: {result['drop_deliveries_dropped']} of {len(made)} deliveries dropped; "
                      f"{len(missing)} change(s) missing one poll interval (+30 s) after the last", flush=True)
            kept = ("arwip_syncs_total", "arwip_webhook_events", "arwip_source_failures")
            result["service_metrics"] = {k: v for k, v in service.metrics().items() if k.startswith(kept)}
            observer.stop.set()
            service.stop()
            (workdir / "serve.log").write_text(service.log)
    result["targets"] = {"latency_p95_s<=10": result["latency_p95_s"] <= 10,
                         "burst_syncs<=5": result.get("burst_syncs", 0) <= 5,
                         "drop_missing==0": result.get("drop_missing_after_poll", 0) == 0,
                         "rss_end_within_10%_of_5min": None if result["rss_end_over_5min"] is None
                         else result["rss_end_over_5min"] <= 1.10}
    (workdir / "result.json").write_text(json.dumps(result, indent=2))
    print("RESULT " + json.dumps(result), flush=True)
    return 0 if all(v is not False for v in result["targets"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
