"""``arwip push aiwyn-records`` against the Aiwyn simulator over loopback HTTP, checked against its ground truth
(``records_truth``), its request counters and the ledger in a real DuckDB file."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from pipelines.push import push
from simulators import SimSettings, SimulatorCluster, record_types_truth
from sources._push import PushUsageError
from tests.push.helpers import (
    RECORD_TYPE,
    create_record_type,
    ledger,
    newest,
    record_rows_sql,
    stored_records,
    write_sql,
    writes,
)

Sims = Callable[..., SimulatorCluster]


def records_push(db: Path, sql: Path, apply: bool = True, type_name: str = RECORD_TYPE, **flags: bool):
    return push("aiwyn-records", {"type": type_name, "sql": sql, "key": "key"}, db, apply=apply, **flags)


def test_dry_run_sends_nothing_and_writes_nothing(simulators: Sims, warehouse: Path, tmp_path: Path) -> None:
    sims = simulators()
    create_record_type(sims)
    before = writes(sims)
    result = records_push(warehouse, write_sql(tmp_path / "q.sql", record_rows_sql(5)), apply=False)
    assert (result.plan.counts["create"], result.plan.sends, result.push_id) == (5, 5, None)
    assert writes(sims) == before  # the request log: no record, type or any other write
    assert sims.stats["aiwyn"]["by_path"]["GET /api/v1/records/schema/{type}"] == 1  # the schema was read
    assert not warehouse.exists()  # a dry run writes no ledger


def test_a_batch_with_failures_in_the_middle(simulators: Sims, warehouse: Path, tmp_path: Path) -> None:
    sims = simulators(settings=SimSettings(aiwyn_record_failures=frozenset({"k-0002:amount", "k-0003"})))
    create_record_type(sims)
    result = records_push(warehouse, write_sql(tmp_path / "q.sql", record_rows_sql(6)))
    assert (result.sent.counts["applied"], result.sent.counts["failed"], result.sent.batches) == (4, 2, 1)
    assert result.sent.failures == [("k-0002", "VALIDATION_ERROR", "amount", "record k-0002 refused (simulated "
                                     "failure)"), ("k-0003", "VALIDATION_ERROR", "systemRef",
                                                   "record k-0003 refused (simulated failure)")]
    assert not result.clean
    stored = {r["system_id"]: r for r in stored_records(sims)}
    assert sorted(stored) == ["k-0000", "k-0001", "k-0004", "k-0005"]  # the rest of the batch stays applied
    assert stored["k-0005"]["attributes"] == {"label": "row 5", "amount": Decimal("5.10"), "count": 5,
                                              "due": "2026-06-30"}
    assert stored["k-0005"]["system"] == "arwip"
    last = newest(warehouse)
    assert {k: (e["status"], e["operation"], e["error_code"]) for k, e in last.items()} == {
        "k-0000": ("applied", "create", None), "k-0001": ("applied", "create", None),
        "k-0002": ("failed", "create", "VALIDATION_ERROR"), "k-0003": ("failed", "create", "VALIDATION_ERROR"),
        "k-0004": ("applied", "create", None), "k-0005": ("applied", "create", None)}
    assert last["k-0002"]["error_field"] == "amount" and last["k-0002"]["attempt"] == 1
    entries = ledger(warehouse)  # intent before the request, outcome after: two entries a row
    assert [e["status"] for e in entries if e["key"] == "k-0000"] == ["pending", "applied"]
    assert len({e["push_id"] for e in entries}) == 1 and all(len(e["payload_sha256"]) == 64 for e in entries)


def test_the_101st_record_starts_a_new_batch(simulators: Sims, warehouse: Path, tmp_path: Path) -> None:
    sims = simulators()
    create_record_type(sims)
    result = records_push(warehouse, write_sql(tmp_path / "q.sql", record_rows_sql(101)))
    assert (result.sent.batches, result.sent.counts["applied"]) == (2, 101)
    assert writes(sims)["POST /api/v1/records"] == 2  # 100 + 1: the API refuses more than 100 a request
    assert len(stored_records(sims)) == 101
    assert sum(e["status"] == "pending" for e in ledger(warehouse)) == 101


def test_an_unchanged_rerun_sends_nothing(simulators: Sims, warehouse: Path, tmp_path: Path) -> None:
    sims = simulators()
    create_record_type(sims)
    sql = write_sql(tmp_path / "q.sql", record_rows_sql(3))
    records_push(warehouse, sql)
    sent = writes(sims)
    again = records_push(warehouse, sql)
    assert (again.plan.counts["unchanged"], again.plan.sends, again.sent.batches) == (3, 0, 0)
    assert writes(sims) == sent
    assert {e["status"] for e in newest(warehouse).values()} == {"unchanged"}
    # one row changes: only it is sent, as an update
    write_sql(sql, record_rows_sql(3).replace("'row '", "case when i = 1 then 'changed ' else 'row ' end"))
    changed = records_push(warehouse, sql)
    assert (changed.plan.counts["update"], changed.plan.counts["unchanged"], changed.sent.counts["applied"]) == (
        1, 2, 1)
    assert {r["system_id"]: r["attributes"]["label"] for r in stored_records(sims)}["k-0001"] == "changed 1"
    assert newest(warehouse)["k-0001"]["operation"] == "update"


def test_delete_missing_never_touches_records_arwip_did_not_create(simulators: Sims, warehouse: Path,
                                                                   tmp_path: Path) -> None:
    sims = simulators()
    create_record_type(sims)
    base = sims.urls["aiwyn"]
    token = httpx.post(f"{base}/v1/auth/token", json={"jwtApiKey": sims.settings.jwt_api_key}).json()["accessToken"]
    others = [{"type": RECORD_TYPE, "systemRef": {"system": "crm", "id": "k-0001"}, "attributes": {"label": "crm"}},
              {"type": RECORD_TYPE, "systemRef": {"system": "arwip", "id": "k-0009"}, "attributes": {"label": "x"}}]
    assert httpx.post(f"{base}/api/v1/records", json={"records": others},
                      headers={"Authorization": f"Bearer {token}"}).status_code == 200
    sql = write_sql(tmp_path / "q.sql", record_rows_sql(3))
    records_push(warehouse, sql)
    client_records = [r for r in stored_records(sims, "client") if r["active"]]
    write_sql(sql, record_rows_sql(1))  # k-0001 and k-0002 leave the query
    dry = records_push(warehouse, sql, apply=False, delete_missing=True)
    assert dry.plan.deletes == ["k-0001", "k-0002"]
    result = records_push(warehouse, sql, delete_missing=True)
    assert (result.sent.counts["applied"], result.sent.failures) == (2, [])
    active = {(r["system"], r["system_id"]): r["active"] for r in stored_records(sims)}
    assert active == {("crm", "k-0001"): True, ("arwip", "k-0009"): True,  # not arwip's pushes: untouched
                      ("arwip", "k-0000"): True, ("arwip", "k-0001"): False, ("arwip", "k-0002"): False}
    assert [r for r in stored_records(sims, "client") if r["active"]] == client_records
    assert writes(sims)["DELETE /api/v1/records"] == 1
    assert {k: (e["operation"], e["status"]) for k, e in newest(warehouse).items()} == {
        "k-0000": ("none", "unchanged"), "k-0001": ("delete", "applied"), "k-0002": ("delete", "applied")}
    assert records_push(warehouse, sql, delete_missing=True).plan.deletes == []  # deleted once
    write_sql(sql, record_rows_sql(2))  # k-0001 comes back: created (reactivated) again
    back = records_push(warehouse, sql, delete_missing=True)
    assert back.plan.counts["create"] == 1 and {r["system_id"]: r["active"] for r in stored_records(sims)
                                                if r["system"] == "arwip"}["k-0001"] is True


def test_retry_failed_resends_only_the_rows_that_failed(simulators: Sims, warehouse: Path, tmp_path: Path) -> None:
    sims = simulators(settings=SimSettings(aiwyn_record_failures=frozenset({"k-0001", "k-0003"})))
    create_record_type(sims)
    sql = write_sql(tmp_path / "q.sql", record_rows_sql(5))
    first = records_push(warehouse, sql)
    assert first.sent.counts["failed"] == 2
    httpx.post(f"{sims.urls['aiwyn']}/_sim/records/failures", json={"refs": []}).raise_for_status()
    write_sql(sql, record_rows_sql(5, label="new"))  # every row changed: a plain push would send all five
    posts = writes(sims)["POST /api/v1/records"]
    retry = records_push(warehouse, sql, retry_failed=True)
    assert (retry.plan.counts["create"], retry.plan.counts["skipped"], retry.sent.counts["applied"]) == (2, 3, 2)
    assert writes(sims)["POST /api/v1/records"] == posts + 1
    last = newest(warehouse)
    assert (last["k-0001"]["status"], last["k-0001"]["attempt"]) == ("applied", 2)
    labels = {r["system_id"]: r["attributes"]["label"] for r in stored_records(sims)}
    assert labels == {"k-0000": "row 0", "k-0001": "new 1", "k-0002": "row 2", "k-0003": "new 3", "k-0004": "row 4"}
    assert records_push(warehouse, sql, retry_failed=True).plan.sends == 0  # nothing failed any more


def test_rows_are_checked_against_the_schema_and_invalid_ones_never_sent(simulators: Sims, warehouse: Path,
                                                                         tmp_path: Path) -> None:
    sims = simulators()
    create_record_type(sims)
    sql = write_sql(tmp_path / "q.sql", """
        select 'a' as key, 'ok' as label, cast(1.50 as decimal(18, 2)) as amount
        union all select 'b', null, 2.00      -- label is required
        union all select null, 'no key', 1.00
        union all select 'a', 'again', 1.00   -- the key of an earlier row
        union all select 'c', 'ok', 3.00""")
    result = records_push(warehouse, sql)
    assert (result.plan.counts["invalid"], result.plan.counts["create"], result.sent.counts["applied"]) == (4, 1, 1)
    assert result.plan.invalid == [("b", "label", "label is required"), ("", "key", "the key column key is empty"),
                                   ("a", "key", "key a is on more than one row")]
    assert [r["system_id"] for r in stored_records(sims)] == ["c"]  # neither row of the duplicated key is sent
    assert {k: (e["status"], e["error_field"]) for k, e in newest(warehouse).items()} == {
        "a": ("invalid", "key"), "b": ("invalid", "label"), "": ("invalid", "key"), "c": ("applied", None)}
    assert [e["status"] for e in ledger(warehouse) if e["key"] == "a"] == ["invalid", "invalid"]
    floats = records_push(warehouse, write_sql(tmp_path / "f.sql", "select 'f' as key, 'x' as label, "
                                               "cast(2.5 as double) as amount, '7' as count"))
    assert floats.plan.invalid == [("f", "amount", "amount is a floating-point number: cast it to decimal in the "
                                    "query")]
    texts = records_push(warehouse, write_sql(tmp_path / "t.sql", "select 'g' as key, 'x' as label, '7' as count"))
    assert texts.plan.invalid == [("g", "count", "count must be a integer, got '7'")]
    assert [r["system_id"] for r in stored_records(sims)] == ["c"]
    with pytest.raises(PushUsageError, match="not fields of record type arwip_test_rows"):
        records_push(warehouse, write_sql(tmp_path / "bad.sql", "select 'a' as key, 'x' as label, 1 as colour"))
    with pytest.raises(PushUsageError, match="no column for the required field"):
        records_push(warehouse, write_sql(tmp_path / "bad.sql", "select 'a' as key, 1 as count"))
    with pytest.raises(PushUsageError, match="Aiwyn has no record type 'nope'"):
        records_push(warehouse, sql, type_name="nope")
    with pytest.raises(PushUsageError, match="exactly one query"):
        records_push(warehouse, write_sql(tmp_path / "bad.sql", "delete from push.ledger"))


def test_the_summary_type_is_created_and_gains_fields(simulators: Sims, warehouse: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines.sync import sync

    sims = simulators()
    sync(warehouse)
    dry = push("aiwyn-records", {}, warehouse)
    assert dry.plan.notes == ["record type arwip_ar_summary is missing: it would be created with 15 fields"]
    assert record_types_truth(sims.firm).num_rows == 0
    first = push("aiwyn-records", {}, warehouse, apply=True)
    clients = first.plan.counts["create"]
    assert clients > 0 and first.sent.counts["applied"] == clients and first.clean
    (summary_type,) = record_types_truth(sims.firm).to_pylist()
    assert summary_type["name"] == "arwip_ar_summary"
    stored = stored_records(sims, "arwip_ar_summary")
    assert len(stored) == clients and all(r["system"] == "arwip" for r in stored)
    row = stored[0]["attributes"]
    assert row["client_name"] == stored[0]["system_id"]
    assert row["ar_total"] == sum(row[f"ar_bucket_{b}"] for b in ("current", "1_30", "31_60", "61_90", "91_plus"))
    assert isinstance(row["wip_total"], Decimal) and len(row["as_of_date"]) == 10

    monkeypatch.setenv("REPORTS__AGING_BUCKETS", "[30, 60, 90, 120]")  # the summary gains two buckets a family
    grown = push("aiwyn-records", {}, warehouse, apply=True)
    assert grown.plan.notes == ["record type arwip_ar_summary would gain the field(s) ar_bucket_91_120, "
                                "ar_bucket_121_plus, wip_bucket_91_120, wip_bucket_121_plus"]
    assert grown.plan.counts["update"] == clients and grown.sent.counts["applied"] == clients
    attributes = stored_records(sims, "arwip_ar_summary")[0]["attributes"]
    assert "ar_bucket_121_plus" in attributes and "ar_bucket_91_plus" in attributes  # the old fields stay
    assert push("aiwyn-records", {}, warehouse, apply=True).plan.counts["unchanged"] == clients
