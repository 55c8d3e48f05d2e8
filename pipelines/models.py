"""The SQL models (``sql/``) built in DuckDB, and the reports as of any date.

Layers, one model per ``.sql`` file, file name = relation name:

- ``sql/staging/``      → schema ``staging``: 1:1 with the raw tables (rename, cast, UTC dates), including the
  ``*_history`` tables that keep every version the sources loaded (see History staging below).
- ``sql/intermediate/`` → schema ``facts``: helper models of the facts, e.g. the SCD2 ``int_*_versions``.
- ``sql/facts/``        → schema ``facts``: ``fct_invoices``, ``fct_payments``, ``fct_wip`` (today) and
  ``fct_invoice_versions``, ``fct_wip_versions`` (every version, with ``valid_from`` / ``valid_to``).
- ``sql/reports/``      → schema ``reports``: AR aging, WIP outstanding, their by-client summaries, month-end
  trends (over the snapshot dates of ``rpt_month_ends``), KPIs and top overdue clients, as of today (UTC) in
  the views.
- ``sql/tests/``        → not built: data tests run by :mod:`pipelines.datatests`.

Every model is a view, except those whose SQL has a line ``-- materialized: table`` (the SCD2
``fct_*_versions``, whose validity ranges need a window over every version): tables computed at each build.

History staging: a staging model ``<name>`` over a raw table that keeps history (its spec's ``history_table``,
see :data:`RAW_TABLES`) has a line ``-- also built over <schema>.<table>_history as <name>_history`` at the top
of its SQL, and is then also built as the model ``<name>_history``: the same SQL with every reference to the
raw table rewritten (by sqlglot) to its versions table, which has the same columns (:func:`history_model`). So
one file defines the staging of the current rows and of every version, with the same columns: e.g.
``sql/staging/stg_aiwyn__invoices.sql`` defines ``staging.stg_aiwyn__invoices`` over ``aiwyn.invoices`` and
``staging.stg_aiwyn__invoices_history`` over ``aiwyn.invoices_history``.

Build order: the folders in that order; inside a folder alphabetically, except that a model is moved after
any model of the same folder it reads (a schema-qualified reference in its SQL, e.g.
``reports.rpt_ar_aging``); a ``*_history`` staging model comes right after the model it is derived from. A
model may read only raw tables, the report configuration tables and models built before it.

Report configuration (:class:`ReportConfig`: aging buckets and basis) is written by :func:`build_models` into
the tables ``reports.aging_buckets (bucket_order, bucket_label, min_days, max_days)`` and
``reports.report_settings (aging_basis)``, which the report SQL joins. The by-client summaries have one
``bucket_<label>`` column per bucket: their SQL is written for the default buckets and the ``bucket_*``
columns are regenerated from the ``bucket_current`` one (:func:`_pivot_buckets`).

As of another date: a report model that depends on the date has a CTE ``as_of as (select <today, UTC> as
as_of_date)``; the others read such report models. :func:`report` parses the report's SQL with sqlglot,
inlines every report model it reads as a subquery (recursively), sets every ``as_of`` CTE to a date literal
built from a :class:`datetime.date` (never from text), and inlines the configuration as literal rows. No SQL is
formatted from user input.

History (SCD2): the state of an invoice / WIP entry / NRB as of date D is its version valid at the end of D
(UTC), from the sources' own change timestamps (Aiwyn ``updatedAt``, iinsight ``last_update_utc``, Aimsio
``nrbUpdatedAt``); the first version we saw counts since the beginning of time; a record without history
(loaded before the ``*_history`` tables existed) is its current row. See
``sql/intermediate/int_aiwyn__invoice_versions.sql``.

Soft deletes: ``<source>.deletions`` (``entity, guid, deleted_at``) lists the records that vanished from a
source (Aimsio NRBs from its stub lists; Aiwyn WIP entries, invoices and payments and iinsight invoices from
``arwip sync --reconcile``; ``deleted_at`` null when the record came back). Sources give no deletion time: a
record counts as deleted from when our sync saw it vanish (``deleted_at``, the load time). The staging models
keep deleted records, flagged ``is_deleted`` / ``deleted_at`` (the state today, on every version: deletions
keep no history); as of date D a record is deleted when ``deleted_at`` < D + 1 day (00:00 UTC), i.e. by the
end of D: a deleted invoice does not count toward AR, a deleted payment pays nothing, a deleted piece of WIP
is not outstanding.

Money is ``DECIMAL(18,2)``; every date is a UTC calendar date.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal, get_args

import dlt
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


def history_spec(spec: TableSpec) -> TableSpec:
    """The spec of ``spec``'s versions table (``spec.history_table``): the same columns, primary key
    (natural key, change timestamp), as the sources load it.

    Raises:
        ValueError: ``spec`` keeps no history (no ``changed_at``).
    """
    if not spec.history_table or not spec.changed_at:
        raise ValueError(f"table {spec.name} keeps no history")
    return dataclasses.replace(
        spec, name=spec.history_table, primary_key=(*spec.primary_key, spec.changed_at), changed_at=None
    )


_SOURCE_TABLES: tuple[tuple[str, TableSpec], ...] = (
    ("aiwyn", aiwyn.WIP),
    ("aiwyn", aiwyn.INVOICES),
    ("aiwyn", aiwyn.INVOICE_LINE_ITEMS),
    ("aiwyn", aiwyn.PAYMENTS),
    ("aimsio", aimsio.NRBS),
    ("aimsio", aimsio.NRB_CHILDREN),
    ("aimsio", aimsio.JOB_ORDERS),
    ("iinsight", _IINSIGHT_INVOICES),
    ("iinsight", _IINSIGHT_INVOICE_ITEMS),
    # the soft deletes: one table per source, all of Aimsio's spec (entity, guid, deleted_at,
    # last_updated_at), filled by Aimsio's stub lists and by ``arwip sync --reconcile`` (Aiwyn, iinsight)
    *((source, aimsio.DELETIONS) for source in ("aimsio", "aiwyn", "iinsight")),
)

# Every raw table the models read, as (schema, spec): the one list of them, each table followed by its
# ``<table>_history`` when its spec keeps history. Missing ones are created empty.
LOAD_ID = "_dlt_load_id"
"""dlt's column naming the load of each row (the Arrow tables get it, see :func:`pipelines.sync.sync_source`)."""

