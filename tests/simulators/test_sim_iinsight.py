"""iinsight over HTTP: OAuth-like login/refresh, v1/v2 invoice pages (strings, dates, `satus`), billed_to,
transfer."""

from __future__ import annotations

import re
from dataclasses import replace

import httpx
import pytest
from sim_clients import NOW, iinsight, iinsight_all, iinsight_login

from simulators import Firm, FirmSize, SimSettings, SimulatorCluster

SINCE = "2000-01-01T00:00:00Z"


def test_login_and_refresh_rotation(cluster: SimulatorCluster) -> None:
    base = cluster.urls["iinsight"]
    tokens = iinsight_login(cluster)
    assert set(tokens) == {"access_token", "expires_in", "token_type", "scope", "refresh_token"}
    assert re.fullmatch(r"[0-9a-f]{40}", tokens["access_token"]) and tokens["scope"] is None
    client = ("sim-client", "sim-secret")
    form = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    rotated = httpx.post(base + "/auth/refresh", auth=client, data=form).json()
    assert rotated["refresh_token"] != tokens["refresh_token"] and rotated["access_token"] != tokens["access_token"]
    again = httpx.post(base + "/auth/refresh", auth=client, data=form)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    r = httpx.get(base + "/api1/invoices", params={"modified_since": SINCE, "page": 1, "satus": "active"},
                  headers={"Authorization": f"Bearer {rotated['access_token']}"})
    assert r.status_code == 200


@pytest.mark.parametrize(("auth", "form", "status", "error"), [
    (("sim-client", "nope"), {"grant_type": "password", "username": "sim-user", "password": "sim-pass"}, 401,
     "invalid_client"),
    (None, {"grant_type": "password", "username": "sim-user", "password": "sim-pass"}, 401, "invalid_client"),
    (("sim-client", "sim-secret"), {"grant_type": "password", "username": "sim-user", "password": "x"}, 400,
     "invalid_grant"),
    (("sim-client", "sim-secret"), {"grant_type": "client_credentials"}, 400, "unsupported_grant_type"),
])
def test_login_errors(cluster: SimulatorCluster, auth: tuple[str, str] | None, form: dict[str, str], status: int,
                      error: str) -> None:
    r = httpx.post(cluster.urls["iinsight"] + "/auth/login", auth=auth, data=form)
    assert r.status_code == status and r.json()["error"] == error


def test_multipart_form_login(cluster: SimulatorCluster) -> None:
    fields = {"grant_type": (None, "password"), "username": (None, "sim-user"), "password": (None, "sim-pass")}
    r = httpx.post(cluster.urls["iinsight"] + "/auth/login", auth=("sim-client", "sim-secret"), files=fields)
    assert r.status_code == 200


def test_expired_access_token_gets_401() -> None:
    with SimulatorCluster(Firm(seed=2, size="tiny"), SimSettings(iinsight_token_ttl_s=0)) as c:
        r = iinsight(c).get("/api1/invoices", params={"modified_since": SINCE, "page": 1, "satus": "active"})
    assert r.status_code == 401 and r.json()["error"] == "invalid_token"


