"""``arwip demo``: the whole product on the simulators, in one command.

Starts the three vendor API simulators on free loopback ports, points the sources at them (the same
``SOURCES__…`` keys a real deployment sets), syncs into a fresh warehouse, applies one burst of activity
(new, edited, paid, voided, deleted records), syncs again (fetching only what changed) and prints the
AR aging and WIP outstanding reports (and writes them as HTML pages to ``reports/`` beside the warehouse).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
from rich.console import Console

from pipelines.models import report
from pipelines.output import to_rich
from pipelines.warehouse import state_dir


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the duration of the block, then restore the old values."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def reset_warehouse(db: Path) -> None:
    """Delete a warehouse file and its dlt state, so a run starts from nothing."""
    for path in (db, db.with_name(db.name + ".wal")):
        path.unlink(missing_ok=True)
    shutil.rmtree(state_dir(db), ignore_errors=True)


def run_demo(
    db: Path,
    size: str,
    seed: int,
    console: Console,
    out: Console,
    sync: Callable[..., Any],
    write_page: Callable[[Path, str, Any, Path], Path],
) -> None:
    """Run the demo into ``db`` (recreated); progress to ``console``, reports to ``out``; ``sync`` and
    ``write_page`` are the CLI's (progress printing, HTML report page)."""
    from simulators import Firm, SimulatorCluster

    console.print(f"[bold]Generating a {size} firm (seed {seed}) and starting the simulators…[/]")
    firm = Firm(seed=seed, size=size)
    reset_warehouse(db)
    with SimulatorCluster(firm) as cluster, environment(cluster.credentials):
        for vendor, url in cluster.urls.items():
            console.print(f"  {vendor}: {url}")
        console.print("\n[bold]First sync[/] (everything is new)")
        sync(db, None)
        counts = firm.activity(fraction=0.02)
        changed = ", ".join(f"{entity} {sum(kinds.values())}" for entity, kinds in counts.items())
        console.print(f"\n[bold]Activity[/] in the vendor systems: {changed}")
        console.print("\n[bold]Second sync[/] (only what changed; then reconcile the ids with the sources)")
        sync(db, None, reconcile=True)
    with duckdb.connect(str(db), read_only=True) as con:
        for name, title in (("aging", "AR aging by client"), ("wip", "WIP outstanding by client")):
            out.print(to_rich(report(con, name, by_client=True), f"{title}, as of today", limit=15))
    for name in ("aging", "wip"):
        page = write_page(db, name, None, db.parent / "reports" / f"{db.stem}-{name}.html")
        console.print(f"HTML report: {page}")
    console.print(
        f"\nWarehouse: {db} (BI snapshot beside it). Try `arwip report aging --db {db}`, or "
        f'`duckdb {db} "select * from reports.rpt_ar_aging limit 10"`.'
    )
