"""``arwip push iinsight-transfer`` against the iinsight simulator over loopback HTTP, checked against its transfer
log (``transfers_truth``) and invoices, its request counters and the ledger."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pipelines.push import push
from simulators import SimulatorCluster, transfers_truth
from sources._push import PushUsageError
from tests.push.helpers import newest, write_sql, writes

Sims = Callable[..., SimulatorCluster]


def invoices_and_employer(sims: SimulatorCluster) -> tuple[list[str], str]:
    rows = sims.firm.truth().iinsight_invoices.to_pylist()
    first, second = rows[0], rows[1]
    employer = next(r["company_id"] for r in rows if r["company_id"] not in (first["company_id"],
                                                                              second["company_id"]))
    return [str(first["invoice_id"]), str(second["invoice_id"])], str(employer)


def moved(sims: SimulatorCluster) -> list[int]:
    return sorted(transfers_truth(sims.firm).column("invoice_id").to_pylist())


def test_a_transfer_to_an_unknown_invoice(simulators: Sims, warehouse: Path) -> None:
    sims = simulators()
    (a, b), employer = invoices_and_employer(sims)
    args = {"employer": employer, "invoices": f"{a},999999,{b}"}
    dry = push("iinsight-transfer", args, warehouse)
    assert dry.plan.counts["update"] == 3 and writes(sims)["PUT /api1/invoices/transfer"] == 0
    result = push("iinsight-transfer", args, warehouse, apply=True)
    assert (result.sent.counts["applied"], result.sent.counts["failed"]) == (2, 1)
    assert result.sent.failures == [("999999", "UNKNOWN_INVOICE", "invoice_id",
                                     "iinsight does not know invoice 999999 (left out of its answer)")]
    assert moved(sims) == sorted([int(a), int(b)])
    invoices = {str(r["invoice_id"]): str(r["company_id"]) for r in sims.firm.truth().iinsight_invoices.to_pylist()}
    assert invoices[a] == invoices[b] == employer
    assert {k: (e["status"], e["object"]) for k, e in newest(warehouse).items()} == {
        a: ("applied", employer), b: ("applied", employer), "999999": ("failed", employer)}
    # again: billed_to shows both moved (never transferred twice); only the unknown one is tried again
    again = push("iinsight-transfer", args, warehouse, apply=True)
    assert (again.plan.counts["unchanged"], again.plan.counts["update"], again.sent.counts["failed"]) == (2, 1, 1)
    assert moved(sims) == sorted([int(a), int(b)])


def test_an_invoice_already_billed_to_the_employer_is_not_moved(simulators: Sims, warehouse: Path,
                                                                tmp_path: Path) -> None:
    sims = simulators()
    rows = sims.firm.truth().iinsight_invoices.to_pylist()
    invoice, employer = str(rows[0]["invoice_id"]), str(rows[0]["company_id"])
    sql = write_sql(tmp_path / "ids.sql", f"select {invoice} as invoice_id")
    result = push("iinsight-transfer", {"employer": employer, "sql": sql}, warehouse, apply=True)
    assert (result.plan.counts["unchanged"], result.sent.batches) == (1, 0)
    assert moved(sims) == [] and writes(sims)["PUT /api1/invoices/transfer"] == 0


def test_an_unknown_employer_fails_every_row_with_iinsights_reason(simulators: Sims, warehouse: Path) -> None:
    sims = simulators()
    (a, b), _ = invoices_and_employer(sims)
    result = push("iinsight-transfer", {"employer": "999", "invoices": f"{a},{b}"}, warehouse, apply=True)
    assert result.sent.failures == [(a, "HTTP_400", None, "unknown employer_id 999"),
                                    (b, "HTTP_400", None, "unknown employer_id 999")]
    assert moved(sims) == []
    with pytest.raises(PushUsageError, match="--employer needs a company id"):
        push("iinsight-transfer", {"employer": "x", "invoices": a}, warehouse)
    with pytest.raises(PushUsageError, match="exactly one of --invoices"):
        push("iinsight-transfer", {"employer": "1"}, warehouse)
