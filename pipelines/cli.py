"""The ``arwip`` command line: a thin layer over :mod:`pipelines.sync`, :mod:`pipelines.models` and the
simulators. Every command has ``--help``; errors print one line naming what to fix (no traceback unless
``ARWIP_DEBUG=1``) and exit non-zero.
"""

from __future__ import annotations

import sys
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console

from pipelines.errors import EXIT_FAILED, fail
from pipelines.models import REPORTS
from pipelines.options import DbOption, DestinationOption, warehouse_of
from pipelines.output import to_csv, to_json, to_rich, transpose
from pipelines.publish import PublishResult
from pipelines.push.cli import push_app
from pipelines.serve import cli as serve_cli
from pipelines.sync import SourceRun
from pipelines.sync import sync as run_sync_pipeline
from pipelines.warehouse import DEFAULT_DB, Connection, Warehouse
from sources import registry
from sources._http import ConfigError

app = typer.Typer(
    help="arwip: AR aging and WIP outstanding from Aiwyn, Aimsio and iinsight, synced into DuckDB or PostgreSQL.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True, width=None if sys.stderr.isatty() else 120)
out = Console(width=None if sys.stdout.isatty() else 160)

SIMULATOR_PORTS = (8701, 8702, 8703)  # the base URLs in .dlt/config.toml


def _sources(values: list[str] | None) -> list[str] | None:
    """Validate ``--source`` against the vendor registry (names known at run time)."""
    for value in values or ():
        try:
            registry.get(value)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
    return values or None


def _source_option(what: str) -> Any:
    return typer.Option("--source", "-s", help=f"Source to {what} (repeatable); default all.", callback=_sources)


ReportName = StrEnum("ReportName", [(name, name) for name in REPORTS])  # type: ignore[misc]


class By(StrEnum):
    client = "client"


class Fmt(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"
    html = "html"


def _fail(exc: BaseException) -> NoReturn:
    fail(exc, console)


def print_run(run: SourceRun) -> None:
    """One line per resource: rows fetched, requests made, and anything unusual; one line per optional entity
    that was unavailable, saying what falls back."""
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
    for entity, why in run.unavailable():
        console.print(
            f"  [yellow]{run.name}.{entity.name} unavailable[/] ({why}): {entity.fallback}; the next sync tries again",
            highlight=False,
        )
    if run.resumed_packages:
        console.print(f"  {run.name}: finished {run.resumed_packages} package(s) left by an earlier run")
    console.print(f"  {run.name}: done in {run.seconds:.1f} s", highlight=False)


def write_report_page(warehouse: Warehouse, name: str, day: date | None, path: Path) -> Path:
    """Write the self-contained HTML page of report ``name`` (summary, detail, and trend when present)."""
    from pipelines.html_report import write_html
    from pipelines.models import report as build_report
    from pipelines.models import report_config_from_dlt, today_utc

    config = report_config_from_dlt()
    with warehouse.connect() as con:
        summary = build_report(con, name, day, by_client=True, config=config)
        detail = build_report(con, name, day, config=config)
        trend = build_report(con, f"{name}_trend", day, config=config)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_html(path, REPORTS[name].title, day or today_utc(), summary, detail, trend)


def _reading(warehouse: Warehouse) -> Warehouse:
    """What a reader opens for ``warehouse``: itself, or (DuckDB) its BI snapshot while a writer holds the file
    (said on stderr; see :meth:`pipelines.warehouse.Warehouse.for_readers`)."""
    try:
        warehouse.require()
        read, note = warehouse.for_readers()
    except Exception as exc:
        _fail(exc)
    if note:
        console.print(f"[yellow]note:[/] {note}", highlight=False, soft_wrap=True)
    return read


def run_sync(warehouse: Warehouse, sources: list[str] | None, reconcile: bool = False) -> list[SourceRun]:
    """Sync with progress on stderr; returns the runs."""

    def started(run: SourceRun) -> None:
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

    def exceptions(count: int) -> None:
        if count:
            what = "invoice whose vendor figures disagree" if count == 1 else "invoices whose vendor figures disagree"
            console.print(f"  [yellow]exceptions: {count:,} {what}[/]: `arwip report exceptions`", highlight=False)

    return run_sync_pipeline(
        warehouse,
        sources,
        on_start=started,
        on_done=print_run,
        on_publish=published,
        reconcile=reconcile,
        on_reconcile=reconciled,
        on_exceptions=exceptions,
    )


@app.command()
def sync(
    source: Annotated[list[str] | None, _source_option("sync")] = None,
    db: DbOption = DEFAULT_DB,
    destination: DestinationOption = None,
    strict: Annotated[
        bool, typer.Option(help="Exit 3 when any record was quarantined or an optional entity was unavailable.")
    ] = False,
    reconcile: Annotated[
        bool, typer.Option(help="Reconcile now: compare all ids with the sources and soft-delete what disappeared "
                           "(otherwise done when the last reconcile is older than reconcile_every).")
    ] = False,
) -> None:
    """Fetch what changed in each source since the last run, load it into the warehouse, rebuild the models."""
    warehouse = warehouse_of(destination, db, console)
    try:
        for note in warehouse.notes():
            console.print(f"[yellow]note:[/] {note}", highlight=False)
        runs = run_sync(warehouse, source, reconcile=reconcile)
    except Exception as exc:  # every failure becomes one clear line
        _fail(exc)
    quarantined = sum(r.quarantined for r in runs)
    unavailable = sum(len(r.unavailable()) for r in runs)
    console.print(f"[green]synced[/] {', '.join(r.name for r in runs)} into {warehouse.location}")
    if quarantined:
        console.print(f"[yellow]{quarantined} record(s) quarantined[/]: see the <source>.quarantine tables")
    if unavailable:
        console.print(f"[yellow]{unavailable} optional entit{'y' if unavailable == 1 else 'ies'} unavailable[/]")
    if strict and (quarantined or unavailable):
        raise typer.Exit(3)


@app.command()
def check(source: Annotated[list[str] | None, _source_option("check")] = None) -> None:
    """Test the configuration and each source's connection: authenticate and read one row of every entity.

    Exits 0 when every core entity works (an optional one may not), 2 on a configuration error, 1 otherwise.
    Writes nothing and prints no secret.
    """
    from rich.table import Table

    from pipelines.check import check as run_check

    try:
        probes = run_check(source)
    except Exception as exc:
        _fail(exc)
    view = Table("source", "entity", "endpoint", "result", "ms", title="arwip check", title_justify="left")
    for p in probes:
        colour = "green" if p.ok else ("yellow" if not p.core else "red")
        entity = p.entity if p.core else f"{p.entity} (optional)"
        view.add_row(p.source, entity, p.endpoint, f"[{colour}]{p.result}[/]", f"{p.ms:.0f}")
    out.print(view)
    for p in probes:
        if p.hint:
            out.print(f"  {p.source}.{p.entity}: {p.hint}", highlight=False, soft_wrap=True)
    broken = [p for p in probes if p.core and not p.ok]
    if broken:
        console.print(f"[red]{len(broken)} core entit{'y' if len(broken) == 1 else 'ies'} not working[/]")
        raise typer.Exit(EXIT_FAILED)
    console.print("[green]every core entity works[/]")


@app.command()
def verify(
    source: Annotated[list[str] | None, _source_option("check")] = None,
    db: DbOption = DEFAULT_DB,
    destination: DestinationOption = None,
) -> None:
    """Compare the warehouse with each source: rows, money sums and newest change, per entity."""
    from rich.table import Table

    from pipelines.verify import verify as run_verify

    read = _reading(warehouse_of(destination, db, console))
    try:
        checks = run_verify(read, source)
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


def _config_note(con: Connection, config: Any) -> None:
    """Say so when the report configuration in force differs from the one the warehouse's views were built
    with (the report uses the one in force; BI tools see the views until the next sync rebuilds them)."""
    from pipelines.models import ModelsNotBuilt, stored_report_config

    try:
        stored = stored_report_config(con)
    except ModelsNotBuilt:
        return
    if stored != config:
        console.print(
            f"[yellow]note:[/] buckets {list(config.aging_buckets)} by {config.aging_basis} from the configuration "
            f"in force; the warehouse's views (and BI tools) use {list(stored.aging_buckets)} by "
            f"{stored.aging_basis} until the next `arwip sync` rebuilds them",
            highlight=False,
        )


@app.command()
def report(
    name: Annotated[
        ReportName,
        typer.Argument(
            help="aging (AR aging), wip (WIP outstanding), their month-end trends, kpis, top_overdue, exceptions, "
            "client_summary (AR, WIP and DSO per client)."
        ),
    ],
    as_of: Annotated[str | None, typer.Option("--as-of", help="Report date YYYY-MM-DD (default today, UTC).")] = None,
    by: Annotated[By | None, typer.Option("--by", help="Summarize by client.")] = None,
    fmt: Annotated[Fmt, typer.Option("--format", "-f", help="Output format.")] = Fmt.table,
    out_file: Annotated[Path | None, typer.Option("--out", help="Write to this file (required for html).")] = None,
    db: DbOption = DEFAULT_DB,
    destination: DestinationOption = None,
) -> None:
    """Print a report as of a date (or write it, e.g. as an HTML page), with the aging buckets and basis in force
    (REPORTS__AGING_BUCKETS, REPORTS__AGING_BASIS or .dlt/config.toml)."""
    from pipelines.models import report as build_report
    from pipelines.models import report_config_from_dlt

    chosen = REPORTS[name.value]
    try:
        day = date.fromisoformat(as_of) if as_of else None
    except ValueError:
        _fail(ValueError(f"--as-of {as_of!r} is not a date: use YYYY-MM-DD"))
    try:
        config = report_config_from_dlt()
    except ValueError as exc:  # names the key
        _fail(ConfigError(str(exc)))
    read = _reading(warehouse_of(destination, db, console))
    if fmt is Fmt.html:
        if not chosen.page:
            pages = " and ".join(r.name for r in REPORTS.values() if r.page)
            _fail(ValueError(f"--format html is for the {pages} reports"))
        if out_file is None:
            _fail(ValueError("--format html needs --out FILE"))
        try:
            path = write_report_page(read, chosen.name, day, out_file)
        except Exception as exc:
            _fail(exc)
        console.print(f"wrote {path}")
        return
    try:
        with read.connect() as con:
            _config_note(con, config)
            table = build_report(con, chosen.name, day, by_client=by is not None, config=config)
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
        if chosen.transpose_by:
            table = transpose(table, chosen.transpose_by)
        out.print(to_rich(table, f"{chosen.title} as of {day or 'today'}", totals=chosen.totals))


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
    destination: DestinationOption = None,
    size: Annotated[str, typer.Option(help="Firm size: tiny, demo, medium or large.")] = "demo",
    seed: Annotated[int, typer.Option(help="Seed of the data generator.")] = 1,
) -> None:
    """Start the simulators, sync into a fresh warehouse, apply one activity step, sync again, print both reports
    (HTML pages in a reports folder). On postgres, give the demo a database of its own: it recreates it."""
    from pipelines.demo import run_demo

    warehouse = warehouse_of(destination, db, console)
    try:
        run_demo(warehouse, size=size, seed=seed, console=console, out=out, sync=run_sync, write_page=write_report_page)
    except Exception as exc:
        _fail(exc)


app.command("serve")(serve_cli.serve)
app.add_typer(serve_cli.subscriptions, name="subscriptions")
app.add_typer(push_app, name="push")

if __name__ == "__main__":
    app()
