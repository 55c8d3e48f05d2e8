"""iinsight payments over HTTP (iinsight.md §5, CONTRACT.md "iinsight payments"): documented fields as strings,
v1/v2 dates and signs, paging edges, voids, modified_since, page shift, the payable invariant, optional endpoints."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import replace
from datetime import datetime
from decimal import Decimal

import httpx
import pytest
from sim_clients import NOW, iinsight, iinsight_all

from simulators import Faults, Firm, FirmSize, SimSettings, SimulatorCluster

FIELDS = ["payment_id", "payment_number", "transaction_date", "amount", "paid_by", "reference_number", "card_type",
          "bank", "branch", "invoice_id", "invoice_number", "bill_to_id", "type", "notes", "last_update",
          "last_update_utc"]
SINCE = "2000-01-01T00:00:00Z"


def _iso(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def _payments(client: httpx.Client, version: int, status: str, since: str = SINCE) -> list[dict[str, str]]:
    return iinsight_all(client, version, status, since=since, entity="payments")


def test_v1_and_v2_rows_are_the_documented_strings(cluster: SimulatorCluster, firm: Firm) -> None:
    client = iinsight(cluster)
    truth = {r["payment_id"]: r for r in firm.truth().iinsight_payments.to_pylist() if r["status"] == "ACTIVE"}
    v1, v2 = _payments(client, 1, "active"), _payments(client, 2, "active")
    assert [int(r["payment_id"]) for r in v1] == [int(r["payment_id"]) for r in v2]
    assert sorted(int(r["payment_id"]) for r in v1) == sorted(truth)
    keys = [(r["last_update_utc"], int(r["payment_id"])) for r in v1]
    assert keys == sorted(keys)  # last_update_utc, then numeric id
    for one, two in zip(v1, v2, strict=True):
        assert list(one) == FIELDS and list(two) == FIELDS
        assert all(isinstance(v, str) for v in [*one.values(), *two.values()])
        row = truth[int(one["payment_id"])]
        day = row["transaction_date"]
        assert one["transaction_date"] == day.strftime("%d-%m-%Y")  # day first on v1
        assert two["transaction_date"] == day.strftime("%Y-%m-%dT12:00:00Z")
        assert Decimal(two["amount"]) == -row["amount"] < 0  # v2: receipts negative
        assert Decimal(one["amount"]) == row["v1_amount"] and abs(Decimal(one["amount"])) == row["amount"]
        assert re.fullmatch(r"\d\d-\d\d-\d{4} \d\d:\d\d:\d\d", one["last_update"])
        assert one["last_update_utc"] == _iso(row["last_update_utc"])
        assert one["payment_number"].startswith(one["invoice_number"] + "-P")
        assert (int(one["invoice_id"]), one["invoice_number"], int(one["bill_to_id"])) == (
            row["invoice_id"], row["invoice_number"], row["bill_to_id"])
    signs = {Decimal(r["amount"]) > 0 for r in v1}
    assert signs == {True, False}  # v1 shows either sign: sources must take the absolute value


@pytest.mark.parametrize(("count", "pages"), [(100, [100, 0]), (101, [100, 1, 0])])
def test_paging_edges(count: int, pages: list[int]) -> None:
    size = replace(FirmSize.preset("tiny"), iinsight_invoices=200, iinsight_payments=count,
                   iinsight_payment_voided_share=0)
    with SimulatorCluster(Firm(seed=1, size=size, now=NOW)) as c:
        client = iinsight(c)
        page = lambda n, status="active": client.get("/api2/payments", params={  # noqa: E731
            "modified_since": SINCE, "page": n, "status": status}).json()
        assert [len(page(n + 1)) for n in range(len(pages))] == pages
        assert page(1, "voided") == []


def test_status_spellings_and_bad_parameters(cluster: SimulatorCluster, firm: Firm) -> None:
    client = iinsight(cluster)
    voided = [r["payment_id"] for r in firm.truth().iinsight_payments.to_pylist() if r["status"] == "VOIDED"]
    assert voided
    assert [int(r["payment_id"]) for r in iinsight_all(client, 1, "voided", param="satus", entity="payments")] == voided
    for params in ({"modified_since": SINCE, "page": 1, "status": "reversed"}, {"page": 1, "status": "active"},
                   {"modified_since": SINCE, "page": 0, "status": "active"}, {"modified_since": SINCE, "page": 1}):
        for version in (1, 2):
            r = client.get(f"/api{version}/payments", params=params)
            assert r.status_code == 400 and r.json()["error"] == "invalid_request", (version, params)


def _payable_follows_payments(client: httpx.Client) -> int:
    """Asserts over the API that every active invoice's payable = total − |amount| of its active payments
    (v1 and v2 agree); returns how many invoices have payments."""
    paid: dict[str, Decimal] = defaultdict(Decimal)
    for row in _payments(client, 1, "active"):
        paid[row["invoice_id"]] += abs(Decimal(row["amount"]))
    assert sum(paid.values()) == -sum(Decimal(r["amount"]) for r in _payments(client, 2, "active"))
    invoices = iinsight_all(client, 2, "active")
    for inv in invoices:
        assert Decimal(inv["total_amount_payable"]) == Decimal(inv["total"]) - paid[inv["invoice_id"]], inv
    active = {inv["invoice_id"] for inv in invoices}
    assert set(paid) <= active  # no active payment on a voided or reversed invoice
    return len(paid)


def test_payable_is_total_minus_active_payments_through_activity(fresh_cluster: SimulatorCluster,
                                                                 fresh_firm: Firm) -> None:
    client = iinsight(fresh_cluster)
    assert _payable_follows_payments(client) > 0
    for seed in (1, 2, 3):
        counts = fresh_firm.activity(0.2, seed=seed)
        assert counts["iinsight.payments"]["new"] > 0 and counts["iinsight.payments"]["edited"] > 0
        _payable_follows_payments(client)


def test_a_void_changes_status_and_last_update_and_modified_since_finds_it(fresh_cluster: SimulatorCluster,
                                                                           fresh_firm: Firm) -> None:
    client = iinsight(fresh_cluster)
    before = {r["payment_id"]: r for r in fresh_firm.truth().iinsight_payments.to_pylist()}
    payable = {r["invoice_id"]: r["total_amount_payable"] for r in fresh_firm.truth().iinsight_invoices.to_pylist()}
    fresh_firm.activity(0.2, seed=5)
    t = _iso(fresh_firm.now)
    after = {r["payment_id"]: r for r in fresh_firm.truth().iinsight_payments.to_pylist()}
    voided = [i for i, r in after.items() if r["status"] == "VOIDED" and before[i]["status"] == "ACTIVE"]
    new = [i for i in after if i not in before]
    assert voided and new
    assert all(_iso(after[i]["last_update_utc"]) == t for i in [*voided, *new])
    assert [int(r["payment_id"]) for r in _payments(client, 2, "voided", since=t)] == sorted(voided)
    assert [int(r["payment_id"]) for r in _payments(client, 1, "active", since=t)] == sorted(new)
    assert not {int(r["payment_id"]) for r in _payments(client, 1, "active")} & set(voided)
    invoices = {int(r["invoice_id"]): r for r in iinsight_all(client, 2, "active", since=t)}
    for i in voided:  # the invoice was stamped too, and owes the voided amount again
        invoice = invoices[after[i]["invoice_id"]]
        assert invoice["last_update_utc"] == t
        if not any(after[n]["invoice_id"] == after[i]["invoice_id"] for n in new):
            assert Decimal(invoice["total_amount_payable"]) >= payable[after[i]["invoice_id"]] + after[i]["amount"]


def test_page_shift_moves_a_served_payment_to_the_end() -> None:
    size = replace(FirmSize.preset("tiny"), iinsight_invoices=400, iinsight_payments=250,
                   iinsight_payment_voided_share=0)
    firm = Firm(seed=2, size=size, now=NOW)
    with SimulatorCluster(firm, SimSettings(faults=Faults(seed=1, page_shift=1.0))) as c:
        client = iinsight(c)
        pages = [client.get("/api1/payments", params={"modified_since": SINCE, "page": n, "status": "active"}).json()
                 for n in (1, 2, 3, 4)]
        assert c.stats["iinsight"]["faults"]["page_shift"] == 3
    seen = [int(r["payment_id"]) for page in pages for r in page]
    assert len(seen) == 250 and len(set(seen)) < 250  # naive page-number paging repeats and skips rows
    shifted = min(int(r["payment_id"]) for r in pages[0])
    assert shifted in [int(r["payment_id"]) for r in pages[2]]


def test_payments_and_billings_are_optional_endpoints() -> None:
    settings = SimSettings(endpoints_off=frozenset({"iinsight.payments"}),
                           endpoints_forbidden=frozenset({"iinsight.billings"}))
    with SimulatorCluster(Firm(seed=3, size="tiny", now=NOW), settings) as c:
        client = iinsight(c)
        params = {"modified_since": SINCE, "page": 1, "status": "active"}
        for version in (1, 2):
            off = client.get(f"/api{version}/payments", params=params)
            assert off.status_code == 404 and off.json()["error"] == "not_found"
        forbidden = client.get("/api1/billings")
        assert forbidden.status_code == 403 and forbidden.json()["error"] == "insufficient_scope"
        assert client.get("/api1/invoices", params=params).status_code == 200
        c.set_endpoint("iinsight.payments", "on")
        assert client.get("/api2/payments", params=params).status_code == 200
        state = httpx.post(c.urls["iinsight"] + "/_sim/endpoints", json={"entity": "billings", "state": "on"}).json()
        assert state == {"payments": "on", "billings": "on"}
        assert client.get("/api1/billings").json()["status"] is True
