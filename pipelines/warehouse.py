"""Where a warehouse lives and who may write it: the DuckDB file, dlt's working folder beside it, the
writer's lock, and the dlt pipeline of each source.

Everything arwip writes beside a warehouse ``arwip.duckdb`` goes in ``.arwip/arwip.duckdb/`` (dlt's state and
packages, the writer's lock), except the BI snapshot, which is meant to be found (``arwip-bi.duckdb``).
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dlt

DEFAULT_DB = Path("arwip.duckdb")
EXIT_LOCKED = 75  # EX_TEMPFAIL: try again later


_held: dict[Path, int] = {}  # lock files this process holds -> how many times it entered them
_held_guard = threading.Lock()


class SyncLocked(RuntimeError):
    """Another sync holds the warehouse (``arwip sync`` exits with :data:`EXIT_LOCKED`)."""


def state_dir(db_path: Path) -> Path:
    """arwip's working folder for a warehouse: ``.arwip/<db file name>/`` beside the DuckDB file (dlt's
    pipelines, the writer's lock)."""
    return db_path.resolve().parent / ".arwip" / db_path.name


@contextmanager
def warehouse_lock(db_path: Path, holder: str = "sync") -> Iterator[None]:
    """Hold an exclusive, non-blocking lock on ``<state dir>/writer.lock`` (see :func:`state_dir`), which then
    says ``<pid> <holder>`` (``sync``, ``serve``). Re-entrant within one process: ``arwip serve`` holds it for
    its lifetime and runs its syncs (one at a time) under it.

    Raises:
        SyncLocked: another process holds it (the message names it).
    """
    lock_path = (state_dir(db_path) / "writer.lock").resolve()
    with _held_guard:
        if lock_path in _held:
            _held[lock_path] += 1
            nested = True
        else:
            nested = False
    if nested:
        try:
            yield
        finally:
            with _held_guard:
                _held[lock_path] -= 1
        return
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = lock_holder(db_path) or "sync"
            raise SyncLocked(f"another arwip {other} is writing {db_path} (lock {lock_path}); try again later"
                             ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()} {holder}")
        handle.flush()
        with _held_guard:
            _held[lock_path] = 1
        try:
            yield
        finally:
            with _held_guard:
                del _held[lock_path]


def lock_holder(db_path: Path) -> str | None:
    """Who holds the writer's lock of ``db_path`` now, e.g. ``serve (pid 4242)``; None when nobody does (or only
    this process)."""
    lock_path = (state_dir(db_path) / "writer.lock").resolve()
    if not lock_path.exists() or lock_path in _held:
        return None
    with open(lock_path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            pid, _, holder = handle.read().strip().partition(" ")
            return f"{holder or 'sync'} (pid {pid})" if pid else "sync"
        fcntl.flock(handle, fcntl.LOCK_UN)
    return None


def make_pipeline(name: str, db_path: Path) -> dlt.Pipeline:
    """The dlt pipeline of source ``name`` writing to the DuckDB file ``db_path`` (dataset = ``name``).

    Arrow tables get dlt's ``_dlt_load_id`` column, so every row (quarantined ones too) names its load.
    """
    dlt.config["normalize.parquet_normalizer.add_dlt_load_id"] = True
    return dlt.pipeline(
        pipeline_name=f"arwip_{name}",
        destination=dlt.destinations.duckdb(str(db_path.resolve())),
        dataset_name=name,
        pipelines_dir=str(state_dir(db_path)),
        progress="log" if os.environ.get("ARWIP_DLT_PROGRESS") else None,
    )
