"""The rows of a push, streamed: a query over the warehouse (a SQL file in DuckDB's SQL, generated for the
warehouse by sqlglot, or an arwip report) as Arrow record batches, a CSV file as Arrow batches of text, or literal
rows. Memory holds one batch at a time (:data:`BATCH_ROWS` rows), so a push of any size runs in bounded memory.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import sqlglot
from pyarrow import csv as pa_csv
from sqlglot import exp

from pipelines.models import ModelsNotBuilt, report_config_from_dlt, report_sql, today_utc
from pipelines.warehouse import Connection, RelationMissing, as_connection
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
    reading (``close``, e.g. a query's own connection)."""

    def __init__(self, schema: pa.Schema, batches: Iterator[pa.RecordBatch] | list[pa.RecordBatch],
                 close: Callable[[], None] | None = None) -> None:
        self.schema, self._batches, self._close = schema, batches, close

    def __iter__(self) -> Rows:
        return self.chunks()

    def chunks(self, size: int | None = None) -> Rows:
        """Batches of rows of at most ``size`` rows (None: as read), cut from the Arrow batches without copying."""
        for batch in self._batches:
            step = size or max(batch.num_rows, 1)
            for start in range(0, batch.num_rows, step):
                yield batch.slice(start, step).to_pylist()

    def __enter__(self) -> Input:
        return self

    def __exit__(self, *exc: object) -> None:
        if isinstance(self._batches, pa.RecordBatchReader):
            self._batches.close()
        self._batches = []
        if self._close is not None:
            self._close()
            self._close = None


def open_input(con: Connection | duckdb.DuckDBPyConnection, source: PushInput) -> Input:
    """A new reading of ``source`` (see :class:`Input`) on the warehouse connection ``con``; use it as a context
    manager.

    Raises:
        PushUsageError: a file that is missing or not one query, a CSV file without a header.
        ModelsNotBuilt: an arwip report on a warehouse without models.
        Connection.errors (e.g. ``duckdb.Error``): a query the warehouse refuses (its message names the problem).
    """
    con = as_connection(con)
    if source.rows is not None:
        table = pa.Table.from_pylist(list(source.rows))
        return Input(table.schema, table.to_batches())
    if source.csv is not None:
        return _csv(source.csv)
    if source.sql is not None:
        return _query(con, con.dialect.render(query_text(source.sql)))
    if source.report is None:
        raise PushUsageError("the target named no input")
    sql = report_sql(source.report, today_utc(), config=report_config_from_dlt(), dialect=con.dialect)
    try:
        return _query(con, sql)
    except RelationMissing as exc:
        raise ModelsNotBuilt(f"the warehouse has no report models ({exc}): run `arwip sync` first") from None


def _query(con: Connection, sql: str) -> Input:
    rows = con.batches(sql, BATCH_ROWS)  # its own connection: the ledger writes on `con` while this one streams
    return Input(rows.schema, rows.batches, rows.close)


def _csv(path: Path) -> Input:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        header = next(csv.reader(handle), None)
    if not header or any(not name.strip() for name in header):
        raise PushUsageError(f"{path}: the first line must name every column")
    convert = pa_csv.ConvertOptions(column_types={name: pa.string() for name in header}, strings_can_be_null=False)
    reader = pa_csv.open_csv(path, read_options=pa_csv.ReadOptions(encoding="utf-8"), convert_options=convert)
    return Input(reader.schema, reader)
