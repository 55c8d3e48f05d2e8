"""How the reports age amounts (:class:`ReportConfig`: aging buckets and basis), where the configuration is
read (``[reports]`` in ``.dlt/config.toml``), how it is stored with the models (``reports.aging_buckets``,
``reports.report_settings``) and how the by-client summaries get one column per bucket (:func:`pivot_buckets`).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

import dlt
import duckdb
from sqlglot import exp

from pipelines.warehouse import Connection, RelationMissing, as_connection

CONFIG_SCHEMA = "reports"
BUCKETS_TABLE = "aging_buckets"
SETTINGS_TABLE = "report_settings"
CONFIG_TABLES: tuple[str, ...] = (f"{CONFIG_SCHEMA}.{BUCKETS_TABLE}", f"{CONFIG_SCHEMA}.{SETTINGS_TABLE}")

AgingBasis = Literal["due_date", "invoice_date"]
DEFAULT_AGING_BUCKETS: tuple[int, ...] = (30, 60, 90)
CONFIG_KEYS = {"aging_buckets": "reports.aging_buckets", "aging_basis": "reports.aging_basis"}


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


def stored_report_config(con: Connection | duckdb.DuckDBPyConnection) -> ReportConfig:
    """The configuration the warehouse's views were built with (``reports.aging_buckets`` / ``report_settings``).

    Raises:
        ModelsNotBuilt: the warehouse has no models (or was built before the configuration tables existed).
    """
    con = as_connection(con)
    try:
        rows = con.fetch(f"select min_days, max_days from {CONFIG_SCHEMA}.{BUCKETS_TABLE} order by bucket_order")
        settings = con.fetch(f"select aging_basis from {CONFIG_SCHEMA}.{SETTINGS_TABLE}")
    except RelationMissing as exc:
        raise ModelsNotBuilt(f"the warehouse has no report models ({exc}): run `arwip sync` to build them") from exc
    edges = tuple(high for low, high in rows if low is not None and high is not None)
    return ReportConfig(aging_buckets=edges, aging_basis=settings[0][0])


def write_config(con: Connection, config: ReportConfig, schemas: Mapping[str, str]) -> None:
    """Create and fill the configuration tables, in ``schemas[reports]`` (where a rebuild builds ``reports``)."""
    schema = schemas.get(CONFIG_SCHEMA, CONFIG_SCHEMA)
    con.execute(
        f"create table {schema}.{BUCKETS_TABLE} (bucket_order integer not null, "
        "bucket_label varchar not null, min_days integer, max_days integer)"
    )
    con.execute(f"create table {schema}.{SETTINGS_TABLE} (aging_basis varchar not null)")
    for table in (BUCKETS_TABLE, SETTINGS_TABLE):
        con.execute(f"insert into {schema}.{table}\n{con.dialect.render(config_query(table, config))}")
        con.analyze(f"{schema}.{table}")


def _typed(value: int | str | None, sql_type: str) -> exp.Expression:
    literal: exp.Expression
    if value is None:
        literal = exp.null()
    elif isinstance(value, int):
        literal = exp.Literal.number(value)
    else:
        literal = exp.Literal.string(value)
    return exp.cast(literal, exp.DataType.build(sql_type))


def config_query(table: str, config: ReportConfig) -> exp.Expression:
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


_DEFAULT_COLUMNS = tuple(b.column for b in ReportConfig().buckets())
_TEMPLATE_COLUMN = "bucket_current"


def _bucket_families(columns: list[exp.Expression]) -> dict[str, list[int]]:
    """Positions of the bucket columns of a select list, by family prefix: ``bucket_current, bucket_1_30, …``
    is the family ``""``, ``ar_bucket_current, ar_bucket_1_30, …`` the family ``"ar_"``. A family holds every
    default bucket column (so a lone ``is_bucket_current`` is no family)."""
    found: dict[str, dict[str, int]] = {}
    for i, e in enumerate(columns):
        if not isinstance(e, exp.Alias):
            continue
        for column in _DEFAULT_COLUMNS:
            if e.alias.endswith(column):
                found.setdefault(e.alias[: -len(column)], {})[column] = i
    return {prefix: sorted(cols.values()) for prefix, cols in found.items() if len(cols) == len(_DEFAULT_COLUMNS)}


def pivot_buckets(tree: exp.Expression, config: ReportConfig) -> bool:
    """Regenerate every select list's bucket columns (each family of the default buckets' columns, contiguous:
    ``bucket_current … bucket_91_plus``, or the same behind a prefix such as ``ar_bucket_current …``) for
    ``config``'s buckets: one copy of the family's ``<prefix>bucket_current`` expression per bucket, with its
    string literal ``'current'`` replaced by the bucket's label. Returns whether anything was rewritten.

    Raises:
        ValueError: a family whose ``bucket_current`` template holds no literal ``'current'``, or whose columns
            are not next to each other.
    """
    changed = False
    for select in list(tree.find_all(exp.Select)):
        for prefix, positions in sorted(_bucket_families(select.expressions).items(), key=lambda f: -f[1][0]):
            columns = select.expressions
            template = next(columns[i] for i in positions if columns[i].alias == prefix + _TEMPLATE_COLUMN)
            if not [lit for lit in template.find_all(exp.Literal) if lit.is_string and lit.this == "current"]:
                raise ValueError(f"bucket columns need a `{prefix}{_TEMPLATE_COLUMN}` column comparing with 'current'")
            if positions != list(range(positions[0], positions[-1] + 1)):
                raise ValueError(f"the {prefix}bucket_* columns must be next to each other")
            pivoted = []
            for bucket in config.buckets():
                column = template.copy()
                for literal in column.find_all(exp.Literal):
                    if literal.is_string and literal.this == "current":
                        literal.replace(exp.Literal.string(bucket.label))
                column.set("alias", exp.to_identifier(prefix + bucket.column))
                pivoted.append(column)
            select.set("expressions", [*columns[: positions[0]], *pivoted, *columns[positions[-1] + 1 :]])
            changed = True
    return changed
