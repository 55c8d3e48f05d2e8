"""The push benchmark: ``arwip push --apply`` against the simulators with the latency model of
``bench/sync_bench.py`` (50 ms + 0.5 ms a row), each push in its own process.

Three runs, one line of JSON at the end (``RESULT {...}``):

- **records**: 10,000 Aiwyn records (a query over ``range``) into a custom record type, 100 a request, 8 in
  flight. ``records_over_bound`` = the apply phase (``bench/_push_runner.py``: from the plan to the last outcome
  recorded) ÷ the API bound (the latency the simulator charged those requests ÷ 8). Target ≤ 1.3.
- **nrbs**: 2,000 Aimsio NRBs, 100 a request within 10 requests/s and 10 in flight. ``nrbs_rps`` = requests ÷ the
  apply phase (as ``aimsio_rps`` in the sync benchmark), ``nrbs_429`` the 429s. Targets ≥ 9.5 and 0.
- **stream**: 100,000 Aiwyn records from one query. ``stream_peak_rss_mb`` = the push process's peak RSS
  (``os.wait4``). Target ≤ 500: the query is streamed as Arrow batches, checked and sent batch by batch.

``python bench/push_bench.py`` (about a minute: the simulators' generation, then ~1.3 s, ~3 s and ~13 s of
bound); ``--records 1000 --nrbs 300 --stream-rows 5000`` for a quick look. ``--workdir DIR`` keeps the
warehouses, SQL files and logs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from _harness import PYTHON, Simulators, console, run_child  # also puts this tree on the import path
from rich.table import Table

from sources._http import HttpSettings
from sources.aiwyn import records as rec
from sources.aiwyn.client import aiwyn_client

RUNNER = Path(__file__).resolve().parent / "_push_runner.py"
IN_FLIGHT = 8
TARGETS = {"records_over_bound": ("<=", 1.3), "nrbs_rps": (">=", 9.5), "nrbs_429": ("<=", 0),
           "stream_peak_rss_mb": ("<=", 500.0)}
FIELDS = (rec.FieldSchema("label", "string", required=True, nullable=False), rec.FieldSchema("amount", "decimal"),
          rec.FieldSchema("due", "date"))


def records_sql(rows: int) -> str:
    return ("select 'k-' || cast(i as varchar) as key, 'row ' || cast(i as varchar) as label, "
            "cast(i / 100 as decimal(18, 2)) as amount, date '2026-06-30' + cast(i % 365 as integer) as due "
            f"from range({rows}) t(i)")


def nrbs_sql(rows: int) -> str:
    return ("select 'BENCH-' || cast(i as varchar) as \"nrbExternalId\", 'JOB20250514' as \"nrbJobOrderNumber\", "
            "'bench ' || cast(i as varchar) as \"nrbName\", 'Other' as \"nrbTypeName\", 'Billable' as "
            "\"nrbAccountType\", true as \"nrbIsBillable\", 'BIT' as \"nrbVendorCode\", cast(10.125 as decimal(18, "
            f"3)) as \"nrbRate\", cast(1 + i % 7 as decimal(18, 3)) as \"nrbQuantity\" from range({rows}) t(i)")


def create_types(sims: Simulators, *names: str) -> None:
    async def go() -> None:
        client = aiwyn_client(sims.urls["aiwyn"], sims.info["credentials"]["SOURCES__AIWYN__JWT_API_KEY"],
                              HttpSettings())
        try:
            for name in names:
                await rec.create_custom_type(client, name, FIELDS)
        finally:
            await client.aclose()

    asyncio.run(go())


def run_push(sims: Simulators, workdir: Path, label: str, target: str, vendor: str, args: dict[str, Any]) -> Any:
    console.print(f"[bold]{label}[/]: arwip push {target} --apply…")
    run = run_child([PYTHON, str(RUNNER), "--target", target, "--args", json.dumps(args), "--db",
                     str(workdir / f"{label}.duckdb"), "--stats-url", f"{sims.urls[vendor]}/_sim/stats"],
                    sims.env, workdir / f"{label}.log", sims, label=label)
    r = run.result
    console.print(f"  {r['applied']:,} applied, {r['failed']:,} failed in {r['batches']} batches; apply "
                  f"{r['apply_s']:.2f} s (plan {r['plan_s']:.2f} s), peak RSS {run.maxrss_mb:.0f} MB")
    return run


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--nrbs", type=int, default=2_000)
    parser.add_argument("--stream-rows", type=int, default=100_000)
    parser.add_argument("--size", default="tiny", help="the simulated firm (the pushes do not depend on it)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--latency-base-ms", type=float, default=50.0)
    parser.add_argument("--latency-per-row-ms", type=float, default=0.5)
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="arwip-push-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    for name in ("records", "nrbs", "stream"):  # fresh warehouses: a ledger of an earlier run would skip rows
        (workdir / f"{name}.duckdb").unlink(missing_ok=True)
        shutil.rmtree(workdir / ".arwip" / f"{name}.duckdb", ignore_errors=True)
    with Simulators(args.size, args.seed, args.latency_base_ms, args.latency_per_row_ms, workdir) as sims:
        create_types(sims, "bench_records", "bench_stream")
        for name, sql in (("records", records_sql(args.records)), ("nrbs", nrbs_sql(args.nrbs)),
                          ("stream", records_sql(args.stream_rows))):
            (workdir / f"{name}.sql").write_text(sql)
        records = run_push(sims, workdir, "records", "aiwyn-records", "aiwyn", {
            "type": "bench_records", "sql": str(workdir / "records.sql"), "key": "key"})
        nrbs = run_push(sims, workdir, "nrbs", "aimsio-nrbs", "aimsio", {"sql": str(workdir / "nrbs.sql")})
        stream = run_push(sims, workdir, "stream", "aiwyn-records", "aiwyn", {
            "type": "bench_stream", "sql": str(workdir / "stream.sql"), "key": "key"})
    r, n, s = records.result, nrbs.result, stream.result
    figures = {
        "records": r["applied"], "records_apply_s": r["apply_s"], "records_bound_s": r["latency_ms"] / 1000 / IN_FLIGHT,
        "nrbs": n["applied"], "nrbs_apply_s": n["apply_s"], "nrbs_requests": n["requests"],
        "nrbs_429": n["throttled"], "stream_rows": s["applied"], "stream_apply_s": s["apply_s"],
        "stream_bound_s": s["latency_ms"] / 1000 / IN_FLIGHT, "stream_peak_rss_mb": round(stream.maxrss_mb, 1),
        "records_peak_rss_mb": round(records.maxrss_mb, 1)}
    figures["records_over_bound"] = round(r["apply_s"] / figures["records_bound_s"], 3)
    figures["stream_over_bound"] = round(s["apply_s"] / figures["stream_bound_s"], 3)
    figures["nrbs_rps"] = round(n["requests"] / n["apply_s"], 2)
    figures["failed"] = r["failed"] + n["failed"] + s["failed"]
    figures["invalid"] = sum(x["planned"].get("invalid", 0) for x in (r, n, s))
    view = Table("figure", "value", "target", "", title="arwip push benchmark", title_justify="left")
    for name, (op, bound) in TARGETS.items():
        value = figures[name]
        ok = value <= bound if op == "<=" else value >= bound
        view.add_row(name, f"{value:g}", f"{op} {bound:g}", "[green]ok[/]" if ok else "[red]MISSED[/]")
    console.print(view)
    console.print(f"workdir: {workdir}")
    print("RESULT " + json.dumps({**figures, "targets": {k: f"{o} {b}" for k, (o, b) in TARGETS.items()}}))
    sys.exit(0 if figures["failed"] == figures["invalid"] == 0 else 1)


if __name__ == "__main__":
    main()
