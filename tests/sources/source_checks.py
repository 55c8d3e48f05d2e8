"""Helpers of the source tests: sync one source, read the warehouse, compare tables with the simulator's truth,
count requests per path on a simulator app."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.models import build_models
from pipelines.sync import sync_source
from pipelines.warehouse import DuckDBWarehouse
from simulators import FirmSize, SimulatorCluster
from sources import registry
from sources._http import ConfigError, RequestStats

LAG = timedelta(seconds=300)  # the sources' default lag window


def small_firm(**counts: Any) -> FirmSize:
    """A firm with one or a few rows of everything except what the test sets."""
    base: dict[str, Any] = {
        "clients": 3,
        "wip": 3,
        "aiwyn_invoices": 3,
        "nrbs": 2,
        "job_orders": 1,
        "iinsight_invoices": 2,
    }
    return FirmSize(**{**base, **counts})


def sync_one(db: Path, source: str, models: bool = False, **args: Any) -> dict[str, RequestStats]:
    """Sync ``source`` alone (:func:`pipelines.sync.sync_source`: extract and load) with ``args`` as source
    arguments; returns its per-resource stats. ``models``: then build the SQL models (staging, facts, reports)
    as a sync does; the data tests and the BI snapshot, which the source tests do not need, are left out."""
    stats = sync_source(source, db, **args).resources
    if models:
        with duckdb.connect(str(db)) as con:
            build_models(con)
    return stats


def dlt_source(source: str, tally: dict[str, RequestStats], **config: Any) -> Any:
    """The dlt source of ``source`` over the configuration in force (the simulators'), with ``config`` keys
    overridden (e.g. ``page_size=10``); per-resource counters go to ``tally``."""
    vendor = registry.get(source)
    return vendor.source(vendor.config(config), tally)


def query(db: Path, sql: str) -> list[dict[str, Any]]:
    """Rows of ``sql`` on the warehouse (read-only connection, closed before returning)."""
    with duckdb.connect(str(db), read_only=True) as con:
        return con.sql(sql).to_arrow_table().to_pylist()


def column_types(db: Path, relation: str) -> dict[str, str]:
    """Column name -> DuckDB type of ``relation`` (``schema.table``)."""
    schema, table = relation.split(".")
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(
            "select column_name, data_type from information_schema.columns where table_schema = ? and table_name = ?",
            [schema, table],
        ).fetchall()
    return dict(rows)


def row_count(db: Path, relation: str) -> int | None:
    """Rows in ``relation`` (``schema.table``), or None when the warehouse has no such table."""
    if not column_types(db, relation):
        return None
    return query(db, f"select count(*) as n from {relation}")[0]["n"]


def keyed(
    rows: Sequence[dict[str, Any]],
    key: Sequence[str],
    columns: Sequence[str],
    convert: dict[str, Callable[[Any], Any]] | None = None,
) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    """``{key values: column values}``, values passed through ``convert[column]`` (e.g. ``str`` for ids the
    warehouse keeps as text). Fails on a duplicate key (a row loaded twice)."""
    convert = convert or {}

    def value(row: dict[str, Any], c: str) -> Any:
        v = row[c]
        return convert[c](v) if c in convert and v is not None else v

    out: dict[tuple[Any, ...], tuple[Any, ...]] = {}
    for row in rows:
        k = tuple(value(row, c) for c in key)
        assert k not in out, f"duplicate key {k}"
        out[k] = tuple(value(row, c) for c in columns)
    return out


def assert_same(actual: dict[tuple[Any, ...], Any], expected: dict[tuple[Any, ...], Any], what: str) -> None:
    """Same keys and the same values per key; the message shows a few differences of each kind."""
    missing = sorted(expected.keys() - actual.keys(), key=str)
    extra = sorted(actual.keys() - expected.keys(), key=str)
    differing = sorted((k for k in expected.keys() & actual.keys() if actual[k] != expected[k]), key=str)
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing, e.g. {missing[:3]}")
    if extra:
        problems.append(f"{len(extra)} unexpected, e.g. {extra[:3]}")
    for k in differing[:3]:
        problems.append(f"{k}: warehouse {actual[k]} != truth {expected[k]}")
    if len(differing) > 3:
        problems.append(f"... {len(differing)} rows differ")
    assert not problems, f"{what}: " + "; ".join(problems)


def assert_table_matches(
    db: Path,
    relation: str,
    truth: pa.Table,
    key: Sequence[str],
    columns: Sequence[str] | None = None,
    convert: dict[str, Callable[[Any], Any]] | None = None,
    where: str = "true",
) -> int:
    """The warehouse ``relation`` (rows matching ``where``) holds exactly the ``truth`` rows, each once, with
    equal values in ``columns`` (default: every truth column the warehouse table has). ``convert`` applies to
    truth values. Returns the number of rows compared."""
    warehouse_rows = query(db, f"select * from {relation} where {where}")
    present = set(warehouse_rows[0]) if warehouse_rows else set(column_types(db, relation))
    columns = [c for c in truth.column_names if c in present] if columns is None else list(columns)
    assert columns, f"{relation}: no column to compare"
    expected = keyed(truth.to_pylist(), key, columns, convert)
    actual = keyed(warehouse_rows, key, columns)
    assert_same(actual, expected, relation)
    return len(expected)


def count_between(truth: pa.Table, column: str, low: datetime, high: datetime | None = None) -> int:
    """Rows of ``truth`` with ``low <= column`` (and ``column <= high``)."""
    mask = pc.greater_equal(truth[column], pa.scalar(low, truth[column].type))
    if high is not None:
        mask = pc.and_(mask, pc.less_equal(truth[column], pa.scalar(high, truth[column].type)))
    return int(pc.sum(mask.cast(pa.int64())).as_py() or 0)


def newest(truth: pa.Table, column: str) -> datetime:
    """The latest value of a timestamp column."""
    value = pc.max(truth[column]).as_py()
    assert value is not None
    return value


def refused(db: Path, source: str, key: str, value: str, monkeypatch: Any) -> tuple[str, int]:
    """Sync ``source`` with config ``key`` (e.g. ``SOURCES__AIMSIO__PASSWORD``) set to the wrong ``value``;
    asserts the failure is a :class:`ConfigError` naming ``key``; returns what the CLI would print and its exit
    code (:func:`pipelines.errors.explain`)."""
    from pipelines.errors import explain

    monkeypatch.setenv(key, value)
    try:
        sync_one(db, source)
    except Exception as exc:
        error = config_error(exc)
        assert error is not None, f"not a ConfigError: {exc!r}"
        assert key in str(error)
        return explain(exc)
    raise AssertionError(f"{source} synced with a wrong {key}")


def config_error(exc: BaseException) -> ConfigError | None:
    """The :class:`ConfigError` in an exception's chain (dlt wraps what a source raised), or None."""
    todo: list[BaseException | None] = [exc]
    seen: set[int] = set()
    while todo:
        err = todo.pop(0)
        if err is None or id(err) in seen:
            continue
        seen.add(id(err))
        if isinstance(err, ConfigError):
            return err
        todo += [getattr(err, "exception", None), err.__cause__, err.__context__]
    return None


class PathCounter:
    """ASGI middleware counting requests per ``(method, path)`` (add before the app serves its first request)."""

    def __init__(self, app: Any, counts: Counter[tuple[str, str]]) -> None:
        self.app, self.counts = app, counts

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.counts[(scope["method"], scope["path"])] += 1
        await self.app(scope, receive, send)


def count_requests(cluster: SimulatorCluster, vendor: str) -> Counter[tuple[str, str]]:
    """A live count of the requests ``vendor``'s simulator receives, per (method, path)."""
    counts: Counter[tuple[str, str]] = Counter()
    cluster.apps[vendor].add_middleware(PathCounter, counts=counts)
    return counts


def run_resource(db: Path, source: Any, resource: str, on_item: Callable[[int], None]) -> None:
    """Load one resource of a dlt ``source`` into ``db`` (the sync's pipeline), calling ``on_item(n)`` as the
    n-th item (1, 2, ...) reaches dlt: a hook into the middle of a run."""
    seen = [0]

    def hook(item: Any) -> Any:
        seen[0] += 1
        on_item(seen[0])
        return item

    selected = source.with_resources(resource)
    selected.resources[resource].add_map(hook)
    DuckDBWarehouse(db).pipeline(source.name).run(selected, loader_file_format="parquet")


def expire_tokens(cluster: SimulatorCluster, vendor: str) -> None:
    """Revoke every access token ``vendor``'s simulator has issued, as if they had all expired now."""
    assert httpx.post(cluster.urls[vendor] + "/_sim/expire-tokens").json()["expired"] >= 1