def test_v1_rows_are_strings_with_day_first_dates(cluster: SimulatorCluster, firm: Firm) -> None:
    rows = iinsight_all(iinsight(cluster), 1, "active", param="satus")
    truth = [r for r in firm.truth().iinsight_invoices.to_pylist() if r["status"] == "ACTIVE"]
    assert sorted(int(r["invoice_id"]) for r in rows) == sorted(r["invoice_id"] for r in truth)
    row = rows[0]
    assert all(isinstance(v, str) for k, v in row.items() if k not in ("item", "office_department_id",
                                                                         "office_department_name"))
    assert row["office_department_id"] is None and row["status"] == "ACTIVE"
    assert re.fullmatch(r"\d\d-\d\d-\d{4}", row["date_of_invoice"]) and re.fullmatch(r"\d+\.\d\d", row["total"])
    assert re.fullmatch(r"\d\d-\d\d-\d{4} \d\d:\d\d:\d\d", row["last_update"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", row["last_update_utc"])
    item = row["item"][0]
    assert set(item) >= {"charge_code", "employee_id", "employee_info", "quantity", "rate", "service_date",
                         "service", "tax_amount", "total"} and "cost_id" not in item
    keys = [(r["last_update_utc"], int(r["invoice_id"])) for r in rows]
    assert keys == sorted(keys)  # ordered by last_update_utc, then numeric invoice_id
    by_id = {str(r["invoice_id"]): r for r in truth}
    assert all(r["to"] == by_id[r["invoice_id"]]["to"] for r in rows)
    assert sum(float(i["total"]) for i in row["item"]) == pytest.approx(float(row["total"]))


def test_v2_iso_dates_reversed_and_cost_id(cluster: SimulatorCluster, firm: Firm) -> None:
    client = iinsight(cluster)
    reversed_rows = iinsight_all(client, 2, "reversed")
    expected = [r["invoice_id"] for r in firm.truth().iinsight_invoices.to_pylist() if r["status"] == "REVERSED"]
    assert sorted(int(r["invoice_id"]) for r in reversed_rows) == sorted(expected)
    row = iinsight_all(client, 2, "active")[0]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT12:00:00Z", row["date_of_invoice"])
    assert list(row["item"][0])[:3] == ["cost_id", "service", "description"]
    v1 = client.get("/api1/invoices", params={"modified_since": SINCE, "page": 1, "satus": "reversed"})
    assert v1.status_code == 400


def test_last_update_is_sydney_local_time(cluster: SimulatorCluster) -> None:
    rows = iinsight_all(iinsight(cluster), 1, "voided", param="status")  # `status` is accepted on v1 too
    for row in rows:
        utc = row["last_update_utc"]
        day, month, year = row["last_update"][:10].split("-")
        assert f"{year}-{month}-{day}" >= utc[:10]  # Sydney is ahead of UTC


@pytest.mark.parametrize("params", [
    {"page": 1, "satus": "active"},
    {"modified_since": "yesterday", "page": 1, "satus": "active"},
    {"modified_since": SINCE, "satus": "active"},
    {"modified_since": SINCE, "page": 0, "satus": "active"},
    {"modified_since": SINCE, "page": "x", "satus": "active"},
    {"modified_since": SINCE, "page": 1},
    {"modified_since": SINCE, "page": 1, "satus": "paid"},
])
def test_invalid_parameters_are_400(cluster: SimulatorCluster, params: dict[str, object]) -> None:
    r = iinsight(cluster).get("/api1/invoices", params=params)
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"


def test_paging_edges_exactly_100_active() -> None:
    size = replace(FirmSize.preset("tiny"), iinsight_invoices=100, iinsight_voided_share=0, iinsight_reversed_share=0)
    with SimulatorCluster(Firm(seed=1, size=size, now=NOW)) as c:
        client = iinsight(c)
        page = lambda n: client.get("/api1/invoices", params={"modified_since": SINCE, "page": n,  # noqa: E731
                                                               "satus": "active"}).json()
        assert len(page(1)) == 100 and page(2) == []
        assert client.get("/api1/invoices", params={"modified_since": SINCE, "page": 1, "satus": "voided"}).json() == []


def test_modified_since_is_inclusive(cluster: SimulatorCluster) -> None:
    client = iinsight(cluster)
    rows = iinsight_all(client, 1, "active", param="satus")
    pivot = rows[len(rows) // 2]["last_update_utc"]
    later = iinsight_all(client, 1, "active", since=pivot.replace("Z", "+00:00"), param="satus")
    assert later[0]["last_update_utc"] == pivot
    assert [r["invoice_id"] for r in later] == [r["invoice_id"] for r in rows if r["last_update_utc"] >= pivot]


def test_billed_to(cluster: SimulatorCluster, firm: Firm) -> None:
    client = iinsight(cluster)
    employer = firm.truth().iinsight_invoices.column("company_id")[0].as_py()
    r = client.get("/api1/invoices/billed_to", params={"employer_id": employer,
                                                       "fields": "case,first_name,last_name,invoice"})
    rows = r.json()
    expected = [x for x in firm.truth().iinsight_invoices.to_pylist() if x["company_id"] == employer]
    assert [row["invoice_id"] for row in rows] == [str(x["invoice_id"]) for x in expected]
    assert list(rows[0]) == ["invoice_id", "case", "first_name", "last_name", "invoice"]
    first = rows[0]
    narrowed = client.get("/api1/invoices/billed_to", params={
        "employer_id": employer, "fields": "invoice", "search_criteria": f'{{"case": "{first["case"]}"}}',
        "sort_col": "invoice", "sort_type": "desc", "limit": 1}).json()
    assert len(narrowed) == 1 and set(narrowed[0]) == {"invoice_id", "invoice"}
    assert client.get("/api1/invoices/billed_to", params={"fields": "case"}).status_code == 400
    assert client.get("/api1/invoices/billed_to", params={"employer_id": 1, "fields": "nope"}).status_code == 400


def test_transfer_moves_invoices_to_the_end(fresh_cluster: SimulatorCluster, fresh_firm: Firm) -> None:
    client = iinsight(fresh_cluster)
    rows = fresh_firm.truth().iinsight_invoices.to_pylist()
    target = next(r["company_id"] for r in rows if r["company_id"] != rows[0]["company_id"])
    ids = f"{rows[0]['invoice_id']},{rows[1]['invoice_id']},999999"
    body = client.put("/api1/invoices/transfer", data={"employer_id": target, "invoice_ids": ids}).json()
    assert body == {"message": "Invoice(s) Transferred", "invoice_ids": ids.rsplit(",", 1)[0], "updated_count": 2,
                    "inserted_count": 0}
    moved = {r["invoice_id"]: r for r in fresh_firm.truth().iinsight_invoices.to_pylist()}
    assert moved[rows[0]["invoice_id"]]["company_id"] == target
    assert moved[rows[0]["invoice_id"]]["last_update_utc"] == fresh_firm.now
    bad = client.put("/api1/invoices/transfer", data={"employer_id": 1, "invoice_ids": ids})
    assert bad.status_code == 400