RAW_TABLES: tuple[tuple[str, TableSpec], ...] = tuple(
    pair
    for schema, spec in _SOURCE_TABLES
    for pair in ((schema, spec), *(((schema, history_spec(spec)),) if spec.history_table else ()))
)

# (folder under sql/, schema of its views), in build order.
LAYERS: tuple[tuple[str, str], ...] = (
    ("staging", "staging"),
    ("intermediate", "facts"),
    ("facts", "facts"),
    ("reports", "reports"),
)
MODEL_SCHEMAS: tuple[str, ...] = ("staging", "facts", "reports")
CONFIG_SCHEMA = "reports"
BUCKETS_TABLE = "aging_buckets"
SETTINGS_TABLE = "report_settings"
CONFIG_TABLES: tuple[str, ...] = (f"{CONFIG_SCHEMA}.{BUCKETS_TABLE}", f"{CONFIG_SCHEMA}.{SETTINGS_TABLE}")

ReportName = Literal["aging", "wip", "aging_trend", "wip_trend", "kpis", "top_overdue"]
# report name -> (model, by-client summary model or None), both in schema ``reports``
REPORTS: dict[str, tuple[str, str | None]] = {
    "aging": ("rpt_ar_aging", "rpt_ar_aging_by_client"),
    "wip": ("rpt_wip_outstanding", "rpt_wip_outstanding_by_client"),
    "aging_trend": ("rpt_ar_aging_trend", None),
    "wip_trend": ("rpt_wip_trend", None),
    "kpis": ("rpt_kpis", None),
    "top_overdue": ("rpt_top_overdue_clients", None),
}
AS_OF_CTE = "as_of"
AS_OF_COLUMN = "as_of_date"

