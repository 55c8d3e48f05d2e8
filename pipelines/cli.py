"""The ``arwip`` command line: a thin layer over :mod:`pipelines.sync`, :mod:`pipelines.models` and the
simulators. Every command has ``--help``; errors print one line naming what to fix (no traceback unless
``ARWIP_DEBUG=1``) and exit non-zero.
"""

from __future__ import annotations

import os
import sys
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import duckdb
import typer
from rich.console import Console

from pipelines import sync as sync_mod
from pipelines.errors import explain
from pipelines.output import to_csv, to_json, to_rich, transpose
from pipelines.publish import PublishResult

app = typer.Typer(
    help="arwip: AR aging and WIP outstanding from Aiwyn, Aimsio and iinsight, synced into DuckDB.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True, width=None if sys.stderr.isatty() else 120)
out = Console(width=None if sys.stdout.isatty() else 160)

SIMULATOR_PORTS = (8701, 8702, 8703)  # the base URLs in .dlt/config.toml
DbOption = Annotated[Path, typer.Option("--db", help="DuckDB warehouse file.")]


class Source(StrEnum):
    aiwyn = "aiwyn"
    aimsio = "aimsio"
    iinsight = "iinsight"


class ReportName(StrEnum):
    aging = "aging"
    wip = "wip"
    aging_trend = "aging_trend"
    wip_trend = "wip_trend"
    kpis = "kpis"
    top_overdue = "top_overdue"


TITLES = {
    "aging": "AR aging",
    "wip": "WIP outstanding",
    "aging_trend": "AR aging trend (month ends)",
    "wip_trend": "WIP outstanding trend (month ends)",
    "kpis": "KPIs (trailing 90 days)",
    "top_overdue": "Top overdue clients (> 30 days past due)",
}


class By(StrEnum):
    client = "client"


class Fmt(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"
    html = "html"


def _fail(exc: BaseException) -> NoReturn:
    if os.environ.get("ARWIP_DEBUG"):
        raise exc
    message, code = explain(exc)
    console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)  # one line, for logs
    raise typer.Exit(code)


def print_run(run: sync_mod.SourceRun) -> None:
    """One line per resource: rows fetched, requests made, and anything unusual."""
    for name, stats in run.resources.items():
        extra = []
        if stats.reread:
            extra.append(f"{stats.reread} re-read in the lag window")
        if stats.retries:
            extra.append(f"{stats.retries} retries")
        if stats.quarantined:
            extra.append(f"[yellow]{stats.quarantined} quarantined[/]")
        if stats.deleted:
            extra.append(f"{stats.deleted} deleted")
        tail = f" ({', '.join(extra)})" if extra else ""
        console.print(
            f"  {run.name}.{name}: {stats.rows:,} rows fetched, {stats.requests:,} requests{tail}", highlight=False
        )
    if run.resumed_packages:
        console.print(f"  {run.name}: finished {run.resumed_packages} package(s) left by an earlier run")
    console.print(f"  {run.name}: done in {run.seconds:.1f} s", highlight=False)


def write_report_page(db: Path, name: str, day: date | None, path: Path) -> Path:
    """Write the self-contained HTML page of report ``name`` (summary, detail, and trend when present)."""
    from pipelines.html_report import write_html
    from pipelines.models import report as build_report
    from pipelines.models import today_utc

    with duckdb.connect(str(db), read_only=True) as con:
        summary = build_report(con, name, day, by_client=True)
        detail = build_report(con, name, day)
        trend = build_report(con, f"{name}_trend", day)
    return write_html(path, TITLES[name], day or today_utc(), summary, detail, trend)


def run_sync(db: Path, sources: list[str] | None, reconcile: bool = False) -> list[sync_mod.SourceRun]:
    """Sync with progress on stderr; returns the runs."""

    def started(run: sync_mod.SourceRun) -> None:
        console.print(f"[bold]{run.name}[/]: syncing…")

    def published(result: PublishResult) -> None:
        console.print(f"  BI snapshot: {result.path} ({result.bytes / 1e6:.1f} MB, {result.seconds:.2f} s)")

    def reconciled(found: list[Any]) -> None:
        for r in found:
            if r.skipped:
                why = f"({r.skipped}); the next sync tries again"
                console.print(f"  [yellow]{r.source}.{r.entity}: not reconciled[/] {why}", highlight=False)
                continue
            console.print(
                f"  {r.source}.{r.entity}: reconciled {r.api_ids:,} ids at the API with {r.warehouse_ids:,} "
                f"in the warehouse: {r.missing} disappeared, {r.returned} back",
                highlight=False,
            )

    return sync_mod.sync(
        db,
        sources,
        on_start=started,
        on_done=print_run,
        on_publish=published,
        reconcile=reconcile,
        on_reconcile=reconciled,
    )


@app.command()
def sync(
    source: Annotated[
        list[Source] | None, typer.Option("--source", "-s", help="Source to sync (repeatable); default all.")
    ] = None,
    db: DbOption = sync_mod.DEFAULT_DB,
    strict: Annotated[bool, typer.Option(help="Exit non-zero when any record was quarantined.")] = False,
    reconcile: Annotated[
        bool, typer.Option(help="Also compare all ids with the sources and soft-delete what disappeared.")
    ] = False,
) -> None:
    """Fetch what changed in each source since the last run, load it into DuckDB, rebuild the models."""
    try:
        runs = run_sync(db, [s.value for s in source] if source else None, reconcile=reconcile)
    except Exception as exc:  # every failure becomes one clear line
        _fail(exc)
    quarantined = sum(r.quarantined for r in runs)
    console.print(f"[green]synced[/] {', '.join(r.name for r in runs)} into {db}")
    if quarantined:
        console.print(f"[yellow]{quarantined} record(s) quarantined[/]: see the <source>.quarantine tables")
        if strict:
            raise typer.Exit(3)


@app.command()
def verify(
    source: Annotated[
        list[Source] | None, typer.Option("--source", "-s", help="Source to check (repeatable); default all.")
    ] = None,
    db: DbOption = sync_mod.DEFAULT_DB,
) -> None:
    """Compare the warehouse with each source: rows, money sums and newest change, per entity."""
    from rich.table import Table

    from pipelines.verify import verify as run_verify

    if not db.exists():
        _fail(FileNotFoundError(f"no warehouse at {db}: run `arwip sync` first"))
    try:
        checks = run_verify(db, [s.value for s in source] if source else list(sync_mod.SOURCES))
    except Exception as exc:
        _fail(exc)
    view = Table("source", "entity", "metric", "warehouse", "API", "", title="arwip verify", title_justify="left")
    for c in checks:
        view.add_row(c.source, c.entity, c.metric, c.warehouse, c.api, "[green]ok[/]" if c.ok else "[red]DIFFERS[/]")
    out.print(view)
    differences = [c for c in checks if not c.ok]
    if differences:
        console.print(f"[red]{len(differences)} difference(s)[/]: run `arwip sync` (or `arwip sync --reconcile`)")
        raise typer.Exit(1)
    console.print("[green]the warehouse equals the sources[/]")


@app.command()
def report(
    name: Annotated[
        ReportName,
        typer.Argument(help="aging (AR aging), wip (WIP outstanding), their month-end trends, kpis, top_overdue."),
    ],
    as_of: Annotated[str | None, typer.Option("--as-of", help="Report date YYYY-MM-DD (default today, UTC).")] = None,
    by: Annotated[By | None, typer.Option("--by", help="Summarize by client.")] = None,
    fmt: Annotated[Fmt, typer.Option("--format", "-f", help="Output format.")] = Fmt.table,
    out_file: Annotated[Path | None, typer.Option("--out", help="Write to this file (required for html).")] = None,
    db: DbOption = sync_mod.DEFAULT_DB,
) -> None:
    """Print the AR aging or WIP outstanding report as of a date (or write it, e.g. as an HTML page)."""
    from pipelines.models import report as build_report

    try:
        day = date.fromisoformat(as_of) if as_of else None
    except ValueError:
        _fail(ValueError(f"--as-of {as_of!r} is not a date: use YYYY-MM-DD"))
    if not db.exists():
        _fail(FileNotFoundError(f"no warehouse at {db}: run `arwip sync` (or `arwip demo`) first"))
    if fmt is Fmt.html:
        if name.value not in ("aging", "wip"):
            _fail(ValueError("--format html is for the aging and wip reports"))
        if out_file is None:
            _fail(ValueError("--format html needs --out FILE"))
        try:
            path = write_report_page(db, name.value, day, out_file)
        except Exception as exc:
            _fail(exc)
        console.print(f"wrote {path}")
        return
    try:
        with duckdb.connect(str(db), read_only=True) as con:
            table = build_report(con, name.value, day, by_client=by is not None)
    except Exception as exc:
        _fail(exc)
    if out_file is not None:
        text = to_json(table) + "\n" if fmt is Fmt.json else to_csv(table) if fmt is Fmt.csv else None
        if text is None:
            _fail(ValueError("--out needs --format csv, json or html"))
        out_file.write_text(text)
        console.print(f"wrote {out_file}")
    elif fmt is Fmt.json:
        sys.stdout.write(to_json(table) + "\n")
    elif fmt is Fmt.csv:
        sys.stdout.write(to_csv(table))
    else:
        if name is ReportName.kpis:
            table = transpose(table, "source_system")
        totals = name in (ReportName.aging, ReportName.wip, ReportName.top_overdue)
        out.print(to_rich(table, f"{TITLES[name.value]} as of {day or 'today'}", totals=totals))


@app.command()
def simulate(
    size: Annotated[str, typer.Option(help="Firm size: tiny, demo, medium or large.")] = "demo",
    seed: Annotated[int, typer.Option(help="Seed of the data generator.")] = 1,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[
        list[int] | None,
        typer.Option("--port", help="Ports for aiwyn, aimsio, iinsight (repeat 3 times; 0 = any free port)."),
    ] = None,
    latency_base_ms: Annotated[float, typer.Option(help="Latency per response (ms).")] = 0.0,
    latency_per_row_ms: Annotated[float, typer.Option(help="Extra latency per row in a response (ms).")] = 0.0,
) -> None:
    """Run the three vendor API simulators in the foreground; print base URLs and credentials."""
    from simulators.cluster import serve_forever

    try:
        serve_forever(
            size=size,
            seed=seed,
            host=host,
            ports=tuple(port) if port else SIMULATOR_PORTS,
            latency_base_ms=latency_base_ms,
            latency_per_row_ms=latency_per_row_ms,
        )
    except KeyboardInterrupt:
        pass


@app.command()
def demo(
    db: DbOption = Path("arwip-demo.duckdb"),
    size: Annotated[str, typer.Option(help="Firm size: tiny, demo, medium or large.")] = "demo",
    seed: Annotated[int, typer.Option(help="Seed of the data generator.")] = 1,
) -> None:
    """Start the simulators, sync, apply one activity step, sync again, print both reports."""
    from pipelines.demo import run_demo

    try:
        run_demo(db, size=size, seed=seed, console=console, out=out, sync=run_sync, write_page=write_report_page)
    except Exception as exc:
        _fail(exc)


if __name__ == "__main__":
    app()
