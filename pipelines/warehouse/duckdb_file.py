"""The DuckDB warehouse (the default): one file, one writer *or* many readers, and a BI snapshot for readers.

Everything arwip writes beside a warehouse ``arwip.duckdb`` goes in ``.arwip/arwip.duckdb/`` (dlt's state and
packages, the writer's lock, the webhook inbox), except the BI snapshot, which is meant to be found
(``arwip-bi.duckdb``, see :mod:`pipelines.publish`).
"""

from __future__ import annotations

import fcntl
import functools
import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import dlt
import duckdb
import pyarrow as pa

from pipelines.publish import (
    DEFAULT_STORAGE_VERSION,
    INFO_TABLE,
    PublishResult,
    default_snapshot_path,
    publish_snapshot,
)
from pipelines.warehouse.base import (
    DUCKDB,
    Batches,
    Check,
    Connection,
    Rebuild,
    RelationMissing,
    SqlDialect,
    SyncLocked,
    Warehouse,
)
from pipelines.warehouse.steps import run_in_order

DEFAULT_DB = Path("arwip.duckdb")
T = TypeVar("T")


class DuckDBConnection(Connection):
    """A :class:`Connection` over a ``duckdb`` connection (which the caller may keep using)."""

    dialect = DUCKDB
    errors = (duckdb.Error,)

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        con.execute("set TimeZone = 'UTC'")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._run(lambda: self.con.execute(sql, list(params)))

    def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._run(lambda: self.con.execute(sql, list(params)).fetchall())

    def arrow(self, sql: str, params: Sequence[Any] = ()) -> pa.Table:
        return self._run(lambda: self.con.sql(sql, params=list(params) or None).to_arrow_table())

    @staticmethod
    def _run(statement: Callable[[], T]) -> T:
        try:
            return statement()
        except duckdb.CatalogException as exc:
            raise RelationMissing(str(exc)) from exc

    def append(self, relation: str, table: pa.Table) -> None:
        view = "_arwip_append"
        self.con.register(view, table)
        try:
            columns = ", ".join(f'"{name}"' for name in table.column_names)
            self.execute(f"insert into {relation} ({columns}) select {columns} from {view}")
        finally:
            self.con.unregister(view)

    def batches(self, sql: str, rows: int) -> Batches:
        """Read on a cursor of this connection (DuckDB's second connection to the same database)."""
        cursor = self.con.cursor()
        try:
            reader = self._run(lambda: cursor.sql(sql).to_arrow_reader(rows))
        except BaseException:
            cursor.close()
            raise

        def close() -> None:
            reader.close()  # a reader left open keeps DuckDB's database from being opened again
            cursor.close()

        return Batches(reader.schema, iter(reader), close)

    def close(self) -> None:
        self.con.close()

    def analyze(self, relation: str) -> None:
        return None  # DuckDB keeps its statistics as it writes

    @contextmanager
    def rebuild(self, schemas: Sequence[str], check: Check | None = None) -> Iterator[Rebuild]:
        """Drop and recreate ``schemas`` in one transaction, each step run in order on this connection as it is
        added; ``check`` runs after the commit (DuckDB's readers read the BI snapshot, which the sync replaces
        only when ``check`` passes)."""
        with self.transaction():
            for schema in reversed(schemas):
                self.execute(f"drop schema if exists {schema} cascade")
            for schema in schemas:
                self.execute(f"create schema {schema}")
            rebuild = Rebuild({s: s for s in schemas}, functools.partial(run_in_order, self))
            yield rebuild
        if check is not None:
            check(rebuild)