AgingBasis = Literal["due_date", "invoice_date"]
DEFAULT_AGING_BUCKETS: tuple[int, ...] = (30, 60, 90)
CONFIG_KEYS = {"aging_buckets": "reports.aging_buckets", "aging_basis": "reports.aging_basis"}

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_MATERIALIZED = re.compile(r"^--\s*materialized:\s*(\w+)\s*$", re.MULTILINE)
_ALSO_BUILT_OVER = re.compile(r"^--\s*also built over\s+(\S+)\s+as\s+(\w+)\b", re.MULTILINE)
# raw table -> its versions table (``schema.name``), for the raw tables that keep history
_HISTORY_TABLES: dict[str, str] = {
    f"{schema}.{spec.name}": f"{schema}.{spec.history_table}" for schema, spec in RAW_TABLES if spec.history_table
}


class ModelsNotBuilt(ValueError):
    """The warehouse has no report views yet (run ``arwip sync``, which builds them)."""


@dataclass(frozen=True)
class Bucket:
    """One aging bucket: rows with ``min_days <= days <= max_days`` (a None bound is open)."""

    order: int
    label: str
    min_days: int | None
    max_days: int | None

    @property
    def column(self) -> str:
        """Its column in the by-client summaries: ``bucket_current``, ``bucket_1_30``, ``bucket_91_plus``."""
        return "bucket_" + self.label.replace("-", "_").replace("+", "_plus")


def _check_buckets(value: Any, key: str) -> tuple[int, ...]:
    if not isinstance(value, list | tuple) or not value:
        raise ValueError(f"{key} must be a non-empty list of days, e.g. [30, 60, 90]; got {value!r}")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise ValueError(f"{key} must be whole numbers of days, e.g. [30, 60, 90]; got {value!r}")
    if value[0] <= 0 or any(b <= a for a, b in itertools.pairwise(value)):
        raise ValueError(f"{key} must be strictly increasing positive days, e.g. [30, 60, 90]; got {value!r}")
    if value[-1] > 100_000:
        raise ValueError(f"{key}: {value[-1]} days is not a sensible bucket edge")
    return tuple(value)


def _check_basis(value: Any, key: str) -> AgingBasis:
    if value not in get_args(AgingBasis):
        choices = " or ".join(repr(v) for v in get_args(AgingBasis))
        raise ValueError(f"{key} must be {choices}; got {value!r}")
    return value  # type: ignore[no-any-return]


@dataclass(frozen=True)
class ReportConfig:
    """How the reports age amounts.

    ``aging_buckets``: the upper edges, in days, of the buckets after ``current`` — strictly increasing
    positive ints. ``(30, 60, 90)`` (default) gives ``current`` (≤ 0 days), ``1-30``, ``31-60``, ``61-90``,
    ``91+``; ``(30, 60, 90, 120)`` adds ``91-120`` and ends with ``121+``.

    ``aging_basis``: what AR aging counts days from: ``"due_date"`` (default; days past due, or since the
    invoice date when there is no due date) or ``"invoice_date"`` (days since the invoice date), as QuickBooks
    and Xero offer. The column keeps its name ``days_past_due``. WIP always ages from its logged date.

    Raises:
        ValueError: a bad value, naming the field.
    """

    aging_buckets: tuple[int, ...] = DEFAULT_AGING_BUCKETS
    aging_basis: AgingBasis = "due_date"

    def __post_init__(self) -> None:
        object.__setattr__(self, "aging_buckets", _check_buckets(self.aging_buckets, "aging_buckets"))
        _check_basis(self.aging_basis, "aging_basis")

    def buckets(self) -> list[Bucket]:
        """The buckets in order: ``current`` (≤ 0 days), one per edge, and the open-ended last one."""
        edges = self.aging_buckets
        out = [Bucket(1, "current", None, 0)]
        low = 1
        for edge in edges:
            out.append(Bucket(len(out) + 1, f"{low}-{edge}", low, edge))
            low = edge + 1
        out.append(Bucket(len(out) + 1, f"{low}+", low, None))
        return out


