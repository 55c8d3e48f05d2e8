"""Hasura `where` / `orderBy` translation: every operator, parameters only, errors, instants."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import duckdb
import pytest

from simulators.hasura import Field, HasuraError, parse_instant, translate_order_by, translate_where

FIELDS = {"id": Field("id", "int"), "name": Field("name", "str"), "amount": Field("amount", "dec"),
          "ok": Field("ok", "bool"), "updatedAt": Field("updated_at", "ts")}


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET GLOBAL TimeZone = 'UTC'")
    con.execute("CREATE TABLE t (id INTEGER, name VARCHAR, amount DECIMAL(18,2), ok BOOLEAN, updated_at TIMESTAMPTZ)")
    con.execute("""INSERT INTO t VALUES (1, 'Alpha consultation', 10.00, true, '2024-01-01 00:00:00+00'),
        (2, 'beta', 20.50, false, '2024-01-01 00:00:00+00'), (3, 'Gamma', 30.00, true, '2024-02-01 10:00:00+00'),
        (4, NULL, NULL, NULL, NULL)""")
    return con


def ids(con: duckdb.DuckDBPyConnection, where: object, order: object = None) -> list[int]:
    sql, params = translate_where(where, FIELDS)
    return [r[0] for r in con.execute(f"SELECT id FROM t WHERE {sql} ORDER BY {translate_order_by(order, FIELDS)}",
                                      params).fetchall()]


@pytest.mark.parametrize(("where", "expected"), [
    (None, [1, 2, 3, 4]),
    ({}, [1, 2, 3, 4]),
    ({"id": {"_eq": 2}}, [2]),
    ({"id": {"_neq": 2}}, [1, 3, 4]),
    ({"id": {"_gt": 2}}, [3, 4]),
    ({"id": {"_gte": 2, "_lte": 3}}, [2, 3]),
    ({"id": {"_lt": 2}}, [1]),
    ({"id": {"_in": [1, 3]}}, [1, 3]),
    ({"id": {"_in": []}}, []),
    ({"id": {"_nin": [1, 3]}}, [2, 4]),
    ({"name": {"_is_null": True}}, [4]),
    ({"name": {"_is_null": False}}, [1, 2, 3]),
    ({"name": {"_like": "%a"}}, [2, 3]),
    ({"name": {"_ilike": "%CONSULT%"}}, [1]),
    ({"name": {"_regex": "^[A-Z]"}}, [1, 3]),
    ({"amount": {"_gt": 15}}, [2, 3]),
    ({"amount": {"_eq": "20.5"}}, [2]),
    ({"ok": {"_eq": True}}, [1, 3]),
    ({"_not": {"ok": {"_eq": True}}}, [2]),
    ({"_or": [{"id": {"_eq": 1}}, {"name": {"_eq": "Gamma"}}]}, [1, 3]),
    ({"_and": [{"ok": {"_eq": True}}, {"amount": {"_lt": 20}}]}, [1]),
    ({"_and": []}, [1, 2, 3, 4]),
    ({"_or": []}, []),
    ({"updatedAt": {"_gt": "2024-01-31T23:00:00-02:00"}}, [3]),
    ({"updatedAt": {"_eq": "2024-01-01"}}, [1, 2]),
    ({"updatedAt": {"_lte": "2024-01-01T05:00:00+05:00"}}, [1, 2]),
])
def test_operators(con: duckdb.DuckDBPyConnection, where: object, expected: list[int]) -> None:
    assert ids(con, where) == expected


def test_keyset_where_and_implied_bound(con: duckdb.DuckDBPyConnection) -> None:
    where = {"_or": [{"updatedAt": {"_gt": "2024-01-01T00:00:00Z"}},
                     {"_and": [{"updatedAt": {"_eq": "2024-01-01T00:00:00Z"}}, {"id": {"_gt": 1}}]}]}
    sql, params = translate_where(where, FIELDS)
    assert sql.endswith("AND updated_at >= ?")  # redundant, lets DuckDB skip row groups
    assert params[-1] == datetime(2024, 1, 1, tzinfo=UTC)
    assert ids(con, where, [{"updatedAt": "asc"}]) == [2, 3]


def test_values_are_parameters_never_sql() -> None:
    sql, params = translate_where({"name": {"_eq": "x' OR 1=1 --"}}, FIELDS)
    assert "OR 1=1" not in sql
    assert params == ["x' OR 1=1 --"]


def test_order_by(con: duckdb.DuckDBPyConnection) -> None:
    assert ids(con, None, [{"amount": "desc"}]) == [4, 3, 2, 1]  # nulls first on desc (Postgres)
    assert ids(con, None, [{"amount": "desc_nulls_last"}]) == [3, 2, 1, 4]
    assert ids(con, None, {"updatedAt": "asc"}) == [1, 2, 3, 4]
    assert translate_order_by(None, FIELDS) == "id ASC"


@pytest.mark.parametrize("where", [
    {"nope": {"_eq": 1}},
    {"id": {"_foo": 1}},
    {"id": {"_eq": "1"}},
    {"id": {"_eq": None}},
    {"id": {"_in": 1}},
    {"id": 1},
    {"ok": {"_eq": "true"}},
    {"id": {"_like": "1%"}},
    {"updatedAt": {"_gt": "yesterday"}},
    {"_not": [{"id": {"_eq": 1}}]},
    ["id"],
])
def test_errors(where: object) -> None:
    with pytest.raises(HasuraError):
        translate_where(where, FIELDS)
    assert issubclass(HasuraError, ValueError)


@pytest.mark.parametrize("order", [[{"nope": "asc"}], [{"id": "up"}], ["id"], [{}]])
def test_order_by_errors(order: object) -> None:
    with pytest.raises(HasuraError):
        translate_order_by(order, FIELDS)


def test_parse_instant() -> None:
    assert parse_instant("2024-03-01T12:00:00+11:00") == datetime(2024, 3, 1, 1, 0, tzinfo=UTC)
    assert parse_instant("2024-03-01T12:00:00") == datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
    assert Decimal("1") == Decimal(1)
