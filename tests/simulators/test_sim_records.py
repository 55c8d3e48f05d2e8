"""Aiwyn Records API over HTTP (seed 002, CONTRACT.md "Aiwyn Records API"): types, schema, custom types, paged
reads, upsert / update / delete with per-record results, the 100-record limit, the failure knob, ground truth."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import orjson
import pytest
from sim_clients import NOW, aiwyn

from simulators import Firm, SimSettings, SimulatorCluster, record_types_truth, records_truth
from simulators._records import DECODE

RECORDS = "/api/v1/records"
SUMMARY = {"name": "arwip_ar_summary", "displayName": "AR summary", "fields": [
    {"name": "clientId", "type": "integer", "required": True, "nullable": False},
    {"name": "openAmount", "type": "decimal"},
    {"name": "asOf", "type": "date", "required": True},
]}


@pytest.fixture
def sims() -> Iterator[SimulatorCluster]:
    """Simulators over a tiny firm of their own, with records `bad-1` refused (field `openAmount`)."""
    settings = SimSettings(aiwyn_record_failures=frozenset({"bad-1:openAmount"}))
    with SimulatorCluster(Firm(seed=5, size="tiny", now=NOW), settings) as running:
        yield running


@pytest.fixture
def api(sims: SimulatorCluster) -> httpx.Client:
    """An authenticated Aiwyn client with the `arwip_ar_summary` custom type created."""
    client = aiwyn(sims)
    assert client.post(f"{RECORDS}/custom", json=SUMMARY).status_code == 201
    return client


def summary(key: str, client_id: int = 1, amount: Any = "10.00", **extra: Any) -> dict[str, Any]:
    """One `arwip_ar_summary` record to write."""
    return {"type": "arwip_ar_summary", "systemRef": {"system": "arwip", "id": key},
            "attributes": {"clientId": client_id, "openAmount": amount, "asOf": "2025-06-01", **extra}}


def send(client: httpx.Client, method: str, records: list[dict[str, Any]]) -> httpx.Response:
    return client.request(method, RECORDS, json={"records": records})


def truth(sims: SimulatorCluster, type_name: str = "arwip_ar_summary") -> dict[str, dict[str, Any]]:
    """systemRef id → ground-truth record (attributes decoded, decimals exact) of one type."""
    rows = records_truth(sims.firm).to_pylist()
    return {r["system_id"]: {**r, "attributes": DECODE.decode(r["attributes"])} for r in rows if r["type"] == type_name}


def test_types_and_schema(sims: SimulatorCluster) -> None:
    client = aiwyn(sims)
    body = client.get(f"{RECORDS}/types").json()
    assert body["error"] is None and body["meta"]["success"] is True and body["meta"]["version"] == "v1"
    types = {t["name"]: t for t in body["data"]["entityTypes"]}
    assert {"client", "contact", "staff", "department"} <= set(types) and not types["client"]["isCustom"]
    assert types["staff"]["schemaUrl"] == f"{sims.urls['aiwyn']}{RECORDS}/schema/staff"
    assert types["staff"]["recordsUrl"] == f"{sims.urls['aiwyn']}{RECORDS}?type=staff"
    schema = client.get(f"{RECORDS}/schema/staff").json()["data"]
    assert schema["entityType"] == "staff"
    fields = {f["name"]: f for f in schema["fields"]}
    assert fields["firstName"] == {"name": "firstName", "displayName": "First Name", "type": "string",
                                   "required": True, "nullable": False, "referencedEntityType": None, "rank": 0}
    assert fields["departmentId"]["type"] == "reference"
    assert fields["departmentId"]["referencedEntityType"] == "department"
    assert {f["type"] for f in schema["fields"]} == {"string", "reference", "decimal", "boolean", "datetime"}
    missing = client.get(f"{RECORDS}/schema/nope")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "UNKNOWN_TYPE"
    assert missing.json()["data"] is None and missing.json()["meta"]["success"] is False


def test_preloaded_client_records_are_paged(sims: SimulatorCluster) -> None:
    client = aiwyn(sims)
    clients = sims.firm.query("SELECT client_id, name FROM clients ORDER BY client_id")
    page0 = client.get(RECORDS, params={"type": "client", "pageSize": 2}).json()["data"]
    page2 = client.get(RECORDS, params={"type": "client", "pageSize": 2, "page": 2}).json()["data"]
    assert page0["total"] == page2["total"] == len(clients) == 5
    rows = page0["records"] + page2["records"]
    assert [r["systemRef"] for r in rows] == [{"system": "aiwyn", "id": str(clients[i][0])} for i in (0, 1, 4)]
    assert rows[0]["attributes"]["name"] == clients[0][1] and rows[0]["active"] is True
    assert set(rows[0]) == {"id", "type", "systemRef", "attributes", "active", "updatedAt"}
    assert rows[0]["updatedAt"].endswith("Z")
    for params in ({}, {"type": "client", "pageSize": 1001}, {"type": "client", "page": -1}):
        assert client.get(RECORDS, params=params).status_code == 400
    assert client.get(RECORDS, params={"type": "nope"}).status_code == 404


def test_bearer_token_required(sims: SimulatorCluster) -> None:
    response = httpx.get(sims.urls["aiwyn"] + f"{RECORDS}/types")
    assert response.status_code == 401 and response.json()["error"]["code"] == "UNAUTHORIZED"


def test_custom_type_create_conflict_add_field_deactivate(sims: SimulatorCluster, api: httpx.Client) -> None:
    again = api.post(f"{RECORDS}/custom", json=SUMMARY)
    assert again.status_code == 409 and again.json()["error"]["code"] == "TYPE_EXISTS"
    assert api.post(f"{RECORDS}/custom", json={**SUMMARY, "name": "client"}).status_code == 409
    for name in ("Bad_name", "ab", "has-dash", "9lives", "a" * 64):
        bad = api.post(f"{RECORDS}/custom", json={**SUMMARY, "name": name})
        assert bad.status_code == 400 and bad.json()["error"]["field"] == "name", name
    bad_field = api.post(f"{RECORDS}/custom", json={"name": "other", "fields": [{"name": "x", "type": "money"}]})
    assert bad_field.status_code == 400 and bad_field.json()["error"]["field"] == "fields[0].type"

    added = api.put(f"{RECORDS}/custom/arwip_ar_summary", json={"fields": [
        {"name": "dso", "type": "decimal"}, {"name": "openAmount", "type": "decimal", "displayName": "Open AR"}]})
    assert added.status_code == 200
    fields = added.json()["data"]["fields"]
    assert [f["name"] for f in fields] == ["clientId", "openAmount", "asOf", "dso"]
    assert fields[1]["displayName"] == "Open AR"
    assert [f["name"] for f in api.get(f"{RECORDS}/schema/arwip_ar_summary").json()["data"]["fields"]][-1] == "dso"
    listed = api.get(f"{RECORDS}/custom").json()["data"]
    assert [t["name"] for t in listed] == ["arwip_ar_summary"] and listed[0]["isCustom"] and listed[0]["active"]

    assert api.delete(f"{RECORDS}/custom/arwip_ar_summary").status_code == 204
    assert "arwip_ar_summary" not in {t["name"] for t in api.get(f"{RECORDS}/types").json()["data"]["entityTypes"]}
    assert api.get(f"{RECORDS}/schema/arwip_ar_summary").status_code == 404
    assert api.get(f"{RECORDS}/custom").json()["data"] == []
    inactive = api.get(f"{RECORDS}/custom", params={"includeInactive": "true"}).json()["data"]
    assert [(t["name"], t["active"]) for t in inactive] == [("arwip_ar_summary", False)]
    refused = send(api, "POST", [summary("a")]).json()["data"]["records"][0]
    assert refused["status"] == "FAILED" and refused["error"]["code"] == "UNKNOWN_TYPE"
    assert api.put(f"{RECORDS}/custom/arwip_ar_summary", json={"active": True}).json()["data"]["active"] is True
    assert send(api, "POST", [summary("a")]).json()["data"]["records"][0]["operation"] == "CREATED"
    assert api.get(f"{RECORDS}/custom/client").status_code == 404
    assert record_types_truth(sims.firm).column("name").to_pylist() == ["arwip_ar_summary"]


def test_upsert_creates_then_updates_by_system_ref(sims: SimulatorCluster, api: httpx.Client) -> None:
    first = send(api, "POST", [summary("c-1", 1, "1500.00"), summary("c-2", 2, 7)])
    assert first.status_code == 200
    data = first.json()["data"]
    assert data["summary"] == {"total": 2, "succeeded": 2, "failed": 0}
    assert [(r["index"], r["status"], r["operation"], r["error"]) for r in data["records"]] == [
        (0, "SUCCESS", "CREATED", None), (1, "SUCCESS", "CREATED", None)]
    assert data["records"][0]["systemRef"] == {"system": "arwip", "id": "c-1"}
    ids = [r["id"] for r in data["records"]]
    change = (b'{"records": [{"type": "arwip_ar_summary", "systemRef": {"system": "arwip", "id": "c-1"}, '
              b'"attributes": {"openAmount": 0.10}}, ' + orjson.dumps(summary("c-3", 3)) + b"]}")
    second = api.post(RECORDS, content=change, headers={"Content-Type": "application/json"}).json()["data"]["records"]
    assert [(r["operation"], r["id"]) for r in second[:1]] == [("UPDATED", ids[0])]
    assert second[1]["operation"] == "CREATED" and second[1]["id"] not in ids
    stored = truth(sims)
    assert sorted(stored) == ["c-1", "c-2", "c-3"]
    assert stored["c-1"]["attributes"] == {"clientId": 1, "openAmount": Decimal("0.10"), "asOf": "2025-06-01"}
    raw = {r["system_id"]: r["attributes"] for r in records_truth(sims.firm).to_pylist()}
    assert raw["c-1"] == '{"clientId":1,"openAmount":0.10,"asOf":"2025-06-01"}'  # exact decimal text kept
    assert raw["c-2"] == '{"clientId":2,"openAmount":7,"asOf":"2025-06-01"}'
    read = api.get(RECORDS, params={"type": "arwip_ar_summary"}).content
    assert b'"openAmount":0.10' in read


def test_failures_in_the_middle_of_a_batch(sims: SimulatorCluster, api: httpx.Client) -> None:
    batch = [
        summary("ok-0"),
        summary("bad-type", amount="12,50"),
        {"type": "arwip_ar_summary", "systemRef": {"system": "arwip", "id": "no-date"}, "attributes": {"clientId": 2}},
        summary("bad-1"),  # refused by the failure knob
        summary("unknown-field", extra="x"),
        {"type": "no_such_type", "systemRef": {"system": "arwip", "id": "x"}, "attributes": {}},
        {"type": "arwip_ar_summary", "systemRef": {"system": "arwip"}, "attributes": {}},
        summary("ok-7", client_id=7),
    ]
    data = send(api, "POST", batch).json()["data"]
    assert data["summary"] == {"total": 8, "succeeded": 2, "failed": 6}
    errors = [(r["status"], r["error"] and (r["error"]["code"], r["error"]["field"])) for r in data["records"]]
    assert errors == [
        ("SUCCESS", None),
        ("FAILED", ("VALIDATION_ERROR", "openAmount")),
        ("FAILED", ("VALIDATION_ERROR", "asOf")),
        ("FAILED", ("VALIDATION_ERROR", "openAmount")),
        ("FAILED", ("VALIDATION_ERROR", "extra")),
        ("FAILED", ("UNKNOWN_TYPE", "type")),
        ("FAILED", ("VALIDATION_ERROR", "systemRef")),
        ("SUCCESS", None),
    ]
    assert all(r["operation"] is None and r["id"] is None for r in data["records"] if r["status"] == "FAILED")
    assert sorted(truth(sims)) == ["ok-0", "ok-7"]


def test_failure_knob_changes_at_run_time(sims: SimulatorCluster, api: httpx.Client) -> None:
    admin = httpx.post(sims.urls["aiwyn"] + "/_sim/records/failures", json={"refs": ["k-2"]})
    assert admin.json()["data"] == {"failures": {"k-2": None}}
    results = send(api, "POST", [summary("bad-1"), summary("k-2")]).json()["data"]["records"]
    assert [r["status"] for r in results] == ["SUCCESS", "FAILED"]
    assert results[1]["error"]["field"] == "systemRef"
    assert httpx.post(sims.urls["aiwyn"] + "/_sim/records/failures", json={"refs": "k-2"}).status_code == 400


@pytest.mark.parametrize(("field_type", "good", "bad"), [
    ("string", ["x", ""], [1, True]),
    ("integer", [0, -5], [1.5, "1", True]),
    ("decimal", [1, 1.25, "-3.10", "1e2"], ["abc", "NaN", True, [1]]),
    ("boolean", [True, False], [0, "true"]),
    ("date", ["2025-02-28"], ["2025-02-30", "28-02-2025", "2025-02-28T00:00:00Z"]),
    ("datetime", ["2025-02-28T10:00:00Z", "2025-02-28T10:00:00+02:00"], ["2025-02-28T10:00:00", "2025-02-28", 5]),
    ("reference", [7, "7001"], ["", 1.5, False]),
])
def test_attribute_types(api: httpx.Client, field_type: str, good: list[Any], bad: list[Any]) -> None:
    fields = [{"name": "v", "type": field_type, "nullable": False,
               **({"referencedEntityType": "client"} if field_type == "reference" else {})}]
    assert api.post(f"{RECORDS}/custom", json={"name": f"t_{field_type}", "fields": fields}).status_code == 201
    records = [{"type": f"t_{field_type}", "systemRef": {"system": "s", "id": i}, "attributes": {"v": v}}
               for i, v in enumerate([*good, *bad, None])]
    results = send(api, "POST", records).json()["data"]["records"]
    assert [r["status"] for r in results] == ["SUCCESS"] * len(good) + ["FAILED"] * (len(bad) + 1)
    assert {r["error"]["field"] for r in results if r["error"]} == {"v"}


def test_more_than_100_records_is_400_and_applies_nothing(sims: SimulatorCluster, api: httpx.Client) -> None:
    response = send(api, "POST", [summary(f"n-{i}") for i in range(101)])
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "TOO_MANY_RECORDS" and response.json()["data"] is None
    assert truth(sims) == {}
    assert send(api, "POST", [summary(f"n-{i}") for i in range(100)]).json()["data"]["summary"]["succeeded"] == 100
    assert len(truth(sims)) == 100
    assert send(api, "DELETE", [{"type": "arwip_ar_summary", "systemRef": {"system": "arwip", "id": f"n-{i}"}}
                                for i in range(101)]).status_code == 400
    assert all(r["active"] for r in truth(sims).values())


def test_put_updates_only_existing_records(sims: SimulatorCluster, api: httpx.Client) -> None:
    send(api, "POST", [summary("p-1", amount="1.00")])
    change = {"type": "arwip_ar_summary", "systemRef": {"system": "arwip", "id": "p-1"}, "attributes": {"clientId": 9}}
    results = send(api, "PUT", [change, summary("p-unknown"), {**change, "systemRef": None}]).json()["data"]["records"]
    assert [(r["status"], r["operation"]) for r in results] == [("SUCCESS", "UPDATED"), ("FAILED", None),
                                                               ("FAILED", None)]
    assert results[1]["error"]["code"] == "RECORD_NOT_FOUND" and results[1]["error"]["field"] == "systemRef"
    assert results[2]["error"]["code"] == "VALIDATION_ERROR"
    assert truth(sims)["p-1"]["attributes"] == {"clientId": 9, "openAmount": Decimal("1.00"),
                                                "asOf": "2025-06-01"}
    assert "p-unknown" not in truth(sims)


def test_delete_inactivates_204_when_clean_else_per_record(sims: SimulatorCluster, api: httpx.Client) -> None:
    send(api, "POST", [summary("d-1"), summary("d-2"), summary("d-3")])
    ref = lambda key: {"type": "arwip_ar_summary", "systemRef": {"system": "arwip", "id": key}}  # noqa: E731
    clean = send(api, "DELETE", [ref("d-1"), ref("d-2")])
    assert clean.status_code == 204 and clean.content == b""
    assert {k: r["active"] for k, r in truth(sims).items()} == {"d-1": False, "d-2": False, "d-3": True}
    mixed = send(api, "DELETE", [ref("d-1"), ref("d-nope"), ref("d-3")])
    assert mixed.status_code == 200
    data = mixed.json()["data"]
    assert data["summary"] == {"total": 3, "succeeded": 2, "failed": 1}
    assert [(r["status"], r["operation"]) for r in data["records"]] == [
        ("SUCCESS", "DELETED"), ("FAILED", None), ("SUCCESS", "DELETED")]
    assert data["records"][1]["error"]["code"] == "RECORD_NOT_FOUND"
    assert not any(r["active"] for r in truth(sims).values())
    assert send(api, "PUT", [{**ref("d-1"), "attributes": {"clientId": 4}}]).json()["data"]["records"][0][
        "operation"] == "UPDATED"
    assert truth(sims)["d-1"]["active"] is False  # PUT leaves it inactive
    revived = send(api, "POST", [summary("d-1")]).json()["data"]["records"][0]
    assert revived["operation"] == "UPDATED" and truth(sims)["d-1"]["active"] is True  # POST reactivates
    listed = api.get(RECORDS, params={"type": "arwip_ar_summary"}).json()["data"]
    assert listed["total"] == 3 and [r["active"] for r in listed["records"]] == [True, False, False]


def test_requests_are_counted_per_route(sims: SimulatorCluster, api: httpx.Client) -> None:
    send(api, "POST", [summary("s-1")])
    send(api, "POST", [summary("s-1")])
    api.get(RECORDS, params={"type": "arwip_ar_summary"})
    by_path = sims.stats["aiwyn"]["by_path"]
    assert by_path["POST /api/v1/records"] == 2 and by_path["GET /api/v1/records"] == 1
    assert by_path["POST /api/v1/records/custom"] == 1 and "PUT /api/v1/records" not in by_path
