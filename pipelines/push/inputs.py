"""The rows of a push, streamed: a query over the warehouse (a SQL file or an arwip report) as Arrow record batches
from DuckDB, a CSV file as Arrow batches of text, or literal rows. Memory holds one batch at a time
(:data:`BATCH_ROWS` rows), so a push of any size runs in bounded memory.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import sqlglot
from pyarrow import csv as pa_csv
from sqlglot import exp

from pipelines.models import ModelsNotBuilt, report_config_from_dlt, report_sql, today_utc
from sources._push import PushInput, PushUsageError

BATCH_ROWS = 10_000
Rows = Iterator[list[dict[str, Any]]]


def query_text(path: Path) -> str:
    """The one query in the file ``path``. Raises :class:`PushUsageError` for anything but one ``select`` (a push
    reads the warehouse, never changes it) or SQL that does not parse."""
    text = path.read_text()
    try:
        statements = [s for s in sqlglot.parse(text, read="duckdb") if s is not None]
    except sqlglot.errors.ParseError as exc:
        raise PushUsageError(f"{path}: not SQL that DuckDB reads ({str(exc).splitlines()[0]})") from None
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        raise PushUsageError(f"{path}: must hold exactly one query (select ...), not {len(statements)} statement(s)")
    return text.strip().rstrip(";")


class Input:
    """The rows of one reading of a push's input: ``schema`` (its columns) and, iterated, batches of rows (dicts:
    column → Python value; decimals as ``Decimal``, dates as ``date``). A context manager: leaving it ends the
    reading (a query's cursor is closed)."""

    def __init__(self, schema: pa.Schema, batches: Iterator[pa.RecordBatch] | list[pa.RecordBatch],
                 cursor: duckdb.DuckDBPyConnection | None = None) -> None:
        self.schema, self._batches, self._cursor = schema, batches, cursor

    def __iter__(self) -> Rows:
        for batch in self._batches:
            yield batch.to_pylist()

    def __enter__(self) -> Input:
        return self

    def __exit__(self, *exc: object) -> None:
        if isinstance(self._batches, pa.RecordBatchReader):
            self._batches.close()  # a reader left open keeps DuckDB's database from being opened again
        self._batches = []
        if self._cursor is not None:
            self._cursor.close()
            self._cursor = None


def open_input(con: duckdb.DuckDBPyConnection, source: PushInput) -> Input:
    """A new reading of ``source`` (see :class:`Input`); use it as a context manager.

    Raises:
        PushUsageError: a file that is missing or not one query, a CSV file without a header.
        ModelsNotBuilt: an arwip report on a warehouse without models.
        duckdb.Error: a query DuckDB refuses (its message names the problem).
    """
    if source.rows is not None:
        table = pa.Table.from_pylist(list(source.rows))
        return Input(table.schema, table.to_batches())
    if source.csv is not None:
        return _csv(source.csv)
    if source.sql is not None:
        return _query(con, query_text(source.sql))
    if source.report is None:
        raise PushUsageError("the target named no input")
    sql = report_sql(source.report, today_utc(), config=report_config_from_dlt())
    try:
        return _query(con, sql)
    except duckdb.CatalogException as exc:
        raise ModelsNotBuilt(f"the warehouse has no report models ({exc}): run `arwip sync` first") from None


def _query(con: duckdb.DuckDBPyConnection, sql: str) -> Input:
    cursor = con.cursor()  # its own connection: the ledger writes on `con` while this one streams
    try:
        reader = cursor.sql(sql).to_arrow_reader(BATCH_ROWS)
    except BaseException:
        cursor.close()
        raise
    return Input(reader.schema, reader, cursor)


def _csv(path: Path) -> Input:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        header = next(csv.reader(handle), None)
    if not header or any(not name.strip() for name in header):
        raise PushUsageError(f"{path}: the first line must name every column")
    convert = pa_csv.ConvertOptions(column_types={name: pa.string() for name in header}, strings_can_be_null=False)
    reader = pa_csv.open_csv(path, read_options=pa_csv.ReadOptions(encoding="utf-8"), convert_options=convert)
    return Input(reader.schema, reader)
