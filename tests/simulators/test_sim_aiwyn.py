"""Aiwyn over HTTP: token, envelopes, list paging and filters, keyset search, details, errors."""

from __future__ import annotations

import base64
import re
from decimal import Decimal

import httpx
import orjson
import pytest
from sim_clients import aiwyn, keyset

from simulators import Firm, SimSettings, SimulatorCluster


def test_token_is_a_jwt_with_hasura_claims(cluster: SimulatorCluster) -> None:
    r = httpx.post(cluster.urls["aiwyn"] + "/v1/auth/token", json={"jwtApiKey": "sim-aiwyn-key"})
    body = r.json()
    assert r.status_code == 200 and body["expiresIn"] == 3600 and body["tokenType"] == "Bearer"
    _header, claims, _signature = body["accessToken"].split(".")
    claims = orjson.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
    assert claims["exp"] - claims["iat"] == 3600 and claims["tenant"] == "aiwynsb"
    assert claims["https://hasura.io/jwt/claims"]["x-hasura-default-role"] == "aiwynsb_API_ADMIN"
    bad = httpx.post(cluster.urls["aiwyn"] + "/v1/auth/token", json={"jwtApiKey": "wrong"})
    assert bad.status_code == 401 and bad.json()["error"]["code"] == "UNAUTHORIZED"


