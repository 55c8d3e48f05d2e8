"""The warehouse seam: what sync, the models, the data tests, reports, verify, reconcile and the demo need from
a warehouse, whatever it is (:class:`Warehouse`, :class:`Connection`, :class:`SqlDialect`).

arwip's SQL is written for DuckDB (``sql/``) and generated for the warehouse by sqlglot
(:meth:`SqlDialect.render`); parameters are written ``$1``, ``$2``… (DuckDB and ADBC's PostgreSQL driver both
take them). The two implementations are :mod:`pipelines.warehouse.duckdb_file` and
:mod:`pipelines.warehouse.postgres`.
"""

from __future__ import annotations

import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, TypeVar

import dlt
import pyarrow as pa
import sqlglot
from sqlglot import exp

from pipelines.publish import PublishResult
from pipelines.warehouse.steps import Step

EXIT_LOCKED = 75  # EX_TEMPFAIL: try again later
T = TypeVar("T")
_held: dict[tuple[type, str], int] = {}  # writer's locks this process holds -> how many times it entered them
_held_guard = threading.Lock()


@contextmanager
def _holding(key: tuple[type, str]) -> Iterator[None]:
    """Record that this process holds the writer's lock ``key`` (:meth:`Warehouse.writer_lock`)."""
    with _held_guard:
        _held[key] = 1
    try:
        yield
    finally:
        with _held_guard:
            del _held[key]

Check = Callable[["Rebuild"], None]
"""Checks a rebuild's models before readers see them (:meth:`Connection.rebuild`), e.g. the data tests
(:func:`pipelines.datatests.check_data_tests`): adds steps (``Rebuild.add``) that read where each schema is
built (``Rebuild.schemas``) and raise to keep the new models from readers."""


class SyncLocked(RuntimeError):
    """Another arwip process (a sync, ``arwip serve``, a push) holds the warehouse's writer's lock (the commands exit
    with :data:`EXIT_LOCKED`)."""


class RelationMissing(RuntimeError):
    """A query named a table, view or schema the warehouse does not have (DuckDB's ``CatalogException``,
    PostgreSQL's SQLSTATE 42P01 / 3F000); the driver's error is its ``__cause__``."""


class SqlDialect:
    """How arwip's SQL, written for DuckDB, is generated for one warehouse (sqlglot dialect :attr:`name`)."""

    name: ClassVar[str] = "duckdb"

    def render(self, sql: str | exp.Expression, schemas: Mapping[str, str] | None = None, pretty: bool = False) -> str:
        """``sql`` (DuckDB text or a parsed tree, which is not modified) for this warehouse, every reference to a
        schema ``s`` in ``schemas`` moved to ``schemas[s]`` (e.g. ``staging`` → ``staging__new``)."""
        tree = sqlglot.parse_one(sql, read="duckdb") if isinstance(sql, str) else sql.copy()
        for table in tree.find_all(exp.Table):
            if schemas and table.db in schemas and schemas[table.db] != table.db:
                table.set("db", exp.to_identifier(schemas[table.db]))
        return self.generate(tree, pretty)

    def generate(self, tree: exp.Expression, pretty: bool) -> str:
        """The text of ``tree`` (which may be modified) in this dialect, without comments."""
        return tree.sql(dialect=self.name, pretty=pretty, comments=False)

    def create_as(self, kind: str, relation: str, select: str) -> str:
        """The statement creating the ``kind`` (``view`` or ``table``) ``relation`` as the query ``select``."""
        return f"create {kind} {relation} as\n{select}"


DUCKDB = SqlDialect()


