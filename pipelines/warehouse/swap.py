"""Swapping rebuilt schemas in on PostgreSQL, so that readers see the old models or the new ones, never a mix.

The models are built in ``<schema>__new`` (references moved there by sqlglot), inside one transaction with
the swap:

    alter schema staging rename to staging__old_<build>;  alter schema staging__new rename to staging;
    …                                                      (every schema, in build order)
    commit;

Renames take no lock on the relations: readers never wait and never fail, and a view keeps reading what it
was built over (views store OIDs, so ``reports.rpt_ar_aging`` built in ``reports__new`` over
``reports__new.rpt_invoices_as_of`` reads ``reports.rpt_invoices_as_of`` after the swap). A statement reading
one view sees one build; a statement naming several relations can resolve some names before the commit and
some after, which :meth:`pipelines.warehouse.postgres.PostgresConnection.consistent` detects and re-reads.

The old schemas are dropped *after* the commit, each in its own transaction with a short ``lock_timeout``
(dropping inside the swap's transaction deadlocks with readers): a drop that would wait for a reader gives
way and is tried again, then left to the next build (:func:`drop_backups`).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipelines.warehouse.postgres import PostgresConnection

BACKUP_INFIX = "__old_"
DROP_TRIES = 5
DROP_PAUSE_S = 0.2
LOCK_NOT_AVAILABLE = "55P03"


def swap_in(con: PostgresConnection, building: Mapping[str, str]) -> None:
    """Inside the build's transaction: rename each live schema (that exists) to ``<schema>__old_<build>`` and each
    new one (``building[schema]``) to its live name."""
    build = secrets.token_hex(4)
    live = {name for (name,) in con.fetch(_schemas_sql(len(building)), list(building))}
    for schema, new in building.items():
        if schema in live:
            con.execute(f"alter schema {schema} rename to {schema}{BACKUP_INFIX}{build}")
        con.execute(f"alter schema {new} rename to {schema}")


def drop_backups(con: PostgresConnection, schemas: Sequence[str]) -> list[str]:
    """Drop every ``<schema>__old_*`` of ``schemas`` (outside a transaction), each with ``lock_timeout`` 50 ms so
    that it never makes a reader wait: a drop that times out is tried :data:`DROP_TRIES` times, then left for the
    next build. Returns the backups left."""
    pattern = f"^({'|'.join(schemas)}){BACKUP_INFIX}[0-9a-f]+$"
    left = []
    for (backup,) in con.fetch("select nspname from pg_namespace where nspname ~ $1 order by 1", [pattern]):
        for attempt in range(DROP_TRIES):
            try:
                with con.transaction():
                    con.execute("set local lock_timeout = '50ms'")
                    con.execute(f"drop schema {backup} cascade")
                break
            except con.errors as exc:
                if getattr(exc, "sqlstate", None) != LOCK_NOT_AVAILABLE:
                    raise
                if attempt + 1 < DROP_TRIES:
                    time.sleep(DROP_PAUSE_S)
        else:
            left.append(backup)
    return left


def _schemas_sql(count: int) -> str:
    return f"select nspname from pg_namespace where nspname in ({', '.join(f'${i}' for i in range(1, count + 1))})"