def report_config_from_dlt() -> ReportConfig:
    """The report configuration from dlt's config: ``[reports] aging_buckets = [30, 60, 90]`` and
    ``aging_basis = "due_date"`` in ``.dlt/config.toml``, or the environment (``REPORTS__AGING_BUCKETS='[30,
    60, 90, 120]'`` — JSON or comma-separated — and ``REPORTS__AGING_BASIS=invoice_date``). Missing keys
    take the defaults of :class:`ReportConfig`.

    Raises:
        ValueError: a bad value, naming the key (``reports.aging_buckets`` / ``reports.aging_basis``).
    """
    key = CONFIG_KEYS["aging_buckets"]
    buckets = dlt.config.get(key)
    if isinstance(buckets, str):
        text = buckets.strip()
        try:
            buckets = json.loads(text if text.startswith("[") else f"[{text}]")
        except ValueError:
            raise ValueError(f"{key} must be a list of days, e.g. [30, 60, 90]; got {text!r}") from None
    basis = dlt.config.get(CONFIG_KEYS["aging_basis"])
    return ReportConfig(
        aging_buckets=DEFAULT_AGING_BUCKETS if buckets is None else _check_buckets(buckets, key),
        aging_basis="due_date" if basis is None else _check_basis(basis, CONFIG_KEYS["aging_basis"]),
    )


@dataclass(frozen=True)
class Model:
    """One SQL model: a view ``schema.name`` defined by the ``select`` in ``path`` (for a ``*_history`` staging
    model, ``sql`` is that select rewritten over the versions table: see :func:`history_model`)."""

    name: str
    schema: str
    path: Path
    sql: str

    @property
    def relation(self) -> str:
        """``schema.name``."""
        return f"{self.schema}.{self.name}"

    @property
    def materialized(self) -> Literal["view", "table"]:
        """``"table"`` when the SQL has a line ``-- materialized: table`` (computed once per build, e.g. the
        SCD2 versions, whose validity ranges need a window over every version), else ``"view"``."""
        found = _MATERIALIZED.findall(self.sql)
        if not found:
            return "view"
        if found[-1] not in ("view", "table"):
            raise ValueError(f"model {self.path}: materialized must be view or table, not {found[-1]!r}")
        return found[-1]  # type: ignore[return-value]

    def references(self) -> set[str]:
        """The schema-qualified relations (``schema.table``) the model reads; CTE names are not included."""
        return set(_references(self.sql))


@functools.lru_cache(maxsize=256)
def _references(sql: str) -> frozenset[str]:
    tree = sqlglot.parse_one(sql, read="duckdb")
    return frozenset(f"{t.db}.{t.name}" for t in tree.find_all(exp.Table) if t.db)


def _read_sql(path: Path) -> str:
    return path.read_text(encoding="utf-8").strip().rstrip(";").strip()


def history_model(model: Model) -> Model | None:
    """``model`` built over a versions table, when its SQL has a line ``-- also built over
    <schema>.<table>_history as <model name>_history`` (else None): the model ``<model name>_history`` of the same
    schema whose SQL is ``model``'s with every reference to the raw table ``<schema>.<table>`` rewritten to its
    versions table (the raw table's spec's ``history_table``); same columns, same materialization. E.g.
    ``staging.stg_aiwyn__invoices_history``, ``stg_aiwyn__invoices.sql`` over ``aiwyn.invoices_history``.

    Raises:
        ValueError: more than one such line, another name, or a table that is not the versions table of a raw
            table the model reads.
    """
    found = _ALSO_BUILT_OVER.findall(model.sql)
    if not found:
        return None
    if len(found) > 1:
        raise ValueError(f"model {model.path}: one `-- also built over <table>_history as <name>` line at most")
    history, name = found[0]
    if name != f"{model.name}_history":
        raise ValueError(f"model {model.path}: also built as {name!r}: name it {model.name}_history")
    tree = sqlglot.parse_one(model.sql, read="duckdb")
    tables = [t for t in tree.find_all(exp.Table) if _HISTORY_TABLES.get(f"{t.db}.{t.name}") == history]
    if not tables:
        raw = sorted(r for r in model.references() if r in _HISTORY_TABLES)
        keeping = ", ".join(f"{r} (versions in {_HISTORY_TABLES[r]})" for r in raw) or "none"
        raise ValueError(
            f"model {model.path}: {history} is not the versions table of a raw table it reads; raw tables it"
            f" reads that keep history: {keeping}"
        )
    for table in tables:
        table.set("this", exp.to_identifier(history.split(".")[1]))
    sql = "\n".join(
        (
            f"-- {model.schema}.{name}: {model.path.name} over {history}",
            f"-- materialized: {model.materialized}",
            tree.sql(dialect="duckdb", pretty=True, comments=False),
        )
    )
    return Model(name, model.schema, model.path, sql)


