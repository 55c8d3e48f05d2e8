"""KPIs and top overdue clients on a hand-built warehouse, as of 2025-03-31 (period 2025-01-01 .. 2025-03-31)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from history_dataset import d, ts
from models_dataset import load

from pipelines.models import ReportConfig, build_models, report

AS_OF = date(2025, 3, 31)
D = Decimal


def aiwyn_invoice(id_: int, client: str, invoiced: str, due: str, total: str, status: str = "POSTED") -> dict:
    return {"id": id_, "invoice_number": f"A-{id_}", "client_name": client, "status": status,
            "invoice_date": ts(f"{invoiced} 12:00:00"), "due_date": ts(f"{due} 23:59:59"),
            "total_amount": D(total), "subtotal": D(total), "updated_at": ts(invoiced)}  # fmt: skip


def iinsight_invoice(id_: str, client: str, invoiced: str, due: str, total: str, payable: str) -> dict:
    return {"invoice_id": id_, "to": client, "invoice_number": id_, "date_of_invoice": d(invoiced),
            "due_date": d(due), "total": D(total), "total_amount_payable": D(payable), "status": "ACTIVE",
            "last_update_utc": ts(invoiced)}  # fmt: skip


def wip(id_: int, logged: str, value: str, billed: str, written_off: str) -> dict:
    return {"id": id_, "client_name": "Acme", "type": "TIME", "logged_date": ts(f"{logged} 10:00:00"),
            "value": D(value), "billed_amount": D(billed), "write_off_amount": D(written_off),
            "updated_at": ts(logged)}  # fmt: skip


def nrb(guid: str, created: str, total: str, billed_in: str | None) -> dict:
    return {"nrb_guid": guid, "nrb_is_billable": True, "is_internal": False, "nrb_billed_in_guid": billed_in,
            "nrb_total_after_markup": D(total), "nrb_created_at": ts(created),
            "nrb_updated_at": ts(created)}  # fmt: skip


def load_kpi_dataset(con: duckdb.DuckDBPyConnection) -> None:
    """Aiwyn: AR open 1200, billed 1500, collected 600; WIP outstanding 1100, value 1600, billed 800, written
    off 100. iinsight: AR open 300, billed 800, collected 600. Aimsio: WIP outstanding 200, value 500, billed
    300 (see the expected KPIs below)."""
    load(con, "aiwyn", "invoices", [
        aiwyn_invoice(1, "Acme", "2025-01-15", "2025-02-14", "1000.00"),  # 600 paid: 400 open, 45 days late
        aiwyn_invoice(2, "Acme", "2025-03-10", "2025-04-09", "500.00"),  # not due
        aiwyn_invoice(3, "Bolt", "2024-11-01", "2024-12-01", "300.00"),  # before the period, 120 days late
        aiwyn_invoice(4, "Acme", "2025-02-01", "2025-03-01", "999.00", "CANCELLED"),
    ])  # fmt: skip
    load(con, "aiwyn", "payments", [
        {"id": 1, "invoice_id": 1, "amount": D("600.00"), "status": "CONFIRMED",
         "payment_date": ts("2025-02-20 10:00:00"), "updated_at": ts("2025-02-20 10:00:00")},
    ])  # fmt: skip
    load(con, "iinsight", "invoices", [
        iinsight_invoice("I1", "Acme", "2025-02-01", "2025-03-03", "800.00", "200.00"),  # 28 days late
        iinsight_invoice("I2", "Acme", "2024-12-15", "2025-01-14", "100.00", "100.00"),  # 76 days late
    ])  # fmt: skip
    load(con, "aiwyn", "wip", [
        wip(1, "2025-01-10", "1000.00", "800.00", "100.00"),
        wip(2, "2025-03-01", "600.00", "0.00", "0.00"),
        wip(3, "2024-12-01", "400.00", "0.00", "0.00"),  # before the period
    ])  # fmt: skip
    load(con, "aimsio", "nrbs", [nrb("N1", "2025-02-01", "200.00", None), nrb("N2", "2025-02-15", "300.00", "INV")])


@pytest.fixture(scope="module")
def kcon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[duckdb.DuckDBPyConnection]:
    path: Path = tmp_path_factory.mktemp("kpis") / "arwip.duckdb"
    with duckdb.connect(str(path)) as con:
        load_kpi_dataset(con)
        build_models(con, ReportConfig())
    with duckdb.connect(str(path), read_only=True) as con:
        yield con


def kpi(source: str, ar: str, billed: str, collected: str, wip_out: str, wip_value: str, wip_billed: str,
        wip_wo: str, dso: str | None, wip_days: str | None, lockup: str | None, billing: str | None,
        collection: str | None, write_off: str | None) -> dict[str, Any]:  # fmt: skip
    def n(x: str | None) -> Decimal | None:
        return None if x is None else D(x)

    return {
        "source_system": source, "as_of_date": AS_OF, "period_start": date(2025, 1, 1), "period_days": 90,
        "ar_open_amount": D(ar), "billed_amount": D(billed), "collected_amount": D(collected),
        "wip_outstanding_amount": D(wip_out), "wip_value_amount": D(wip_value),
        "wip_billed_amount": D(wip_billed), "wip_written_off_amount": D(wip_wo),
        "debtor_days": n(dso), "wip_days": n(wip_days), "lockup_days": n(lockup),
        "billing_realization": n(billing), "collection_realization": n(collection), "write_off_rate": n(write_off),
    }  # fmt: skip


EXPECTED_KPIS = [
    # aimsio: WIP only. wip days 200 / 500 * 90 = 36; billing 300 / 500
    kpi("aimsio", "0.00", "0.00", "0.00", "200.00", "500.00", "300.00", "0.00",
        None, "36.0", None, "0.6000", None, "0.0000"),
    # aiwyn: DSO 1200 / 1500 * 90 = 72; WIP days 1100 / 1600 * 90 = 61.875; lock-up 133.875;
    # billing 800 / 1600; collection 600 / 1500; write-off 100 / 1600
    kpi("aiwyn", "1200.00", "1500.00", "600.00", "1100.00", "1600.00", "800.00", "100.00",
        "72.0", "61.9", "133.9", "0.5000", "0.4000", "0.0625"),
    # iinsight: DSO 300 / 800 * 90 = 33.75; collection 600 / 800
    kpi("iinsight", "300.00", "800.00", "600.00", "0.00", "0.00", "0.00", "0.00",
        "33.8", None, None, None, "0.7500", None),
    # all: DSO 1500 / 2300 * 90 = 58.696; WIP days 1300 / 2100 * 90 = 55.714; lock-up 114.410;
    # billing 1100 / 2100 = 0.52381; collection 1200 / 2300 = 0.52174; write-off 100 / 2100 = 0.04762
    kpi("all", "1500.00", "2300.00", "1200.00", "1300.00", "2100.00", "1100.00", "100.00",
        "58.7", "55.7", "114.4", "0.5238", "0.5217", "0.0476"),
]  # fmt: skip


def test_kpis(kcon: duckdb.DuckDBPyConnection) -> None:
    table = report(kcon, "kpis", AS_OF)
    assert table.to_pylist() == EXPECTED_KPIS


def test_kpis_amounts_match_the_reports(kcon: duckdb.DuckDBPyConnection) -> None:
    for as_of in (date(2025, 2, 10), AS_OF):
        total = report(kcon, "kpis", as_of).to_pylist()[-1]
        assert total["ar_open_amount"] == sum(r["open_amount"] for r in report(kcon, "aging", as_of).to_pylist())
        assert total["wip_outstanding_amount"] == sum(
            r["outstanding_amount"] for r in report(kcon, "wip", as_of).to_pylist()
        )


def test_top_overdue_clients(kcon: duckdb.DuckDBPyConnection) -> None:
    rows = [tuple(r.values()) for r in report(kcon, "top_overdue", AS_OF).to_pylist()]
    assert rows == [
        # Acme: A-1 (400, 45 days) and I2 (100, 76 days) across sources; open also A-2 500 and I1 200
        (1, "Acme", D("500.00"), 2, 76, D("1200.00")),
        (2, "Bolt", D("300.00"), 1, 120, D("300.00")),
    ]
    # on 2025-03-10 A-1 (due 02-14) was 24 days late: Acme owed only I2 (55 days) more than 30 days past due
    rows = [(r["client_name"], r["overdue_amount"]) for r in report(kcon, "top_overdue", date(2025, 3, 10)).to_pylist()]
    assert rows == [("Bolt", D("300.00")), ("Acme", D("100.00"))]


def test_top_overdue_keeps_ten(tmp_path: Path) -> None:
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        load(con, "iinsight", "invoices", [
            iinsight_invoice(f"I{i}", f"Client {i:02d}", "2024-12-01", "2025-01-01", f"{i}.00", f"{i}.00")
            for i in range(1, 13)
        ])  # fmt: skip
        build_models(con, ReportConfig())
        rows = report(con, "top_overdue", AS_OF).to_pylist()
    assert [r["client_name"] for r in rows] == [f"Client {i:02d}" for i in range(12, 2, -1)]
    assert [r["overdue_rank"] for r in rows] == list(range(1, 11))


def test_client_summary(kcon: duckdb.DuckDBPyConnection) -> None:
    """AR open and WIP outstanding per client and bucket, and the client's DSO (trailing 90 days), as of a date;
    one column per configured bucket in each family."""
    rows = {r["client_name"]: r for r in report(kcon, "client_summary", AS_OF).to_pylist()}
    acme = rows["Acme"]  # A-2 500 not due, I1 200 28 days, A-1 400 45 days, I2 100 76 days late
    assert [acme[f"ar_bucket_{b}"] for b in ("current", "1_30", "31_60", "61_90", "91_plus")] == [
        D("500.00"), D("200.00"), D("400.00"), D("100.00"), D("0.00")]
    assert acme["ar_total"] == D("1200.00") and acme["wip_total"] == D("1100.00")  # Aiwyn WIP 100 + 600 + 400
    assert [acme[f"wip_bucket_{b}"] for b in ("1_30", "61_90", "91_plus")] == [D("600.00"), D("100.00"), D("400.00")]
    assert acme["dso_days"] == D("47.0")  # 1200 / (1000 + 500 + 800 billed since 2025-01-01) * 90 = 46.96
    assert acme["as_of_date"] == AS_OF
    assert (rows["Bolt"]["ar_bucket_91_plus"], rows["Bolt"]["dso_days"]) == (D("300.00"), None)  # nothing billed
    assert rows[None]["wip_bucket_31_60"] == D("200.00")  # the NRB without a job names no client
    wide = report(kcon, "client_summary", AS_OF, config=ReportConfig(aging_buckets=(30, 60, 90, 120)))
    assert [c for c in wide.column_names if c.startswith("wip_")] == [
        "wip_bucket_current", "wip_bucket_1_30", "wip_bucket_31_60", "wip_bucket_61_90", "wip_bucket_91_120",
        "wip_bucket_121_plus", "wip_total"]
    assert wide.to_pylist()[0]["ar_bucket_91_120"] == D("0.00")
