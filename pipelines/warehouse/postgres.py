"""The PostgreSQL warehouse: a server that many readers query while one sync writes.

Configuration: ``[warehouse] destination = "postgres"`` (or ``--destination postgres``) and dlt's own
credentials, ``DESTINATION__POSTGRES__CREDENTIALS=postgresql://user:password@host:5432/database`` (or the
table ``[destination.postgres.credentials]`` in ``.dlt/secrets.toml``).

- Loads: dlt's ``postgres`` destination, Parquet through ADBC (``adbc-driver-postgresql``).
- Connections: ADBC's DB-API (``adbc_driver_postgresql.dbapi``), which returns Arrow; PostgreSQL's ``numeric``
  arrives as text and is turned back into ``decimal128(p, s)`` (:func:`pipelines.warehouse.pg_arrow.decimals`).
- SQL: arwip's DuckDB SQL generated for PostgreSQL by sqlglot, every division typed (:class:`PostgresDialect`).
- The writer's lock: a session advisory lock (:data:`ADVISORY_LOCK`), released when the process dies.
- Models: built into ``<schema>__new`` schemas on several connections at once, the data tests run there, then
  swapped in by renames in one transaction (:mod:`pipelines.warehouse.swap`). Nothing to publish: readers read
  the live schemas.
- arwip's working folder (dlt's pipelines and packages): ``.arwip/postgres-<host>-<port>-<database>/`` in the
  current folder.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import shutil
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import adbc_driver_manager
import adbc_driver_postgresql.dbapi as adbc
import dlt
import pyarrow as pa
from dlt.common.configuration import resolve_configuration
from dlt.common.configuration.exceptions import ConfigFieldMissingException
from dlt.destinations.impl.postgres.configuration import PostgresCredentials
from sqlglot import exp

from pipelines.warehouse.base import (
    Batches,
    Check,
    Connection,
    Rebuild,
    RelationMissing,
    SqlDialect,
    SyncLocked,
    Warehouse,
)
from pipelines.warehouse.pg_arrow import decimals
from pipelines.warehouse.steps import Step, load_seconds, run_at_once, save_seconds
from pipelines.warehouse.swap import drop_backups, swap_in
from sources._config import MissingConfig
from sources._http import ConfigError

T = TypeVar("T")
log = logging.getLogger(__name__)
CREDENTIALS_KEY = "DESTINATION__POSTGRES__CREDENTIALS"
ADVISORY_LOCK = 0x61727769700001  # "arwip" 1: one writer per database
NEW_SUFFIX = "__new"
DEMO_MARKER = "arwip_demo"  # an empty schema: this database is the demo's (see PostgresWarehouse.recreate)
_OWNED_SCHEMAS = (
    "select nspname from pg_namespace where nspowner = (select oid from pg_roles where rolname = current_user)"
    " and nspname <> 'public' and nspname not like 'pg\\_%' order by 1"
)
_MISSING_STATES = frozenset({"42P01", "3F000"})  # undefined_table, invalid_schema_name
_CONSISTENT_TRIES = 10
DEFAULT_THREADS = min(4, os.cpu_count() or 1)
"""Connections a rebuild builds and tests on at once (``[warehouse] threads``): PostgreSQL runs a statement on
one core, and the models' chains and the data tests are independent enough to share several; more than the
server's cores only makes them compete (this machine's cores, at most 4: for a server on another host, set
its own)."""
THREADS_KEY = "[warehouse] threads (WAREHOUSE__THREADS)"
STEP_SECONDS = "rebuild-seconds.json"
"""In the working folder: how long each step of the last rebuild took (it orders the next one's)."""
STATISTICS_TARGET = 10
"""ANALYZE samples 300 × this many rows of each new table: enough for row counts and distinct keys, which is
what the models' plans need, at a tenth of the default's cost (3 s of a medium firm's 15 s build)."""
_ADBC_PREFIX = r"^[A-Z_]+:\s+(\[libpq\]\s*)?(Failed to (connect|prepare query|execute query):\s+)?(ERROR:\s+)?"


class PostgresDialect(SqlDialect):
    """PostgreSQL, with every division typed: ``a / b`` stays a division of its operands' types, so money ratios
    stay exact ``numeric`` (plain sqlglot copies DuckDB's floating-point division by casting to ``double
    precision``, and ``round(double precision, int)`` does not exist). sqlglot also writes DuckDB's ``NULLS
    LAST`` default on descending keys."""

    name = "postgres"

    def generate(self, tree: exp.Expression, pretty: bool) -> str:
        for division in tree.find_all(exp.Div):
            division.set("typed", True)
        return tree.sql(dialect=self.name, pretty=pretty, comments=False)

    def create_as(self, kind: str, relation: str, select: str) -> str:
        """A table without autovacuum: every rebuild replaces it and analyzes it itself, and a vacuum of the
        live tables would hold the rebuild's swap back (its lock gives up long before PostgreSQL would cancel
        an autovacuum, see :mod:`pipelines.warehouse.swap`)."""
        if kind == "table":
            return f"create table {relation} with (autovacuum_enabled = false) as\n{select}"
        return super().create_as(kind, relation, select)


POSTGRES = PostgresDialect()


class PostgresConnection(Connection):
    """A :class:`Connection` over an ADBC connection to ``uri`` in autocommit mode (``begin``/``commit`` are
    statements); ``location`` names the database in messages (no password); ``threads``: the connections a
    :meth:`rebuild` works on at once; ``timings``: the file where a rebuild keeps how long each step took,
    which orders the next one's (:func:`~pipelines.warehouse.steps.run_at_once`).

    Raises:
        ConfigError: the server cannot be reached with these credentials (names the key).
    """

    dialect = POSTGRES
    errors = (adbc_driver_manager.Error,)

    def __init__(
        self, uri: str, read_only: bool, location: str, threads: int = DEFAULT_THREADS, timings: Path | None = None
    ) -> None:
        self.uri, self.location, self.threads, self.timings = uri, location, threads, timings
        try:
            self.con = adbc.connect(uri, autocommit=True)
        except adbc_driver_manager.Error as exc:
            raise ConfigError(
                f"cannot connect to the Postgres warehouse {location} ({CREDENTIALS_KEY}): {_first_line(exc)}"
            ) from exc
        self.cursor = self.con.cursor()
        self.execute("set timezone = 'UTC'")
        self.execute("set jit = off")  # compiling costs more than arwip's sub-second queries take
        if read_only:
            self.execute("set default_transaction_read_only = on")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._run(sql, params)

    def arrow(self, sql: str, params: Sequence[Any] = ()) -> pa.Table:
        self._run(sql, params)
        return decimals(self.cursor.fetch_arrow_table())

    def _run(self, sql: str, params: Sequence[Any]) -> None:
        try:
            self.cursor.execute(sql, list(params) if params else None)
        except adbc_driver_manager.Error as exc:
            if getattr(exc, "sqlstate", None) in _MISSING_STATES:
                raise RelationMissing(_first_line(exc)) from exc
            raise

    def append(self, relation: str, table: pa.Table) -> None:
        """ADBC's bulk ingest (``COPY`` in binary)."""
        schema, name = relation.split(".")
        self.cursor.adbc_ingest(name, table, mode="append", db_schema_name=schema)

    def batches(self, sql: str, rows: int) -> Batches:
        """Read on a second connection. Each batch is converted as :func:`~pipelines.warehouse.pg_arrow.decimals`
        does, to the first batch's schema (an unconstrained ``numeric`` keeps the scale the first batch shows; a
        later batch needing more raises ``pyarrow.ArrowInvalid``)."""
        sibling = PostgresConnection(self.uri, read_only=True, location=self.location)
        try:
            sibling._run(sql, ())
            reader = sibling.cursor.fetch_record_batch()
            first = decimals(pa.Table.from_batches(list(itertools.islice(reader, 1)), reader.schema))
        except BaseException:
            sibling.close()
            raise

        def converted() -> Iterator[pa.RecordBatch]:
            yield from first.to_batches(max_chunksize=rows)
            for batch in reader:
                yield from decimals(pa.Table.from_batches([batch])).cast(first.schema).to_batches(max_chunksize=rows)

        return Batches(first.schema, converted(), sibling.close)

    def close(self) -> None:
        self.cursor.close()
        self.con.close()

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A savepoint inside :meth:`transaction` (a failed statement aborts PostgreSQL's whole transaction)."""
        if not self.in_transaction:
            yield
            return
        self.execute("savepoint arwip_step")
        try:
            yield
        except BaseException:
            self.execute("rollback to savepoint arwip_step")
            raise
        self.execute("release savepoint arwip_step")

    def analyze(self, relation: str) -> None:
        """``analyze`` with :data:`STATISTICS_TARGET` (a fresh table has no statistics: plans go astray)."""
        self.execute(f"set default_statistics_target = {STATISTICS_TARGET}")
        self.execute(f"analyze {relation}")

    @contextmanager
    def rebuild(self, schemas: Sequence[str], check: Check | None = None) -> Iterator[Rebuild]:
        """Build into new ``<schema>__new`` schemas, committed aside (readers never read them): the steps added
        in the block and by ``check`` run together when ``check`` has added its own, on up to :attr:`threads`
        connections at once; then swap the new schemas in by renames in one transaction (see
        :mod:`pipelines.warehouse.swap`). A failure before the swap leaves the live schemas untouched and drops
        the new ones (a build killed meanwhile leaves them to the next rebuild, which drops them first). The old
        schemas are dropped after the commit."""
        drop_backups(self, schemas)  # an earlier build's, if readers kept it busy then
        building = {s: s + NEW_SUFFIX for s in schemas}
        self._drop(building.values())  # a build killed before its swap
        for schema in building.values():
            self.execute(f"create schema {schema}")
        steps: list[Step] = []
        rebuild = Rebuild(building, steps.extend, tables_over_raw=True)
        try:
            yield rebuild
            if check is not None:
                check(rebuild)
            seconds = {} if self.timings is None else load_seconds(self.timings)
            try:
                run_at_once(self._rebuild_connection, steps, self.threads, seconds)
            finally:
                self._keep_times(seconds)
            with self.transaction():
                if not swap_in(self, building):
                    log.warning("readers held the models throughout: swapped in by the renames alone (see swap.py)")
        except BaseException:
            with suppress(*self.errors):
                self._drop(building.values())
            raise
        drop_backups(self, schemas)

    def _keep_times(self, seconds: dict[str, float]) -> None:
        """Save the step times for the next rebuild; they only order the work, so a file that cannot be written
        is a warning, never the rebuild's failure."""
        if self.timings is None:
            return
        try:
            save_seconds(self.timings, seconds)
        except OSError as exc:
            log.warning("could not keep the rebuild's step times in %s: %s", self.timings, exc)

    def _drop(self, schemas: Iterable[str]) -> None:
        for schema in schemas:
            self.execute(f"drop schema if exists {schema} cascade")

    def _rebuild_connection(self) -> PostgresConnection:
        """A connection of a rebuild's pool. With several, PostgreSQL's own parallel workers are off: the pool
        keeps the cores busy already, and the workers would only compete with it."""
        con = PostgresConnection(self.uri, False, self.location, self.threads)
        if self.threads > 1:
            try:
                con.execute("set max_parallel_workers_per_gather = 0")
            except BaseException:
                con.close()
                raise
        return con

    def consistent(self, read: Callable[[], T], schemas: Sequence[str]) -> T:
        """Re-run ``read()`` until no rebuild swapped ``schemas`` while it resolved its names (the schemas' OIDs
        are the same before and after it): a statement naming several relations could otherwise resolve some
        before a swap's commit and some after."""
        placeholders = ", ".join(f"${i}" for i in range(1, len(schemas) + 1))
        sql = f"select nspname, oid from pg_namespace where nspname in ({placeholders}) order by nspname"
        for _ in range(_CONSISTENT_TRIES):
            before = self.fetch(sql, list(schemas))
            result = read()
            if self.fetch(sql, list(schemas)) == before:
                return result
        raise RuntimeError(f"the models were rebuilt during each of {_CONSISTENT_TRIES} reads: try again")


def _first_line(exc: BaseException) -> str:
    """The server's message of an ADBC error, on one line (without ADBC's status and "ERROR:" prefixes)."""
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    line = re.sub(_ADBC_PREFIX, "", line)
    return re.sub(r"\s+", " ", line)


def credentials() -> PostgresCredentials:
    """dlt's PostgreSQL credentials: ``DESTINATION__POSTGRES__CREDENTIALS`` (a ``postgresql://`` URL) or the fields
    of ``[destination.postgres.credentials]``.

    Raises:
        MissingConfig: they are not set (or lack a field, e.g. the password).
    """
    try:
        return resolve_configuration(PostgresCredentials(), sections=("destination", "postgres", "credentials"))
    except ConfigFieldMissingException:
        raise MissingConfig([f"{CREDENTIALS_KEY} (postgresql://user:password@host:5432/database)"]) from None


def configured_threads() -> int:
    """``[warehouse] threads`` (``WAREHOUSE__THREADS``), default :data:`DEFAULT_THREADS`.

    Raises:
        ConfigError: not a whole number of at least 1 (names the key).
    """
    value = dlt.config.get("warehouse.threads")
    if value is None:
        return DEFAULT_THREADS
    try:
        threads = int(str(value))
    except ValueError:
        threads = 0
    if threads < 1:
        raise ConfigError(f"{THREADS_KEY} must be a whole number of at least 1; got {value!r}")
    return threads


class PostgresWarehouse(Warehouse):
    """The PostgreSQL database of ``credentials`` (default: dlt's, :func:`credentials`); ``threads``: the
    connections a rebuild of the models works on at once (default :func:`configured_threads`)."""

    name = "postgres"
    dialect: ClassVar[SqlDialect] = POSTGRES

    def __init__(
        self,
        credentials_: PostgresCredentials | str | None = None,
        state_dir: Path | None = None,
        threads: int | None = None,
    ) -> None:
        self.threads = configured_threads() if threads is None else threads
        if credentials_ is None:
            credentials_ = credentials()
        elif isinstance(credentials_, str):
            parsed = PostgresCredentials()
            parsed.parse_native_representation(credentials_)
            credentials_ = parsed
        self.credentials = credentials_
        self._state_dir = state_dir

    def __repr__(self) -> str:
        return f"PostgresWarehouse({self.location!r})"

    @classmethod
    def from_config(cls, db: Path) -> PostgresWarehouse:
        """The database of dlt's credentials (``db``, the DuckDB file, is not used)."""
        return cls()

    @property
    def location(self) -> str:
        """``postgresql://user@host:port/database`` (no password)."""
        c = self.credentials
        return f"postgresql://{c.username}@{c.host}:{c.port}/{c.database}"

    @property
    def state_dir(self) -> Path:
        if self._state_dir is not None:
            return self._state_dir
        c = self.credentials
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", f"postgres-{c.host}-{c.port}-{c.database}")
        return Path.cwd() / ".arwip" / name

    @property
    def folder(self) -> Path:
        """The current folder."""
        return Path.cwd()

    @property
    def slug(self) -> str:
        return str(self.credentials.database)

    @property
    def cli_args(self) -> str:
        return f"--destination {self.name}"

    def shell(self, query: str) -> str:
        return f'psql "{self.location}" -c "{query}"'

    def destination(self) -> Any:
        return dlt.destinations.postgres(credentials=self.credentials.to_native_representation())

    def connect(self, read_only: bool = True) -> PostgresConnection:
        uri = self.credentials.to_native_representation()
        return PostgresConnection(uri, read_only, self.location, self.threads, self.state_dir / STEP_SECONDS)

    @contextmanager
    def _take_writer_lock(self, holder: str) -> Iterator[None]:
        """A session advisory lock (:data:`ADVISORY_LOCK`) held on its own connection, whose
        ``application_name`` says ``arwip <holder> (pid <pid>)``."""
        with self.connect(read_only=True) as con:
            con.execute(f"set application_name = 'arwip {holder} (pid {os.getpid()})'")
            (locked,) = con.fetch("select pg_try_advisory_lock($1)", [ADVISORY_LOCK])[0]
            if not locked:
                other = self.lock_holder() or "sync"
                raise SyncLocked(f"another arwip {other} is writing {self.location} (advisory lock); try again later")
            yield

    def lock_holder(self) -> str | None:
        if self.holds_writer_lock():
            return None
        sql = (
            "select a.application_name from pg_locks as l join pg_stat_activity as a on a.pid = l.pid "
            "where l.locktype = 'advisory' and l.granted and l.objsubid = 1 "
            "and l.classid::bigint = $1 and l.objid::bigint = $2"
        )
        with self.connect() as con:
            rows = con.fetch(sql, [ADVISORY_LOCK >> 32, ADVISORY_LOCK & 0xFFFFFFFF])
        if not rows:
            return None
        name = str(rows[0][0] or "")
        return name.removeprefix("arwip ") if name.startswith("arwip ") else "sync"

    def require(self) -> None:
        self.connect().close()

    def publish(self) -> None:
        return None

    def notes(self) -> list[str]:
        """A note when the database does not sort text by byte (collation ``C``), as DuckDB does: the reports'
        order of client names and the ranks of tied top overdue clients would then differ from DuckDB's."""
        with self.connect() as con:  # as JSON: the ICU locale's column is named differently across versions
            (found,) = con.fetch("select to_jsonb(d)::text from pg_database as d where datname = current_database()")[0]
        database = json.loads(found)
        icu = database.get("datlocprovider") == "i"
        collation = (database.get("daticulocale") or database.get("datlocale")) if icu else database["datcollate"]
        if collation in ("C", "POSIX", "C.UTF-8", "C.utf8"):
            return []
        return [
            f"database {self.credentials.database} sorts text by {collation}: client names order (and tied ranks) "
            "as in DuckDB only with byte order; create it with `createdb --locale=C` (or LC_COLLATE 'C')"
        ]

    def recreate(self) -> None:
        """Drop every schema the user owns in the database (arwip's datasets, dlt's, the models), then mark the
        database as the demo's (schema :data:`DEMO_MARKER`), and delete the working folder.

        Raises:
            ConfigError: the database holds schemas of the user but no marker: it is not the demo's.
        """
        with self.connect(read_only=False) as con:
            owned = [name for (name,) in con.fetch(_OWNED_SCHEMAS)]
            if owned and DEMO_MARKER not in owned:
                raise ConfigError(
                    f"the Postgres warehouse {self.location} ({CREDENTIALS_KEY}) already holds schemas "
                    f"({', '.join(owned[:5])}) that `arwip demo` did not make: give the demo an empty database"
                )
            with con.transaction():
                for name in owned:
                    con.execute(f'drop schema "{name}" cascade')
                con.execute(f"create schema {DEMO_MARKER}")
        shutil.rmtree(self.state_dir, ignore_errors=True)