def discover_models(sql_dir: Path = SQL_DIR) -> list[Model]:
    """All models under ``sql_dir`` in build order (see the module docstring).

    Raises:
        ValueError: a file name that is not a lowercase identifier, two models with the same name, a cycle
            between models of one folder, or a model reading a relation that is neither a raw table, a
            configuration table nor a model built before it.
    """
    ordered: list[Model] = []
    for folder, schema in LAYERS:
        layer = []
        for path in sorted((sql_dir / folder).glob("*.sql")):
            if not _NAME.match(path.stem):
                raise ValueError(f"model file {path}: the name must be a lowercase identifier (a-z, 0-9, _)")
            model = Model(path.stem, schema, path, _read_sql(path))
            _ = model.materialized  # validates the marker
            history = history_model(model)
            layer.append([model] if history is None else [model, history])
        ordered += _order_layer(layer)
    known = {f"{schema}.{spec.name}" for schema, spec in RAW_TABLES} | set(CONFIG_TABLES)
    built: set[str] = set()
    for model in ordered:
        if model.relation in built or model.relation in CONFIG_TABLES:
            raise ValueError(f"two models define {model.relation} ({model.path})")
        unknown = sorted(model.references() - known - built)
        if unknown:
            raise ValueError(f"model {model.path} reads {unknown[0]}: neither a raw table nor a model built before it")
        built.add(model.relation)
    return ordered


def _order_layer(groups: list[list[Model]]) -> list[Model]:
    """The models of one folder, each group being a file's model and the ``*_history`` model derived from it
    (kept together, in that order): alphabetical, except that a group comes after the groups it reads."""
    group_of = {m.relation: group[0].relation for group in groups for m in group}
    needs = {
        group[0].relation: {group_of[r] for m in group for r in m.references() if r in group_of} - {group[0].relation}
        for group in groups
    }
    todo = list(groups)
    done: list[Model] = []
    placed: set[str] = set()
    while todo:
        ready = next((g for g in todo if needs[g[0].relation] <= placed), None)
        if ready is None:
            raise ValueError(f"models read each other in a cycle: {', '.join(g[0].relation for g in todo)}")
        todo.remove(ready)
        done += ready
        placed.add(ready[0].relation)
    return done


def create_missing_raw_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Create every raw table of :data:`RAW_TABLES` that does not exist, empty, with exactly the columns dlt gives
    it: its spec's (names, types, NOT NULL where the spec's Arrow field is not nullable) and then dlt's
    ``_dlt_load_id``, so a later first load of the table finds every column it brings (dlt would otherwise add
    ``_dlt_load_id`` NOT NULL to an existing table, with a warning).

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
        arrow_schema = spec.arrow_schema().append(pa.field(LOAD_ID, pa.string()))
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


def _write_config(con: duckdb.DuckDBPyConnection, config: ReportConfig) -> None:
    con.execute(
        f"create table {CONFIG_SCHEMA}.{BUCKETS_TABLE} (bucket_order integer not null, "
        "bucket_label varchar not null, min_days integer, max_days integer)"
    )
    con.executemany(
        f"insert into {CONFIG_SCHEMA}.{BUCKETS_TABLE} values (?, ?, ?, ?)",
        [[b.order, b.label, b.min_days, b.max_days] for b in config.buckets()],
    )
    con.execute(f"create table {CONFIG_SCHEMA}.{SETTINGS_TABLE} (aging_basis varchar not null)")
    con.execute(f"insert into {CONFIG_SCHEMA}.{SETTINGS_TABLE} values (?)", [config.aging_basis])


