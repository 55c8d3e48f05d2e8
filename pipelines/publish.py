"""The BI snapshot: a read-only copy of the warehouse that BI tools open instead of the warehouse itself.

DuckDB allows one writing process *or* any number of read-only processes on a file. A BI tool (Metabase,
Superset, Evidence, Grafana) holding the warehouse would make ``arwip sync`` fail, and a sync would lock the
BI tool out. So after each successful sync arwip copies the warehouse to a second file, the snapshot
(default ``<warehouse stem>-bi.duckdb`` beside the warehouse, e.g. ``arwip-bi.duckdb``), and BI reads that.

Publishing is atomic: the copy is written to a temporary file in the snapshot's folder, closed (DuckDB
checkpoints it: no WAL left), fsynced, then renamed over the snapshot with :func:`os.replace`. A reader that
opens the snapshot sees either the previous copy or the new one, never a half-written file; a reader that
already holds the previous file keeps reading it (same inode) until it reconnects. Readers should open the
snapshot read-only (``access_mode=READ_ONLY`` / ``duckdb.connect(path, read_only=True)``).

The copy is written in an older storage format so the DuckDB bundled by BI drivers can read it:
``ATTACH 'tmp.duckdb' AS snap (STORAGE_VERSION 'v1.4.0')`` then ``COPY FROM DATABASE src TO snap (SCHEMA)``
(schemas, tables, views, macros, sequences) and one ``INSERT … SELECT`` per table. The default
:data:`DEFAULT_STORAGE_VERSION` is readable by DuckDB 1.4 and newer.

What the snapshot holds: every schema of the warehouse (the raw ``aiwyn``, ``aimsio``, ``iinsight``
tables, the ``staging``/``facts``/``reports`` views, anything in ``main``) except dlt's internals — the
``_dlt_*`` tables (loads, state, stored schemas) and dlt's ``<dataset>_staging`` merge schemas — plus a
one-row table ``main.arwip_snapshot`` (``published_at`` UTC timestamp, ``warehouse`` file name,
``storage_version``, ``duckdb_version`` of the writer) so a dashboard can show how fresh it is.

Configuration (read by the caller): ``[bi] snapshot_path`` and ``[bi] storage_compatibility_version``
(environment ``BI__SNAPSHOT_PATH``, ``BI__STORAGE_COMPATIBILITY_VERSION``).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from sources._http import ConfigError

DEFAULT_STORAGE_VERSION = "v1.4.0"  # DuckDB 1.4 (and every later version) reads it
SNAPSHOT_SUFFIX = "-bi"  # arwip.duckdb -> arwip-bi.duckdb
INFO_TABLE = "arwip_snapshot"  # main.arwip_snapshot, one row describing the snapshot
_STORAGE_VERSION_KEY = "[bi] storage_compatibility_version (BI__STORAGE_COMPATIBILITY_VERSION)"


class SnapshotConfigError(ConfigError):
    """The BI snapshot configuration is wrong (unknown storage version, snapshot path = warehouse).

    A :class:`sources._http.ConfigError`, so ``arwip`` exits with the configuration exit code (2).
    """


class PublishError(RuntimeError):
    """Copying the warehouse into the snapshot failed; the previous snapshot, if any, is left as it was."""


@dataclass(frozen=True)
class PublishResult:
    """What :func:`publish_snapshot` wrote.

    ``path``: the snapshot file (absolute); ``seconds``: wall-clock time of the whole publish (float
    seconds); ``bytes``: size of the snapshot file in bytes; ``tables`` / ``views``: how many tables (without
    ``main.arwip_snapshot``) and views it holds; ``storage_version``: the DuckDB storage version it was
    written with, e.g. ``"v1.4.0"``.
    """

    path: Path
    seconds: float
    bytes: int
    tables: int = 0
    views: int = 0
    storage_version: str = DEFAULT_STORAGE_VERSION


def default_snapshot_path(warehouse: Path) -> Path:
    """``<folder>/<stem>-bi<suffix>`` beside ``warehouse``: ``data/arwip.duckdb`` → ``data/arwip-bi.duckdb``."""
    return warehouse.with_name(f"{warehouse.stem}{SNAPSHOT_SUFFIX}{warehouse.suffix or '.duckdb'}")


def is_internal(schema: str, table: str, schemas: set[str]) -> bool:
    """True for dlt's bookkeeping, left out of the snapshot: ``_dlt_*`` tables, and the ``<dataset>_staging``
    schema dlt keeps beside a dataset ``<dataset>`` for merges (the model schema ``staging`` is kept)."""
    if table.startswith("_dlt_"):
        return True
    return schema.endswith("_staging") and schema.removesuffix("_staging") in schemas


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _remove(path: Path) -> None:
    for leftover in (path, path.with_name(path.name + ".wal")):
        with contextlib.suppress(FileNotFoundError):
            leftover.unlink()


def _fsync(path: Path, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    except OSError:  # some file systems refuse fsync on a directory: the rename is still atomic
        if not directory:
            raise
    finally:
        os.close(fd)


def _copy(con: duckdb.DuckDBPyConnection, warehouse: Path, storage_version: str) -> tuple[int, int]:
    """Copy attached ``src`` into attached ``snap`` in one transaction; returns (tables, views) copied."""
    con.execute("begin")
    try:
        con.execute("copy from database src to snap (schema)")
        schemas = {
            r[0] for r in con.execute("select schema_name from duckdb_schemas() where database_name = 'src'").fetchall()
        }
        tables = con.execute(
            "select schema_name, table_name from duckdb_tables() where database_name = 'src' order by all"
        ).fetchall()
        kept = 0
        for schema, table in tables:
            target = f"snap.{_quote(schema)}.{_quote(table)}"
            if is_internal(schema, table, schemas):
                con.execute(f"drop table {target}")
                continue
            con.execute(f"insert into {target} select * from src.{_quote(schema)}.{_quote(table)}")
            kept += 1
        for schema in sorted(schemas):
            if schema.endswith("_staging") and schema.removesuffix("_staging") in schemas:
                con.execute(f"drop schema if exists snap.{_quote(schema)} cascade")
        con.execute(
            f"create or replace table snap.main.{INFO_TABLE} as select ?::timestamp as published_at, "
            "?::varchar as warehouse, ?::varchar as storage_version, ?::varchar as duckdb_version",
            [datetime.now(UTC).replace(tzinfo=None), warehouse.name, storage_version, duckdb.__version__],
        )
        views = con.execute(
            "select count(*) from duckdb_views() where database_name = 'snap' and not internal"
        ).fetchall()[0][0]
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return kept, views


def publish_snapshot(
    warehouse: Path, snapshot: Path | None = None, storage_version: str = DEFAULT_STORAGE_VERSION
) -> PublishResult:
    """Publish a read-only BI snapshot of the DuckDB file ``warehouse``, atomically; returns what was written.

    Args:
        warehouse: the warehouse file. Open it for writing in no other connection of this process while
            publishing (DuckDB refuses two configurations of one file in a process); another *process* must
            not write it either — call this under the sync's lock, after the models are built.
        snapshot: where BI reads; default :func:`default_snapshot_path` (``arwip-bi.duckdb`` beside
            ``arwip.duckdb``). Its folder is created if missing. Replaced atomically; a stale
            ``<snapshot>.wal`` (left by a tool that opened the snapshot for writing) is removed first.
        storage_version: the DuckDB storage format of the snapshot, ``"v<major>.<minor>.<patch>"`` of the
            oldest DuckDB that must read it (default ``"v1.4.0"``); ``"latest"`` = this DuckDB's format.

    Returns:
        :class:`PublishResult` (``seconds`` of wall-clock time, ``bytes`` of the snapshot file).

    Raises:
        FileNotFoundError: ``warehouse`` does not exist.
        SnapshotConfigError: unknown ``storage_version``, or ``snapshot`` is the warehouse itself.
        PublishError: the copy failed (disk full, unreadable warehouse…); no temporary file is left behind
            and the previous snapshot is untouched.
    """
    started = time.perf_counter()
    warehouse = Path(warehouse).resolve()
    if not warehouse.is_file():
        raise FileNotFoundError(f"no warehouse at {warehouse}: run `arwip sync` first")
    target = (default_snapshot_path(warehouse) if snapshot is None else Path(snapshot)).resolve()
    if target == warehouse:
        raise SnapshotConfigError(f"[bi] snapshot_path is the warehouse itself ({warehouse}): choose another file")
    if not isinstance(storage_version, str) or not storage_version.strip():
        raise SnapshotConfigError(f"{_STORAGE_VERSION_KEY} is empty: use e.g. {DEFAULT_STORAGE_VERSION!r}")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        with duckdb.connect(":memory:") as con:
            try:
                con.execute(f"attach '{_sql_path(tmp)}' as snap (storage_version '{_sql_text(storage_version)}')")
            except duckdb.InvalidInputException as exc:
                if "version" in str(exc).lower():
                    raise SnapshotConfigError(
                        f"{_STORAGE_VERSION_KEY} = {storage_version!r} is not a DuckDB storage version "
                        f"this DuckDB ({duckdb.__version__}) can write: use e.g. {DEFAULT_STORAGE_VERSION!r}"
                    ) from None
                raise
            con.execute(f"attach '{_sql_path(warehouse)}' as src (read_only)")
            tables, views = _copy(con, warehouse, storage_version)
            con.execute("detach snap")  # checkpoints: the copy is entirely in the file, no WAL
        if tmp.with_name(tmp.name + ".wal").exists():
            raise PublishError(f"the snapshot copy {tmp} kept a WAL after closing: not publishing it")
        _fsync(tmp)
        _remove(target.with_name(target.name + ".wal"))
        os.replace(tmp, target)
        _fsync(target.parent, directory=True)
    except SnapshotConfigError:
        _remove(tmp)
        raise
    except (duckdb.Error, OSError) as exc:
        _remove(tmp)
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "file handle conflict" in first:
            first += " (close this process's connection to the warehouse before publishing)"
        raise PublishError(f"publishing the BI snapshot {target} from {warehouse} failed: {first}") from exc
    except BaseException:
        _remove(tmp)
        raise
    return PublishResult(
        path=target,
        seconds=time.perf_counter() - started,
        bytes=target.stat().st_size,
        tables=tables,
        views=views,
        storage_version=storage_version,
    )


def _sql_text(text: str) -> str:
    """``text`` for a single-quoted SQL literal (ATTACH takes no prepared parameters)."""
    return text.replace("'", "''")


def _sql_path(path: Path) -> str:
    return _sql_text(str(path))
