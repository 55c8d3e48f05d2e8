"""The sync: selected sources → dlt → the warehouse (DuckDB or PostgreSQL, :mod:`pipelines.warehouse`), then
the SQL models and their data tests, then readers get the new models.

One dlt pipeline per source (``arwip_<source>``, dataset = the source name, so tables are
``aiwyn.wip``, ``iinsight.invoices``…), its working folder kept in the warehouse's state folder. Data is
loaded as Parquet from Arrow tables (through ADBC on PostgreSQL), never as INSERT statements. dlt commits a
source's incremental state when extraction ends, so a run first finishes any package a crashed or failed run
left pending, then extracts again. Only one sync may write a warehouse at a time (the warehouse's writer lock).
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Collection, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dlt

from pipelines.datatests import check_data_tests
from pipelines.models import build_models, exception_count
from pipelines.publish import PublishResult
from pipelines.reconcile import Reconciled, mark_deleted, reconcile_due, reconcile_source
from pipelines.warehouse import DEFAULT_DB, Warehouse, as_warehouse
from sources import registry
from sources._http import RequestStats
from sources._vendor import Entity


@dataclass
class SourceRun:
    """What one source's sync did: per-resource counters, pending packages finished first, seconds."""

    name: str
    resources: dict[str, RequestStats] = field(default_factory=dict)
    resumed_packages: int = 0
    seconds: float = 0.0
    reconciled: list[Reconciled] = field(default_factory=list)
    error: Exception | None = None  # reconciling failed after the load (what loaded is kept)
    marked_deleted: int = 0  # records the vendor reported deleted (webhooks), soft-deleted after the load

    @property
    def rows(self) -> int:
        return sum(s.rows for s in self.resources.values())

    @property
    def requests(self) -> int:
        return sum(s.requests for s in self.resources.values())

    @property
    def quarantined(self) -> int:
        return sum(s.quarantined for s in self.resources.values())

    def unavailable(self) -> list[tuple[Entity, str]]:
        """The optional entities that loaded nothing because their endpoint was unavailable, with why
        (``HTTP 404 at /path``); see :func:`sources._vendor.guarded`."""
        vendor = registry.get(self.name)
        return [(vendor.entity(n), s.unavailable) for n, s in self.resources.items() if s.unavailable]