def build_models(con: duckdb.DuckDBPyConnection, config: ReportConfig | None = None) -> list[str]:
    """(Re)build every model, in one transaction; returns the relations built (``schema.name``) in order.

    A model is a view, or a table computed now when its SQL says ``-- materialized: table`` (the SCD2
    ``facts.fct_*_versions``): the raw tables change only by a sync, which rebuilds the models after loading.

    ``config``: aging buckets and basis of the reports (default: :func:`report_config_from_dlt`, i.e. the
    ``[reports]`` section of ``.dlt/config.toml`` or its defaults); stored in ``reports.aging_buckets`` and
    ``reports.report_settings``, which the views read and :func:`report` uses by default.

    Sets the connection's ``TimeZone`` to UTC, creates missing raw tables empty (see
    :func:`create_missing_raw_tables`), drops and recreates the schemas ``staging``, ``facts`` and ``reports``
    (so views of removed models disappear; do not keep your own objects there), then writes the configuration
    and creates the views. On any error nothing is changed.

    Raises:
        ValueError: a malformed model tree (see :func:`discover_models`) or a bad configuration.
        duckdb.Error: a model that does not compile against the warehouse.
    """
    config = report_config_from_dlt() if config is None else config
    models = discover_models()
    con.execute("set TimeZone = 'UTC'")
    con.begin()
    try:
        create_missing_raw_tables(con)
        for schema in reversed(MODEL_SCHEMAS):
            con.execute(f"drop schema if exists {schema} cascade")
        for schema in MODEL_SCHEMAS:
            con.execute(f"create schema {schema}")
        _write_config(con, config)
        for model in models:
            con.execute(f"create {model.materialized} {model.schema}.{model.name} as\n{_view_sql(model, config)}")
        con.commit()
    except BaseException:
        con.rollback()
        raise
    return [m.relation for m in models]


def _view_sql(model: Model, config: ReportConfig) -> str:
    """The model's SQL, with the by-client bucket columns regenerated when the buckets are not the default."""
    if model.schema != "reports" or config.aging_buckets == DEFAULT_AGING_BUCKETS:
        return model.sql
    tree = sqlglot.parse_one(model.sql, read="duckdb")
    if not _pivot_buckets(tree, config):
        return model.sql
    return tree.sql(dialect="duckdb", pretty=True)


_DEFAULT_COLUMNS = frozenset(b.column for b in ReportConfig().buckets())
_TEMPLATE_COLUMN = "bucket_current"


def _pivot_buckets(tree: exp.Expression, config: ReportConfig) -> bool:
    """Regenerate every select list's ``bucket_*`` columns (those of the default buckets, contiguous) for
    ``config``'s buckets: one copy of the ``bucket_current`` expression per bucket, with its string literal
    ``'current'`` replaced by the bucket's label. Returns whether anything was rewritten.

    Raises:
        ValueError: bucket columns without a ``bucket_current`` template holding the literal ``'current'``.
    """
    changed = False
    for select in list(tree.find_all(exp.Select)):
        columns = select.expressions
        positions = [i for i, e in enumerate(columns) if isinstance(e, exp.Alias) and e.alias in _DEFAULT_COLUMNS]
        if not positions:
            continue
        template = next((columns[i] for i in positions if columns[i].alias == _TEMPLATE_COLUMN), None)
        literals = [] if template is None else [
            lit for lit in template.find_all(exp.Literal) if lit.is_string and lit.this == "current"
        ]  # fmt: skip
        if template is None or not literals:
            raise ValueError(f"bucket columns need a `{_TEMPLATE_COLUMN}` column comparing with 'current'")
        if positions != list(range(positions[0], positions[-1] + 1)):
            raise ValueError("the bucket_* columns must be next to each other")
        pivoted = []
        for bucket in config.buckets():
            column = template.copy()
            for literal in column.find_all(exp.Literal):
                if literal.is_string and literal.this == "current":
                    literal.replace(exp.Literal.string(bucket.label))
            column.set("alias", exp.to_identifier(bucket.column))
            pivoted.append(column)
        select.set("expressions", [*columns[: positions[0]], *pivoted, *columns[positions[-1] + 1 :]])
        changed = True
    return changed


