"""arwip sync benchmark on the vendor simulators: ``python bench/sync_bench.py [--size demo]``.

Two parts, one table each, then exactly one JSON line on stdout (progress goes to stderr):

1. **Scale** (default firm ``large``: 1M WIP entries, 100k Aiwyn invoices with lines and payments, 100k
   iinsight invoices, 64k iinsight payments, 200k billings, 2k NRBs): arwip's full sync into a fresh
   warehouse; one activity step changing 0.5 % of the records (``POST /_sim/activity``); arwip's incremental
   sync; the API lower bound for the requests the full sync made; the aging and WIP reports over the result.
2. **Head to head** (default firm ``medium``: 200k WIP, 10k Aiwyn invoices, 20k iinsight invoices, 13k
   payments, 40k billings, 500 NRBs): arwip's full sync against dlt's own ``rest_api`` source over the same endpoints
   (``bench/baseline_rest_api.py``), each into its own fresh DuckDB file.

Processes. The simulators run in their own process (``bench/_simserver.py``: the project's
``SimulatorCluster`` with the latency model ``base + per_row × rows``, 50 ms + 0.5 ms a row by default,
plus counters of the latency charged and the server time spent; see that module). Each sync (arwip's
via ``bench/_sync_runner.py``, which calls :func:`pipelines.sync.sync` like ``arwip sync``; the baseline)
runs in a process of its own, pointed at the simulators by the ``SOURCES__*`` environment, so its peak
RSS is its own (``os.wait4``). Politeness budget as arwip's defaults and the Aimsio documentation:
8 requests in flight per API, Aimsio 10 per second and 10 in flight (set explicitly in the environment).

The lower bound. Per API, the latency the simulator charged for the sync's requests (summed ``base +
per_row × rows`` over every response, counted by the simulator) divided by the concurrency the API allows
(8); for Aimsio, the larger of its requests ÷ 10 per second and its latency ÷ 10 in flight. Every response
counts, whatever the endpoint (iinsight's payments and billings as much as its invoices). The APIs are
synced concurrently, so a sync's bound is the largest per-API bound. ``full_over_bound = full_s /
bound_s``. The bound leaves out the simulator's own time per request (DuckDB rendering the JSON), which
is reported beside it (``sim_overhead``).

Figures (JSON keys): ``full_s`` / ``incremental_s`` (the ``sync()`` call: extract, load, models);
``incremental_over_full`` excludes the Aimsio stub lists, which the API only offers whole: ``(incremental_s
- time of the incremental run's Aimsio stub-list requests) / full_s`` (``incremental_over_full_raw``
without that); ``aimsio_rps`` = Aimsio requests (simulator count) ÷ the Aimsio phase of the full sync
(first request sent to last answer received), with ``aimsio_429``; ``peak_rss_mb`` = the larger peak RSS
of the two sync processes; ``aging_report_s`` = median of 5 runs of ``report(con, "aging")`` on a
read-only connection after one warm-up (``wip_report_s`` likewise); ``rows_loaded`` = rows in the
warehouse's raw tables after the full sync; ``h2h_*`` and ``baseline_over_full = h2h_baseline_s /
h2h_arwip_s``. ``iinsight_requests_by_kind`` splits iinsight's requests (``invoices``, ``payments``,
``billings``, ``auth``) per run; ``incremental_billing_requests`` compares the incremental sync's billing
requests with the issue's target, (unbilled + new billings) / 1000 + 3.

``--size demo`` runs both parts on the demo firm (5k WIP, 1k invoices, 500 NRBs) and reuses the scale
part's full sync as arwip's head-to-head run (same firm, same settings). Its floor is Aimsio's: 500 NRB
details at 10 per second take 50 s, so a demo run takes about 3 minutes, most of it in the baseline.
``--profile`` attaches ``py-spy record`` (if installed) to the full sync and the simulators and prints
the hottest frames.

``--destination postgres`` syncs into PostgreSQL instead (a throwaway server with PostgreSQL's default
durability from ``tests/pg_server.py``, or the server of ``--dsn``, where the bench creates a database per
warehouse): the scale part only (the head to head compares with a DuckDB baseline), the aging report target
is 1 s, peak RSS is the sync process's (the server's memory is not counted), and the load rates of dlt's
Parquet/ADBC, CSV and INSERT paths into the same server are measured beside it (``bench/pg_load.py``:
``load_rows_per_s``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))  # measure the tree this file lives in (also a copy), not the installed one
PYTHON = sys.executable
VENDORS = ("aiwyn", "aimsio", "iinsight")
IN_FLIGHT = {"aiwyn": 8, "aimsio": 10, "iinsight": 8}
AIMSIO_RATE_PER_S = 10.0
BUDGET_ENV = {
    "SOURCES__AIWYN__MAX_IN_FLIGHT": "8",
    "SOURCES__IINSIGHT__MAX_IN_FLIGHT": "8",
    "SOURCES__AIMSIO__MAX_IN_FLIGHT": "10",
    "SOURCES__AIMSIO__RATE_PER_S": "10",
}
TARGETS = {
    "full_over_bound": ("<=", 1.3),
    "incremental_over_full": ("<=", 0.05),
    "aimsio_rps": (">=", 9.5),
    "aimsio_429": ("<=", 0),
    "baseline_over_full": (">=", 10.0),
    "peak_rss_mb": ("<=", 1536.0),
    "aging_report_s": ("<=", 0.5),
}
POSTGRES_TARGETS = {**TARGETS, "aging_report_s": ("<=", 1.0)}
LOAD_ROWS = {"demo": (100_000, 20_000), "full": (1_000_000, 100_000)}  # pg_load.py: parquet/csv rows, INSERT rows

console = Console(stderr=True, width=None if sys.stderr.isatty() else 140)


# -- processes -----------------------------------------------------------------------------------------


def cpu_times() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from ``/proc/stat`` (all cores)."""
    try:
        fields = [float(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except OSError:
        return 0.0, 0.0
    tick = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)
    return (sum(fields) - idle) / tick, sum(fields) / tick


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a live process (``/proc/<pid>/stat``), 0 if unknown."""
    try:
        parts = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (float(parts[11]) + float(parts[12])) / os.sysconf("SC_CLK_TCK")


def py_spy() -> str | None:
    """Path of ``py-spy`` (PATH or beside this interpreter), or None."""
    found = shutil.which("py-spy")
    beside = Path(PYTHON).parent / "py-spy"
    return found or (str(beside) if beside.exists() else None)


class Simulators:
    """The simulators of one firm in a child process (``bench/_simserver.py``); a context manager."""

    def __init__(self, size: str, seed: int, base_ms: float, per_row_ms: float, workdir: Path,
                 age_minutes: float = 0.0) -> None:
        self.size, self.seed, self.base_ms, self.per_row_ms = size, seed, base_ms, per_row_ms
        self.age_minutes = age_minutes  # the firm is generated as of this long ago
        self.log = workdir / f"simulators-{size}.log"
        self.proc: subprocess.Popen[str] | None = None
        self.info: dict[str, Any] = {}

    def __enter__(self) -> Simulators:
        console.print(
            f"[bold]Simulators[/]: generating the {self.size} firm (seed {self.seed}), latency "
            f"{self.base_ms:g} ms + {self.per_row_ms:g} ms/row…"
        )
        args = [
            PYTHON,
            str(BENCH / "_simserver.py"),
            "--size",
            self.size,
            "--seed",
            str(self.seed),
            "--latency-base-ms",
            str(self.base_ms),
            "--latency-per-row-ms",
            str(self.per_row_ms),
            "--age-minutes",
            str(self.age_minutes),
        ]
        path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
        with open(self.log, "w") as err:
            self.proc = subprocess.Popen(
                args, cwd=ROOT, env={**os.environ, "PYTHONPATH": path}, stdout=subprocess.PIPE, stderr=err, text=True
            )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # the JSON line once all three accept connections
        if not line:
            raise RuntimeError(f"simulators did not start; see {self.log}")
        self.info = json.loads(line)
        for vendor in VENDORS:  # they answer: the admin route of each
            httpx.get(f"{self.urls[vendor]}/_sim/info", timeout=30).raise_for_status()
        console.print(
            f"  ready in {self.info['generated_s']:.1f} s of generation: "
            + ", ".join(f"{v} {u}" for v, u in self.urls.items())
        )
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def urls(self) -> dict[str, str]:
        return dict(self.info["urls"])

    @property
    def env(self) -> dict[str, str]:
        """The environment a sync needs: base URLs, credentials, the politeness budget."""
        path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
        return {**os.environ, **self.info["credentials"], **BUDGET_ENV, "PYTHONPATH": path}

    def stats(self) -> dict[str, dict[str, Any]]:
        """``GET /_sim/stats`` of each vendor."""
        return {v: httpx.get(f"{self.urls[v]}/_sim/stats", timeout=30).json() for v in VENDORS}

    def activity(self, fraction: float) -> dict[str, Any]:
        """One burst of activity over the whole firm (``POST /_sim/activity`` on one vendor)."""
        answer = httpx.post(f"{self.urls['aiwyn']}/_sim/activity", json={"fraction": fraction}, timeout=300)
        answer.raise_for_status()
        return dict(answer.json())


@dataclass
class ChildRun:
    """A finished child process: its RESULT JSON, wall seconds, peak RSS, CPU seconds, exit status."""

    result: dict[str, Any]
    wall_s: float
    maxrss_mb: float
    cpu_s: float
    status: int
    sim_cpu_s: float = 0.0
    machine_busy_s: float = 0.0
    profiles: dict[str, Path] = field(default_factory=dict)


def run_child(
    args: list[str],
    env: dict[str, str],
    log: Path,
    sims: Simulators | None = None,
    profile_dir: Path | None = None,
    label: str = "run",
    cwd: Path = ROOT,
) -> ChildRun:
    """Run a child (stdout and stderr to ``log``), wait with ``os.wait4`` for its own rusage, parse the
    ``RESULT`` line. With ``profile_dir``, py-spy records the child and the simulators meanwhile."""
    busy0, _ = cpu_times()
    sim0 = process_cpu(sims.pid) if sims else 0.0
    started = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, text=True)
    spies: list[subprocess.Popen[bytes]] = []
    profiles: dict[str, Path] = {}
    spy = py_spy() if profile_dir else None
    if profile_dir and not spy:
        console.print("  [yellow]--profile: py-spy not found (pip install py-spy into the venv)[/]")
    if spy and profile_dir:
        targets = {f"{label}-sync": proc.pid, **({f"{label}-simulators": sims.pid} if sims else {})}
        for name, pid in targets.items():
            profiles[name] = profile_dir / f"{name}.txt"
            spies.append(
                subprocess.Popen(
                    [
                        spy,
                        "record",
                        "--pid",
                        str(pid),
                        "--rate",
                        "25",
                        "--format",
                        "raw",
                        "--nonblocking",
                        "--threads",
                        "--output",
                        str(profiles[name]),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    sim_cpu = (process_cpu(sims.pid) - sim0) if sims else 0.0
    busy1, _ = cpu_times()
    for s in spies:
        s.send_signal(signal.SIGINT)
        try:
            s.wait(timeout=60)
        except subprocess.TimeoutExpired:
            s.kill()
    result: dict[str, Any] = {}
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("RESULT "):
            result = json.loads(line[len("RESULT ") :])
    if proc.returncode != 0 or not result:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-25:])
        raise RuntimeError(f"{' '.join(args[1:3])} exited {proc.returncode}; log {log}:\n{tail}")
    return ChildRun(
        result,
        wall,
        usage.ru_maxrss / 1024,
        usage.ru_utime + usage.ru_stime,
        proc.returncode,
        sim_cpu,
        busy1 - busy0,
        profiles,
    )


class Postgres:
    """The PostgreSQL server of ``--destination postgres``: a throwaway one (PostgreSQL's default durability) or
    the server of ``dsn``; :meth:`database` creates a fresh database there."""

    def __init__(self, dsn: str | None) -> None:
        self.dsn = dsn
        self._server: Any = None

    def __enter__(self) -> Postgres:
        if self.dsn is None:
            from tests.pg_server import throwaway_postgres

            self._server = throwaway_postgres(durable=True)
            self.dsn = self._server.__enter__().dsn
            console.print(f"[bold]PostgreSQL[/]: a throwaway server, {self.dsn.rsplit('@', 1)[1]}")
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._server is not None:
            self._server.__exit__(*exc)

    def database(self, name: str) -> str:
        """Create database ``name`` (dropped first if it exists); its DSN."""
        import psycopg2

        assert self.dsn is not None
        con = psycopg2.connect(self.dsn)
        con.autocommit = True
        try:
            with con.cursor() as cur:
                cur.execute(f'drop database if exists "{name}"')
                cur.execute(f'create database "{name}"')
        finally:
            con.close()
        return self.dsn.rsplit("/", 1)[0] + "/" + name


def open_bench_warehouse(db: Path, dsn: str | None) -> Any:
    """The warehouse a sync of the bench wrote: the DuckDB file ``db``, or the PostgreSQL database ``dsn``."""
    from pipelines.warehouse import DuckDBWarehouse, PostgresWarehouse

    return PostgresWarehouse(dsn) if dsn else DuckDBWarehouse(db)


def arwip_sync(
    sims: Simulators, db: Path, workdir: Path, label: str, profile_dir: Path | None = None, dsn: str | None = None
) -> ChildRun:
    """arwip's sync (``bench/_sync_runner.py``) against ``sims`` into ``db`` (with ``dsn``: that PostgreSQL
    database; the child's working folder is ``workdir``)."""
    console.print(f"[bold]{label}[/]: arwip sync into {dsn.rsplit('@', 1)[1] if dsn else db}…")
    destination = ["--destination", "postgres"] if dsn else []
    run = run_child(
        [PYTHON, str(BENCH / "_sync_runner.py"), "--db", str(db), *destination],
        {**sims.env, **({"DESTINATION__POSTGRES__CREDENTIALS": dsn} if dsn else {})},
        workdir / f"{label}.log",
        sims,
        profile_dir,
        label,
        cwd=workdir,
    )
    console.print(
        f"  done in {run.result['sync_s']:.1f} s (process {run.wall_s:.1f} s, peak RSS {run.maxrss_mb:.0f} MB)"
    )
    return run


# -- figures -----------------------------------------------------------------------------------------


def stats_delta(before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per vendor, the counters that grew between two ``/_sim/stats`` snapshots."""
    out: dict[str, dict[str, Any]] = {}
    for vendor in VENDORS:
        a, b = before.get(vendor, {}), after.get(vendor, {})
        statuses = Counter({k: int(v) for k, v in b.get("by_status", {}).items()})
        statuses.subtract({k: int(v) for k, v in a.get("by_status", {}).items()})
        keys = (
            "requests",
            "throttled",
            "latency_ms_sum",
            "latency_rows",
            "latency_responses",
            "server_ms_sum",
            "db_ms_sum",
            "limited",
        )
        out[vendor] = {k: (b.get(k, 0) or 0) - (a.get(k, 0) or 0) for k in keys}
        out[vendor]["by_status"] = {k: v for k, v in statuses.items() if v}
        out[vendor]["peak_in_flight"] = b.get("peak_in_flight")
        out[vendor]["admitted_peak_per_s"] = b.get("admitted_peak_per_s")
    return out


def bounds(delta: dict[str, dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per API: the latency bound (latency ÷ concurrency; Aimsio also requests ÷ 10/s) and the same with
    the simulator's own time (server time ÷ concurrency), which the latency model leaves out."""
    out: dict[str, dict[str, float]] = {}
    for vendor, d in delta.items():
        latency_s = d["latency_ms_sum"] / 1000
        bound = latency_s / IN_FLIGHT[vendor]
        if vendor == "aimsio":
            bound = max(bound, d["requests"] / AIMSIO_RATE_PER_S)
        server_s = d["server_ms_sum"] / 1000
        out[vendor] = {
            "requests": d["requests"],
            "latency_s": round(latency_s, 3),
            "bound_s": round(bound, 3),
            "server_s": round(server_s, 3),
            "sim_overhead_ms": round((server_s - latency_s) * 1000 / max(1, d["requests"]), 2),
            "server_bound_s": round(max(bound, server_s / IN_FLIGHT[vendor]), 3),
        }
    return out


def warehouse_rows(warehouse: Any) -> tuple[int, dict[str, int]]:
    """Rows in the raw tables (schemas aiwyn, aimsio, iinsight; dlt's own tables left out)."""
    counts: dict[str, int] = {}
    with warehouse.connect() as con:
        tables = con.fetch(
            "SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema IN "
            "('aiwyn', 'aimsio', 'iinsight') AND table_type = 'BASE TABLE' AND table_name NOT LIKE '\\_dlt%' "
            "ESCAPE '\\' ORDER BY 1, 2"
        )
        for schema, table in tables:
            counts[f"{schema}.{table}"] = con.fetch(f'SELECT count(*) FROM "{schema}"."{table}"')[0][0]
    return sum(counts.values()), counts


def unbilled_billings(warehouse: Any) -> int:
    """iinsight billings unbilled (``invoice`` "0") and not soft-deleted in the warehouse."""
    with warehouse.connect() as con:
        return int(con.fetch(
            "SELECT count(*) FROM iinsight.billings b LEFT JOIN iinsight.deletions d ON d.entity = 'billings' "
            "AND d.guid = b.id AND d.deleted_at IS NOT NULL WHERE b.invoice = '0' AND d.guid IS NULL"
        )[0][0])


def billing_requests(scale: dict[str, Any]) -> dict[str, Any]:
    """The incremental sync's iinsight billing requests against the issue's target: (unbilled + new billings) /
    page size (1000) + a small constant (3: a page past the end, the new billings' page that reaches the old ones,
    one request of ids that left the unbilled set)."""
    kinds = scale["incremental"].result["http"].get("iinsight", {}).get("kinds", {})
    requests = int(kinds.get("billings", {}).get("requests", 0))
    new = scale["counts"].get("iinsight.billings", {}).get("new", 0)
    target = (scale["unbilled_billings"] + new) / 1000 + 3
    return {"requests": requests, "unbilled": scale["unbilled_billings"], "new": new, "target": round(target, 1)}


def time_reports(warehouse: Any, runs: int = 5) -> dict[str, Any]:
    """Cold and median-of-``runs`` seconds of ``report(con, "aging")`` and ``"wip"`` (read-only), rows."""
    from pipelines.models import report

    out: dict[str, Any] = {}
    with warehouse.connect() as con:
        for name in ("aging", "wip"):
            samples = []
            rows = 0
            for _ in range(runs + 1):
                started = time.perf_counter()
                rows = report(con, name, date.today()).num_rows  # type: ignore[arg-type]
                samples.append(time.perf_counter() - started)
            out[name] = {
                "cold_s": round(samples[0], 4),
                "median_s": round(statistics.median(samples[1:]), 4),
                "rows": rows,
            }
    return out


def revision() -> str:
    """The measured tree's git commit (``+dirty`` with local changes), or the ``.commit`` file of a copy."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return head + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        marker = ROOT / ".commit"
        return marker.read_text().strip() if marker.exists() else "unknown"


def utilization(http: dict[str, Any], api: str) -> tuple[float, float]:
    """(share of the API's budget in use over its phase, seconds of the phase with less than half of it in
    use) from a runner's per-API timeline. The budget is 8 in flight; for Aimsio, 10 requests per second
    (the share is then requests ÷ (phase × 10), and the second figure is not computed)."""
    h = http.get(api)
    if not h or not h.get("phase_s"):
        return 0.0, 0.0
    if api == "aimsio":
        return h["requests"] / (h["phase_s"] * AIMSIO_RATE_PER_S), 0.0
    budget = IN_FLIGHT[api]
    width = h["timeline_bucket_s"]
    start, end = h["first"] - h["timeline_origin"], h["last"] - h["timeline_origin"]
    under = 0.0
    for i, busy in enumerate(h["timeline_busy_s"]):
        lo, hi = max(start, i * width), min(end, (i + 1) * width)
        if hi > lo and busy / ((hi - lo) * budget) < 0.5:
            under += hi - lo
    return h["busy_s"] / (h["phase_s"] * budget), under


# -- parts --------------------------------------------------------------------------------------------


def scale_part(args: argparse.Namespace, workdir: Path, size: str, pg: Postgres | None) -> dict[str, Any]:
    """Full sync, activity, incremental sync, bounds and reports on the ``size`` firm (into ``pg``: a fresh
    PostgreSQL database)."""
    db = workdir / f"scale-{size}.duckdb"
    dsn = pg.database(f"arwip_bench_{size}") if pg else None
    profile_dir = workdir / "profiles" if args.profile else None
    if profile_dir:
        profile_dir.mkdir(parents=True, exist_ok=True)
    with Simulators(size, args.seed, args.latency_base_ms, args.latency_per_row_ms, workdir) as sims:
        s0 = sims.stats()
        full = arwip_sync(sims, db, workdir, f"full-{size}", profile_dir, dsn)
        s1 = sims.stats()
        console.print(f"[bold]Activity[/]: {args.activity:.2%} of the records…")
        started = time.perf_counter()
        counts = sims.activity(args.activity)
        activity_s = time.perf_counter() - started
        changed = {k: sum(v.values()) for k, v in counts.items()}
        console.print("  " + ", ".join(f"{k} {n:,}" for k, n in changed.items()) + f" ({activity_s:.1f} s)")
        s2 = sims.stats()
        incremental = arwip_sync(sims, db, workdir, f"incremental-{size}", dsn=dsn)
        s3 = sims.stats()
    full_delta, incr_delta = stats_delta(s0, s1), stats_delta(s2, s3)
    full_bounds, incr_bounds = bounds(full_delta), bounds(incr_delta)
    warehouse = open_bench_warehouse(db, dsn)
    rows_loaded, table_rows = warehouse_rows(warehouse)
    reports = time_reports(warehouse, args.report_runs)
    return {
        "size": size,
        "db": warehouse.location,
        "destination": warehouse.name,
        "full": full,
        "incremental": incremental,
        "full_delta": full_delta,
        "incr_delta": incr_delta,
        "full_bounds": full_bounds,
        "incr_bounds": incr_bounds,
        "changed": changed,
        "counts": counts,
        "unbilled_billings": unbilled_billings(warehouse),
        "rows_loaded": rows_loaded,
        "table_rows": table_rows,
        "reports": reports,
    }


def h2h_part(args: argparse.Namespace, workdir: Path, size: str, reuse: ChildRun | None) -> dict[str, Any]:
    """arwip's full sync (or ``reuse``, same firm and settings) against the rest_api baseline."""
    with Simulators(size, args.seed, args.latency_base_ms, args.latency_per_row_ms, workdir) as sims:
        if reuse is not None:
            console.print("[bold]Head to head[/]: arwip's run = the scale part's full sync (same firm)")
            arwip = reuse
            arwip_delta = None
        else:
            s0 = sims.stats()
            arwip = arwip_sync(sims, workdir / f"h2h-arwip-{size}.duckdb", workdir, f"h2h-arwip-{size}")
            arwip_delta = stats_delta(s0, sims.stats())
        if args.skip_baseline:
            return {"size": size, "arwip": arwip, "arwip_delta": arwip_delta, "baseline": None}
        db = workdir / f"h2h-baseline-{size}.duckdb"
        console.print(f"[bold]Head to head[/]: dlt rest_api baseline into {db} (this is the slow one)…")
        s0 = sims.stats()
        baseline = run_child(
            [PYTHON, str(BENCH / "baseline_rest_api.py"), "--db", str(db), "--page-size", str(args.baseline_page_size)],
            sims.env,
            workdir / f"h2h-baseline-{size}.log",
            sims,
        )
        baseline_delta = stats_delta(s0, sims.stats())
        console.print(f"  done in {baseline.result['seconds']:.1f} s (peak RSS {baseline.maxrss_mb:.0f} MB)")
    return {
        "size": size,
        "arwip": arwip,
        "arwip_delta": arwip_delta,
        "baseline": baseline,
        "baseline_delta": baseline_delta,
    }


def load_part(args: argparse.Namespace, workdir: Path, pg: Postgres) -> dict[str, Any]:
    """dlt's load rates into the same server (``bench/pg_load.py`` in a child, a fresh database)."""
    rows, insert_rows = LOAD_ROWS[args.size]
    dsn = pg.database("arwip_bench_load")
    console.print(f"[bold]Load rates[/]: {rows:,} WIP rows as Parquet (ADBC) and CSV, {insert_rows:,} as INSERTs…")
    log = workdir / "pg-load.log"
    with open(log, "w") as out:
        done = subprocess.run(
            [PYTHON, str(BENCH / "pg_load.py"), "--dsn", dsn, "--rows", str(rows), "--insert-rows", str(insert_rows)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=out, text=True, check=False,
        )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"pg_load.py exited {done.returncode}; log {log}")
    rates: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    for file_format, r in rates.items():
        console.print(f"  {file_format}: {r['rows_per_s']:,} rows/s ({r['rows']:,} rows)")
    return rates


# -- output -------------------------------------------------------------------------------------------


def figures(
    scale: dict[str, Any] | None, h2h: dict[str, Any] | None, loads: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The JSON line: the issue's keys (None where a part was skipped) plus detail keys."""
    fig: dict[str, Any] = dict.fromkeys(
        [
            "full_s",
            "incremental_s",
            "bound_s",
            "full_over_bound",
            "incremental_over_full",
            "aimsio_rps",
            "peak_rss_mb",
            "aging_report_s",
            "rows_loaded",
            "h2h_arwip_s",
            "h2h_baseline_s",
            "baseline_over_full",
        ]
    )
    if scale:
        full, incr = scale["full"].result, scale["incremental"].result
        fb = scale["full_bounds"]
        bound_s = max(b["bound_s"] for b in fb.values())
        stub_s = incr["http"].get("aimsio", {}).get("kinds", {}).get("stub_list", {}).get("busy_s", 0.0)
        aimsio_phase = full["http"].get("aimsio", {}).get("phase_s", 0.0)
        aimsio_requests = scale["full_delta"]["aimsio"]["requests"]
        fig.update(
            full_s=round(full["sync_s"], 2),
            incremental_s=round(incr["sync_s"], 2),
            bound_s=round(bound_s, 2),
            full_over_bound=round(full["sync_s"] / bound_s, 3) if bound_s else None,
            incremental_over_full=round((incr["sync_s"] - stub_s) / full["sync_s"], 4),
            aimsio_rps=round(aimsio_requests / aimsio_phase, 2) if aimsio_phase else None,
            peak_rss_mb=round(max(scale["full"].maxrss_mb, scale["incremental"].maxrss_mb), 1),
            aging_report_s=scale["reports"]["aging"]["median_s"],
            rows_loaded=scale["rows_loaded"],
        )
        fig.update(
            scale_size=scale["size"],
            incremental_over_full_raw=round(incr["sync_s"] / full["sync_s"], 4),
            incremental_aimsio_stub_s=round(stub_s, 3),
            aimsio_429=scale["full_delta"]["aimsio"]["by_status"].get("429", 0)
            + scale["incr_delta"]["aimsio"]["by_status"].get("429", 0),
            aimsio_requests=aimsio_requests,
            aimsio_phase_s=aimsio_phase,
            wip_report_s=scale["reports"]["wip"]["median_s"],
            aging_report_cold_s=scale["reports"]["aging"]["cold_s"],
            bound_by_api={v: b["bound_s"] for v, b in fb.items()},
            bound_with_sim_time_s=round(max(b["server_bound_s"] for b in fb.values()), 2),
            sim_overhead_ms_per_request={v: b["sim_overhead_ms"] for v, b in fb.items()},
            phase_by_api={v: h["phase_s"] for v, h in full["http"].items()},
            budget_used_by_api={v: round(utilization(full["http"], v)[0], 3) for v in full["http"]},
            underused_s_by_api={v: round(utilization(full["http"], v)[1], 1) for v in full["http"]},
            source_s={s: r["seconds"] for s, r in full["sources"].items()},
            incremental_source_s={s: r["seconds"] for s, r in incr["sources"].items()},
            models_s=full["models_s"],
            incremental_models_s=incr["models_s"],
            after_sources_s=full.get("after_sources_s"),
            rss_peak_mb_by_phase=full.get("rss_peak_mb_by_phase"),
            incremental_rss_peak_mb_by_phase=incr.get("rss_peak_mb_by_phase"),
            incremental_after_sources_s=incr.get("after_sources_s"),
            full_process_s=round(scale["full"].wall_s, 2),
            incremental_process_s=round(scale["incremental"].wall_s, 2),
            sync_cpu_s=round(scale["full"].cpu_s, 1),
            sim_cpu_s=round(scale["full"].sim_cpu_s, 1),
            machine_busy_cpu_s=round(scale["full"].machine_busy_s, 1),
            changed=scale["changed"],
            iinsight_requests_by_kind={
                run: {k: int(v["requests"]) for k, v in r.result["http"].get("iinsight", {}).get("kinds", {}).items()}
                for run, r in (("full", scale["full"]), ("incremental", scale["incremental"]))
            },
            incremental_billing_requests=billing_requests(scale),
        )
    if h2h:
        arwip_s = h2h["arwip"].result["sync_s"]
        fig.update(h2h_size=h2h["size"], h2h_arwip_s=round(arwip_s, 2))
        if h2h["baseline"] is not None:
            base = h2h["baseline"].result
            fig.update(
                h2h_baseline_s=round(base["seconds"], 2),
                h2h_baseline_page_size=base.get("aiwyn_page_size"),
                baseline_over_full=round(base["seconds"] / arwip_s, 2),
                h2h_baseline_source_s={s: r["seconds"] for s, r in base["sources"].items()},
                h2h_baseline_rows=base["rows_loaded"],
                h2h_baseline_rss_mb=round(h2h["baseline"].maxrss_mb, 1),
                h2h_baseline_429=h2h["baseline_delta"]["aimsio"]["by_status"].get("429", 0),
            )
    fig["destination"] = scale["destination"] if scale else "duckdb"
    if loads:
        fig["load_rows_per_s"] = {f: r["rows_per_s"] for f, r in loads.items()}
        fig["load_parquet_speedup"] = {f: r["parquet_speedup"] for f, r in loads.items() if "parquet_speedup" in r}
    targets = POSTGRES_TARGETS if fig["destination"] == "postgres" else TARGETS
    fig["targets_met"] = {
        k: (fig[k] <= limit if op == "<=" else fig[k] >= limit)
        for k, (op, limit) in targets.items()
        if fig.get(k) is not None
    }
    return fig


def print_tables(scale: dict[str, Any] | None, h2h: dict[str, Any] | None, fig: dict[str, Any]) -> None:
    """Human-readable tables (to stderr, so stdout ends with the JSON line alone)."""
    if scale:
        full, incr = scale["full"].result, scale["incremental"].result
        t = Table(title=f"Scale ({scale['size']} firm): per API, full sync")
        for col in (
            "API",
            "requests",
            "latency Σ s",
            "allowed",
            "bound s",
            "phase s",
            "phase/bound",
            "sim ms/req",
            "budget used",
            "<50% used s",
            "429",
            "incr. requests",
            "incr. bound s",
        ):
            t.add_column(col, justify="right" if col != "API" else "left")
        for v in VENDORS:
            b, ib, http = scale["full_bounds"][v], scale["incr_bounds"][v], full["http"].get(v, {})
            allowed = "10/s, 10" if v == "aimsio" else str(IN_FLIGHT[v])
            phase = http.get("phase_s", 0.0)
            used, under = utilization(full["http"], v)
            t.add_row(
                v,
                f"{b['requests']:,}",
                f"{b['latency_s']:.1f}",
                allowed,
                f"{b['bound_s']:.1f}",
                f"{phase:.1f}",
                f"{phase / b['bound_s']:.2f}" if b["bound_s"] else "-",
                f"{b['sim_overhead_ms']:.1f}",
                f"{used:.0%}",
                f"{under:.0f}",
                str(scale["full_delta"][v]["by_status"].get("429", 0)),
                f"{ib['requests']:,}",
                f"{ib['bound_s']:.1f}",
            )
        console.print(t)
        t = Table(title="Scale: per source (seconds)")
        for col in ("run", "source", "total", "extract", "normalize", "load", "rows", "requests"):
            t.add_column(col, justify="left" if col in ("run", "source") else "right")
        for label, run in (("full", full), ("incremental", incr)):
            for s, r in run["sources"].items():
                t.add_row(
                    label,
                    s,
                    f"{r['seconds']:.1f}",
                    f"{r.get('extract_s', 0):.1f}",
                    f"{r.get('normalize_s', 0):.1f}",
                    f"{r.get('load_s', 0):.1f}",
                    f"{r['rows']:,}",
                    f"{r['requests']:,}",
                )
            for step, seconds in (run.get("after_sources_s") or {"build_models": run["models_s"]}).items():
                t.add_row(label, step, f"{seconds:.1f}", "", "", "", "", "")
        console.print(t)
    targets = POSTGRES_TARGETS if fig["destination"] == "postgres" else TARGETS
    t = Table(title=f"Figures and targets ({fig['destination']})")
    t.add_column("figure")
    t.add_column("value", justify="right")
    t.add_column("target", justify="right")
    t.add_column("ok")
    for key in (
        "full_s",
        "bound_s",
        "full_over_bound",
        "incremental_s",
        "incremental_over_full",
        "aimsio_rps",
        "aimsio_429",
        "peak_rss_mb",
        "aging_report_s",
        "wip_report_s",
        "rows_loaded",
        "h2h_arwip_s",
        "h2h_baseline_s",
        "baseline_over_full",
    ):
        if fig.get(key) is None:
            continue
        op, limit = targets.get(key, ("", None))
        met = fig["targets_met"].get(key)
        value = fig[key]
        t.add_row(
            key,
            f"{value:,}" if isinstance(value, int) else f"{value:,.3f}".rstrip("0").rstrip("."),
            f"{op} {limit:g}" if limit is not None else "",
            "" if met is None else ("[green]yes[/]" if met else "[red]no[/]"),
        )
    console.print(t)
    if fig.get("load_rows_per_s"):
        t = Table(title="dlt's load rates into PostgreSQL (bench/pg_load.py)")
        for col in ("format", "rows/s", "Parquet/ADBC is"):
            t.add_column(col, justify="left" if col == "format" else "right")
        for file_format, rate in fig["load_rows_per_s"].items():
            speedup = fig["load_parquet_speedup"].get(file_format)
            t.add_row(file_format, f"{rate:,}", f"{speedup:g}× faster" if speedup else "")
        console.print(t)


def summarize_profile(path: Path, top: int = 12) -> None:
    """Print the hottest own and inclusive frames of a py-spy raw (collapsed) profile, idle waits excluded."""
    if not path.exists():
        return
    idle = ("select", "wait", "Condition.wait", "_wait_for_tstate_lock", "Queue.get", "sleep", "poll")
    own: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        frames = stack.split(";")
        if any(frames[-1].split(" (")[0].endswith(w) for w in idle):
            continue
        total += int(n)
        own[frames[-1]] += int(n)
        for f in set(frames):
            incl[f] += int(n)
    console.print(f"[bold]py-spy {path.name}[/]: {total} busy samples (idle waits excluded)")
    for title, counter in (("own", own), ("inclusive", incl)):
        for frame, n in counter.most_common(top):
            console.print(f"  {title:9s} {n / max(1, total):6.1%}  {frame[:150]}", highlight=False)


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print the tables and the JSON line."""
    parser = argparse.ArgumentParser(description="arwip sync benchmark on the simulators (see module docstring)")
    parser.add_argument(
        "--size",
        choices=("demo", "full"),
        default="full",
        help="full: scale on large and head to head on medium; demo: both on the demo firm",
    )
    parser.add_argument("--scale-size", help="override the scale part's firm (tiny, demo, medium, large)")
    parser.add_argument("--h2h-size", help="override the head-to-head firm")
    parser.add_argument("--skip-scale", action="store_true", help="skip part 1")
    parser.add_argument("--skip-baseline", action="store_true", help="skip the rest_api baseline (part 2)")
    parser.add_argument(
        "--baseline-page-size", type=int, default=1000, help="the baseline's Aiwyn list page size (default 1000)"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--activity", type=float, default=0.005, help="fraction changed by the activity step")
    parser.add_argument("--latency-base-ms", type=float, default=50.0)
    parser.add_argument("--latency-per-row-ms", type=float, default=0.5)
    parser.add_argument("--report-runs", type=int, default=5)
    parser.add_argument("--workdir", type=Path, help="where warehouses and logs go (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--profile", action="store_true", help="py-spy the full sync and the simulators")
    parser.add_argument("--destination", choices=("duckdb", "postgres"), default="duckdb", help="the warehouse")
    parser.add_argument("--dsn", help="postgres: a server's database to create the bench's databases beside")
    args = parser.parse_args(argv)

    scale_size = args.scale_size or ("demo" if args.size == "demo" else "large")
    h2h_size = args.h2h_size or ("demo" if args.size == "demo" else "medium")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="arwip-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    console.print(
        f"[bold]arwip sync benchmark[/]: scale {'skipped' if args.skip_scale else scale_size}, "
        f"head to head {h2h_size}{' (no baseline)' if args.skip_baseline else ''}; work dir {workdir}"
    )
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        pg = stack.enter_context(Postgres(args.dsn)) if args.destination == "postgres" else None
        scale = None if args.skip_scale else scale_part(args, workdir, scale_size, pg)
        if scale:  # saved at once: the head to head takes a while
            partial = {k: v for k, v in scale.items() if k not in ("full", "incremental")}
            partial.update(full=scale["full"].result, incremental=scale["incremental"].result)
            partial["figures"] = figures(scale, None)
            (workdir / "scale-part.json").write_text(json.dumps(partial, indent=1, default=str))
            console.print(f"  scale part saved: {workdir / 'scale-part.json'}")
        loads = load_part(args, workdir, pg) if pg else None
    reuse = scale["full"] if scale and scale_size == h2h_size else None
    h2h = None if args.destination == "postgres" else h2h_part(args, workdir, h2h_size, reuse)
    fig = figures(scale, h2h, loads)
    fig["bench_s"] = round(time.perf_counter() - started, 1)
    fig["revision"] = revision()
    print_tables(scale, h2h, fig)
    if scale:
        for path in scale["full"].profiles.values():
            summarize_profile(path)
    details: dict[str, Any] = {"figures": fig}
    if scale:
        details["scale"] = {k: v for k, v in scale.items() if k not in ("full", "incremental")}
        details["scale"].update(full=scale["full"].result, incremental=scale["incremental"].result)
    if h2h and h2h.get("baseline"):
        details["h2h_baseline"] = h2h["baseline"].result
    (workdir / "result.json").write_text(json.dumps(details, indent=1, default=str))
    if args.keep or args.workdir is not None:
        console.print(f"Details and logs: {workdir} (result.json)")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps(fig), flush=True)


if __name__ == "__main__":
    main()
