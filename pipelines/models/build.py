"""Building the models: discover ``sql/`` in build order (with the models derived from directives in a
model's SQL: its ``*_history`` twin and its SCD2 versions), then (re)create them as one rebuild of the model
schemas (:meth:`pipelines.warehouse.Connection.rebuild`).

See :mod:`pipelines.models` for the layers, the directives and the build order.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import duckdb
import sqlglot
from sqlglot import exp

from pipelines.models.config import (
    CONFIG_TABLES,
    DEFAULT_AGING_BUCKETS,
    ReportConfig,
    pivot_buckets,
    report_config_from_dlt,
    write_config,
)
from pipelines.models.raw import create_missing_raw_tables, history_tables, raw_tables
from pipelines.warehouse import Check, Connection, Rebuild, SqlDialect, Step, as_connection

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"
VERSIONS_TEMPLATE = SQL_DIR / "templates" / "scd2_versions.sql"
"""The SCD2 validity logic, written once (see :func:`versions_model`)."""

LAYERS: tuple[tuple[str, str], ...] = (
    ("staging", "staging"),
    ("intermediate", "facts"),
    ("facts", "facts"),
    ("reports", "reports"),
)
MODEL_SCHEMAS: tuple[str, ...] = ("staging", "facts", "reports")

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_MATERIALIZED = re.compile(r"^--\s*materialized:\s*(\w+)\s*$", re.MULTILINE)
_ALSO_BUILT_OVER = re.compile(r"^--\s*also built over\s+(\S+)\s+as\s+(\w+)\b", re.MULTILINE)
_VERSIONS = re.compile(r"^--\s*versions in\s+(\w+)\.(\w+)\s+by\s+(\w+)\s*$", re.MULTILINE)
_TEMPLATE_CURRENT, _TEMPLATE_HISTORY, _TEMPLATE_KEY = "scd2_current", "scd2_history", "scd2_key"


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
        return set(references(self.sql))


@functools.lru_cache(maxsize=256)
def references(sql: str) -> frozenset[str]:
    """The schema-qualified relations (``schema.table``) a query in DuckDB's SQL reads; CTE names are not
    included.

    Raises:
        sqlglot.errors.ParseError: ``sql`` does not parse.
    """
    tree = _parsed(sql)
    return frozenset(f"{t.db}.{t.name}" for t in tree.find_all(exp.Table) if t.db)


def read_sql(path: Path) -> str:
    """A model's SQL: the file's text without a trailing semicolon."""
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
    tables = [t for t in tree.find_all(exp.Table) if history_tables().get(f"{t.db}.{t.name}") == history]
    if not tables:
        histories = history_tables()
        raw = sorted(r for r in model.references() if r in histories)
        keeping = ", ".join(f"{r} (versions in {histories[r]})" for r in raw) or "none"
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


def versions_model(model: Model) -> Model | None:
    """The SCD2 versions of a staging model whose SQL has a line ``-- versions in <schema>.<name> by <key>``
    (else None): :data:`VERSIONS_TEMPLATE` with its placeholder relations ``staging.scd2_current`` and
    ``staging.scd2_history`` rewritten (by sqlglot) to the model and its ``*_history`` twin, and its column
    ``scd2_key`` to ``<key>``. E.g. ``-- versions in facts.int_aiwyn__invoice_versions by invoice_id`` in
    ``stg_aiwyn__invoices.sql``. The staging model must have a ``updated_at`` column (the change timestamp).

    Raises:
        ValueError: more than one such line, or a model without a ``*_history`` twin.
    """
    found = _VERSIONS.findall(model.sql)
    if not found:
        return None
    if len(found) > 1 or history_model(model) is None:
        raise ValueError(f"model {model.path}: one `-- versions in <schema>.<name> by <key>` line, with a history twin")
    schema, name, key = found[0]
    tree = sqlglot.parse_one(read_sql(VERSIONS_TEMPLATE), read="duckdb")
    names = {_TEMPLATE_CURRENT: model.name, _TEMPLATE_HISTORY: f"{model.name}_history"}
    for table in tree.find_all(exp.Table):
        if table.db == model.schema and table.name in names:
            table.set("this", exp.to_identifier(names[table.name]))
    for column in tree.find_all(exp.Column):
        if column.name == _TEMPLATE_KEY:
            column.set("this", exp.to_identifier(key))
    sql = "\n".join(
        (
            f"-- {schema}.{name}: {VERSIONS_TEMPLATE.name} over {model.relation} by {key}",
            "-- materialized: view",
            tree.sql(dialect="duckdb", pretty=True, comments=False),
        )
    )
    return Model(name, schema, VERSIONS_TEMPLATE, sql)


def discover_models(sql_dir: Path = SQL_DIR) -> list[Model]:
    """All models under ``sql_dir`` in build order (see the module docstring). Parsed once per process while
    no ``.sql`` file changes and the raw tables stay the same (``arwip serve`` builds the models every sync).

    Raises:
        ValueError: a file name that is not a lowercase identifier, two models with the same name, a cycle
            between models of one folder, or a model reading a relation that is neither a raw table, a
            configuration table nor a model built before it.
    """
    files = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(sql_dir.rglob("*.sql")))
    raw = tuple(f"{schema}.{spec.name}" for schema, spec in raw_tables())
    return list(_discover(sql_dir, files, raw))


@functools.lru_cache(maxsize=8)
def _discover(sql_dir: Path, files: tuple[tuple[str, int, int], ...], raw: tuple[str, ...]) -> tuple[Model, ...]:
    """:func:`discover_models` for one state of the files (``files``: path, mtime, size) and raw tables."""
    ordered: list[Model] = []
    derived: dict[str, list[list[Model]]] = {}  # schema -> versions models derived from an earlier layer
    for folder, schema in LAYERS:
        layer = derived.pop(schema, [])
        for path in sorted((sql_dir / folder).glob("*.sql")):
            if not _NAME.match(path.stem):
                raise ValueError(f"model file {path}: the name must be a lowercase identifier (a-z, 0-9, _)")
            model = Model(path.stem, schema, path, read_sql(path))
            _ = model.materialized  # validates the marker
            history = history_model(model)
            layer.append([model] if history is None else [model, history])
            versions = versions_model(model)
            if versions is not None:
                derived.setdefault(versions.schema, []).append([versions])
        ordered += _order_layer(sorted(layer, key=lambda group: group[0].name))
    if derived:
        raise ValueError(f"versions models in a schema no later layer builds: {', '.join(derived)}")
    known = set(raw) | set(CONFIG_TABLES)
    built: set[str] = set()
    for model in ordered:
        if model.relation in built or model.relation in CONFIG_TABLES:
            raise ValueError(f"two models define {model.relation} ({model.path})")
        unknown = sorted(model.references() - known - built)
        if unknown:
            raise ValueError(f"model {model.path} reads {unknown[0]}: neither a raw table nor a model built before it")
        built.add(model.relation)
    return tuple(ordered)


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


def build_models(
    con: Connection | duckdb.DuckDBPyConnection, config: ReportConfig | None = None, check: Check | None = None
) -> list[str]:
    """(Re)build every model, replacing the schemas ``staging``, ``facts`` and ``reports`` as one
    (:meth:`pipelines.warehouse.Connection.rebuild`: in one transaction on DuckDB; built aside and swapped in on
    PostgreSQL, so readers see the old models or the new ones); returns the relations built (``schema.name``) in
    order.

    A model is a view, or a table computed now when its SQL says ``-- materialized: table`` (the SCD2
    ``facts.fct_*_versions``) or when it reads raw tables on a warehouse whose readers read the live models while
    a sync loads (PostgreSQL: the staging models). The SQL is generated for the warehouse by sqlglot.

    ``config``: aging buckets and basis of the reports (default: :func:`report_config_from_dlt`, i.e. the
    ``[reports]`` section of ``.dlt/config.toml`` or its defaults); stored in ``reports.aging_buckets`` and
    ``reports.report_settings``, which the views read and :func:`report` uses by default. ``check``: run on the
    new models before readers see them (the sync's data tests, see
    :func:`pipelines.datatests.check_data_tests`); its error keeps them from readers.

    Each model is one step of the rebuild (:meth:`pipelines.warehouse.Rebuild.add`), after the models it reads:
    in build order on DuckDB, several at once on PostgreSQL (``[warehouse] threads``).

    Creates missing raw tables empty (see :func:`create_missing_raw_tables`); the model schemas are replaced
    whole (so views of removed models disappear; do not keep your own objects there). On any error the models
    readers see are unchanged.

    Raises:
        ValueError: a malformed model tree (see :func:`discover_models`) or a bad configuration.
        Connection.errors (e.g. ``duckdb.Error``): a model that does not compile against the warehouse.
    """
    con = as_connection(con)
    config = report_config_from_dlt() if config is None else config
    models = discover_models()
    raw = {f"{schema}.{spec.name}" for schema, spec in raw_tables()}
    with con.rebuild(MODEL_SCHEMAS, check) as rebuild:
        create_missing_raw_tables(con)
        write_config(con, config, rebuild.schemas)
        rebuild.add([_model_step(model, config, rebuild, con.dialect, raw) for model in models])
    return [m.relation for m in models]


def _model_step(model: Model, config: ReportConfig, rebuild: Rebuild, dialect: SqlDialect, raw: set[str]) -> Step:
    """The step that creates ``model`` where ``rebuild`` builds its schema (and analyzes it when it is a table),
    after the models it reads; ``raw``: the raw tables (``schema.name``)."""
    kind = "table" if rebuild.tables_over_raw and model.references() & raw else model.materialized
    relation = f"{rebuild.schemas[model.schema]}.{model.name}"
    sql = dialect.create_as(kind, relation, dialect.render(_model_tree(model, config), rebuild.schemas, pretty=True))

    def create(con: Connection) -> None:
        con.execute(sql)
        if kind == "table":
            con.analyze(relation)

    return Step(model.relation, create, frozenset(model.references()))


def _model_tree(model: Model, config: ReportConfig) -> exp.Expression:
    """The model's parsed SQL, with the by-client bucket columns regenerated when the buckets are not the default."""
    tree = _parsed(model.sql)
    if model.schema == "reports" and config.aging_buckets != DEFAULT_AGING_BUCKETS:
        tree = tree.copy()
        pivot_buckets(tree, config)
    return tree


@functools.lru_cache(maxsize=256)
def _parsed(sql: str) -> exp.Expression:
    """``sql`` parsed (once per text); callers copy it before changing it."""
    return sqlglot.parse_one(sql, read="duckdb")
