"""The vendor write clients (``sources/aiwyn/records.py``, ``sources/aimsio/nrb_import.py``,
``sources/iinsight/transfer.py``) against the simulators over loopback HTTP, checked against their ground truth."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any, TypeVar

import pytest

from simulators import SimSettings, SimulatorCluster, records_truth, transfers_truth
from simulators._records import DECODE
from sources._http import ApiClient, HttpSettings, SourceError
from sources.aimsio.client import aimsio_client
from sources.aimsio.nrb_import import import_nrbs
from sources.aiwyn import records as rec
from sources.aiwyn.client import aiwyn_client
from sources.iinsight.client import iinsight_client
from sources.iinsight.transfer import billed_to, confirm_transfer, transfer_invoices

T = TypeVar("T")
HTTP = HttpSettings(backoff_max_s=0.2)
SUMMARY = "arwip_ar_summary"
FIELDS = (rec.FieldSchema("clientId", "integer", required=True, nullable=False),
          rec.FieldSchema("openAmount", "decimal"), rec.FieldSchema("asOf", "date", required=True))


def run(sims: SimulatorCluster, vendor: str, call: Callable[[ApiClient], Awaitable[T]]) -> T:
    """``call(client)`` with a fresh client of ``vendor``, closed afterwards."""
    s, url = sims.settings, sims.urls[vendor]
    make = {"aiwyn": lambda: aiwyn_client(url, s.jwt_api_key, HTTP),
            "aimsio": lambda: aimsio_client(url, s.aimsio_username, s.aimsio_password,
                                            HttpSettings(rate_per_s=10, max_in_flight=10, backoff_max_s=0.2)),
            "iinsight": lambda: iinsight_client(url, s.iinsight_client_id, s.iinsight_client_secret,
                                                s.iinsight_username, s.iinsight_password, HTTP)}[vendor]

    async def go() -> T:
        client = make()
        try:
            return await call(client)
        finally:
            await client.aclose()

    return asyncio.run(go())


def write(key: str, amount: Any = Decimal("10.00"), **attributes: Any) -> rec.RecordWrite:
    return rec.RecordWrite(SUMMARY, rec.SystemRef("arwip", key),
                           {"clientId": 1, "openAmount": amount, "asOf": "2026-06-30", **attributes})


def ref(key: str) -> rec.RecordRef:
    return rec.RecordRef(SUMMARY, rec.SystemRef("arwip", key))


def stored(sims: SimulatorCluster) -> dict[str, dict[str, Any]]:
    return {r["system_id"]: {**r, "attributes": DECODE.decode(r["attributes"])}
            for r in records_truth(sims.firm).to_pylist() if r["type"] == SUMMARY}


def test_record_types_and_schemas_are_typed(simulators: Callable[..., SimulatorCluster]) -> None:
    sims = simulators()
    types = run(sims, "aiwyn", rec.record_types)
    assert {"client", "staff"} <= {t.name for t in types} and not any(t.is_custom for t in types)
    schema = run(sims, "aiwyn", lambda c: rec.record_schema(c, "staff"))
    assert schema.entity_type == "staff"
    assert schema.field("firstName") == rec.FieldSchema("firstName", "string", True, False, "First Name", None,
                                                        None, 0)
    assert schema.field("departmentId").referenced_entity_type == "department"
    with pytest.raises(rec.UnknownRecordType):
        run(sims, "aiwyn", lambda c: rec.record_schema(c, "nope"))


def test_custom_type_lifecycle(simulators: Callable[..., SimulatorCluster]) -> None:
    sims = simulators()
    created = run(sims, "aiwyn", lambda c: rec.create_custom_type(c, SUMMARY, FIELDS, "AR summary"))
    assert (created.name, created.display_name, created.active) == (SUMMARY, "AR summary", True)
    assert [f.name for f in created.fields] == ["clientId", "openAmount", "asOf"]
    with pytest.raises(rec.RecordTypeExists):
        run(sims, "aiwyn", lambda c: rec.create_custom_type(c, SUMMARY, FIELDS))
    with pytest.raises(SourceError) as bad:
        run(sims, "aiwyn", lambda c: rec.create_custom_type(c, "Bad-Name", FIELDS))
    assert bad.value.status == 400
    grown = run(sims, "aiwyn", lambda c: rec.update_custom_type(c, SUMMARY, fields=[rec.FieldSchema("dso",
                                                                                                    "decimal")]))
    assert [f.name for f in grown.fields] == ["clientId", "openAmount", "asOf", "dso"]
    run(sims, "aiwyn", lambda c: rec.deactivate_custom_type(c, SUMMARY))
    assert run(sims, "aiwyn", lambda c: rec.custom_type(c, SUMMARY)).active is False
    assert run(sims, "aiwyn", rec.custom_types) == []
    assert [t.name for t in run(sims, "aiwyn", lambda c: rec.custom_types(c, include_inactive=True))] == [SUMMARY]
    assert run(sims, "aiwyn", lambda c: rec.custom_type(c, "nope")) is None
    for missing in (lambda c: rec.deactivate_custom_type(c, "nope"), lambda c: rec.update_custom_type(c, "nope")):
        with pytest.raises(rec.UnknownRecordType):
            run(sims, "aiwyn", missing)


def test_upsert_update_delete_give_one_result_per_record(simulators: Callable[..., SimulatorCluster]) -> None:
    sims = simulators(settings=SimSettings(aiwyn_record_failures=frozenset({"r-3:openAmount"})))
    run(sims, "aiwyn", lambda c: rec.create_custom_type(c, SUMMARY, FIELDS))
    batch = [write("r-1", Decimal("1500.10")), write("r-2", "not money"), write("r-3"), write("r-4", Decimal("0.10"))]
    first = run(sims, "aiwyn", lambda c: rec.upsert_records(c, batch))
    assert (first.total, first.succeeded, first.failed) == (4, 2, 2)
    assert [(r.index, r.ok, r.operation) for r in first.results] == [
        (0, True, "CREATED"), (1, False, None), (2, False, None), (3, True, "CREATED")]
    assert [(f.index, f.error.code, f.error.field) for f in first.failures] == [
        (1, "VALIDATION_ERROR", "openAmount"), (2, "VALIDATION_ERROR", "openAmount")]
    assert first.results[0].system_ref == rec.SystemRef("arwip", "r-1") and first.results[0].id is not None
    raw = {r["system_id"]: r["attributes"] for r in records_truth(sims.firm).to_pylist()}
    assert raw["r-1"] == '{"clientId":1,"openAmount":1500.10,"asOf":"2026-06-30"}'  # sent and kept exact

    again = run(sims, "aiwyn", lambda c: rec.upsert_records(c, [write("r-1", Decimal("1.00"))]))
    assert again.results[0].operation == "UPDATED" and again.results[0].id == first.results[0].id
    updated = run(sims, "aiwyn", lambda c: rec.update_records(c, [write("r-4", clientId=4), write("r-9")]))
    assert [(r.ok, r.operation, r.error and r.error.code) for r in updated.results] == [
        (True, "UPDATED", None), (False, None, "RECORD_NOT_FOUND")]
    assert stored(sims)["r-4"]["attributes"]["clientId"] == 4

    clean = run(sims, "aiwyn", lambda c: rec.delete_records(c, [ref("r-1")]))
    assert [(r.ok, r.operation, r.system_ref) for r in clean.results] == [(True, "DELETED",
                                                                          rec.SystemRef("arwip", "r-1"))]
    mixed = run(sims, "aiwyn", lambda c: rec.delete_records(c, [ref("r-4"), ref("r-9")]))
    assert [(r.ok, r.error and r.error.code) for r in mixed.results] == [(True, None), (False, "RECORD_NOT_FOUND")]
    assert {k: v["active"] for k, v in stored(sims).items()} == {"r-1": False, "r-4": False}

    async def read_all(client: ApiClient) -> list[list[rec.Record]]:
        return [page async for page in rec.iter_records(client, SUMMARY, page_size=1)]

    pages = run(sims, "aiwyn", read_all)
    assert [[r.system_ref.id for r in page] for page in pages] == [["r-1"], ["r-4"]]
    assert pages[0][0].attributes == {"clientId": 1, "openAmount": "1.00", "asOf": "2026-06-30"}
    assert pages[0][0].active is False and pages[0][0].updated_at is not None


def test_a_batch_over_100_is_refused_before_anything_is_sent(simulators: Callable[..., SimulatorCluster]) -> None:
    sims = simulators()
    with pytest.raises(ValueError, match="at most 100"):
        run(sims, "aiwyn", lambda c: rec.upsert_records(c, [write(f"k-{i}") for i in range(101)]))
    with pytest.raises(ValueError, match="at most 100"):
        run(sims, "aimsio", lambda c: import_nrbs(c, [{"nrbExternalId": str(i)} for i in range(101)]))
    assert "POST /api/v1/records" not in sims.stats["aiwyn"]["by_path"]
    assert sims.stats["aimsio"]["requests"] == 0
    assert run(sims, "aiwyn", lambda c: rec.upsert_records(c, [])).total == 0


def nrb(external_id: str, **changes: Any) -> dict[str, Any]:
    return {"nrbExternalId": external_id, "nrbJobOrderNumber": "JOB20250514", "nrbName": external_id,
            "nrbTypeName": "Other", "nrbAccountType": "Billable", "nrbIsBillable": True, "nrbVendorCode": "BIT",
            "nrbRate": Decimal("10.125"), "nrbQuantity": Decimal("2"), **changes}


def test_nrb_import_maps_each_notice_to_its_item(simulators: Callable[..., SimulatorCluster]) -> None:
    sims = simulators()
    existing = next(r for r in sims.firm.truth().aimsio_nrbs.to_pylist() if r["nrb_external_id"])
    items = [nrb("ARWIP-1"), nrb("ARWIP-2", nrbName=None), {"nrbExternalId": existing["nrb_external_id"],
                                                           "nrbNotes": "from arwip"}, nrb("ARWIP-3")]
    result = run(sims, "aimsio", lambda c: import_nrbs(c, [{k: v for k, v in i.items() if v is not None}
                                                           for i in items]))
    assert (result.created, result.edited, result.not_imported, result.imported) == (2, 1, 1, 3)
    assert [i.imported for i in result.items] == [True, False, True, True] and result.unmapped == ()
    assert [(f.index, f.error.field) for f in result.failures] == [(1, "nrbName")]
    rows = {r["nrb_external_id"]: r for r in sims.firm.truth().aimsio_nrbs.to_pylist()}
    assert rows["ARWIP-1"]["nrb_rate"] == Decimal("10.125") and rows["ARWIP-1"]["nrb_total_after_markup"] == Decimal(
        "20.25")
    assert "ARWIP-2" not in rows and rows[existing["nrb_external_id"]]["nrb_notes"] == "from arwip"
    resent = run(sims, "aimsio", lambda c: import_nrbs(c, [nrb("ARWIP-1"), nrb("ARWIP-3")]))
    assert (resent.created, resent.edited) == (0, 2)  # a resend edits: no duplicate NRB
    ids = [r["nrb_external_id"] for r in sims.firm.truth().aimsio_nrbs.to_pylist()]
    assert ids.count("ARWIP-1") == ids.count("ARWIP-3") == 1


def test_transfer_reports_unknown_ids_and_billed_to_confirms(simulators: Callable[..., SimulatorCluster]) -> None:
    sims = simulators()
    rows = sims.firm.truth().iinsight_invoices.to_pylist()
    first, second = rows[0]["invoice_id"], rows[1]["invoice_id"]
    employer = next(r["company_id"] for r in rows if r["company_id"] not in (rows[0]["company_id"],
                                                                              rows[1]["company_id"]))
    result = run(sims, "iinsight", lambda c: transfer_invoices(c, employer, [first, "999999", second, first]))
    assert result.requested == (str(first), "999999", str(second))
    assert (result.transferred, result.unknown, result.updated_count) == ((str(first), str(second)), ("999999",), 2)
    assert run(sims, "iinsight", lambda c: confirm_transfer(c, result)) == ((str(first), str(second)), ())
    moved = {r["invoice_id"]: r["company_id"] for r in sims.firm.truth().iinsight_invoices.to_pylist()}
    assert moved[first] == moved[second] == employer
    assert sorted(transfers_truth(sims.firm).column("invoice_id").to_pylist()) == sorted([first, second])

    async def pages(client: ApiClient) -> list[list[dict[str, Any]]]:
        return [page async for page in billed_to(client, employer, ("invoice_id", "invoice"), page_size=2)]

    paged = run(sims, "iinsight", pages)
    listed = [r for page in paged for r in page]
    assert all(len(p) <= 2 for p in paged) and set(listed[0]) == {"invoice_id", "invoice"}
    assert sorted(int(r["invoice_id"]) for r in listed) == sorted(i for i, c in moved.items() if c == employer)
    with pytest.raises(SourceError) as refused:
        run(sims, "iinsight", lambda c: transfer_invoices(c, 999, [first]))
    assert refused.value.status == 400
    with pytest.raises(ValueError):
        run(sims, "iinsight", lambda c: transfer_invoices(c, employer, ["1, 2"]))
    assert run(sims, "iinsight", lambda c: transfer_invoices(c, employer, [])).requested == ()