def stored_report_config(con: duckdb.DuckDBPyConnection) -> ReportConfig:
    """The configuration the warehouse's views were built with (``reports.aging_buckets`` / ``report_settings``).

    Raises:
        ModelsNotBuilt: the warehouse has no models (or was built before the configuration tables existed).
    """
    try:
        rows = con.execute(
            f"select min_days, max_days from {CONFIG_SCHEMA}.{BUCKETS_TABLE} order by bucket_order"
        ).fetchall()
        settings = con.execute(f"select aging_basis from {CONFIG_SCHEMA}.{SETTINGS_TABLE}").fetchall()
    except duckdb.CatalogException as exc:
        raise ModelsNotBuilt(f"the warehouse has no report models ({exc}): run `arwip sync` to build them") from exc
    edges = tuple(high for low, high in rows if low is not None and high is not None)
    return ReportConfig(aging_buckets=edges, aging_basis=settings[0][0])


def today_utc() -> date:
    """Today's calendar date in UTC (the default report date)."""
    return datetime.now(UTC).date()


@functools.lru_cache(maxsize=64)
def _parsed_report_model(name: str, mtime_ns: int) -> exp.Expression:
    return sqlglot.parse_one(_read_sql(SQL_DIR / "reports" / f"{name}.sql"), read="duckdb")


def _report_model(name: str) -> exp.Expression:
    """A fresh copy of report model ``name``'s parsed SQL (parsed once per file version)."""
    path = SQL_DIR / "reports" / f"{name}.sql"
    if not _NAME.match(name) or not path.is_file():
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


def _typed(value: int | str | None, sql_type: str) -> exp.Expression:
    literal: exp.Expression
    if value is None:
        literal = exp.null()
    elif isinstance(value, int):
        literal = exp.Literal.number(value)
    else:
        literal = exp.Literal.string(value)
    return exp.cast(literal, exp.DataType.build(sql_type))


def _config_query(table: str, config: ReportConfig) -> exp.Expression:
    """A query returning the rows :func:`build_models` writes to ``reports.<table>`` for ``config``."""
    if table == SETTINGS_TABLE:
        return exp.select(exp.alias_(_typed(config.aging_basis, "varchar"), "aging_basis"))
    selects = [
        exp.select(
            exp.alias_(_typed(b.order, "integer"), "bucket_order"),
            exp.alias_(_typed(b.label, "varchar"), "bucket_label"),
            exp.alias_(_typed(b.min_days, "integer"), "min_days"),
            exp.alias_(_typed(b.max_days, "integer"), "max_days"),
        )
        for b in config.buckets()
    ]
    query: exp.Expression = selects[0]
    for select in selects[1:]:
        query = exp.union(query, select, distinct=False)
    return query


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
    _pivot_buckets(tree, config)
    for table in list(tree.find_all(exp.Table)):
        if table.db != "reports":
            continue
        if table.name in (BUCKETS_TABLE, SETTINGS_TABLE):
            query = _config_query(table.name, config)
        else:
            query, inner_dated = _compile(table.name, as_of, config, (*reading, name))
            dated = dated or inner_dated
        alias = exp.TableAlias(this=exp.to_identifier(table.alias or table.name))
        table.replace(exp.Subquery(this=query, alias=alias))
    return tree, dated


def _check_report(name: str, by_client: bool) -> str:
    if name not in REPORTS:
        known = ", ".join(repr(n) for n in get_args(ReportName))
        raise ValueError(f"unknown report {name!r}: use one of {known}")
    detail, summary = REPORTS[name]
    if not by_client:
        return detail
    if summary is None:
        raise ValueError(f"report {name!r} has no by-client summary (only 'aging' and 'wip' have)")
    return summary


def report_sql(name: ReportName, as_of: date, by_client: bool = False, config: ReportConfig | None = None) -> str:
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


def report(
    con: duckdb.DuckDBPyConnection,
    name: ReportName,
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
    ``61-90``, ``91+``).

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
