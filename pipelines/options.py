"""The options every command that touches the warehouse shares (``--db``, ``--destination``) and the warehouse
they name; used by :mod:`pipelines.cli`, :mod:`pipelines.push.cli` and :mod:`pipelines.serve.cli`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from pipelines.errors import fail
from pipelines.warehouse import DESTINATION_HELP, Destination, Warehouse, open_warehouse

DbOption = Annotated[Path, typer.Option("--db", help="DuckDB warehouse file (with --destination duckdb, the default).")]
DestinationOption = Annotated[Destination | None, typer.Option("--destination", help=DESTINATION_HELP)]


def warehouse_of(destination: Destination | None, db: Path, console: Console) -> Warehouse:
    """The warehouse of ``--destination`` (else ``[warehouse] destination``) and ``--db``; a configuration error
    ends the command with its one line on ``console`` (:func:`pipelines.errors.fail`)."""
    try:
        return open_warehouse(destination.value if destination else None, db)
    except Exception as exc:
        fail(exc, console)
