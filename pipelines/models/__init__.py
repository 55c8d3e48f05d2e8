"""The SQL models (``sql/``) built in DuckDB, and the reports as of any date.

Modules: :mod:`~pipelines.models.raw` (the raw tables the models read, from the vendor registry),
:mod:`~pipelines.models.config` (aging buckets and basis), :mod:`~pipelines.models.catalog` (the report
registry), :mod:`~pipelines.models.build` (discovery and build), :mod:`~pipelines.models.report` (a report as
of any date). The public names are re-exported here.

Layers, one model per ``.sql`` file, file name = relation name:

- ``sql/staging/``      → schema ``staging``: 1:1 with the raw tables (rename, cast, UTC dates), including the
  ``*_history`` tables that keep every version the sources loaded (see History staging below).
- ``sql/intermediate/`` → schema ``facts``: helper models of the facts, and the SCD2 ``int_*_versions``
  (derived from ``sql/templates/scd2_versions.sql``, see below).
- ``sql/facts/``        → schema ``facts``: ``fct_invoices``, ``fct_payments``, ``fct_wip`` (today) and
  ``fct_invoice_versions``, ``fct_wip_versions`` (every version, with ``valid_from`` / ``valid_to``).
- ``sql/reports/``      → schema ``reports``: AR aging, WIP outstanding, their by-client summaries, month-end
  trends (over the snapshot dates of ``rpt_month_ends``), KPIs and top overdue clients, as of today (UTC) in
  the views.
- ``sql/tests/``        → not built: data tests run by :mod:`pipelines.datatests`.

Every model is a view, except those whose SQL has a line ``-- materialized: table`` (the SCD2
``fct_*_versions``, whose validity ranges need a window over every version): tables computed at each build.

History staging: a staging model ``<name>`` over a raw table that keeps history (its spec's
``history_table``, see :func:`~pipelines.models.raw.raw_tables`) has a line ``-- also built over
<schema>.<table>_history as <name>_history`` at the top of its SQL, and is then also built as the model
``<name>_history``: the same SQL with every reference to the raw table rewritten (by sqlglot) to its versions
table, which has the same columns (:func:`~pipelines.models.build.history_model`). So one file defines the
staging of the current rows and of every version, with the same columns: e.g.
``sql/staging/stg_aiwyn__invoices.sql`` defines ``staging.stg_aiwyn__invoices`` over ``aiwyn.invoices`` and
``staging.stg_aiwyn__invoices_history`` over ``aiwyn.invoices_history``.

SCD2 versions: such a staging model may also have a line ``-- versions in facts.<int name> by <key>``; the
model ``facts.<int name>`` is then built in the intermediate layer from ``sql/templates/scd2_versions.sql``, the
one place the validity logic is written, over the staging model and its ``*_history`` twin
(:func:`~pipelines.models.build.versions_model`).

Build order: the folders in that order; inside a folder alphabetically, except that a model is moved after
any model of the same folder it reads (a schema-qualified reference in its SQL, e.g.
``reports.rpt_ar_aging``); a ``*_history`` staging model comes right after the model it is derived from. A
model may read only raw tables, the report configuration tables and models built before it.

Report configuration (:class:`ReportConfig`: aging buckets and basis) is written by :func:`build_models` into
the tables ``reports.aging_buckets (bucket_order, bucket_label, min_days, max_days)`` and
``reports.report_settings (aging_basis)``, which the report SQL joins. The by-client summaries have one
``bucket_<label>`` column per bucket: their SQL is written for the default buckets and the ``bucket_*``
columns are regenerated from the ``bucket_current`` one (:func:`~pipelines.models.config.pivot_buckets`).
:func:`report` uses the configuration in force (inlined in its query), whatever the views were built with.

As of another date: a report model that depends on the date has a CTE ``as_of as (select <today, UTC> as
as_of_date)``; the others read such report models. :func:`report` parses the report's SQL with sqlglot,
inlines every report model it reads as a subquery (recursively), sets every ``as_of`` CTE to a date literal
built from a :class:`datetime.date` (never from text), and inlines the configuration as literal rows. No SQL is
formatted from user input.

History (SCD2): the state of an invoice / WIP entry / NRB as of date D is its version valid at the end of D
(UTC), from the sources' own change timestamps (Aiwyn ``updatedAt``, iinsight ``last_update_utc``, Aimsio
``nrbUpdatedAt``); the first version we saw counts since the beginning of time; a record without history
(loaded before the ``*_history`` tables existed) is its current row. See ``sql/templates/scd2_versions.sql``.

Soft deletes: ``<source>.deletions`` (``entity, guid, deleted_at``) lists the records that vanished from a
source (Aimsio NRBs from its stub lists; Aiwyn WIP entries, invoices and payments and iinsight invoices from
``arwip sync --reconcile``; ``deleted_at`` null when the record came back). Sources give no deletion time: a
record counts as deleted from when our sync saw it vanish (``deleted_at``, the load time). The staging models
keep deleted records, flagged ``is_deleted`` / ``deleted_at`` (the state today, on every version: deletions
keep no history); as of date D a record is deleted when ``deleted_at`` < D + 1 day (00:00 UTC), i.e. by the
end of D: a deleted invoice does not count toward AR, a deleted payment pays nothing, a deleted piece of WIP
is not outstanding.

Optional entities: ``<source>.entity_status`` (``entity, available, reason, checked_at``) says whether each optional
entity could be read in the latest sync (:func:`sources._vendor.guarded`); the models fall back on it (iinsight:
the open amount is ``total_amount_payable``, ``open_amount_basis`` ``vendor_payable``, without payments; no
iinsight WIP without billings). ``<source>.quarantine`` (created empty too) lets the data tests tell a record
that could not be loaded from one that is missing.

Money is ``DECIMAL(18,2)``; every date is a UTC calendar date.
"""

from __future__ import annotations

from pipelines.models.build import LAYERS, MODEL_SCHEMAS, SQL_DIR, Model, build_models, discover_models
from pipelines.models.catalog import REPORTS, Report
from pipelines.models.config import (
    DEFAULT_AGING_BUCKETS,
    Bucket,
    ModelsNotBuilt,
    ReportConfig,
    report_config_from_dlt,
    stored_report_config,
)
from pipelines.models.raw import LOAD_ID, create_missing_raw_tables, history_spec, raw_tables
from pipelines.models.report import AS_OF_CTE, exception_count, report, report_sql, today_utc

__all__ = [
    "AS_OF_CTE",
    "DEFAULT_AGING_BUCKETS",
    "LAYERS",
    "LOAD_ID",
    "MODEL_SCHEMAS",
    "REPORTS",
    "SQL_DIR",
    "Bucket",
    "Model",
    "ModelsNotBuilt",
    "Report",
    "ReportConfig",
    "build_models",
    "create_missing_raw_tables",
    "discover_models",
    "exception_count",
    "history_spec",
    "raw_tables",
    "report",
    "report_config_from_dlt",
    "report_sql",
    "stored_report_config",
    "today_utc",
]
