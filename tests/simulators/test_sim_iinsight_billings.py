"""iinsight billings over HTTP (iinsight.md §7, CONTRACT.md "iinsight billings"): envelope and paging, rows equal to
the truth, Query Builder `query` / `sort` / `fields` as pinned, 400s, invoicing and deleting through activity."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import httpx
import orjson
import pytest
from sim_clients import NOW, billings_all, iinsight

from simulators import Firm, FirmSize, SimulatorCluster

FIELDS = ["case_id", "id", "time_based", "description", "estimate_link", "employee", "team", "reference_date",
          "start_time", "quantity", "unit_cost", "unit_charge", "tax_amount", "tax_rate", "total_charge",
          "charge_code", "invoice", "notes", "time_inserted", "reference_time"]


def _epoch(value: datetime) -> str:
    return str(int(value.timestamp()))


def _q(**fields: list[str]) -> str:
    return orjson.dumps(fields).decode()


def _ids(rows: list[dict[str, Any]]) -> list[int]:
    return [int(r["id"]) for r in rows]


def test_rows_equal_the_truth(cluster: SimulatorCluster, firm: Firm) -> None:
    truth = firm.truth().iinsight_billings.to_pylist()
    rows = billings_all(iinsight(cluster))
    assert _ids(rows) == [r["id"] for r in truth]  # default order: id ascending, numerically
    for api, row in zip(rows, truth, strict=True):
        assert list(api) == FIELDS
        assert all(isinstance(v, str) for k, v in api.items() if k not in ("employee", "team"))
        assert api["employee"] == {"user_id": str(row["employee_id"]), "first_name": row["employee_first_name"],
                                   "last_name": row["employee_last_name"], "name": row["employee_name"],
                                   "title": row["employee_title"]}
        assert api["team"] == {"id": str(row["team_id"]), "description": row["team_description"]}
        midday = datetime.combine(row["reference_date"], time(12), UTC)
        assert (api["reference_date"], api["reference_time"], api["time_inserted"]) == (
            _epoch(midday), _epoch(row["reference_time"]), _epoch(row["time_inserted"]))
        assert api["invoice"] == str(row["invoice"]) and api["time_based"] == ("1" if row["time_based"] else "0")
        money = {k: Decimal(api[k]) for k in ("quantity", "unit_charge", "tax_amount", "total_charge", "tax_rate")}
        assert money["total_charge"] == money["quantity"] * money["unit_charge"] + money["tax_amount"]
        assert money["tax_amount"] == (money["quantity"] * money["unit_charge"] * money["tax_rate"]).quantize(
            Decimal("0.01"), ROUND_HALF_UP)
        assert (money["total_charge"], row["unit_cost"] == 0) == (row["total_charge"], api["unit_cost"] == "0")
    assert {r["invoice"] == "0" for r in rows} == {True, False}


def test_billed_billings_are_items_of_real_invoices(firm: Firm) -> None:
    truth = firm.truth()
    invoices = {r["invoice_id"]: r for r in truth.iinsight_invoices.to_pylist()}
    billed: dict[int, Decimal] = {}
    for row in truth.iinsight_billings.to_pylist():
        if row["invoice"]:
            invoice = invoices[row["invoice"]]
            assert row["reference_date"] <= invoice["date_of_invoice"]
            billed[row["invoice"]] = billed.get(row["invoice"], Decimal(0)) + row["total_charge"]
    assert billed and all(total <= invoices[i]["total"] for i, total in billed.items())
    assert sum(total == invoices[i]["total"] for i, total in billed.items()) >= len(billed) - 1  # whole invoices


@pytest.mark.parametrize(("count", "pages"), [(100, [100, 0]), (101, [100, 1, 0])])
def test_default_page_is_100_and_an_empty_data_ends(count: int, pages: list[int]) -> None:
    size = replace(FirmSize.preset("tiny"), iinsight_billings=count)
    with SimulatorCluster(Firm(seed=1, size=size, now=NOW)) as c:
        client = iinsight(c)
        got = [len(client.get("/api1/billings", params={"page": n + 1}).json()["data"]) for n in range(len(pages))]
        assert got == pages
        assert len(client.get("/api1/billings").json()["data"]) == 100  # page defaults to 1
        assert len(client.get("/api1/billings", params={"limit": 1000}).json()["data"]) == count


def test_limit_up_to_1000(cluster: SimulatorCluster, firm: Firm) -> None:
    client = iinsight(cluster)
    ids = firm.truth().iinsight_billings.column("id").to_pylist()
    assert _ids(client.get("/api1/billings", params={"limit": 1000}).json()["data"]) == ids
    pages = [client.get("/api1/billings", params={"limit": 30, "page": p}).json()["data"] for p in range(1, 5)]
    assert [len(p) for p in pages] == [min(30, max(0, len(ids) - 30 * k)) for k in range(4)] and not pages[-1]
    assert _ids([row for page in pages for row in page]) == ids


def test_query_matches_any_value_of_every_field(cluster: SimulatorCluster, firm: Firm) -> None:
    client = iinsight(cluster)
    truth = firm.truth().iinsight_billings.to_pylist()
    unbilled = [r["id"] for r in truth if r["invoice"] == 0]
    assert _ids(billings_all(client, query=_q(invoice=["0"]))) == unbilled
    a, b = truth[0], truth[-1]
    either = _ids(billings_all(client, query=_q(case_id=[str(a["case_id"]), str(b["case_id"])])))
    assert either == [r["id"] for r in truth if r["case_id"] in (a["case_id"], b["case_id"])]
    both = _ids(billings_all(client, query=_q(case_id=[str(a["case_id"])], charge_code=[a["charge_code"]])))
    assert both == [r["id"] for r in truth if (r["case_id"], r["charge_code"]) == (a["case_id"], a["charge_code"])]
    assert billings_all(client, query=_q(invoice=[])) == []  # no value matches nothing
    assert billings_all(client, query=_q(charge_code=[a["charge_code"].upper() + "x"])) == []


@pytest.mark.parametrize(("pattern", "expected"), [
    ("%Review", lambda d: d.endswith("Review")),
    ("Case%", lambda d: d.startswith("Case")),
    ("%management%Follow%", lambda d: "management" in d and "Follow" in d.split("management", 1)[1]),
    ("%", lambda d: True),
    ("%review", lambda d: d.endswith("review")),  # case-sensitive
    ("Travel_-%", lambda d: False),  # `_` is no wildcard
])
def test_percent_is_the_only_wildcard(cluster: SimulatorCluster, firm: Firm, pattern: str, expected: Any) -> None:
    truth = firm.truth().iinsight_billings.to_pylist()
    got = _ids(billings_all(iinsight(cluster), query=_q(description=[pattern])))
    assert got == [r["id"] for r in truth if expected(r["description"])]


def test_sort_is_numeric_for_numbers_then_id(cluster: SimulatorCluster, firm: Firm) -> None:
    client = iinsight(cluster)
    truth = firm.truth().iinsight_billings.to_pylist()
    by_total = _ids(billings_all(client, sort=orjson.dumps({"total_charge": "DESC"}).decode()))
    assert by_total == [r["id"] for r in sorted(truth, key=lambda r: (-r["total_charge"], r["id"]))]
    two = _ids(billings_all(client, sort=orjson.dumps({"charge_code": "asc", "reference_date": "desc"}).decode()))
    assert two == [r["id"] for r in sorted(sorted(truth, key=lambda r: r["id"]),
                                           key=lambda r: (r["charge_code"], -r["reference_date"].toordinal()))]
    newest = billings_all(client, limit=5, sort=orjson.dumps({"id": "desc"}).decode(), fields="id")
    assert _ids(newest) == sorted((r["id"] for r in truth), reverse=True)


def test_fields_pick_and_order_the_keys(cluster: SimulatorCluster) -> None:
    rows = iinsight(cluster).get("/api1/billings", params={"fields": "invoice,id,employee", "limit": 3}).json()["data"]
    assert [list(r) for r in rows] == [["invoice", "id", "employee"]] * 3 and rows[0]["id"] == "1"


@pytest.mark.parametrize("params", [
    {"query": "{not json"}, {"query": "[1]"}, {"query": '{"invoice": "0"}'}, {"query": '{"invoice": [0]}'},
    {"query": '{"nope": ["1"]}'}, {"query": '{"employee": ["1"]}'}, {"sort": '{"id": "up"}'},
    {"sort": '{"team": "asc"}'}, {"sort": '["id"]'}, {"fields": "id,nope"}, {"page": "0"}, {"limit": "0"},
    {"limit": "1001"}, {"page": "x"},
])
def test_bad_parameters_are_400(cluster: SimulatorCluster, params: dict[str, str]) -> None:
    r = iinsight(cluster).get("/api1/billings", params=params)
    assert r.status_code == 400 and r.json()["error"] == "invalid_request", params


def test_invoicing_and_deleting_show_at_once(fresh_cluster: SimulatorCluster, fresh_firm: Firm) -> None:
    client = iinsight(fresh_cluster)
    before = {r["id"]: r for r in billings_all(client)}  # loads the rendered rows
    counts = fresh_firm.activity(0.2, seed=4)
    assert counts["iinsight.billings"]["edited"] > 0 and counts["iinsight.billings"]["deleted"] > 0
    after = {r["id"]: r for r in billings_all(client)}
    deleted = set(before) - set(after)
    assert len(deleted) == counts["iinsight.billings"]["deleted"]
    assert all(before[i]["invoice"] == "0" for i in deleted)  # only unbilled work is deleted
    assert billings_all(client, query=_q(id=sorted(deleted))) == []
    invoiced = [i for i in before if i in after and before[i]["invoice"] == "0" and after[i]["invoice"] != "0"]
    assert len(invoiced) == counts["iinsight.billings"]["edited"]
    new = sorted(set(after) - set(before), key=int)
    assert len(new) == counts["iinsight.billings"]["new"] and int(new[0]) > max(map(int, before))
    assert all(after[i]["invoice"] == "0" and after[i]["time_inserted"] == _epoch(fresh_firm.now) for i in new)
    invoices = {r["invoice_id"]: r for r in fresh_firm.truth().iinsight_invoices.to_pylist()}
    on: dict[int, Decimal] = {}
    for i in invoiced:
        invoice = invoices[int(after[i]["invoice"])]
        assert invoice["last_update_utc"] == fresh_firm.now and invoice["status"] == "ACTIVE"
        assert invoice["date_of_invoice"] >= datetime.fromtimestamp(int(after[i]["reference_date"]), UTC).date()
        on[invoice["invoice_id"]] = on.get(invoice["invoice_id"], Decimal(0)) + Decimal(after[i]["total_charge"])
    for invoice_id, total in on.items():  # a new invoice is made of its billings, unpaid
        assert invoices[invoice_id]["total"] == total == invoices[invoice_id]["total_amount_payable"]
    assert _ids(billings_all(client, query=_q(invoice=["0"]))) == sorted(
        int(i) for i, r in after.items() if r["invoice"] == "0")
    assert httpx.get(fresh_cluster.urls["iinsight"] + "/api1/billings").status_code == 401
