"""Swapping rebuilt schemas in on PostgreSQL, so that readers see the old models or the new ones, never a mix.

The models are built and tested in ``<schema>__new`` (references moved there by sqlglot), committed aside on
several connections (readers never read those schemas), then swapped in by one transaction:

    begin;
    set local lock_timeout = '100ms';
    lock table <every live model relation, newest first> in access exclusive mode;  -- retried, see below
    alter schema staging rename to staging__old_<build>;  alter schema staging__new rename to staging;
    …                                                      (every schema, in build order)
    commit;

A view keeps reading what it was built over (views store OIDs, so ``reports.rpt_ar_aging`` built in
``reports__new`` over ``reports__new.rpt_invoices_as_of`` reads ``reports.rpt_invoices_as_of`` after the
swap), so a statement reading one view sees one build whatever happens. A statement naming several relations
resolves their names one after the other; the lock makes the swap wait until no reader holds a live relation
and makes new readers wait (milliseconds) until the commit, after which they resolve every name to the new
schemas. The relations are locked newest first, i.e. in reverse build order: a reader locks a view before the
relations it reads, so the two never wait for each other in a cycle.

A long reader must not stall the sync, nor the readers queued behind the swap: the lock gives up after
100 ms and is tried again (:data:`LOCK_TRIES` times). If it never gets the relations, the schemas are swapped
by the renames alone, which take no relation lock (readers never wait or fail; only a statement naming
several relations *at the instant of the commit* could then combine two builds, which
:meth:`pipelines.warehouse.postgres.PostgresConnection.consistent` detects for arwip's own reads).

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
LOCK_TRIES = 30
PAUSE_S = 0.2
LOCK_NOT_AVAILABLE = "55P03"


def swap_in(con: PostgresConnection, building: Mapping[str, str]) -> bool:
    """Inside the swap's transaction: lock the live relations (see the module docstring), rename each live
    schema (that exists) to ``<schema>__old_<build>`` and each new one (``building[schema]``) to its live name.
    Returns whether the live relations were locked (False: swapped by the renames alone)."""
    build = secrets.token_hex(4)
    placeholders = ", ".join(f"${i}" for i in range(1, len(building) + 1))
    relations = [
        name
        for (name,) in con.fetch(
            "select format('%I.%I', n.nspname, c.relname) from pg_class as c join pg_namespace as n on n.oid = "
            f"c.relnamespace where n.nspname in ({placeholders}) and c.relkind in ('r', 'v', 'm', 'p') "
            "order by c.oid desc",
            list(building),
        )
    ]
    locked = _lock(con, relations)
    live = {name for (name,) in con.fetch(f"select nspname from pg_namespace where nspname in ({placeholders})",
                                          list(building))}  # fmt: skip
    for schema, new in building.items():
        if schema in live:
            con.execute(f"alter schema {schema} rename to {schema}{BACKUP_INFIX}{build}")
        con.execute(f"alter schema {new} rename to {schema}")
    return locked


def _lock(con: PostgresConnection, relations: list[str]) -> bool:
    """``lock table <relations> in access exclusive mode`` with a 100 ms ``lock_timeout``, under a savepoint,
    tried :data:`LOCK_TRIES` times; whether it succeeded (the locks are then held until the commit)."""
    if not relations:
        return True
    con.execute("set local lock_timeout = '100ms'")
    for _ in range(LOCK_TRIES):
        con.execute("savepoint arwip_swap")
        try:
            con.execute(f"lock table {', '.join(relations)} in access exclusive mode")
        except con.errors as exc:
            if getattr(exc, "sqlstate", None) != LOCK_NOT_AVAILABLE:
                raise
            con.execute("rollback to savepoint arwip_swap")
            time.sleep(PAUSE_S)  # let the readers queued behind the lock through
            continue
        con.execute("release savepoint arwip_swap")
        return True
    return False


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
                    time.sleep(PAUSE_S)
        else:
            left.append(backup)
    return left
