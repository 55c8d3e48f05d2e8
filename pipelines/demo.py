"""``arwip demo``: the whole product on the simulators, in one command.

Starts the three vendor API simulators on free loopback ports, points the sources at them (the same
``SOURCES__…`` keys a real deployment sets), syncs into a fresh warehouse, applies one burst of activity
(new, edited, paid, voided, deleted records), syncs again (fetching only what changed) and prints the
AR aging and WIP outstanding reports (and writes them as HTML pages to ``reports/`` beside the warehouse).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console

from pipelines.models import report
from pipelines.output import to_rich
from pipelines.warehouse import Warehouse, as_warehouse


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


def run_demo(
    warehouse: Warehouse | Path,
    size: str,
    seed: int,
    console: Console,
    out: Console,
    sync: Callable[..., Any],
    write_page: Callable[[Warehouse, str, Any, Path], Path],
) -> None:
    """Run the demo into ``warehouse`` (a path: that DuckDB file), recreated first (see
    :meth:`~pipelines.warehouse.Warehouse.recreate`); progress to ``console``, reports to ``out``; ``sync`` and
    ``write_page`` are the CLI's (progress printing, HTML report page). The HTML pages go to ``reports/`` in the
    warehouse's folder (beside a DuckDB file, else the current folder)."""
    from simulators import Firm, SimulatorCluster

    console.print(f"[bold]Generating a {size} firm (seed {seed}) and starting the simulators…[/]")
    firm = Firm(seed=seed, size=size)
    warehouse = as_warehouse(warehouse)
    warehouse.recreate()
    with SimulatorCluster(firm) as cluster, environment(cluster.credentials):
        for vendor, url in cluster.urls.items():
            console.print(f"  {vendor}: {url}")
        console.print("\n[bold]First sync[/] (everything is new)")
        sync(warehouse, None)
        counts = firm.activity(fraction=0.02)
        changed = ", ".join(f"{entity} {sum(kinds.values())}" for entity, kinds in counts.items())
        console.print(f"\n[bold]Activity[/] in the vendor systems: {changed}")
        console.print("\n[bold]Second sync[/] (only what changed; then reconcile the ids with the sources)")
        sync(warehouse, None, reconcile=True)
    with warehouse.connect() as con:
        for name, title in (("aging", "AR aging by client"), ("wip", "WIP outstanding by client")):
            out.print(to_rich(report(con, name, by_client=True), f"{title}, as of today", limit=15))
    for name in ("aging", "wip"):
        page = write_page(warehouse, name, None, warehouse.folder / "reports" / f"{warehouse.slug}-{name}.html")
        console.print(f"HTML report: {page}")
    query = warehouse.shell("select * from reports.rpt_ar_aging limit 10")
    console.print(
        f"\nWarehouse: {warehouse.location}. Try `arwip report aging {warehouse.cli_args}`, or `{query}`.",
        highlight=False,
    )
