"""The SQL models (``sql/``) as DuckDB views, and the AR aging / WIP outstanding reports as of any date.

Layers, one model per ``.sql`` file, file name = relation name:

- ``sql/staging/``      → schema ``staging``: 1:1 with the raw tables (rename, cast, UTC dates).
- ``sql/intermediate/`` → schema ``facts``: helper models of the facts.
- ``sql/facts/``        → schema ``facts``: ``fct_invoices``, ``fct_payments``, ``fct_wip`` across sources.
- ``sql/reports/``      → schema ``reports``: ``rpt_ar_aging``, ``rpt_wip_outstanding`` (as of today, UTC) and
  their ``*_by_client`` summaries.

Build order: the folders in that order; inside a folder alphabetically, except that a model is moved after
any model of the same folder it reads (a schema-qualified reference in its SQL, e.g.
``reports.rpt_ar_aging``). A model may read only raw tables and models built before it.

As of another date: each report's first CTE is ``as_of as (select <today, UTC> as as_of_date)``.
:func:`report` parses the report's SQL with sqlglot, replaces that expression with a date literal built
from a :class:`datetime.date` (never from text), and runs the result; a summary is run over that report
inlined as a subquery. No SQL is formatted from user input.

Money is ``DECIMAL(18,2)``; every date is a UTC calendar date.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Literal, get_args

import duckdb
import pyarrow as pa
import sqlglot
from sqlglot import exp

from sources._arrow import TableSpec
from sources.aimsio import settings as aimsio
from sources.aiwyn import settings as aiwyn
from sources.iinsight.settings import invoice_specs

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"

_IINSIGHT_INVOICES, _IINSIGHT_INVOICE_ITEMS = invoice_specs(1)  # same columns and types in version 2

# Every raw table the models read, as (schema, spec): the one list of them. Missing ones are created empty.
RAW_TABLES: tuple[tuple[str, TableSpec], ...] = (
    ("aiwyn", aiwyn.WIP),
    ("aiwyn", aiwyn.INVOICES),
    ("aiwyn", aiwyn.INVOICE_LINE_ITEMS),
    ("aiwyn", aiwyn.PAYMENTS),
    ("aimsio", aimsio.NRBS),
    ("aimsio", aimsio.NRB_CHILDREN),
    ("aimsio", aimsio.JOB_ORDERS),
    ("aimsio", aimsio.DELETIONS),
    ("iinsight", _IINSIGHT_INVOICES),
    ("iinsight", _IINSIGHT_INVOICE_ITEMS),
)

# (folder under sql/, schema of its views), in build order.
LAYERS: tuple[tuple[str, str], ...] = (
    ("staging", "staging"),
    ("intermediate", "facts"),
    ("facts", "facts"),
    ("reports", "reports"),
)
MODEL_SCHEMAS: tuple[str, ...] = ("staging", "facts", "reports")

ReportName = Literal["aging", "wip"]
# report name -> (detail model, by-client summary model), both in schema ``reports``
REPORTS: dict[str, tuple[str, str]] = {
    "aging": ("rpt_ar_aging", "rpt_ar_aging_by_client"),
    "wip": ("rpt_wip_outstanding", "rpt_wip_outstanding_by_client"),
}
AS_OF_CTE = "as_of"
AS_OF_COLUMN = "as_of_date"

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class ModelsNotBuilt(ValueError):
    """The warehouse has no report views yet (run ``arwip sync``, which builds them)."""


@dataclass(frozen=True)
class Model:
    """One SQL model: a view ``schema.name`` defined by the ``select`` in ``path``."""

    name: str
    schema: str
    path: Path
    sql: str

    @property
    def relation(self) -> str:
        """``schema.name``."""
        return f"{self.schema}.{self.name}"

    def references(self) -> set[str]:
        """The schema-qualified relations (``schema.table``) the model reads; CTE names are not included."""
        tree = sqlglot.parse_one(self.sql, read="duckdb")
        return {f"{t.db}.{t.name}" for t in tree.find_all(exp.Table) if t.db}


def _read_sql(path: Path) -> str:
    return path.read_text(encoding="utf-8").strip().rstrip(";").strip()


def discover_models(sql_dir: Path = SQL_DIR) -> list[Model]:
    """All models under ``sql_dir`` in build order (see the module docstring).

    Raises:
        ValueError: a file name that is not a lowercase identifier, two models with the same name, a cycle
            between models of one folder, or a model reading a relation that is neither a raw table nor a
            model built before it.
    """
    ordered: list[Model] = []
    for folder, schema in LAYERS:
        layer = []
        for path in sorted((sql_dir / folder).glob("*.sql")):
            if not _NAME.match(path.stem):
                raise ValueError(f"model file {path}: the name must be a lowercase identifier (a-z, 0-9, _)")
            layer.append(Model(path.stem, schema, path, _read_sql(path)))
        ordered += _order_layer(layer)
    raw = {f"{schema}.{spec.name}" for schema, spec in RAW_TABLES}
    built: set[str] = set()
    for model in ordered:
        if model.relation in built:
            raise ValueError(f"two models define {model.relation} ({model.path})")
        unknown = sorted(model.references() - raw - built)
        if unknown:
            raise ValueError(f"model {model.path} reads {unknown[0]}: neither a raw table nor a model built before it")
        built.add(model.relation)
    return ordered


def _order_layer(models: list[Model]) -> list[Model]:
    """Alphabetical, except that a model comes after the models of the same folder it reads."""
    names = {m.relation for m in models}
    needs = {m.relation: m.references() & names - {m.relation} for m in models}
    todo = list(models)
    done: list[Model] = []
    placed: set[str] = set()
    while todo:
        ready = next((m for m in todo if needs[m.relation] <= placed), None)
        if ready is None:
            raise ValueError(f"models read each other in a cycle: {', '.join(m.relation for m in todo)}")
        todo.remove(ready)
        done.append(ready)
        placed.add(ready.relation)
    return done


def create_missing_raw_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Create every raw table of :data:`RAW_TABLES` that does not exist, empty, with exactly its spec's columns
    (names, types, NOT NULL where the spec's Arrow field is not nullable).

    A sync may have loaded only some sources; the views need all their inputs. Returns the tables created
    (``schema.name``). Existing tables are left as they are.
    """
    created = []
    for schema, spec in RAW_TABLES:
        exists = con.execute(
            "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
            [schema, spec.name],
        ).fetchall()[0][0]
        if exists:
            continue
        arrow_schema = spec.arrow_schema()
        view = f"_arwip_empty_{schema}_{spec.name}"
        con.register(view, arrow_schema.empty_table())
        try:
            con.execute(f'create schema if not exists "{schema}"')
            con.execute(f'create table "{schema}"."{spec.name}" as select * from "{view}"')
        finally:
            con.unregister(view)
        for field in arrow_schema:
            if not field.nullable:  # the primary key, NOT NULL as dlt declares it
                con.execute(f'alter table "{schema}"."{spec.name}" alter column "{field.name}" set not null')
        created.append(f"{schema}.{spec.name}")
    return created


