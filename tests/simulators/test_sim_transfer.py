"""iinsight `billed_to` and `transfer` to CONTRACT.md "iinsight billed_to and transfer" (seed 004): paging with
`page` / `limit`, unknown ids left out without an error, `company_id` and `last_update_utc` changed, the log."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sim_clients import iinsight

from simulators import Firm, SimulatorCluster, transfers_truth


def billed_to(client: httpx.Client, employer: int, **params: Any) -> httpx.Response:
    return client.get("/api1/invoices/billed_to", params={"employer_id": employer, "fields": "invoice_id,invoice",
                                                          **params})


def invoices(firm: Firm) -> dict[int, dict[str, Any]]:
    return {r["invoice_id"]: r for r in firm.truth().iinsight_invoices.to_pylist()}


def test_billed_to_pages_by_page_and_limit(cluster: SimulatorCluster, firm: Firm) -> None:
    client = iinsight(cluster)
    rows = firm.truth().iinsight_invoices.to_pylist()
    employer = max({r["company_id"] for r in rows}, key=lambda c: sum(r["company_id"] == c for r in rows))
    expected = sorted(r["invoice_id"] for r in rows if r["company_id"] == employer)
    assert len(expected) > 3
    paged, page = [], 1
    while batch := billed_to(client, employer, page=page, limit=3).json():
        assert len(batch) <= 3
        paged += batch
        page += 1
    assert [int(r["invoice_id"]) for r in paged] == expected
    assert [r["invoice_id"] for r in billed_to(client, employer, limit=1000).json()] == [str(i) for i in expected]
    assert billed_to(client, employer, page=page + 5).json() == []
    for params in ({"limit": 0}, {"limit": 1001}, {"page": 0}, {"page": "x"}):
        assert billed_to(client, employer, **params).status_code == 400, params
    assert client.get("/api1/invoices/billed_to", params={"employer_id": employer}).status_code == 400


def test_transfer_moves_known_ids_and_leaves_unknown_ones_out(fresh_cluster: SimulatorCluster,
                                                              fresh_firm: Firm) -> None:
    client = iinsight(fresh_cluster)
    before = invoices(fresh_firm)
    first, second = sorted(before)[:2]
    source = before[first]["company_id"]
    target = next(r["company_id"] for r in before.values() if r["company_id"] != source)
    ids = f"{second},999999,{first},{second}"
    body = client.put("/api1/invoices/transfer", data={"employer_id": target, "invoice_ids": ids}).json()
    assert body == {"message": "Invoice(s) Transferred", "invoice_ids": f"{second},{first}", "updated_count": 2,
                    "inserted_count": 0}
    after = invoices(fresh_firm)
    assert {after[i]["company_id"] for i in (first, second)} == {target}
    assert {after[i]["last_update_utc"] for i in (first, second)} == {fresh_firm.now}
    untouched = {i: r for i, r in after.items() if i not in (first, second)}
    assert untouched == {i: r for i, r in before.items() if i not in (first, second)}
    confirmed = {int(r["invoice_id"]) for r in billed_to(client, target, limit=1000).json()}
    assert {first, second} <= confirmed
    assert first not in {int(r["invoice_id"]) for r in billed_to(client, source, limit=1000).json()}
    log = transfers_truth(fresh_firm).to_pylist()
    assert [(r["transfer_id"], r["invoice_id"], r["from_company_id"], r["to_company_id"]) for r in log] == [
        (1, first, before[first]["company_id"], target), (1, second, before[second]["company_id"], target)]
    assert {r["transferred_at"] for r in log} == {fresh_firm.now}

    again = client.put("/api1/invoices/transfer", data={"employer_id": target, "invoice_ids": str(first)}).json()
    assert again["updated_count"] == 1  # iinsight counts a move to the same employer; the log shows it twice
    assert [(r["transfer_id"], r["from_company_id"]) for r in transfers_truth(fresh_firm).to_pylist()][-1] == (
        2, target)


def test_transfer_of_unknown_ids_only(fresh_cluster: SimulatorCluster, fresh_firm: Firm) -> None:
    client = iinsight(fresh_cluster)
    before = invoices(fresh_firm)
    employer = next(iter(before.values()))["company_id"]
    body = client.put("/api1/invoices/transfer", data={"employer_id": employer, "invoice_ids": "999998,999999"})
    assert body.status_code == 200
    assert body.json() == {"message": "Invoice(s) Transferred", "invoice_ids": "", "updated_count": 0,
                           "inserted_count": 0}
    assert invoices(fresh_firm) == before and transfers_truth(fresh_firm).num_rows == 0


@pytest.mark.parametrize("form", [
    {"invoice_ids": "1"}, {"employer_id": "101"}, {"employer_id": "101", "invoice_ids": "1, 2"},
    {"employer_id": "101", "invoice_ids": "1,,2"}, {"employer_id": "x", "invoice_ids": "1"},
    {"employer_id": "101", "invoice_ids": "99999999999999999999"}, {"employer_id": "999", "invoice_ids": "1"},
])
def test_transfer_bad_requests_are_400(cluster: SimulatorCluster, form: dict[str, str]) -> None:
    response = iinsight(cluster).put("/api1/invoices/transfer", data=form)
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"
