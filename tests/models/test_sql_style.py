"""Every model is one portable SQL statement: parses as DuckDB, transpiles to Postgres, no DuckDB-only habits."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel

from pipelines.models import AS_OF_CTE, REPORTS, SQL_DIR, Model, discover_models, raw_tables

SQL_FILES = sorted(SQL_DIR.rglob("*.sql"))
RAW_SCHEMAS = {schema for schema, _ in raw_tables()}
# the models built from a file's SQL rewritten (the ``*_history`` staging views), which no file holds as such
DERIVED_MODELS = [m for m in discover_models() if m.name != m.path.stem]


def test_there_are_models() -> None:
    assert len(SQL_FILES) >= 15


@pytest.mark.parametrize("path", SQL_FILES, ids=lambda p: str(p.relative_to(SQL_DIR)))
def test_parses_and_transpiles_to_postgres(path: Path) -> None:
    sql = path.read_text()
    statements = sqlglot.parse(sql, read="duckdb")
    assert len(statements) == 1, "one statement per model"
    assert isinstance(statements[0], exp.Select | exp.Union)
    postgres = sqlglot.transpile(sql, read="duckdb", write="postgres", unsupported_level=ErrorLevel.RAISE)
    assert len(postgres) == 1
    sqlglot.parse_one(postgres[0], read="postgres")


@pytest.mark.parametrize("path", SQL_FILES, ids=lambda p: str(p.relative_to(SQL_DIR)))
def test_no_duckdb_only_habits(path: Path) -> None:
    text = re.sub(r"--[^\n]*", "", path.read_text())  # comments may mention anything
    code = re.sub(r"'[^']*'", "''", text)  # nor may string literals ('CANCELLED', 'UTC')
    assert code == code.lower(), "lowercase SQL"
    assert not re.search(r"group\s+by\s+all\b", code), "GROUP BY ALL is not portable"
    assert not re.search(r"order\s+by\s+all\b", code), "ORDER BY ALL is not portable"
    assert "::" not in code, "use cast(x as type)"
    assert not re.search(r"\bqualify\b", code), "QUALIFY is not portable"


@pytest.mark.parametrize("path", SQL_FILES, ids=lambda p: str(p.relative_to(SQL_DIR)))
def test_raw_tables_are_read_column_by_column(path: Path) -> None:
    """dlt adds columns (``_dlt_*``, new vendor fields): a model never takes ``*`` from a raw table."""
    tree = sqlglot.parse_one(path.read_text(), read="duckdb")
    for select in tree.find_all(exp.Select):
        source = select.args.get("from_") or select.args.get("from")
        table = source.this if source is not None else None
        if isinstance(table, exp.Table) and table.db in RAW_SCHEMAS:
            assert not any(isinstance(e, exp.Star) for e in select.expressions), f"select * from {table.sql()}"


@pytest.mark.parametrize("path", sorted((SQL_DIR / "reports").glob("*.sql")), ids=lambda p: p.stem)
def test_reports_start_with_the_as_of_cte_or_read_reports(path: Path) -> None:
    """A report depends on the date through its first CTE ``as_of`` or through the report models it reads."""
    tree = sqlglot.parse_one(path.read_text(), read="duckdb")
    ctes = [cte.alias_or_name for cte in tree.find_all(exp.CTE)]
    reads_reports = any(t.db == "reports" and t.name.startswith("rpt_") for t in tree.find_all(exp.Table))
    assert ctes[0] == AS_OF_CTE or reads_reports, path.stem
    assert ctes.count(AS_OF_CTE) <= 1


def test_public_reports_exist() -> None:
    for detail, summary in ((r.model, r.summary) for r in REPORTS.values()):
        for model in (detail, summary):
            assert model is None or (SQL_DIR / "reports" / f"{model}.sql").is_file(), model


def test_data_tests_are_covered() -> None:
    tests = sorted((SQL_DIR / "tests").glob("assert_*.sql"))
    assert len(tests) >= 9
    assert set(tests) <= set(SQL_FILES)


@pytest.mark.parametrize("model", DERIVED_MODELS, ids=lambda m: m.name)
def test_derived_models_are_portable(model: Model) -> None:
    """The SQL pipelines.models writes for a ``*_history`` staging view transpiles to Postgres, like its file."""
    assert isinstance(sqlglot.parse_one(model.sql, read="duckdb"), exp.Select | exp.Union)
    postgres = sqlglot.transpile(model.sql, read="duckdb", write="postgres", unsupported_level=ErrorLevel.RAISE)
    assert len(postgres) == 1
    sqlglot.parse_one(postgres[0], read="postgres")
