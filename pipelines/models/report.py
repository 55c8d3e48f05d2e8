"""Reports as of any date: a report view's SQL compiled into one query for a given day and configuration.

A report model that depends on the date has a CTE ``as_of as (select <today, UTC> as as_of_date)``; the
others read such report models. :func:`report_sql` parses the report's SQL with sqlglot, inlines every report
model it reads as a subquery (recursively), sets every ``as_of`` CTE to a date literal built from a
:class:`datetime.date` (never from text), and inlines the configuration as literal rows. No SQL is formatted
from user input.
"""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime

import duckdb
import pyarrow as pa
import sqlglot
from sqlglot import exp

from pipelines.models.build import SQL_DIR, read_sql
from pipelines.models.catalog import REPORTS
from pipelines.models.config import (
    BUCKETS_TABLE,
    SETTINGS_TABLE,
    ModelsNotBuilt,
    ReportConfig,
    config_query,
    pivot_buckets,
    stored_report_config,
)

AS_OF_CTE = "as_of"
AS_OF_COLUMN = "as_of_date"
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")


def today_utc() -> date:
    """Today's calendar date in UTC (the default report date)."""
    return datetime.now(UTC).date()


@functools.lru_cache(maxsize=64)
def _parsed_report_model(name: str, mtime_ns: int) -> exp.Expression:
    return sqlglot.parse_one(read_sql(SQL_DIR / "reports" / f"{name}.sql"), read="duckdb")


def _report_model(name: str) -> exp.Expression:
    """A fresh copy of report model ``name``'s parsed SQL (parsed once per file version)."""
    path = SQL_DIR / "reports" / f"{name}.sql"
    if not name or not set(name) <= _NAME_CHARS or not path.is_file():
        raise ValueError(f"no report model reports.{name}")
    return _parsed_report_model(name, path.stat().st_mtime_ns).copy()


def _own_ctes(tree: exp.Expression) -> list[exp.CTE]:
    with_ = tree.args.get("with_") or tree.args.get("with")
    return list(with_.expressions) if with_ is not None else []


def _set_as_of(tree: exp.Expression, as_of: date, source: str) -> bool:
    """Set the expression of ``tree``'s own ``as_of as (select … as as_of_date)`` CTE to ``cast('YYYY-MM-DD'
    as date)``; returns whether there was one."""
    ctes = [cte for cte in _own_ctes(tree) if cte.alias_or_name == AS_OF_CTE]
    if not ctes:
        return False
    select = ctes[0].this if len(ctes) == 1 else None
    if not isinstance(select, exp.Select) or [e.alias_or_name for e in select.expressions] != [AS_OF_COLUMN]:
        raise ValueError(f"{source}: expected one CTE `{AS_OF_CTE} as (select <date> as {AS_OF_COLUMN})`")
    literal = exp.cast(exp.Literal.string(as_of.isoformat()), exp.DataType.build("date"))
    select.set("expressions", [exp.alias_(literal, AS_OF_COLUMN)])
    return True


def _compile(
    name: str, as_of: date, config: ReportConfig, reading: tuple[str, ...] = ()
) -> tuple[exp.Expression, bool]:
    """Report model ``name`` as one query as of ``as_of``: its ``as_of`` CTE set, the report models it reads
    inlined (recursively), the configuration tables inlined, the bucket columns pivoted. Returns the query and
    whether it depends on the date (has an ``as_of`` CTE, its own or inlined)."""
    if name in reading:
        raise ValueError(f"report models read each other in a cycle: {' -> '.join((*reading, name))}")
    tree = _report_model(name)
    dated = _set_as_of(tree, as_of, name)
    pivot_buckets(tree, config)
    for table in list(tree.find_all(exp.Table)):
        if table.db != "reports":
            continue
        if table.name in (BUCKETS_TABLE, SETTINGS_TABLE):
            query = config_query(table.name, config)
        else:
            query, inner_dated = _compile(table.name, as_of, config, (*reading, name))
            dated = dated or inner_dated
        alias = exp.TableAlias(this=exp.to_identifier(table.alias or table.name))
        table.replace(exp.Subquery(this=query, alias=alias))
    return tree, dated


def _check_report(name: str, by_client: bool) -> str:
    if name not in REPORTS:
        known = ", ".join(repr(n) for n in REPORTS)
        raise ValueError(f"unknown report {name!r}: use one of {known}")
    chosen = REPORTS[name]
    if not by_client:
        return chosen.model
    if chosen.summary is None:
        with_summary = " and ".join(repr(r.name) for r in REPORTS.values() if r.summary)
        raise ValueError(f"report {name!r} has no by-client summary (only {with_summary} have)")
    return chosen.summary


def report_sql(name: str, as_of: date, by_client: bool = False, config: ReportConfig | None = None) -> str:
    """The DuckDB SQL of report ``name`` as of ``as_of`` with ``config`` (default :class:`ReportConfig`), as
    :func:`report` runs it: one self-contained query.

    Raises:
        ValueError: unknown report name, or ``by_client`` for a report without a summary.
        TypeError: ``as_of`` is not a date (a datetime is refused: its calendar date depends on a time zone).
    """
    model = _check_report(name, by_client)
    if not isinstance(as_of, date) or isinstance(as_of, datetime):
        raise TypeError(f"as_of must be a datetime.date, got {type(as_of).__name__}")
    tree, dated = _compile(model, as_of, config or ReportConfig())
    if not dated:
        raise ValueError(f"report model reports.{model} does not depend on the date (no `{AS_OF_CTE}` CTE)")
    return tree.sql(dialect="duckdb", comments=False)


