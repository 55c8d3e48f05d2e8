"""Where arwip loads, builds and reads: one :class:`Warehouse` per destination, chosen by ``[warehouse]
destination`` in ``.dlt/config.toml`` (``WAREHOUSE__DESTINATION``) or ``--destination`` for one run.

- ``duckdb`` (default): :class:`~pipelines.warehouse.duckdb_file.DuckDBWarehouse`, the file ``--db``
  (``arwip.duckdb``), readers read its BI snapshot.
- ``postgres``: :class:`~pipelines.warehouse.postgres.PostgresWarehouse`, the database of dlt's
  ``DESTINATION__POSTGRES__CREDENTIALS``, readers read the live schemas.

Every warehouse access goes through a :class:`Warehouse` and its :class:`Connection` (see
:mod:`pipelines.warehouse.base`): the differences live in the two implementations.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import dlt
import duckdb

from pipelines.warehouse.base import (
    DUCKDB,
    EXIT_LOCKED,
    Batches,
    Check,
    Connection,
    Rebuild,
    RelationMissing,
    SqlDialect,
    SyncLocked,
    Warehouse,
)
from pipelines.warehouse.duckdb_file import DEFAULT_DB, DuckDBConnection, DuckDBWarehouse
from pipelines.warehouse.postgres import POSTGRES, PostgresWarehouse
from pipelines.warehouse.steps import Step
from sources._http import ConfigError

DESTINATION_KEY = "[warehouse] destination (WAREHOUSE__DESTINATION)"
WAREHOUSES: dict[str, type[Warehouse]] = {w.name: w for w in (DuckDBWarehouse, PostgresWarehouse)}
"""``[warehouse] destination`` value → its warehouse."""
Destination = StrEnum("Destination", [(name, name) for name in WAREHOUSES])  # type: ignore[misc]
"""The ``--destination`` choices of the commands."""
DESTINATION_HELP = (
    "Warehouse for this run: duckdb (the --db file) or postgres (DESTINATION__POSTGRES__CREDENTIALS); "
    "default [warehouse] destination, else duckdb."
)

__all__ = [
    "DEFAULT_DB",
    "DESTINATION_HELP",
    "DUCKDB",
    "EXIT_LOCKED",
    "POSTGRES",
    "WAREHOUSES",
    "Batches",
    "Check",
    "Connection",
    "Destination",
    "DuckDBWarehouse",
    "PostgresWarehouse",
    "Rebuild",
    "RelationMissing",
    "SqlDialect",
    "Step",
    "SyncLocked",
    "Warehouse",
    "as_connection",
    "as_warehouse",
    "open_warehouse",
]


def open_warehouse(destination: str | None = None, db: Path = DEFAULT_DB) -> Warehouse:
    """The warehouse of ``destination`` (default: ``[warehouse] destination``, else ``duckdb``): the DuckDB file
    ``db``, or the PostgreSQL database of dlt's credentials (``db`` is not used).

    Raises:
        ConfigError: an unknown destination (names the key), or missing PostgreSQL credentials.
    """
    chosen = destination or dlt.config.get("warehouse.destination", str) or DuckDBWarehouse.name
    if chosen not in WAREHOUSES:
        raise ConfigError(f"{DESTINATION_KEY} must be {' or '.join(WAREHOUSES)}; got {chosen!r}")
    return WAREHOUSES[chosen].from_config(db)


def as_warehouse(warehouse: Warehouse | Path | str) -> Warehouse:
    """``warehouse``, a path standing for the DuckDB file there."""
    return warehouse if isinstance(warehouse, Warehouse) else DuckDBWarehouse(Path(warehouse))


def as_connection(con: Connection | duckdb.DuckDBPyConnection) -> Connection:
    """``con``, a ``duckdb`` connection (an in-memory database, a test's) wrapped as a :class:`Connection`."""
    return con if isinstance(con, Connection) else DuckDBConnection(con)
