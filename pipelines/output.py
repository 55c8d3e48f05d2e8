"""Report output: an Arrow table as a rich table, CSV or JSON (a list of objects).

Money (``DECIMAL(18,2)`` columns) is written as text with two decimals in CSV and JSON, never as a float;
dates as ISO ``YYYY-MM-DD``.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import orjson
import pyarrow as pa
from rich.table import Table


def _text(value: Any) -> Any:
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def rows(table: pa.Table) -> list[dict[str, Any]]:
    """Rows as dicts with money as two-decimal strings and dates as ISO strings."""
    return [{k: _text(v) for k, v in row.items()} for row in table.to_pylist()]


def to_json(table: pa.Table) -> str:
    """A JSON list of objects, one per row."""
    return orjson.dumps(rows(table), option=orjson.OPT_INDENT_2).decode()


def to_csv(table: pa.Table) -> str:
    """CSV with a header row."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=table.column_names, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows(table))
    return out.getvalue()


def _label(column: str) -> str:
    """Short terminal header: ``bucket_91_plus`` -> ``91+``, ``bucket_1_30`` -> ``1-30``."""
    if column.startswith("bucket_"):
        return column.removeprefix("bucket_").replace("_plus", "+").replace("_", "-")
    return column.replace("_", " ")


def transpose(table: pa.Table, key: str) -> pa.Table:
    """One row per column of ``table`` and one column per value of ``key`` (e.g. KPIs per source system)."""
    records = rows(table)
    columns: dict[str, list[Any]] = {"metric": [c for c in table.column_names if c != key]}
    for record in records:
        columns[str(record[key])] = [None if record[c] is None else str(record[c]) for c in columns["metric"]]
    return pa.table(columns)


def to_rich(table: pa.Table, title: str, limit: int | None = 50, totals: bool = True) -> Table:
    """A rich table for the terminal: the first ``limit`` rows, and (``totals``) a total line summing the
    money columns."""
    view = Table(title=title, title_justify="left")
    money = [n for n, t in zip(table.column_names, table.schema.types, strict=True) if pa.types.is_decimal(t)]
    for name in table.column_names:
        view.add_column(_label(name), justify="right" if name in money or name.endswith("days") else "left")
    shown = table.slice(0, limit) if limit else table
    for row in rows(shown):
        view.add_row(*("" if v is None else str(v) for v in row.values()))
    if limit and table.num_rows > limit:
        view.add_row(*([f"… {table.num_rows - limit} more rows"] + [""] * (len(table.column_names) - 1)))
    if money and totals:
        sums = {n: sum((v for v in table[n].to_pylist() if v is not None), Decimal(0)) for n in money}
        view.add_row(
            *(
                f"{sums[n]:.2f}" if n in sums else ("total" if i == 0 else "")
                for i, n in enumerate(table.column_names)
            ),
            style="bold",
        )
    return view