@pytest.mark.parametrize("header", [None, "Bearer nope", "Basic abc"])
def test_calls_need_a_valid_bearer(cluster: SimulatorCluster, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    r = httpx.post(cluster.urls["aiwyn"] + "/gql/v1/wip", json={}, headers=headers)
    assert r.status_code == 401
    assert set(r.json()["error"]) == {"code", "message"}


def test_expired_tokens_get_401() -> None:
    firm = Firm(seed=2, size="tiny")
    with SimulatorCluster(firm, SimSettings(aiwyn_token_ttl_s=0)) as c:
        assert aiwyn(c).post("/gql/v1/wip", json={}).status_code == 401
    with SimulatorCluster(firm) as c:
        client = aiwyn(c)
        assert client.post("/gql/v1/wip", json={}).status_code == 200
        assert httpx.post(c.urls["aiwyn"] + "/_sim/expire-tokens").json() == {"expired": 1}
        assert client.post("/gql/v1/wip", json={}).status_code == 401


def test_list_envelope_paging_and_aggregate(cluster: SimulatorCluster, firm: Firm) -> None:
    client = aiwyn(cluster)
    total = firm.size.wip
    seen: list[int] = []
    page = 0
    while True:
        r = client.post("/gql/v1/wip", json={"pageSize": 50, "page": page})
        body = r.json()
        assert set(body) == {"deid_wip", "deid_wip_aggregate"}
        agg = body["deid_wip_aggregate"]["aggregate"]
        assert agg["count"] == total
        if not body["deid_wip"]:
            break
        seen += [row["id"] for row in body["deid_wip"]]
        page += 1
    assert page == -(-total // 50) and sorted(seen) == sorted(firm.truth().aiwyn_wip.column("id").to_pylist())
    assert len(client.post("/gql/v1/wip", json={}).json()["deid_wip"]) == 25  # default pageSize
    wip = firm.truth().aiwyn_wip
    assert Decimal(str(agg["sum"]["outstandingAmount"])) == sum(wip.column("outstanding_amount").to_pylist())


def test_money_has_two_decimals_and_timestamps_are_z(cluster: SimulatorCluster) -> None:
    text = aiwyn(cluster).post("/gql/v1/invoices", json={"pageSize": 5}).text
    assert re.search(r'"totalAmount":\d+\.\d{2}[,}]', text)
    assert not re.search(r'"totalAmount":\d+[,}]', text)
    assert re.search(r'"dueDate":"\d{4}-\d\d-\d\dT(23:59:59|00:00:00)Z"', text)


def test_list_filters_and_sort(cluster: SimulatorCluster, firm: Firm) -> None:
    client = aiwyn(cluster)
    rows = client.post("/gql/v1/wip", json={"pageSize": 1000, "wipType": "Fixed_Fee", "sortOrder": "asc"}).json()
    assert rows["deid_wip"] and {r["type"] for r in rows["deid_wip"]} == {"FIXED_FEE"}
    dates = [r["loggedDate"] for r in rows["deid_wip"]]
    assert dates == sorted(dates)
    client_id = rows["deid_wip"][0]["clientId"]
    invoices = client.post("/gql/v1/invoices", json={
        "pageSize": 1000, "clientId": client_id, "status": "PAID", "startDate": "2024-01-01T00:00:00",
        "endDate": "2030-01-01T00:00:00"})
    body = invoices.json()
    assert all(r["clientId"] == client_id and r["status"] == "PAID" for r in body["deid_invoice"])
    assert body["deid_invoice_aggregate"]["aggregate"]["count"] == len(body["deid_invoice"])
    pays = client.post("/gql/v1/payments", json={"pageSize": 1000, "paymentMethod": "ACH"}).json()["deid_payment"]
    assert {p["paymentMethod"] for p in pays} <= {"ACH"}
    for bad in ({"pageSize": 0}, {"pageSize": 1001}, {"page": -1}, {"wipType": "Lunch"}, {"sortOrder": "up"},
                {"startDate": "soon"}):
        assert client.post("/gql/v1/wip", json=bad).status_code == 400, bad


def test_keyset_search_returns_every_row_once(cluster: SimulatorCluster, firm: Firm) -> None:
    client = aiwyn(cluster)
    truth = firm.truth()
    for path, table in (("/gql/v1/wips/search", "aiwyn_wip"), ("/gql/v1/invoices/search", "aiwyn_invoices"),
                        ("/gql/v1/payments/search", "aiwyn_payments")):
        rows = keyset(client, path, page_size=7, upper="2025-06-01T12:00:00Z")  # pages split tied seconds
        t = truth[table]
        expected = sorted(zip(t.column("updated_at").to_pylist(), t.column("id").to_pylist(), strict=True))
        assert [(r["updatedAt"], r["id"]) for r in rows] == [
            (ts.strftime("%Y-%m-%dT%H:%M:%SZ"), i) for ts, i in expected], path


def test_search_where_order_and_aggregate(cluster: SimulatorCluster, firm: Firm) -> None:
    client = aiwyn(cluster)
    where = {"_and": [{"type": {"_in": ["TIME", "EXPENSE"]}}, {"approved": {"_eq": True}},
                      {"loggedDate": {"_gte": "1900-01-01T00:00:00+02:00"}}, {"value": {"_gt": 100}}]}
    body = client.post("/v1/wips/search", json={"pageSize": 3, "where": where,
                                                 "orderBy": [{"loggedDate": "desc"}, {"value": "desc"}]}).json()
    expected = firm.query("SELECT count(*) FROM aiwyn_wip WHERE type IN ('TIME', 'EXPENSE') AND approved "
                          "AND value > 100")[0][0]
    assert body["deid_wip_aggregate"]["aggregate"]["count"] == expected
    assert len(body["deid_wip"]) == 3
    keys = [(r["loggedDate"], r["value"]) for r in body["deid_wip"]]
    assert keys == sorted(keys, reverse=True)
    assert len(client.post("/gql/v1/wips/search", json={}).json()["deid_wip"]) == 1  # seed 000: default 1


@pytest.mark.parametrize("body", [
    {"page": 1}, {"offset": 10}, {"where": {"nope": {"_eq": 1}}}, {"where": {"id": {"_between": [1, 2]}}},
    {"orderBy": [{"nope": "asc"}]}, {"pageSize": 5000}, {"where": {"updatedAt": {"_gt": "not a date"}}},
])
def test_search_rejects_bad_bodies(cluster: SimulatorCluster, body: dict[str, object]) -> None:
    r = aiwyn(cluster).post("/gql/v1/invoices/search", json=body)
    assert r.status_code == 400 and r.json()["error"]["code"] == "BAD_REQUEST"


def test_details_follow_the_seeds(cluster: SimulatorCluster, firm: Firm) -> None:
    client = aiwyn(cluster)
    wip_id = firm.truth().aiwyn_wip.column("id")[0].as_py()
    wip = client.get(f"/gql/v1/wip/{wip_id}").json()
    assert {"id", "description", "status", "type", "staffId", "staffName", "clientId", "clientName", "projectId",
            "projectName", "taskId", "taskName", "date", "startTime", "endTime", "duration", "billableHours",
            "nonBillableHours", "hourlyRate", "billableAmount", "currency", "notes", "approvalHistory",
            "createdAt", "updatedAt"} <= set(wip)
    paid = firm.query("SELECT i.id FROM aiwyn_invoices i WHERE paid_amount > 0 ORDER BY id LIMIT 1")[0][0]
    invoice = client.get(f"/v1/invoice/{paid}").json()
    assert invoice["paymentStatus"] in ("PAID", "PARTIALLY_PAID", "OVERDUE")
    assert sum(Decimal(str(li["amount"])) for li in invoice["lineItems"]) == Decimal(str(invoice["subtotal"]))
    confirmed = [p for p in invoice["payments"] if p["status"] == "CONFIRMED"]
    assert sum(Decimal(str(p["amount"])) for p in confirmed) == Decimal(str(invoice["paidAmount"]))
    assert {"issueDate", "reference", "clientEmail", "projectId", "projectName", "notes"} <= set(invoice)
    payment = client.get(f"/gql/v1/payment/{invoice['payments'][0]['id']}").json()
    assert payment["invoiceId"] == paid and payment["invoiceNumber"] == invoice["invoiceNumber"]
    for path in ("/gql/v1/wip/1", "/gql/v1/invoice/999999", "/gql/v1/payment/0", "/gql/v1/wip/abc"):
        r = client.get(path)
        assert r.status_code == 404 and r.json()["error"]["code"] == "NOT_FOUND", path
