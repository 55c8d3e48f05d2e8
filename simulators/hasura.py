"""Hasura boolean expressions (`where`) and `orderBy` lists → parameterised DuckDB SQL.

Implements the search bodies of aiwyn.md §3/§4 (seed 000, 001): operators `_and _or _not _eq _neq
_gt _gte _lt _lte _in _nin _is_null _like _ilike` (CONTRACT.md) and `_regex` (aiwyn.md §3, S14).
Values are always bound as parameters, never interpolated; only column names from the entity's
field map reach the SQL text. Timestamp fields compare as instants: values are ISO-8601 strings,
with `Z`, an offset, or none (then UTC); a bare date means midnight UTC.

Pinned where Hasura is loose: a comparison with `null` is an error (use `_is_null`); `_and: []` is
true, `_or: []` is false, `_in: []` is false and `_nin: []` is true; `orderBy` directions are
`asc`, `desc` and their `_nulls_first` / `_nulls_last` forms (default: nulls last for asc, first for desc,
as in Postgres), and `id asc` is appended as the final tie-breaker.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

_COMPARE = {"_eq": "=", "_neq": "<>", "_gt": ">", "_gte": ">=", "_lt": "<", "_lte": "<="}
_MATCH = {"_like": "LIKE", "_ilike": "ILIKE"}
_DIRECTIONS = {
    "asc": "ASC NULLS LAST", "desc": "DESC NULLS FIRST",
    "asc_nulls_first": "ASC NULLS FIRST", "asc_nulls_last": "ASC NULLS LAST",
    "desc_nulls_first": "DESC NULLS FIRST", "desc_nulls_last": "DESC NULLS LAST",
}


class HasuraError(ValueError):
    """An invalid `where` / `orderBy` (unknown field or operator, wrong value type): HTTP 400."""


@dataclass(frozen=True)
class Field:
    """One filterable/sortable field: its SQL column and kind (`int dec str bool ts`)."""

    column: str
    kind: str


def parse_instant(value: Any, what: str = "timestamp") -> datetime:
    """ISO-8601 string → tz-aware UTC datetime (naive → UTC, bare date → midnight UTC)."""
    if not isinstance(value, str):
        raise HasuraError(f"{what} must be an ISO-8601 string, got {value!r}")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        try:
            parsed = datetime.combine(date.fromisoformat(value.strip()), datetime.min.time())
        except ValueError:
            raise HasuraError(f"{what} is not an ISO-8601 timestamp: {value!r}") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def scalar(name: str, field: Field, value: Any) -> Any:
    """A `where` value for field `name`, typed for binding (int, bool, str, Decimal, UTC datetime)."""
    kind = field.kind
    if value is None:
        raise HasuraError(f"null is not a value for {name!r}; use _is_null")
    if kind == "int" and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind == "bool" and isinstance(value, bool):
        return value
    if kind == "str" and isinstance(value, str):
        return value
    if kind == "dec" and isinstance(value, int | float | str) and not isinstance(value, bool):
        try:
            return Decimal(str(value))
        except InvalidOperation:
            pass
    if kind == "ts":
        return parse_instant(value, name)
    raise HasuraError(f"invalid value for {name!r} ({kind}): {value!r}")


def _field_expr(name: str, field: Field, ops: Any, params: list[Any]) -> str:
    if not isinstance(ops, Mapping) or not ops:
        raise HasuraError(f"expected an object of operators for field {name!r}")
    parts = []
    col = field.column
    for op, value in ops.items():
        if op in _COMPARE:
            params.append(scalar(name, field, value))
            parts.append(f"{col} {_COMPARE[op]} ?")
        elif op in ("_in", "_nin"):
            if not isinstance(value, list):
                raise HasuraError(f"{op} on {name!r} expects a list")
            if not value:
                parts.append("FALSE" if op == "_in" else "TRUE")
                continue
            params.extend(scalar(name, field, v) for v in value)
            marks = ", ".join("?" * len(value))
            parts.append(f"{col} {'IN' if op == '_in' else 'NOT IN'} ({marks})")
        elif op == "_is_null":
            if not isinstance(value, bool):
                raise HasuraError(f"_is_null on {name!r} expects true or false")
            parts.append(f"{col} IS {'' if value else 'NOT '}NULL")
        elif op in _MATCH or op == "_regex":
            if field.kind != "str" or not isinstance(value, str):
                raise HasuraError(f"{op} needs a text field and a string pattern ({name!r})")
            params.append(value)
            parts.append(f"regexp_matches({col}, ?)" if op == "_regex" else f"{col} {_MATCH[op]} ?")
        else:
            raise HasuraError(f"unknown operator {op!r} on field {name!r}")
    return " AND ".join(parts)


def _expr(where: Any, fields: Mapping[str, Field], params: list[Any]) -> str:
    if not isinstance(where, Mapping):
        raise HasuraError("a boolean expression must be an object")
    parts = []
    for key, value in where.items():
        if key in ("_and", "_or"):
            items = value if isinstance(value, list) else [value]
            if not items:
                parts.append("TRUE" if key == "_and" else "FALSE")
                continue
            joiner = " AND " if key == "_and" else " OR "
            parts.append("(" + joiner.join(f"({_expr(item, fields, params)})" for item in items) + ")")
        elif key == "_not":
            parts.append(f"NOT ({_expr(value, fields, params)})")
        elif key in fields:
            parts.append(f"({_field_expr(key, fields[key], value, params)})")
        else:
            raise HasuraError(f"unknown field or operator {key!r}")
    return " AND ".join(parts) if parts else "TRUE"


def _lower_bounds(where: Any, fields: Mapping[str, Field]) -> dict[str, Any]:
    """Lower bounds (inclusive) that `where` implies on int/dec/ts fields, through `_and` and `_or`.

    E.g. the keyset `updatedAt > X OR (updatedAt = X AND id > Y)` implies `updatedAt >= X`; stating
    it as an extra conjunct lets DuckDB skip row groups (a pure optimisation: the result is the same).
    """
    found: list[dict[str, Any]] = []
    for key, value in where.items():
        if key in ("_and", "_or"):
            subs = [_lower_bounds(item, fields) for item in (value if isinstance(value, list) else [value])]
            if key == "_and":
                found.extend(subs)
            elif subs:
                common = set.intersection(*(set(sub) for sub in subs))
                found.append({name: min(sub[name] for sub in subs) for name in common})
        elif key in fields and fields[key].kind in ("int", "dec", "ts"):
            values = [scalar(key, fields[key], v) for op, v in value.items() if op in ("_eq", "_gt", "_gte")]
            if values:
                found.append({key: max(values)})
    bounds: dict[str, Any] = {}
    for item in found:
        for name, bound in item.items():
            bounds[name] = max(bounds[name], bound) if name in bounds else bound
    return bounds


def translate_where(where: Any, fields: Mapping[str, Field]) -> tuple[str, list[Any]]:
    """`where` (None or {} = everything) → (SQL boolean expression, parameters)."""
    params: list[Any] = []
    if where is None:
        return "TRUE", params
    sql = _expr(where, fields, params)
    for name, bound in _lower_bounds(where, fields).items():
        sql += f" AND {fields[name].column} >= ?"
        params.append(bound)
    return sql, params


def translate_order_by(order_by: Any, fields: Mapping[str, Field], default: str = "id") -> str:
    """`[{"field": "asc"|"desc"|…}, …]` (or one object) → `ORDER BY` terms, ending with `<id> ASC`."""
    if order_by is None:
        order_by = []
    items = order_by if isinstance(order_by, list) else [order_by]
    terms, used = [], set()
    for item in items:
        if not isinstance(item, Mapping) or not item:
            raise HasuraError("orderBy items must be objects like {\"updatedAt\": \"asc\"}")
        for name, direction in item.items():
            if name not in fields:
                raise HasuraError(f"unknown orderBy field {name!r}")
            if not isinstance(direction, str) or direction.lower() not in _DIRECTIONS:
                raise HasuraError(f"invalid orderBy direction {direction!r} for {name!r}")
            terms.append(f"{fields[name].column} {_DIRECTIONS[direction.lower()]}")
            used.add(name)
    if default not in used:
        terms.append(f"{fields[default].column} ASC")
    return ", ".join(terms)
