"""The reports arwip offers: one registry for the CLI (names, titles, how to print them) and the models
(which view answers each, which view summarizes it by client)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Report:
    """One report: ``arwip report <name>``.

    ``model``: its view in schema ``reports``; ``summary``: the by-client view (``--by client``) or None;
    ``title``: its heading; ``totals``: the terminal table ends with a total line of the money columns;
    ``page``: it has an HTML page (by-client summary, detail, and the month-end trend ``<name>_trend``);
    ``transpose_by``: the terminal shows one column per value of this column (e.g. KPIs per source system).
    """

    name: str
    model: str
    summary: str | None
    title: str
    totals: bool = False
    page: bool = False
    transpose_by: str | None = None


REPORTS: dict[str, Report] = {
    r.name: r
    for r in (
        Report("aging", "rpt_ar_aging", "rpt_ar_aging_by_client", "AR aging", totals=True, page=True),
        Report(
            "wip", "rpt_wip_outstanding", "rpt_wip_outstanding_by_client", "WIP outstanding", totals=True, page=True
        ),
        Report("aging_trend", "rpt_ar_aging_trend", None, "AR aging trend (month ends)"),
        Report("wip_trend", "rpt_wip_trend", None, "WIP outstanding trend (month ends)"),
        Report("kpis", "rpt_kpis", None, "KPIs (trailing 90 days)", transpose_by="source_system"),
        Report("top_overdue", "rpt_top_overdue_clients", None, "Top overdue clients (> 30 days past due)", True),
        Report("exceptions", "rpt_exceptions", None, "Exceptions (invoices whose vendor figures disagree)"),
        Report("client_summary", "rpt_client_summary", None, "Client summary (AR and WIP by bucket, DSO)"),
    )
}
"""Report name -> :class:`Report`, in the order ``arwip report --help`` lists them."""
