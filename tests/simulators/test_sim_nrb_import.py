"""Aimsio `POST /NRB` to CONTRACT.md "Aimsio NRB import": at most 100 items, notices naming the field, edits by
nrbExternalId and by nrbOriginReference, counts as seed 003, the 10/s limit."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import httpx
from sim_clients import AIMSIO, NOW, aimsio

from simulators import Firm, SimSettings, SimulatorCluster


def nrb(external_id: str, **changes: Any) -> dict[str, Any]:
    """A complete new NRB item (every field seed 003 marks required)."""
    return {"nrbExternalId": external_id, "nrbJobOrderNumber": "JOB20250514", "nrbName": f"NRB {external_id}",
            "nrbTypeName": "Other", "nrbAccountType": "Billable", "nrbIsBillable": True, "nrbVendorCode": "BIT",
            "nrbRate": "100.00", "nrbQuantity": 2, **changes}


def live(firm: Firm) -> list[dict[str, Any]]:
    truth = firm.truth()
    return truth.aimsio_nrbs.to_pylist() + truth.aimsio_nrb_children.to_pylist()


def by_external_id(firm: Firm) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for row in live(firm):
        out.setdefault(row["nrb_external_id"], []).append(row)
    return out


def post(client: httpx.Client, items: list[Any]) -> dict[str, Any]:
    response = client.post("/NRB", json={"nrbList": items})
    assert response.status_code == 200, response.text
    return response.json()


def counts(result: dict[str, Any]) -> tuple[int, int, int, int, int]:
    return (result["numberOfEntitiesCreated"], result["numberOfEntitiesEdited"],
            result["numberOfEntitiesEditedWithErrors"], result["numberOfEntitiesNotImportedDueToErrors"],
            result["numberOfEntitiesImported"])


def test_at_most_100_items_and_nothing_applied_beyond(fresh_cluster: SimulatorCluster, fresh_firm: Firm) -> None:
    client = aimsio(fresh_cluster)
    before = len(live(fresh_firm))
    refused = client.post("/NRB", json={"nrbList": [nrb(f"N-{i}") for i in range(101)]})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "TOO_MANY_ITEMS"
    assert len(live(fresh_firm)) == before
    result = post(client, [nrb(f"N-{i}") for i in range(100)])
    assert counts(result) == (100, 0, 0, 0, 100) and result["notices"] == []
    assert len(live(fresh_firm)) == before + 100
    assert counts(post(client, [])) == (0, 0, 0, 0, 0)


def test_rejected_items_give_a_notice_naming_the_field(fresh_cluster: SimulatorCluster, fresh_firm: Firm) -> None:
    client = aimsio(fresh_cluster)
    other = next(r for r in live(fresh_firm) if r["nrb_external_id"])
    seed_item = next(r for r in live(fresh_firm) if r["nrb_origin_reference"] == "AP-INV-123")
    without = lambda key: {k: v for k, v in nrb(f"X-{key}").items() if k != key}  # noqa: E731
    cases: list[tuple[Any, str | None]] = [
        (without("nrbExternalId"), "nrbExternalId"),
        (without("nrbName"), "nrbName"),
        (without("nrbTypeName"), "nrbTypeName"),
        (without("nrbAccountType"), "nrbAccountType"),
        (without("nrbIsBillable"), "nrbIsBillable"),
        (without("nrbVendorCode"), "nrbVendorCode"),
        (without("nrbRate"), "nrbRate"),
        (without("nrbQuantity"), "nrbQuantity"),
        (nrb("X-enum", nrbAccountType="Maybe"), "nrbAccountType"),
        (nrb("X-num", nrbRate="12,5"), "nrbRate"),
        (nrb("X-bool", nrbIsBillable="yes"), "nrbIsBillable"),
        (nrb("X-date", nrbInvoiceDate="2025-01-01"), "nrbInvoiceDate"),
        (nrb("X-doc", nrbDocumentType="RECEIPT"), "nrbDocumentType"),
        (nrb("X-vendor", nrbVendorCode="NOPE"), "nrbVendorCode"),
        (nrb("X-type", nrbTypeName=None, nrbTypeUname="no_such_type"), "nrbTypeUname"),
        (nrb("X-wbs", nrbWBSSharedIdentifier="JOB20250514-09.09"), "nrbWBSSharedIdentifier"),
        (nrb("X-po", nrbShouldReconcileWithPO=True), "nrbPONumber"),
        ({"nrbGuid": "no-such-guid", "nrbNotes": "x"}, "nrbGuid"),
        ({"nrbGuid": seed_item["nrb_guid"], "nrbExternalId": other["nrb_external_id"]}, "nrbExternalId"),
        ({"nrbExternalId": other["nrb_external_id"], "nrbQuantity": None}, "nrbQuantity"),
        ("not an object", None),
    ]
    good = [nrb("G-1"), nrb("G-2")]
    items = [good[0], *[item for item, _ in cases], good[1]]
    result = post(client, items)
    assert counts(result) == (2, 0, 0, len(cases), 2)
    assert [(n["index"], n["level"], n["field"]) for n in result["notices"]] == [
        (i + 1, "ERROR", field) for i, (_, field) in enumerate(cases)]
    assert all(n["message"] for n in result["notices"])
    index = by_external_id(fresh_firm)
    assert {"G-1", "G-2"} <= set(index) and not any(k and k.startswith("X-") for k in index)
    unchanged = next(r for r in live(fresh_firm) if r["nrb_guid"] == seed_item["nrb_guid"])
    assert unchanged["nrb_external_id"] is None and unchanged["nrb_updated_at"] == seed_item["nrb_updated_at"]


def test_edit_by_external_id_never_duplicates(fresh_cluster: SimulatorCluster, fresh_firm: Firm) -> None:
    client = aimsio(fresh_cluster)
    target = next(r for r in fresh_firm.truth().aimsio_nrbs.to_pylist() if r["nrb_external_id"])
    before = len(live(fresh_firm))
    change = {"nrbExternalId": target["nrb_external_id"], "nrbQuantity": "3", "nrbRate": "10.5", "nrbUpcharge": 0,
              "nrbVendorTax": 0, "nrbNotes": "edited by external id"}
    for _ in range(2):
        assert counts(post(client, [change])) == (0, 1, 0, 0, 1)
    rows = by_external_id(fresh_firm)[target["nrb_external_id"]]
    assert len(rows) == 1 and len(live(fresh_firm)) == before
    assert rows[0]["nrb_guid"] == target["nrb_guid"] and rows[0]["nrb_notes"] == "edited by external id"
    assert rows[0]["nrb_total_after_markup"] == Decimal("31.50") and rows[0]["nrb_updated_at"] == fresh_firm.now
    detail = client.get(f"/NonRecurringBillableItem/{target['nrb_guid']}").json()
    assert detail["nrbQuantity"] == "3.000" and detail["nrbTotalAfterMarkup"] == "31.50"


def test_edit_by_origin_reference_then_by_the_external_id_it_got(fresh_cluster: SimulatorCluster,
                                                                  fresh_firm: Firm) -> None:
    client = aimsio(fresh_cluster)
    seed_item = next(r for r in live(fresh_firm) if r["nrb_origin_reference"] == "AP-INV-123")
    assert seed_item["nrb_external_id"] is None
    result = post(client, [{"nrbOriginReference": "AP-INV-123", "nrbExternalId": "ARWIP-123", "nrbName": "Software"}])
    assert counts(result) == (0, 1, 0, 0, 1)
    assert counts(post(client, [{"nrbExternalId": "ARWIP-123", "nrbNotes": "second edit"}])) == (0, 1, 0, 0, 1)
    rows = [r for r in live(fresh_firm) if r["nrb_guid"] == seed_item["nrb_guid"]]
    assert [(r["nrb_external_id"], r["nrb_name"], r["nrb_notes"]) for r in rows] == [
        ("ARWIP-123", "Software", "second edit")]
    # an unknown external id with a known origin reference edits that NRB (CONTRACT.md: "else by nrbOriginReference")
    also = post(client, [{"nrbExternalId": "ARWIP-OTHER", "nrbOriginReference": "AP-INV-123", "nrbNotes": "third"}])
    assert counts(also) == (0, 1, 0, 0, 1)
    assert by_external_id(fresh_firm)["ARWIP-OTHER"][0]["nrb_guid"] == seed_item["nrb_guid"]


def test_same_external_id_twice_in_one_batch_creates_then_edits(fresh_cluster: SimulatorCluster,
                                                                 fresh_firm: Firm) -> None:
    client = aimsio(fresh_cluster)
    result = post(client, [nrb("TWICE"), nrb("TWICE", nrbQuantity=5)])
    assert counts(result) == (1, 1, 0, 0, 2)
    rows = by_external_id(fresh_firm)["TWICE"]
    assert len(rows) == 1 and rows[0]["nrb_quantity"] == Decimal("5.000")
    assert rows[0]["nrb_total_after_markup"] == Decimal("500.00")


async def _posts(url: str, n: int) -> list[httpx.Response]:
    async with httpx.AsyncClient(auth=("sim-user", "sim-pass"), timeout=30,
                                 limits=httpx.Limits(max_connections=n)) as client:
        return await asyncio.gather(*(client.post(url + AIMSIO + "/NRB", json={"nrbList": []}) for _ in range(n)))


def test_posts_count_toward_the_rate_limit() -> None:
    with SimulatorCluster(Firm(seed=4, size="tiny", now=NOW), SimSettings(aimsio_max_queue_wait_s=0.5)) as c:
        codes = [r.status_code for r in asyncio.run(_posts(c.urls["aimsio"], 30))]
        stats = c.stats["aimsio"]
    assert set(codes) == {200, 429} and codes.count(200) >= 10
    assert stats["admitted_peak_per_s"] <= 10 and stats["by_path"]["POST /rest/api/standard/v1/NRB"] == 30
