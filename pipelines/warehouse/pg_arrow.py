"""PostgreSQL's answers through ADBC, as arwip reads DuckDB's: exact decimals for ``numeric``, text for the
other types ADBC leaves opaque (:func:`decimals`)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc


def decimals(table: pa.Table) -> pa.Table:
    """``table`` as arwip reads DuckDB: ADBC's opaque ``numeric`` columns (text) as ``decimal128(p, s)``, ``p, s``
    from the column's ``POSTGRESQL:typmod`` (``numeric(18,2)``), else the widest scale in the data with
    precision 38 (an aggregate's unconstrained ``numeric``); other opaque columns as text; no field metadata."""
    fields, columns = [], []
    for field, column in zip(table.schema, table.columns, strict=True):
        meta = field.metadata or {}
        if isinstance(field.type, pa.BaseExtensionType) and field.type.extension_name == "arrow.opaque":
            column = pa.chunked_array([chunk.storage for chunk in column.chunks], pa.string())
            if meta.get(b"POSTGRESQL:type") == b"numeric":
                column = pc.cast(column, _decimal_type(column, int(meta.get(b"POSTGRESQL:typmod", b"-1"))))
        fields.append(pa.field(field.name, column.type, field.nullable))
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=pa.schema(fields))


def _decimal_type(text: pa.ChunkedArray, typmod: int) -> pa.DataType:
    if typmod >= 4:
        return pa.decimal128((typmod - 4) >> 16, (typmod - 4) & 0xFFFF)
    fraction = pc.replace_substring_regex(text, r"^[^.]*\.?", "")  # the digits after the point, or ""
    return pa.decimal128(38, pc.max(pc.utf8_length(fraction)).as_py() or 0)