def build_models(con: duckdb.DuckDBPyConnection) -> list[str]:
    """(Re)build every model as a view, in one transaction; returns the relations built (``schema.view``) in order.

    Sets the connection's ``TimeZone`` to UTC, creates missing raw tables empty (see
    :func:`create_missing_raw_tables`), drops and recreates the schemas ``staging``, ``facts`` and ``reports``
    (so views of removed models disappear; do not keep your own objects there), then creates the views.
    On any error nothing is changed.

    Raises:
        ValueError: a malformed model tree (see :func:`discover_models`).
        duckdb.Error: a model that does not compile against the warehouse.
    """
    models = discover_models()
    con.execute("set TimeZone = 'UTC'")
    con.begin()
    try:
        create_missing_raw_tables(con)
        for schema in reversed(MODEL_SCHEMAS):
            con.execute(f"drop schema if exists {schema} cascade")
        for schema in MODEL_SCHEMAS:
            con.execute(f"create schema {schema}")
        for model in models:
            con.execute(f"create or replace view {model.schema}.{model.name} as\n{model.sql}")
        con.commit()
    except BaseException:
        con.rollback()
        raise
    return [m.relation for m in models]


def today_utc() -> date:
    """Today's calendar date in UTC (the default report date)."""
    return datetime.now(UTC).date()


def _report_model_sql(name: str) -> str:
    return _read_sql(SQL_DIR / "reports" / f"{name}.sql")


