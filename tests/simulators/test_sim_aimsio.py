"""Aimsio over HTTP: Basic auth, stub lists, NRB and job details (seed 003), POST /NRB upserts."""

from __future__ import annotations

import httpx
import pytest
from sim_clients import AIMSIO, aimsio

from simulators import Firm, SimSettings, SimulatorCluster

SEED_003_POST = {
    "nrbOriginReference": "AP-INV-123", "nrbJobOrderNumber": "JOB20250514",
    "nrbWBSSharedIdentifier": "JOB20250514-01.01",
    "nrbTypeName": "Other", "nrbAccountType": "Billable", "nrbIsBillable": True, "nrbVendorCode": "BIT",
    "nrbInvoiceNumber": "AP-INV-123", "nrbInvoiceDate": 1743528967000, "nrbPONumber": "PO-13624",
    "nrbIsExported": False, "isInternal": False, "nrbQuantity": 1, "nrbRate": 750, "nrbUpcharge": 10,
    "nrbVendorTax": "37.5", "nrbMarkupAppliesOn": "SUB_TOTAL", "nrbNotes": "Purchased field software",
}
SEED_003_KEYS = {
    "nrbFileName", "nrbExternalId", "nrbAccountType", "nrbCreatedByFullName", "nrbIsBillable", "nrbQuantity",
    "nrbTypeUname", "nrbOriginReference", "nrbLineItems", "nrbBilledInName", "nrbMarkupAppliesOn", "nrbVendorGuid",
    "nrbWBSGuid", "nrbInvoiceDate", "nrbName", "nrbCreatedByUserName", "nrbVendorTax", "nrbPurchaseOrderGuid",
    "nrbPurchaseOrderCostItemOriginReference", "nrbPONumber", "nrbGuid", "nrbUpcharge", "nrbTotalAfterMarkup",
    "nrbNotes", "nrbRate", "nrbTypeName", "nrbCreatedAt", "nrbUpdatedAt", "nrbInvoiceNumber", "nrbIsExported",
    "nrbBilledInGuid", "isInternal", "nrbVendorCode",
}


@pytest.mark.parametrize("auth", [None, ("sim-user", "wrong"), ("someone", "sim-pass")])
def test_basic_auth_on_every_call(cluster: SimulatorCluster, auth: tuple[str, str] | None) -> None:
    for path in ("/NonRecurringBillableItem", "/JobOrder", "/NonRecurringBillableItem/x"):
        r = httpx.get(cluster.urls["aimsio"] + AIMSIO + path, auth=auth)
        assert r.status_code == 401 and r.json()["error"]["code"] == "UNAUTHORIZED"


def test_stub_list_is_wrapped_and_complete(cluster: SimulatorCluster, firm: Firm) -> None:
    body = aimsio(cluster).get("/NonRecurringBillableItem").json()
    stubs = body["value"]
    truth = firm.truth().aimsio_nrbs
    assert [s["guid"] for s in stubs] == truth.column("nrb_guid").to_pylist()  # children are not listed
    assert {s["dtype"] for s in stubs} == {"NonRecurringBillableItem"}
    expected = [int(ts.timestamp() * 1000) for ts in truth.column("nrb_updated_at").to_pylist()]
    assert [s["updatedAt"] for s in stubs] == expected


def test_bare_array_setting() -> None:
    with SimulatorCluster(Firm(seed=3, size="tiny"), SimSettings(aimsio_bare_array=True)) as c:
        body = aimsio(c).get("/JobOrder").json()
    assert isinstance(body, list) and {"dtype", "guid", "updatedAt"} == set(body[0])


def test_nrb_detail_is_seed_003(cluster: SimulatorCluster, firm: Firm) -> None:
    client = aimsio(cluster)
    first = client.get("/NonRecurringBillableItem").json()["value"][0]["guid"]
    nrb = client.get(f"/NonRecurringBillableItem/{first}").json()
    assert SEED_003_KEYS <= set(nrb)
    assert list(nrb)[:4] == ["nrbFileName", "nrbExternalId", "nrbAccountType", "nrbCreatedByFullName"]
    numbers = ("nrbQuantity", "nrbRate", "nrbVendorTax", "nrbUpcharge", "nrbTotalAfterMarkup")
    assert [nrb[k] for k in numbers] == ["1.000", "750.000", "37.500", "10.000", "862.50"]
    assert nrb["nrbMarkupAppliesOn"] == "SUB_TOTAL" and nrb["nrbLineItems"] == [] and nrb["nrbChildren"] == []
    assert isinstance(nrb["nrbCreatedAt"], int) and isinstance(nrb["nrbInvoiceDate"], int)
    jobs = {j["job_number"] for j in firm.truth().aimsio_job_orders.to_pylist()}
    assert nrb["nrbJobOrderNumber"] in jobs


def test_children_nest_under_their_ap_invoice(cluster: SimulatorCluster, firm: Firm) -> None:
    kids = firm.truth().aimsio_nrb_children.to_pylist()
    parent = kids[0]["nrb_parent_guid"]
    nrb = aimsio(cluster).get(f"/NonRecurringBillableItem/{parent}").json()
    assert nrb["nrbDocumentType"] == "RECEIPT_AP_INVOICE"
    assert {c["nrbGuid"] for c in nrb["nrbChildren"]} == {k["nrb_guid"] for k in kids if k["nrb_parent_guid"] == parent}
    assert all(c["nrbParentGuid"] == parent and c["nrbChildren"] == [] for c in nrb["nrbChildren"])
    total = sum(float(c["nrbTotalAfterMarkup"]) for c in nrb["nrbChildren"])
    assert round(total, 2) == float(nrb["nrbTotalAfterMarkup"])
    r = aimsio(cluster).get("/NonRecurringBillableItem/00000000-0000-4000-8000-000000000000")
    assert r.status_code == 404


