"""Building JSON text in DuckDB SQL without losing decimal scale.

`json_object` renders a `DECIMAL(18,2)` as `1500.00`, but a JSON value nested into another JSON
function is re-parsed and its numbers normalised (`0.10` → `0.1`). Nested objects and arrays are
therefore spliced together as text: `obj` joins flat `json_object`s and raw JSON texts, `array_of`
aggregates row objects. Only SQL written in this package goes through these helpers (no values).
"""

from __future__ import annotations

ISO_FMT = "'%Y-%m-%dT%H:%M:%SZ'"


def iso(column: str) -> str:
    """Timestamp column → `'YYYY-MM-DDThh:mm:ssZ'` text (NULL stays NULL)."""
    return f"strftime({column}, {ISO_FMT})"


def flat(pairs: list[tuple[str, str]]) -> str:
    """`json_object('k1', expr1, …)::VARCHAR` (scalars only)."""
    return "json_object(" + ", ".join(f"'{k}', {v}" for k, v in pairs) + ")::VARCHAR"


def obj(*parts: list[tuple[str, str]] | tuple[str, str]) -> str:
    """SQL text of one JSON object, in order: a list of (key, scalar SQL) pairs is a flat run; a
    (key, SQL yielding JSON text) tuple is spliced raw (an array or object built by these helpers)."""
    pieces = []
    for part in parts:
        if isinstance(part, tuple):
            pieces.append(f"'\"{part[0]}\":' || ({part[1]})")
        else:
            pieces.append(f"({flat(part)})[2:-2]")
    return "'{' || " + " || ',' || ".join(pieces) + " || '}'"


def array_of(row_sql: str, source: str, order: str) -> str:
    """`(SELECT '[' || rows || ']' FROM source)`: a JSON array of `row_sql` text per row, ordered."""
    return f"(SELECT '[' || coalesce(string_agg({row_sql}, ',' ORDER BY {order}), '') || ']' FROM {source})"