def sync_source(
    name: str,
    warehouse: Warehouse | Path,
    on_start: Callable[[SourceRun], None] | None = None,
    load_lock: threading.Lock | None = None,
    reconcile: bool = False,
    entities: Collection[str] | None = None,
    deleted: Mapping[str, Collection[str]] | None = None,
    **source_args: Any,
) -> SourceRun:
    """Sync one source: finish pending packages, extract what changed, normalize, load (Parquet); then, with
    ``reconcile`` or when its reconcile is due (:func:`pipelines.reconcile.reconcile_due`), compare its id sets
    with the warehouse (:func:`pipelines.reconcile.reconcile_source`).

    ``entities``: only these entities (resource names) are extracted, and nothing is reconciled unless
    ``reconcile`` says so (a targeted sync: ``arwip serve`` after webhooks). ``deleted``: per entity, ids the
    vendor reported deleted, soft-deleted after the load (:func:`pipelines.reconcile.mark_deleted`).
    ``warehouse``: a :class:`~pipelines.warehouse.Warehouse` or the path of a DuckDB file.

    Extraction may run concurrently with other sources; normalize and load hold ``load_lock`` (one writer
    at a time). ``source_args`` override the source's configuration keys (tests pass e.g. ``page_size``).
    Raises ``sources._http.ConfigError``/``SourceError`` and dlt's exceptions on failure; the state of a
    failed run is left for the next run to resume. A failed reconcile (after the load) is kept in
    ``SourceRun.error`` instead, so the caller still builds the models over what loaded.
    """
    started = time.perf_counter()
    lock = load_lock or threading.Lock()
    vendor = registry.get(name)
    config = vendor.config(source_args)
    warehouse = as_warehouse(warehouse)
    pipeline = warehouse.pipeline(name)
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
    source = vendor.source(config, run.resources)
    if entities is not None:
        source = source.with_resources(*entities)
    pipeline.extract(source, loader_file_format="parquet")
    with lock:
        pipeline.normalize()
        pipeline.load()
    if deleted:
        run.marked_deleted = mark_deleted(warehouse, vendor, deleted, lock)
    if reconcile or (entities is None and reconcile_due(warehouse, vendor, config)):
        try:
            run.reconciled = reconcile_source(warehouse, vendor, config, lock)
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
    warehouse: Warehouse | Path = DEFAULT_DB,
    sources: list[str] | None = None,
    on_start: Callable[[SourceRun], None] | None = None,
    on_done: Callable[[SourceRun], None] | None = None,
    source_args: dict[str, dict[str, Any]] | None = None,
    publish: bool = True,
    on_publish: Callable[[PublishResult], None] | None = None,
    reconcile: bool = False,
    on_reconcile: Callable[[list[Any]], None] | None = None,
    on_exceptions: Callable[[int], None] | None = None,
    entities: Mapping[str, Collection[str]] | None = None,
    deleted: Mapping[str, Mapping[str, Collection[str]]] | None = None,
) -> list[SourceRun]:
    """Sync ``sources`` (default: every registered vendor) into ``warehouse`` (a
    :class:`~pipelines.warehouse.Warehouse`, or the path of a DuckDB file) under its writer lock, build the
    models, and (``publish``) show readers the result (DuckDB: replace the read-only BI snapshot, see
    :func:`pipelines.publish.publish_snapshot`; PostgreSQL: the rebuild already swapped the models in).

    ``source_args`` maps a source name to configuration keys overriding its config (e.g. ``page_size``).
    The data tests (``sql/tests``) run on the new models before readers see them; a failure raises
    :class:`pipelines.datatests.DataTestsFailed` and leaves readers with the previous models (DuckDB: the
    previous BI snapshot; PostgreSQL: the previous schemas).
    ``reconcile`` also compares the full id sets with the sources that hard-delete (see
    :mod:`pipelines.reconcile`) and soft-deletes what vanished, each right after its own load (while the
    other sources still sync); without it a source is reconciled when its last reconcile is older than its
    ``reconcile_every``. ``on_reconcile`` gets each source's :class:`pipelines.reconcile.Reconciled` list;
    ``on_exceptions`` the number of invoices whose vendor figures disagree (``reports.rpt_exceptions``; never a
    failure). ``entities`` maps a source to the only entities to sync (webhook hints; not reconciled unless
    forced), ``deleted`` a source to ``{entity: ids}`` its vendor reported deleted (see :func:`sync_source`).

    Sources are extracted concurrently (each API has its own request budget); loads go one at a time.
    If a source fails, the others still load and the models are rebuilt, then the first failure is raised.
    Returns one :class:`SourceRun` per source. Raises :class:`SyncLocked` if another sync runs.
    """
    warehouse = as_warehouse(warehouse)
    names = [v.name for v in registry.vendors(sources)]  # ValueError for an unknown name, before any work
    load_lock = threading.Lock()
    runs: list[SourceRun] = []
    failures: list[BaseException] = []
    with warehouse.writer_lock(), ThreadPoolExecutor(len(names), thread_name_prefix="arwip-sync") as pool:
        args = source_args or {}
        futures = [
            pool.submit(
                sync_source,
                name,
                warehouse,
                on_start,
                load_lock,
                reconcile,
                (entities or {}).get(name),
                (deleted or {}).get(name),
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
            with warehouse.connect(read_only=False) as con:  # DataTestsFailed: readers keep the previous models
                build_models(con, check=check_data_tests)
                if on_exceptions:
                    on_exceptions(exception_count(con))
            if publish and not failures:
                published = warehouse.publish()
                if on_publish and published is not None:
                    on_publish(published)
    if failures:
        raise failures[0]
    return sorted(runs, key=lambda r: names.index(r.name))
