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


def open_input(con: duckdb.DuckDBPyConnection, source: PushInput) -> tuple[pa.Schema, Rows]:
    """The columns of ``source`` and an iterator of its rows in batches (dicts: column → Python value; decimals as
    ``Decimal``, dates as ``date``). Each call reads the source anew.

    Raises:
        PushUsageError: a file that is missing or not one query, a CSV file without a header.
        ModelsNotBuilt: an arwip report on a warehouse without models.
        duckdb.Error: a query DuckDB refuses (its message names the problem).
    """
    if source.rows is not None:
        table = pa.Table.from_pylist(list(source.rows))
        return table.schema, iter([table.to_pylist()])
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


def _query(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[pa.Schema, Rows]:
    cursor = con.cursor()  # its own connection: the ledger writes on `con` while this one streams
    reader = cursor.sql(sql).to_arrow_reader(BATCH_ROWS)

    def rows() -> Rows:
        try:
            for batch in reader:
                yield batch.to_pylist()
        finally:
            cursor.close()

    return reader.schema, rows()


def _csv(path: Path) -> tuple[pa.Schema, Rows]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        header = next(csv.reader(handle), None)
    if not header or any(not name.strip() for name in header):
        raise PushUsageError(f"{path}: the first line must name every column")
    convert = pa_csv.ConvertOptions(column_types={name: pa.string() for name in header}, strings_can_be_null=False)
    reader = pa_csv.open_csv(path, read_options=pa_csv.ReadOptions(encoding="utf-8"), convert_options=convert)

    def rows() -> Rows:
        for batch in reader:
            yield batch.to_pylist()

    return reader.schema, rows()
