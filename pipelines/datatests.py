"""Data tests of the models: ``sql/tests/assert_<rule>.sql``, each a query that must return no rows.

A test returns the offending rows (keys and a ``message`` column). :func:`run_data_tests` runs them all on a
warehouse built by :func:`pipelines.models.build_models` (as of today, UTC) and returns the failures; the
sync runs them after building the models and fails (exit code :data:`EXIT_DATA_TESTS`) when any fails.

Rules: unique and not-null keys (staging, facts, detail reports); payments → invoices and line items →
invoices; Aiwyn line items sum to the subtotal; invoice total = parts within a cent; open amount between 0
and the total; every open invoice in exactly one bucket; report totals equal the facts' totals.
Each test reads each relation it checks once.

Soft deletes (``<source>.deletions``): deleted records stay in staging and in ``fct_invoices`` /
``fct_payments`` (flagged ``is_deleted``), so a payment of a deleted invoice still finds it; deleted invoices
do not count toward AR, deleted payments are not counted (nor checked against invoices) and deleted WIP is
not in ``fct_wip``, in the facts-side sums as in the reports.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import sqlglot
from sqlglot import exp

from pipelines.models import SQL_DIR
from pipelines.models.build import references
from pipelines.warehouse import Connection, Rebuild, RelationMissing, Step, as_connection
from pipelines.warehouse.steps import run_in_order

TESTS_DIR = SQL_DIR / "tests"
SAMPLE_ROWS = 5
EXIT_DATA_TESTS = 4
_COUNT_COLUMN = "_arwip_failing_rows"
_NAME = re.compile(r"^assert_[a-z0-9_]+$")


@dataclass(frozen=True)
class DataTestFailure:
    """A data test that returned rows (or could not run).

    ``name``: the test (file stem, e.g. ``assert_unique_keys``); ``rows``: how many rows it returned;
    ``sample``: up to 5 of them as dicts (column → value); ``error``: why it could not run, if it could not
    (then ``rows`` is 0 and ``sample`` empty).
    """

    name: str
    rows: int
    sample: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    def describe(self) -> str:
        """One line: the test, the row count and the first offending row (or the error)."""
        if self.error is not None:
            return f"{self.name}: could not run: {self.error.splitlines()[0]}"
        first = ", ".join(f"{k}={v}" for k, v in self.sample[0].items()) if self.sample else ""
        return f"{self.name}: {self.rows} row(s), e.g. {first}"


class DataTestsFailed(RuntimeError):
    """Data tests failed after a sync; ``failures`` lists them. The sync exits with :data:`EXIT_DATA_TESTS`."""

    def __init__(self, failures: list[DataTestFailure]) -> None:
        self.failures = failures
        lines = "; ".join(f.describe() for f in failures)
        super().__init__(f"{len(failures)} data test(s) failed: {lines}")


def discover_data_tests(tests_dir: Path = TESTS_DIR) -> list[Path]:
    """The data test files, by name.

    Raises:
        ValueError: a file not named ``assert_<rule>.sql`` (lowercase).
    """
    paths = sorted(tests_dir.glob("*.sql"))
    for path in paths:
        if not _NAME.match(path.stem):
            raise ValueError(f"data test {path}: name it assert_<rule>.sql (a-z, 0-9, _)")
    return paths


@functools.lru_cache(maxsize=128)
def _counted(sql: str) -> exp.Expression:
    """``select *, count(*) over () as _arwip_failing_rows from (<test>) limit 5``: rows and count in one run
    (cached: :meth:`~pipelines.warehouse.SqlDialect.render` copies the tree it is given)."""
    test = sqlglot.parse_one(sql, read="duckdb")
    count = exp.alias_(exp.Window(this=exp.Count(this=exp.Star())), _COUNT_COLUMN)
    return (
        exp.select(exp.Star(), count)
        .from_(exp.Subquery(this=test, alias=exp.TableAlias(this=exp.to_identifier("failing"))))
        .limit(SAMPLE_ROWS)
    )


def run_data_test(
    con: Connection | duckdb.DuckDBPyConnection, path: Path, schemas: Mapping[str, str] | None = None
) -> DataTestFailure | None:
    """Run one data test; None when it passes (returns no rows). ``schemas``: where each model schema is (a
    rebuild's new schemas, see :meth:`pipelines.warehouse.Connection.rebuild`; default the live ones)."""
    con = as_connection(con)
    name = path.stem
    try:
        with con.savepoint():
            table = con.arrow(con.dialect.render(_counted(path.read_text(encoding="utf-8")), schemas))
    except (*con.errors, RelationMissing, sqlglot.errors.SqlglotError) as exc:
        return DataTestFailure(name, 0, [], f"{type(exc).__name__}: {exc}")
    if not table.num_rows:
        return None
    rows = table.to_pylist()
    sample = [{c: v for c, v in row.items() if c != _COUNT_COLUMN} for row in rows]
    return DataTestFailure(name, int(rows[0][_COUNT_COLUMN]), sample)


def run_data_tests(
    con: Connection | duckdb.DuckDBPyConnection,
    tests_dir: Path = TESTS_DIR,
    schemas: Mapping[str, str] | None = None,
) -> list[DataTestFailure]:
    """Run every data test on the built models (as of today, UTC), one after the other on ``con``; returns the
    failures, in test-name order (empty when all pass). Only reads. A test that cannot run (e.g. the models are
    not built) is a failure with ``error`` set. ``schemas``: as for :func:`run_data_test`.
    """
    failures: dict[str, DataTestFailure] = {}
    run_in_order(as_connection(con), _test_steps(tests_dir, schemas, failures))
    return [failures[name] for name in sorted(failures)]


def check_data_tests(rebuild: Rebuild, tests_dir: Path = TESTS_DIR) -> None:
    """The sync's check of a rebuild (:meth:`pipelines.warehouse.Connection.rebuild`): adds every data test on
    the new models as a step after the models it reads (on PostgreSQL a test starts as soon as they are built,
    beside the rest of the build), and a last step that raises when any failed.

    Raises:
        DataTestsFailed: one or more tests failed (see its ``failures``, in test-name order).
    """
    failures: dict[str, DataTestFailure] = {}
    tests = _test_steps(tests_dir, rebuild.schemas, failures)

    def verdict(con: Connection) -> None:
        if failures:
            raise DataTestsFailed([failures[name] for name in sorted(failures)])

    rebuild.add([*tests, Step("data tests", verdict, frozenset(test.name for test in tests))])


def _test_steps(
    tests_dir: Path, schemas: Mapping[str, str] | None, failures: dict[str, DataTestFailure]
) -> list[Step]:
    """Every data test of ``tests_dir`` as a step after the relations it reads; a test that fails records its
    failure in ``failures`` (by name)."""

    def step(path: Path) -> Step:
        sql = path.read_text(encoding="utf-8")

        def test(con: Connection) -> None:
            failure = run_data_test(con, path, schemas)
            if failure is not None:
                failures[path.stem] = failure

        return Step(path.stem, test, _reads(sql))

    return [step(path) for path in discover_data_tests(tests_dir)]


def _reads(sql: str) -> frozenset[str]:
    """The relations a test reads (:func:`pipelines.models.build.references`); none when it does not parse (it
    then fails when it runs, as a test that cannot run)."""
    try:
        return references(sql)
    except sqlglot.errors.SqlglotError:
        return frozenset()