class Connection(ABC):
    """A thin connection to a warehouse: statements, rows, Arrow tables, transactions and the models' rebuild.

    Use it as a context manager (closed at the end). Reads of a relation that does not exist raise
    :class:`RelationMissing`; other failures raise the driver's errors (:attr:`errors`).
    """

    dialect: SqlDialect
    errors: tuple[type[BaseException], ...]
    """The driver's error classes (what a statement that fails raises, besides :class:`RelationMissing`)."""
    in_transaction: bool = False
    """Inside :meth:`transaction`."""

    @abstractmethod
    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Run one statement (``$1``… parameters)."""

    @abstractmethod
    def arrow(self, sql: str, params: Sequence[Any] = ()) -> pa.Table:
        """One query's result as an Arrow table; money and other fixed-point numbers are ``decimal128(p, s)``,
        timestamps ``timestamp[us, UTC]``, dates ``date32``."""

    def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """One query's rows as tuples of Python values (``Decimal``, ``datetime`` in UTC, ``date``…)."""
        table = self.arrow(sql, params)
        return list(zip(*(column.to_pylist() for column in table.columns), strict=True)) if table.num_columns else []

    @abstractmethod
    def append(self, relation: str, table: pa.Table) -> None:
        """Insert the rows of ``table`` into the existing table ``relation`` (``schema.name``), columns by name,
        as one statement."""

    @abstractmethod
    def batches(self, sql: str, rows: int) -> Batches:
        """One query's result streamed in record batches of about ``rows`` rows, read on a connection of its own
        (this one stays free for other statements meanwhile); close the :class:`Batches` when done."""

    @abstractmethod
    def close(self) -> None:
        """Close the connection (an open transaction is rolled back)."""

    @abstractmethod
    def analyze(self, relation: str) -> None:
        """Refresh the planner's statistics of a table just built (``schema.name``), so that the statements
        reading it next are planned for its size. A no-op where the warehouse keeps them itself (DuckDB)."""

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """``begin`` … ``commit``; ``rollback`` on any error."""
        self.execute("begin")
        self.in_transaction = True
        try:
            yield
        except BaseException:
            self.execute("rollback")
            raise
        else:
            self.execute("commit")
        finally:
            self.in_transaction = False

    @abstractmethod
    def rebuild(self, schemas: Sequence[str], check: Check | None = None) -> AbstractContextManager[Rebuild]:
        """Replace the schemas ``schemas`` (in build order) by new ones built in the block, so that readers see
        the old or the new ones, never a mix.

        The block builds into ``Rebuild.schemas[s]`` for each live schema ``s`` (the SQL moved there with
        ``dialect.render(sql, rebuild.schemas)``), statement by statement or as steps (``Rebuild.add``).
        ``check(rebuild)`` adds the steps that check the new schemas before readers see them, and raise to keep
        them away. An error in the block or in ``check`` keeps the readers' view unchanged (on DuckDB, whose
        readers read the BI snapshot, a failing ``check`` comes after the commit and only the publish is held
        back).
        """

    def savepoint(self) -> AbstractContextManager[None]:
        """Inside a transaction: a failing statement in the block undoes only the block (a data test that cannot
        run does not abort DuckDB's rebuild, nor a transaction of the caller's). A no-op where statements fail
        alone (PostgreSQL outside a transaction: a rebuild's steps run in autocommit)."""
        return nullcontext()

    def consistent(self, read: Callable[[], T], schemas: Sequence[str]) -> T:
        """``read()`` (a query naming several relations of ``schemas``) so that all the names it reads belong to
        one build of the models, even when a rebuild replaces them meanwhile (re-read if it did)."""
        return read()

    def __enter__(self) -> Connection:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()


@dataclass
class Batches:
    """A query's result, streamed (:meth:`Connection.batches`): its ``schema``, its record ``batches`` (iterate
    once) and ``close()``, which ends the reading."""

    schema: pa.Schema
    batches: Iterator[pa.RecordBatch]
    close: Callable[[], None]


@dataclass(frozen=True)
class Rebuild:
    """A rebuild in progress (see :meth:`Connection.rebuild`).

    ``schemas``: live schema → the schema the new one is built in (the same name on DuckDB, ``<name>__new``
    on PostgreSQL). ``tables_over_raw``: a model that reads raw tables must be a table, not a view (PostgreSQL
    readers read the live models while a sync loads the raw tables: a view over them would mix new raw rows
    with the last build's tables). ``runner``: what :meth:`add` does with the steps.
    """

    schemas: Mapping[str, str]
    runner: Callable[[Sequence[Step]], None]
    tables_over_raw: bool = False

    def add(self, steps: Sequence[Step]) -> None:
        """Add work to the rebuild (:class:`~pipelines.warehouse.steps.Step` s: the models' ``create`` statements,
        the data tests), each step to run once the steps it needs are done. DuckDB runs them now, in the given
        order, on the rebuild's connection. PostgreSQL runs every step added in the block and by the ``check``
        together when the check has added its own, on several connections at once (so a data test starts as
        soon as the models it reads are built), before the swap.

        Raises:
            The first error a step raises, where the steps run (no new step starts after it).
        """
        self.runner(steps)


