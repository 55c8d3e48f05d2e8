"""Compare a synced warehouse with the simulators' ground truth (``Firm.truth()``): :func:`reconcile` and its
outcome, :class:`Reconciliation`.

Used by the chaos tests (``tests/chaos/``) and the soak script (``bench/soak.py``). Every table the sources
load is compared by natural key (``tests/chaos/reconcile_tables.py``: missing, duplicate, extra, stale rows and
money sums; rows changed while the last sync ran count apart as in flight), and ``pipelines.models.report``
(AR aging and WIP outstanding) as of the firm's date with the same reports computed from the truth
(``tests/chaos/reconcile_reports.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import pyarrow as pa

from pipelines.warehouse import Connection, Warehouse, as_warehouse
from simulators import Firm
from tests.chaos.reconcile_reports import ReportDiff, compare_report, expected_aging, expected_wip
from tests.chaos.reconcile_tables import CHECKS, TableCheck, TableDiff, compare_table, norm, relation_exists


@dataclass
class Reconciliation:
    """The outcome of :func:`reconcile`: per table and per report differences, and quarantined rows."""

    as_of: date
    tables: dict[str, TableDiff]
    reports: dict[str, ReportDiff]
    quarantined: int

    @property
    def differences(self) -> int:
        """Every difference found (must be zero); ``in_flight`` rows are not differences."""
        return sum(t.differences for t in self.tables.values()) + sum(r.differences for r in self.reports.values())

    @property
    def in_flight(self) -> int:
        return sum(t.in_flight for t in self.tables.values())

    @property
    def superseded(self) -> int:
        """Stale rows whose current version the warehouse loaded (in the history) but did not keep."""
        return sum(t.superseded for t in self.tables.values())

    def counts(self) -> dict[str, int]:
        """Totals by kind over all tables and reports."""
        kinds = ("missing", "duplicate", "extra", "stale", "superseded", "sum_mismatches", "in_flight")
        out = {k: sum(getattr(t, k) for t in self.tables.values()) for k in kinds}
        out["report_differences"] = sum(r.differences for r in self.reports.values())
        return out

    def summary(self) -> str:
        """Multi-line text: one line per table or report with differences, with examples."""
        lines = [f"reconciliation as of {self.as_of}: {self.differences} difference(s), {self.in_flight} in flight"]
        for t in self.tables.values():
            lines.append(
                f"  {t.table}: truth {t.truth_rows}, warehouse {t.warehouse_rows}, missing {t.missing}, "
                f"duplicate {t.duplicate}, extra {t.extra}, stale {t.stale} ({t.superseded} superseded), "
                f"in flight {t.in_flight}, "
                f"sum mismatches {t.sum_mismatches}"
            )
            lines += [f"    {e}" for e in t.examples]
        for r in self.reports.values():
            lines.append(
                f"  report {r.report}: expected {r.expected_rows} rows / {r.expected_total}, actual {r.actual_rows} "
                f"rows / {r.actual_total}; missing {r.missing}, extra {r.extra}, different {r.different}"
            )
            lines += [f"    {e}" for e in r.examples]
        return "\n".join(lines)


# -- entry point -----------------------------------------------------------------------------------


def quarantined_rows(con: Connection) -> int:
    """Rows in the ``<source>.quarantine`` tables."""
    total = 0
    for source in ("aiwyn", "aimsio", "iinsight"):
        if relation_exists(con, f"{source}.quarantine"):
            total += con.fetch(f"SELECT count(*) FROM {source}.quarantine")[0][0]
    return total


def reconcile(
    warehouse: Warehouse | Path,
    firm: Firm,
    *,
    as_of: date | None = None,
    in_flight_since: datetime | None = None,
    reports: bool = True,
    checks: Iterable[TableCheck] | None = None,
    iinsight_api_version: int = 2,
    sources: Iterable[str] | None = None,
) -> Reconciliation:
    """Compare ``warehouse`` (or the DuckDB file at that path) with ``firm``'s truth now (see the module docstring).

    ``as_of``: the reports' date (default: the firm's clock, so every version the warehouse holds is in force).
    ``in_flight_since``: start of the last sync; rows the truth changed since then may be stale (in flight).
    ``iinsight_api_version``: 1 leaves reversed invoices out of the expected rows (v1 does not list them).
    ``sources``: only these sources' tables and report rows (default: all three); ``checks`` overrides tables.
    """
    wanted = set(sources or ("aiwyn", "aimsio", "iinsight"))
    checks = [c for c in CHECKS if c.schema in wanted] if checks is None else list(checks)
    truth = firm.truth()
    day = as_of or firm.now.date()
    since = norm(in_flight_since) if in_flight_since else None
    with as_warehouse(warehouse).connect() as con:
        tables = {c.truth: compare_table(con, truth, c, since, iinsight_api_version) for c in checks}
        report_diffs: dict[str, ReportDiff] = {}
        if reports:
            from pipelines.models import report

            loaded: set[str] = set()
            if relation_exists(con, "iinsight.invoices"):
                loaded = {r[0] for r in con.fetch("SELECT invoice_id FROM iinsight.invoices")}
            for name, expected, id_column, amount, days in (
                ("aging", expected_aging(truth, day), "invoice_id", "open_amount", "days_past_due"),
                ("wip", expected_wip(truth, day, loaded), "wip_id", "outstanding_amount", "age_days"),
            ):
                actual = report(con, name, day)
                actual = actual.filter(pa.array([s in wanted for s in actual["source_system"].to_pylist()],
                                                pa.bool_()))
                expected = {k: v for k, v in expected.items() if k[0] in wanted}
                report_diffs[name] = compare_report(name, expected, actual, id_column, amount, days)
        return Reconciliation(day, tables, report_diffs, quarantined_rows(con))