def test_job_orders(cluster: SimulatorCluster, firm: Firm) -> None:
    client = aimsio(cluster)
    stubs = client.get("/JobOrder").json()["value"]
    assert len(stubs) == firm.size.job_orders and stubs[0]["dtype"] == "JobOrder"
    job = client.get(f"/JobOrder/{stubs[0]['guid']}").json()
    for key in ("jobId", "jobGuid", "jobNumber", "jobName", "jobStatus", "jobClientCode", "jobClientName",
                "jobStartDate", "jobCreatedAt", "jobUpdatedAt", "jobWBSSchedule"):
        assert key in job
    assert job["jobClientName"] in {r[0] for r in firm.query("SELECT name FROM clients")}
    assert job["jobUpdatedAt"] == stubs[0]["updatedAt"]
    assert client.get("/JobOrder/nope").status_code == 404


def test_post_nrb_upserts(fresh_cluster: SimulatorCluster, fresh_firm: Firm) -> None:
    client = aimsio(fresh_cluster)
    new = {"nrbExternalId": "EXT-NEW-1", "nrbJobOrderNumber": "JOB20250514", "nrbTypeUname": "freight_nrb_type",
           "nrbVendorCode": "HAUL", "nrbRate": "10.005", "nrbQuantity": 3, "nrbUpcharge": 12.5, "nrbVendorTax": 1.1,
           "nrbMarkupAppliesOn": "SUB_TOTAL_AND_VENDOR_TAX", "nrbIsBillable": False, "nrbName": "Hot shot",
           "nrbAccountType": "Not Billable"}
    bad = {"nrbExternalId": "EXT-BAD", "nrbJobOrderNumber": "NO-SUCH-JOB", "nrbTypeName": "Other", "nrbName": "x",
           "nrbAccountType": "Billable", "nrbIsBillable": True, "nrbVendorCode": "BIT", "nrbRate": 1, "nrbQuantity": 1}
    result = client.post("/NRB", json={"nrbList": [SEED_003_POST, new, bad]}).json()
    assert result["dtype"] == "IntegrationImportResult"
    assert (result["numberOfEntitiesCreated"], result["numberOfEntitiesEdited"],
            result["numberOfEntitiesNotImportedDueToErrors"], result["numberOfEntitiesImported"]) == (1, 1, 1, 2)
    assert result["notices"] == [{"index": 2, "level": "ERROR", "field": "nrbJobOrderNumber",
                                  "message": "nrbJobOrderNumber must be an existing job number: 'NO-SUCH-JOB'"}]
    stubs = {s["guid"]: s for s in client.get("/NonRecurringBillableItem").json()["value"]}
    created = fresh_firm.query("SELECT nrb_guid FROM aimsio_nrbs WHERE nrb_external_id = 'EXT-NEW-1'")[0][0]
    nrb = client.get(f"/NonRecurringBillableItem/{created}").json()
    assert created in stubs and nrb["nrbTotalAfterMarkup"] == "35.00"  # (30.015 + 1.1) × 1.125 → 35.00
    assert nrb["nrbAccountType"] == "Not Billable" and nrb["nrbCreatedByUserName"] == "sim-user"
    assert client.post("/NRB", json={"nope": []}).status_code == 400


def test_optional_job_orders_switch_off_forbidden_and_on(fresh_cluster: SimulatorCluster) -> None:
    """CONTRACT.md "Optional endpoints": JobOrder answers 404 when off, 403 when forbidden; NRBs still answer."""
    client = aimsio(fresh_cluster)
    guid = client.get("/JobOrder").json()["value"][0]["guid"]
    fresh_cluster.set_endpoint("aimsio.job_orders", "off")
    for path in ("/JobOrder", f"/JobOrder/{guid}"):
        r = client.get(path)
        assert r.status_code == 404 and r.json()["error"]["code"] == "NOT_FOUND"
    assert client.get("/NonRecurringBillableItem").status_code == 200
    admin = fresh_cluster.urls["aimsio"] + "/_sim/endpoints"
    r = httpx.post(admin, json={"entity": "job_orders", "state": "forbidden"})
    assert r.json() == {"job_orders": "forbidden"}
    r = client.get("/JobOrder")
    assert r.status_code == 403 and r.json()["error"]["code"] == "FORBIDDEN"
    fresh_cluster.set_endpoint("aimsio.job_orders", "on")
    assert client.get("/JobOrder").json()["value"][0]["guid"] == guid
    with pytest.raises(ValueError, match="not an optional endpoint"):
        fresh_cluster.set_endpoint("aimsio.nrbs", "off")
    r = httpx.post(admin, json={"entity": "job_orders", "state": "gone"})
    assert r.status_code == 400


def test_optional_endpoint_off_from_settings(fresh_firm: Firm) -> None:
    with SimulatorCluster(fresh_firm, SimSettings(endpoints_forbidden=frozenset({"aimsio.job_orders"}))) as running:
        assert aimsio(running).get("/JobOrder").status_code == 403