class Warehouse(ABC):
    """Where arwip loads and builds: a dlt destination, connections, the writer's lock, arwip's working folder,
    and how readers get the new models.

    ``name``: the ``[warehouse] destination`` value; ``dialect``: its SQL; ``location``: what messages
    print (a path, or a URL without password); ``state_dir``: arwip's working folder for it (dlt's
    pipelines and packages, the webhook inbox).
    """

    name: ClassVar[str]
    dialect: ClassVar[SqlDialect]

    @classmethod
    @abstractmethod
    def from_config(cls, db: Path) -> Warehouse:
        """The warehouse the configuration names; ``db`` is ``--db``, the DuckDB file."""

    @property
    @abstractmethod
    def location(self) -> str: ...

    @property
    @abstractmethod
    def state_dir(self) -> Path: ...

    @property
    @abstractmethod
    def folder(self) -> Path:
        """Where files for people go (the demo's ``reports/`` pages)."""

    @property
    @abstractmethod
    def slug(self) -> str:
        """A short name for file names (``arwip-demo`` for ``arwip-demo.duckdb``)."""

    @property
    @abstractmethod
    def cli_args(self) -> str:
        """The ``arwip`` options that name this warehouse (``--db arwip-demo.duckdb``)."""

    @abstractmethod
    def shell(self, query: str) -> str:
        """A shell command that runs ``query`` on this warehouse (for hints)."""

    @abstractmethod
    def destination(self) -> Any:
        """The dlt destination (``dlt.destinations.duckdb(...)`` / ``postgres(...)``)."""

    @abstractmethod
    def connect(self, read_only: bool = True) -> Connection:
        """A new connection, its session time zone UTC.

        Raises:
            sources._http.ConfigError: the warehouse cannot be reached with its configuration (names the key).
        """

    @contextmanager
    def writer_lock(self, holder: str = "sync") -> Iterator[None]:
        """Held by the one process that may write (``holder``: ``sync``, ``serve``, ``push``): non-blocking, and
        re-entrant within a process (``arwip serve`` holds it for its life and runs its syncs under it).

        Raises:
            SyncLocked: another process holds it (the message names it: see :meth:`lock_holder`).
        """
        key = (type(self), self.location)
        with _held_guard:
            nested = key in _held
            if nested:
                _held[key] += 1
        if not nested:
            with self._take_writer_lock(holder), _holding(key):
                yield
            return
        try:
            yield
        finally:
            with _held_guard:
                _held[key] -= 1

    def holds_writer_lock(self) -> bool:
        """Whether this process holds the writer's lock (:meth:`writer_lock`)."""
        with _held_guard:
            return (type(self), self.location) in _held

    @abstractmethod
    def _take_writer_lock(self, holder: str) -> AbstractContextManager[None]:
        """Take the lock for this process, saying ``holder`` to :meth:`lock_holder` of other processes.

        Raises:
            SyncLocked: another process holds it (the message names it).
        """

    @abstractmethod
    def lock_holder(self) -> str | None:
        """Who holds the writer's lock now, e.g. ``serve (pid 4242)``; None when nobody does, or only this
        process."""

    def for_readers(self) -> tuple[Warehouse, str | None]:
        """What ``arwip report`` and ``verify`` read now, and a note saying why when it is not this warehouse
        (one line for stderr). Here: this warehouse (PostgreSQL readers read the live schemas).

        Raises:
            FileNotFoundError: nothing can be read yet (names what to wait for).
        """
        return self, None

    @abstractmethod
    def require(self) -> None:
        """Check that there is a warehouse to read.

        Raises:
            FileNotFoundError: nothing was synced yet (names the command to run).
            sources._http.ConfigError: it cannot be reached.
        """

    @abstractmethod
    def publish(self) -> PublishResult | None:
        """Show readers a successful sync: DuckDB replaces the BI snapshot; PostgreSQL readers already read the
        models the rebuild swapped in (None)."""

    def notes(self) -> list[str]:
        """What the user should know about how this warehouse is set up (``arwip sync`` prints them)."""
        return []

    @abstractmethod
    def recreate(self) -> None:
        """Start again from an empty warehouse (the demo's): remove what arwip and dlt wrote there and arwip's
        working folder."""

    def pipeline(self, source: str) -> dlt.Pipeline:
        """The dlt pipeline of source ``source`` (``arwip_<source>``, dataset = ``source``), its working folder
        in :attr:`state_dir`. Arrow tables get dlt's ``_dlt_load_id`` column, so every row (quarantined ones
        too) names its load."""
        dlt.config["normalize.parquet_normalizer.add_dlt_load_id"] = True
        return dlt.pipeline(
            pipeline_name=f"arwip_{source}",
            destination=self.destination(),
            dataset_name=source,
            pipelines_dir=str(self.state_dir),
            progress="log" if os.environ.get("ARWIP_DLT_PROGRESS") else None,
        )