class DuckDBWarehouse(Warehouse):
    """The DuckDB file ``path`` (default ``arwip.duckdb``): ``--db`` on the command line."""

    name = "duckdb"
    dialect: ClassVar[SqlDialect] = DUCKDB

    def __init__(self, path: Path = DEFAULT_DB) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"DuckDBWarehouse({str(self.path)!r})"

    @classmethod
    def from_config(cls, db: Path) -> DuckDBWarehouse:
        return cls(db)

    @property
    def location(self) -> str:
        return str(self.path)

    @property
    def state_dir(self) -> Path:
        """``.arwip/<file name>/`` beside the file."""
        return self.path.resolve().parent / ".arwip" / self.path.name

    @property
    def folder(self) -> Path:
        return self.path.parent

    @property
    def slug(self) -> str:
        return self.path.stem

    @property
    def cli_args(self) -> str:
        return f"--db {self.path}"

    def shell(self, query: str) -> str:
        return f'duckdb -readonly {self.path} "{query}"'

    def destination(self) -> Any:
        return dlt.destinations.duckdb(str(self.path.resolve()))

    def connect(self, read_only: bool = True) -> DuckDBConnection:
        return DuckDBConnection(duckdb.connect(str(self.path), read_only=read_only))

    @property
    def _lock_path(self) -> Path:
        return self.state_dir / "writer.lock"

    @contextmanager
    def _take_writer_lock(self, holder: str) -> Iterator[None]:
        """An exclusive, non-blocking ``flock`` on ``<state dir>/writer.lock``, which then says ``<pid> <holder>``."""
        self._lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self._lock_path, "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                other = self.lock_holder() or "sync"
                raise SyncLocked(
                    f"another arwip {other} is writing {self.path} (lock {self._lock_path}); try again later"
                ) from None
            handle.seek(0)
            handle.truncate()
            handle.write(f"{os.getpid()} {holder}")
            handle.flush()
            yield

    def lock_holder(self) -> str | None:
        if not self._lock_path.exists() or self.holds_writer_lock():
            return None
        with open(self._lock_path, "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                pid, _, holder = handle.read().strip().partition(" ")
                return f"{holder or 'sync'} (pid {pid})" if pid else "sync"
            fcntl.flock(handle, fcntl.LOCK_UN)
        return None

    def for_readers(self) -> tuple[Warehouse, str | None]:
        """This file when nobody writes it; while a writer (``arwip serve``, a sync) holds it, its BI snapshot
        (``[bi] snapshot_path``), a complete copy as of the last published sync: a reader opening the file
        then would fail, or make the writer's next load fail.

        Raises:
            FileNotFoundError: a writer holds the file and no snapshot was published yet.
        """
        holder = self.lock_holder()
        if holder is None:
            return self, None
        snapshot, _ = bi_settings(self.path)
        if not snapshot.is_file():
            raise FileNotFoundError(
                f"arwip {holder} holds {self.path} and has not published a BI snapshot ({snapshot}) yet: try again "
                "after its first sync"
            )
        with duckdb.connect(str(snapshot), read_only=True) as con:
            try:
                published = con.execute(f"select published_at from main.{INFO_TABLE}").fetchone()
            except duckdb.CatalogException:
                published = None
        when = f"published {published[0]:%Y-%m-%d %H:%M:%S} UTC" if published else "publish time unknown"
        note = f"arwip {holder} holds {self.path}: reading the BI snapshot {snapshot} ({when})"
        return DuckDBWarehouse(snapshot), note

    def require(self) -> None:
        if not self.path.exists():
            raise FileNotFoundError(f"no warehouse at {self.path}: run `arwip sync` (or `arwip demo`) first")

    def publish(self) -> PublishResult:
        """Replace the BI snapshot (:func:`pipelines.publish.publish_snapshot`, settings :func:`bi_settings`)."""
        return publish_snapshot(self.path, *bi_settings(self.path))

    def recreate(self) -> None:
        """Delete the file, its WAL and its working folder."""
        for path in (self.path, self.path.with_name(self.path.name + ".wal")):
            path.unlink(missing_ok=True)
        shutil.rmtree(self.state_dir, ignore_errors=True)


def bi_settings(db_path: Path) -> tuple[Path, str]:
    """The BI snapshot path and DuckDB storage version from config ``[bi] snapshot_path``,
    ``storage_compatibility_version`` (a relative path is taken beside the warehouse)."""
    path = dlt.config.get("bi.snapshot_path", str)
    version = dlt.config.get("bi.storage_compatibility_version", str) or DEFAULT_STORAGE_VERSION
    if not path:
        return default_snapshot_path(db_path), version
    snapshot = Path(path)
    return (snapshot if snapshot.is_absolute() else db_path.resolve().parent / snapshot), version