def exception_count(con: duckdb.DuckDBPyConnection) -> int:
    """How many invoices ``reports.rpt_exceptions`` lists today (vendor figures that disagree, e.g. an iinsight
    invoice's payable against its total minus payments; ``arwip report exceptions`` lists them)."""
    return int(con.execute("select count(*) from reports.rpt_exceptions").fetchall()[0][0])


def report(
    con: duckdb.DuckDBPyConnection,
    name: str,
    as_of: date | None = None,
    by_client: bool = False,
    config: ReportConfig | None = None,
) -> pa.Table:
    """Report ``name`` as of the UTC calendar date ``as_of`` (default: today in UTC), as an Arrow table.

    Every record counts in the state it had at the end of ``as_of`` (its SCD2 version valid then: status,
    due date, amounts, voiding, billing); payments count when dated on or before ``as_of``.
    ``config``: buckets and aging basis (default: the ones the warehouse was built with,
    :func:`stored_report_config`).

    ``"aging"`` (AR aging), one row per open invoice, oldest first (``days_past_due`` desc, then client):
    ``source_system, invoice_id, invoice_number, client_name`` (text), ``invoice_date, due_date`` (date),
    ``open_amount`` (decimal(18,2)), ``days_past_due`` (int32, as_of - due date, or invoice date when there is
    none or with the invoice-date basis), ``aging_bucket`` (default ``current``, ``1-30``, ``31-60``,
    ``61-90``, ``91+``), ``open_amount_basis`` (``payments``: total minus payments; ``vendor_payable``: the
    vendor's open amount, for iinsight when its payments cannot be read).

    ``"wip"`` (WIP outstanding), one row per unbilled piece of work, oldest first (``age_days`` desc):
    ``source_system, wip_id, client_name, job, wip_type`` (text), ``logged_date`` (date),
    ``outstanding_amount`` (decimal(18,2)), ``age_days`` (int32, as_of - logged_date), ``aging_bucket``.

    ``by_client=True`` (aging and wip only): one row per client, largest total first: ``client_name``, one
    decimal(18,2) column per bucket (default ``bucket_current, bucket_1_30, bucket_31_60, bucket_61_90,
    bucket_91_plus``; ``bucket_91_120, bucket_121_plus`` with buckets 30/60/90/120), ``total``.

    ``"aging_trend"`` / ``"wip_trend"``: one row per (month end, source, client, bucket) with an amount, from
    the first month with data through ``as_of``'s month (whose row is as of ``as_of``): ``snapshot_date``
    (date), ``source_system, client_name, aging_bucket`` (text), ``bucket_order`` (int32), ``open_amount`` /
    ``outstanding_amount`` (decimal(18,2)), ``invoice_count`` / ``wip_count`` (int64).

    ``"kpis"``: one row per source plus ``'all'`` (last), over the trailing 90 days to ``as_of``:
    ``source_system, as_of_date, period_start, period_days``, amounts (decimal(18,2)) ``ar_open_amount,
    billed_amount, collected_amount, wip_outstanding_amount, wip_value_amount, wip_billed_amount,
    wip_written_off_amount``, days (decimal(18,1)) ``debtor_days, wip_days, lockup_days``, ratios
    (decimal(9,4)) ``billing_realization, collection_realization, write_off_rate``; definitions in
    ``sql/reports/rpt_kpis.sql``.

    ``"top_overdue"``: the 10 clients owing most more than 30 days past due: ``overdue_rank`` (int32),
    ``client_name``, ``overdue_amount`` (decimal(18,2)), ``overdue_invoice_count, oldest_days_past_due``
    (int32), ``open_amount`` (decimal(18,2)).

    ``"exceptions"``: invoices whose vendor figures disagree today (dated on or before ``as_of``), largest
    difference first: ``source_system, invoice_id, invoice_number, client_name`` (text), ``invoice_date``
    (date), ``total_amount, paid_amount, open_amount, vendor_open_amount, difference`` (decimal(18,2)),
    ``exception`` (text); see ``sql/reports/rpt_exceptions.sql``.

    Only reads: works on a read-only connection. Needs the views of :func:`build_models`.

    Raises:
        ValueError: unknown report name, ``by_client`` for a report without a summary; :class:`ModelsNotBuilt`
            when the warehouse has no models yet.
        TypeError: ``as_of`` is not a date.
    """
    _check_report(name, by_client)
    if config is None:
        config = stored_report_config(con)
    sql = report_sql(name, today_utc() if as_of is None else as_of, by_client, config)
    try:
        return con.sql(sql).to_arrow_table()
    except duckdb.CatalogException as exc:
        raise ModelsNotBuilt(f"the warehouse has no report models ({exc}): run `arwip sync` to build them") from exc
