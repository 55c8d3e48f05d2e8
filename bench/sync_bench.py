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
``bench/_harness.py`` starts and measures the processes; ``bench/_figures.py`` computes the figures against
their targets and prints the tables.

The lower bound. Per API, the latency the simulator charged for the sync's requests (summed ``base +
per_row × rows`` over every response, counted by the simulator) divided by the concurrency the API allows
(8); for Aimsio, the larger of its requests ÷ 10 per second and its latency ÷ 10 in flight. Every response
counts, whatever the endpoint (iinsight's payments and billings as much as its invoices). The APIs are
synced concurrently, so a sync's bound is the largest per-API bound. ``full_over_bound = full_s /
bound_s``. A route's own work (DuckDB rendering the JSON) falls inside its latency (``Vendor.delay``); what a
request took beyond the model (the middlewares, Aimsio's queue, work longer than the latency) is reported beside
the bound (``sim_overhead``).

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
import shutil
import statistics
import subprocess
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

from _figures import bounds, figures, print_tables, stats_delta, summarize_profile
from _harness import BENCH, PYTHON, ROOT, ChildRun, Postgres, Simulators, console, run_child

LOAD_ROWS = {"demo": (100_000, 20_000), "full": (1_000_000, 100_000)}  # pg_load.py: parquet/csv rows, INSERT rows


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


# -- measurements -------------------------------------------------------------------------------------


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