def _with_as_of(tree: exp.Expression, as_of: date, source: str) -> exp.Expression:
    """``tree`` with the expression of ``as_of as (select … as as_of_date)`` set to ``cast('YYYY-MM-DD' as date)``."""
    ctes = [cte for cte in tree.find_all(exp.CTE) if cte.alias_or_name == AS_OF_CTE]
    select = ctes[0].this if len(ctes) == 1 else None
    if not isinstance(select, exp.Select) or [e.alias_or_name for e in select.expressions] != [AS_OF_COLUMN]:
        raise ValueError(f"{source}: expected one CTE `{AS_OF_CTE} as (select <date> as {AS_OF_COLUMN})`")
    literal = exp.cast(exp.Literal.string(as_of.isoformat()), exp.DataType.build("date"))
    select.set("expressions", [exp.alias_(literal, AS_OF_COLUMN)])
    return tree


def _inline(tree: exp.Expression, schema: str, name: str, query: exp.Expression) -> exp.Expression:
    """``tree`` with every reference to ``schema.name`` replaced by ``(query) as name``."""
    tables = [t for t in tree.find_all(exp.Table) if t.db == schema and t.name == name]
    if not tables:
        raise ValueError(f"the summary does not read {schema}.{name}")
    for table in tables:
        table.replace(exp.Subquery(this=query.copy(), alias=exp.TableAlias(this=exp.to_identifier(name))))
    return tree


def report_sql(name: ReportName, as_of: date, by_client: bool = False) -> str:
    """The DuckDB SQL of report ``name`` as of ``as_of`` (what :func:`report` runs).

    Raises:
        ValueError: unknown report name.
        TypeError: ``as_of`` is not a date (a datetime is refused: its calendar date depends on a time zone).
    """
    if name not in REPORTS:
        known = ", ".join(repr(n) for n in get_args(ReportName))
        raise ValueError(f"unknown report {name!r}: use one of {known}")
    if not isinstance(as_of, date) or isinstance(as_of, datetime):
        raise TypeError(f"as_of must be a datetime.date, got {type(as_of).__name__}")
    detail_name, summary_name = REPORTS[name]
    detail = _with_as_of(sqlglot.parse_one(_report_model_sql(detail_name), read="duckdb"), as_of, detail_name)
    if not by_client:
        return detail.sql(dialect="duckdb", comments=False)
    summary = sqlglot.parse_one(_report_model_sql(summary_name), read="duckdb")
    return _inline(summary, "reports", detail_name, detail).sql(dialect="duckdb", comments=False)


def report(
    con: duckdb.DuckDBPyConnection, name: ReportName, as_of: date | None = None, by_client: bool = False
) -> pa.Table:
    """Report ``name`` as of the UTC calendar date ``as_of`` (default: today in UTC), as an Arrow table.

    ``"aging"`` (AR aging), one row per open invoice, oldest first (``days_past_due`` desc, then client):
    ``source_system, invoice_id, invoice_number, client_name`` (text), ``invoice_date, due_date`` (date),
    ``open_amount`` (decimal(18,2)), ``days_past_due`` (int32, as_of - due date, or invoice date when there is
    none), ``aging_bucket`` (``current``, ``1-30``, ``31-60``, ``61-90``, ``91+``).

    ``"wip"`` (WIP outstanding), one row per unbilled piece of work, oldest first (``age_days`` desc):
    ``source_system, wip_id, client_name, job, wip_type`` (text), ``logged_date`` (date),
    ``outstanding_amount`` (decimal(18,2)), ``age_days`` (int32, as_of - logged_date), ``aging_bucket``.

    ``by_client=True``: one row per client, largest total first: ``client_name``, ``bucket_current``,
    ``bucket_1_30``, ``bucket_31_60``, ``bucket_61_90``, ``bucket_91_plus``, ``total`` (decimal(18,2) sums
    of the detail rows' amounts).

    Only reads: works on a read-only connection. Needs the views of :func:`build_models`.

    Raises:
        ValueError: unknown report name; :class:`ModelsNotBuilt` when the warehouse has no models yet.
        TypeError: ``as_of`` is not a date.
    """
    sql = report_sql(name, today_utc() if as_of is None else as_of, by_client)
    try:
        return con.sql(sql).to_arrow_table()
    except duckdb.CatalogException as exc:
        raise ModelsNotBuilt(f"the warehouse has no report models ({exc}): run `arwip sync` to build them") from exc
