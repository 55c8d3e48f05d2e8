"""The sync: selected sources → dlt → DuckDB (or another dlt destination), then the SQL models.

One dlt pipeline per source (``arwip_<source>``, dataset = the source name, so tables are
``aiwyn.wip``, ``iinsight.invoices``…), its working folder kept beside the warehouse file. Data is
loaded as Parquet from Arrow tables, never as INSERT statements. dlt commits a source's incremental state
when extraction ends, so a run first finishes any package a crashed or failed run left pending, then
extracts again. Only one sync may write a warehouse at a time (a lock file beside it).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dlt
import duckdb

from pipelines.datatests import check_data_tests
from pipelines.models import build_models
from pipelines.publish import DEFAULT_STORAGE_VERSION, PublishResult, default_snapshot_path, publish_snapshot
from sources._http import RequestStats
from sources.aimsio import aimsio
from sources.aiwyn import aiwyn
from sources.iinsight import iinsight

SOURCES: dict[str, Callable[..., Any]] = {"aiwyn": aiwyn, "aimsio": aimsio, "iinsight": iinsight}
DEFAULT_DB = Path("arwip.duckdb")


class SyncLocked(RuntimeError):
    """Another sync holds the warehouse (``arwip sync`` exits with :data:`EXIT_LOCKED`)."""


EXIT_LOCKED = 75  # EX_TEMPFAIL: try again later


@dataclass
class SourceRun:
    """What one source's sync did: per-resource counters, pending packages finished first, seconds."""

    name: str
    resources: dict[str, RequestStats] = field(default_factory=dict)
    resumed_packages: int = 0
    seconds: float = 0.0
    reconciled: list[Any] = field(default_factory=list)  # pipelines.reconcile.Reconciled, when reconciled
    error: Exception | None = None  # reconciling failed after the load (what loaded is kept)

    @property
    def rows(self) -> int:
        return sum(s.rows for s in self.resources.values())

    @property
    def requests(self) -> int:
        return sum(s.requests for s in self.resources.values())

    @property
    def quarantined(self) -> int:
        return sum(s.quarantined for s in self.resources.values())


def state_dir(db_path: Path) -> Path:
    """dlt's working folder for a warehouse: ``.arwip/<db file name>/`` beside the DuckDB file."""
    return db_path.resolve().parent / ".arwip" / db_path.name


@contextmanager
def warehouse_lock(db_path: Path) -> Iterator[None]:
    """Hold an exclusive, non-blocking lock on ``<db>.lock``; raise :class:`SyncLocked` if taken."""
    lock_path = db_path.resolve().parent / f".{db_path.name}.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SyncLocked(f"another arwip sync is writing {db_path} (lock {lock_path}); try again later") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield


def make_pipeline(name: str, db_path: Path) -> dlt.Pipeline:
    """The dlt pipeline of source ``name`` writing to the DuckDB file ``db_path``.

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


def sync_source(
    name: str,
    db_path: Path,
    on_start: Callable[[SourceRun], None] | None = None,
    load_lock: threading.Lock | None = None,
    reconcile: bool = False,
    **source_args: Any,
) -> SourceRun:
    """Sync one source: finish pending packages, extract what changed, normalize, load (Parquet); with
    ``reconcile``, then compare its id sets with the warehouse (:func:`pipelines.reconcile.reconcile`).

    Extraction may run concurrently with other sources; normalize and load hold ``load_lock`` (one writer
    at a time). ``source_args`` override dlt config for the source (tests pass e.g. ``page_size``).
    Raises ``sources._http.ConfigError``/``SourceError`` and dlt's exceptions on failure; the state of a
    failed run is left for the next run to resume. A failed reconcile (after the load) is kept in
    ``SourceRun.error`` instead, so the caller still builds the models over what loaded.
    """
    started = time.perf_counter()
    lock = load_lock or threading.Lock()
    pipeline = make_pipeline(name, db_path)
    run = SourceRun(name)
    if on_start:
        on_start(run)
    _drop_half_normalized(pipeline)
    if pipeline.has_pending_data:
        run.resumed_packages = len(pipeline.list_extracted_load_packages()) + len(
            pipeline.list_normalized_load_packages()
        )
        with lock:
            pipeline.normalize()
            pipeline.load()
    source = SOURCES[name](tally=run.resources, **source_args)
    pipeline.extract(source, loader_file_format="parquet")
    with lock:
        pipeline.normalize()
        pipeline.load()
    if reconcile:
        from pipelines.reconcile import reconcile as reconcile_ids  # imports this module

        try:
            run.reconciled = reconcile_ids(db_path, name, lock)
        except Exception as exc:  # the load stands: the caller builds the models, then raises this
            run.error = exc
    run.seconds = time.perf_counter() - started
    return run


def _drop_half_normalized(pipeline: dlt.Pipeline) -> None:
    """Repair a package killed between dlt's normalize commit and its cleanup.

    dlt moves a normalized package to ``load/normalized/<id>`` and then deletes its extracted copy
    (``normalize/extracted/<id>``); a ``kill -9`` in between leaves both, and normalizing the copy again
    fails for good. The normalized package is complete, so its leftovers are dropped and it is loaded.
    """
    working = Path(pipeline.working_dir)
    for load_id in pipeline.list_normalized_load_packages():
        for leftover in (working / "normalize" / "extracted" / load_id, working / "load" / "new" / load_id):
            shutil.rmtree(leftover, ignore_errors=True)


def sync(
    db_path: Path = DEFAULT_DB,
    sources: list[str] | None = None,
    on_start: Callable[[SourceRun], None] | None = None,
    on_done: Callable[[SourceRun], None] | None = None,
    source_args: dict[str, dict[str, Any]] | None = None,
    publish: bool = True,
    on_publish: Callable[[PublishResult], None] | None = None,
    reconcile: bool = False,
    on_reconcile: Callable[[list[Any]], None] | None = None,
) -> list[SourceRun]:
    """Sync ``sources`` (default: all three) into ``db_path`` under the warehouse lock, build the models,
    and (``publish``) replace the read-only BI snapshot (see :func:`pipelines.publish.publish_snapshot`).

    ``source_args`` maps a source name to keyword arguments for its source function (overriding config).
    The data tests (``sql/tests``) run after the models; a failure raises
    :class:`pipelines.datatests.DataTestsFailed` and leaves the previous BI snapshot in place.
    ``reconcile`` also compares the full id sets with the sources that hard-delete (see
    :mod:`pipelines.reconcile`) and soft-deletes what vanished, each right after its own load (while the
    other sources still sync); iinsight on API v1 is always reconciled (v1 hides reversals).
    ``on_reconcile`` gets each source's :class:`pipelines.reconcile.Reconciled` list.

    Sources are extracted concurrently (each API has its own request budget); loads go one at a time.
    If a source fails, the others still load and the models are rebuilt, then the first failure is raised.
    Returns one :class:`SourceRun` per source. Raises :class:`SyncLocked` if another sync runs.
    """
    names = sources or list(SOURCES)
    load_lock = threading.Lock()
    runs: list[SourceRun] = []
    failures: list[BaseException] = []
    with warehouse_lock(db_path), ThreadPoolExecutor(len(names), thread_name_prefix="arwip-sync") as pool:
        args = source_args or {}
        futures = [
            pool.submit(
                sync_source,
                name,
                db_path,
                on_start,
                load_lock,
                reconcile or _hides_deletes(name, args.get(name, {})),
                **args.get(name, {}),
            )
            for name in names
        ]
        for future in as_completed(futures):
            try:
                run = future.result()
            except Exception as exc:  # what the others loaded is kept: the models are still rebuilt below
                failures.append(exc)
                continue
            runs.append(run)
            if on_done:
                on_done(run)
            if on_reconcile and run.reconciled:
                on_reconcile(run.reconciled)
            if run.error:
                failures.append(run.error)
        if runs:
            with duckdb.connect(str(db_path)) as con:
                build_models(con)
                check_data_tests(con)  # raises DataTestsFailed: nothing is published from a broken warehouse
            if publish and not failures:
                published = publish_snapshot(db_path, *bi_settings(db_path))
                if on_publish:
                    on_publish(published)
    if failures:
        raise failures[0]
    return sorted(runs, key=lambda r: names.index(r.name))


def _hides_deletes(name: str, source_args: dict[str, Any]) -> bool:
    """True for iinsight API v1, which lists only active and voided invoices: a reversal just disappears,
    so every sync compares its ids (one request per 100 invoices); v2 lists reversed invoices itself."""
    if name != "iinsight":
        return False
    return int(source_args.get("api_version") or dlt.config.get("sources.iinsight.api_version") or 1) == 1


def bi_settings(db_path: Path) -> tuple[Path, str]:
    """The BI snapshot path and DuckDB storage version from config ``[bi] snapshot_path``,
    ``storage_compatibility_version`` (a relative path is taken beside the warehouse)."""
    path = dlt.config.get("bi.snapshot_path", str)
    version = dlt.config.get("bi.storage_compatibility_version", str) or DEFAULT_STORAGE_VERSION
    if not path:
        return default_snapshot_path(db_path), version
    snapshot = Path(path)
    return (snapshot if snapshot.is_absolute() else db_path.resolve().parent / snapshot), version
