"""Detail caches and the keyset fast path: the same answers as the general SQL, current after every write."""

from __future__ import annotations

import random
from datetime import datetime
from decimal import Decimal
from typing import Any

import duckdb
import orjson
import pytest
from sim_clients import NOW, aimsio, aiwyn

from simulators import Firm, SimSettings, SimulatorCluster
from simulators._cache import MISS, DocCache
from simulators._iinsight_lists import PAGE_SIZE, StatusList, StatusPages
from simulators._iinsight_payments import PAYMENTS as IINSIGHT_PAYMENTS
from simulators._keyset import KeyBound, KeyRange, key_range, money
from simulators.aiwyn import _DETAILS, INVOICES, PAYMENTS, WIP, Entity, detail_cache
from simulators.hasura import translate_order_by, translate_where
from simulators.iinsight import INVOICES as IINSIGHT_INVOICES
from simulators.settings import Faults

ISO = "%Y-%m-%dT%H:%M:%SZ"


def _iso(ts: datetime) -> str:
    return ts.strftime(ISO)


def _expected_payment_status(row: dict[str, Any], now: datetime) -> str:
    if row["outstanding_amount"] == 0 and row["total_amount"] > 0:
        return "PAID"
    if row["outstanding_amount"] > 0 and row["due_date"] < now:
        return "OVERDUE"
    return "PARTIALLY_PAID" if row["paid_amount"] > 0 else "UNPAID"


def _check_invoices(client: Any, firm: Firm) -> None:
    """Every invoice detail agrees with the firm's truth right now."""
    truth = firm.truth()
    payments: dict[int, list[int]] = {}
    for p in truth.aiwyn_payments.to_pylist():
        payments.setdefault(p["invoice_id"], []).append(p["id"])
    for row in truth.aiwyn_invoices.to_pylist():
        doc = client.get(f"/gql/v1/invoice/{row['id']}").json()
        assert doc["status"] == row["status"] and doc["updatedAt"] == _iso(row["updated_at"])
        assert Decimal(str(doc["paidAmount"])) == row["paid_amount"]
        assert [p["id"] for p in doc["payments"]] == sorted(payments.get(row["id"], []))
        assert doc["paymentStatus"] == _expected_payment_status(row, firm.now), row["id"]


def test_invoice_details_follow_activity_at_once(fresh_cluster: SimulatorCluster, fresh_firm: Firm) -> None:
    client = aiwyn(fresh_cluster)
    _check_invoices(client, fresh_firm)  # loads the cache
    before = {p["id"] for p in fresh_firm.truth().aiwyn_payments.to_pylist()}
    fresh_firm.activity(0.3, seed=4)
    after = fresh_firm.truth().aiwyn_payments.to_pylist()
    new = [p for p in after if p["id"] not in before]
    assert new, "activity made no payment"
    paid = new[0]["invoice_id"]
    doc = client.get(f"/gql/v1/invoice/{paid}").json()  # served from the cache, right after the write
    assert new[0]["id"] in [p["id"] for p in doc["payments"]]
    _check_invoices(client, fresh_firm)
    newest = max(r["id"] for r in fresh_firm.truth().aiwyn_invoices.to_pylist())
    assert client.get(f"/gql/v1/invoice/{newest}").status_code == 200


def test_page_shift_touch_reaches_the_detail() -> None:
    firm = Firm(seed=5, size="tiny", now=NOW)
    with SimulatorCluster(firm, SimSettings(faults=Faults(page_shift=1.0))) as c:
        client = aiwyn(c)
        first = client.post("/gql/v1/invoices/search", json={"pageSize": 3}).json()["deid_invoice"]
        smallest = min(r["id"] for r in first)  # touched by the fault: now the latest row
        before = client.get(f"/gql/v1/invoice/{smallest}").json()["updatedAt"]  # cached now
        assert before == _iso(firm.now)
        client.post("/gql/v1/invoices/search", json={"pageSize": 3})  # page_shift touches the smallest id again
        after = client.get(f"/gql/v1/invoice/{smallest}").json()["updatedAt"]
        assert after > before and after == _iso(firm.now)


def test_nrb_and_job_details_follow_writes(fresh_cluster: SimulatorCluster, fresh_firm: Firm) -> None:
    client = aimsio(fresh_cluster)
    guids = [r["nrb_guid"] for r in fresh_firm.truth().aimsio_nrbs.to_pylist()]
    for guid in guids:
        assert client.get(f"/NonRecurringBillableItem/{guid}").status_code == 200
    fresh_firm.activity(0.5, seed=2)
    truth = fresh_firm.truth()
    live = {r["nrb_guid"]: r for r in truth.aimsio_nrbs.to_pylist() + truth.aimsio_nrb_children.to_pylist()}
    assert set(guids) - set(live), "activity deleted no NRB"
    for guid in set(guids) | set(live):
        r = client.get(f"/NonRecurringBillableItem/{guid}")
        assert r.status_code == (200 if guid in live else 404), guid
        if guid in live:
            doc = r.json()
            assert doc["nrbQuantity"] == f"{live[guid]['nrb_quantity']:.3f}"
            assert doc["nrbUpdatedAt"] == int(live[guid]["nrb_updated_at"].timestamp() * 1000)
            kids = [k["nrb_guid"] for k in truth.aimsio_nrb_children.to_pylist() if k["nrb_parent_guid"] == guid]
            assert [k["nrbGuid"] for k in doc["nrbChildren"]] == kids
    for job in truth.aimsio_job_orders.to_pylist():
        doc = client.get(f"/JobOrder/{job['job_guid']}").json()
        assert doc["jobStatus"] == job["job_status"]
    item = {"nrbGuid": guids[0] if guids[0] in live else next(iter(live)), "nrbNotes": "changed by a test"}
    assert client.post("/NRB", json={"nrbList": [item]}).json()["numberOfEntitiesEdited"] == 1
    assert client.get(f"/NonRecurringBillableItem/{item['nrbGuid']}").json()["nrbNotes"] == "changed by a test"


@pytest.mark.parametrize("chunk", [1, 16, None])
def test_chunked_cache_equals_a_whole_table_cache(fresh_firm: Firm, chunk: int | None) -> None:
    render, key, changed, _ = _DETAILS["wip"]
    small = DocCache(fresh_firm, render, key, changed, chunk=chunk)
    whole = DocCache(fresh_firm, render, key, changed)
    ids = [r[0] for r in fresh_firm.query("SELECT id FROM aiwyn_wip ORDER BY id")]
    for i in ids[::7]:  # some chunks loaded, some not
        assert small.load(i) is not None
    assert small.peek(ids[0]) == whole.load(ids[0])
    fresh_firm.activity(0.2, seed=1)
    assert small.peek(ids[0]) is MISS  # a write happened: refresh before serving
    ids = [r[0] for r in fresh_firm.query("SELECT id FROM aiwyn_wip ORDER BY id")]
    for i in [*ids, ids[0] - 1, ids[-1] + 1, 2**63, 2**70]:
        assert small.load(i) == whole.load(i), i
        assert small.peek(i) == whole.peek(i), i


def test_cached_payment_status_follows_the_clock() -> None:
    firm = Firm(seed=3, size="tiny", now=NOW)
    cache = detail_cache(firm, "invoice")
    rows = firm.truth().aiwyn_invoices.to_pylist()
    before = {r["id"]: _status(cache.load(r["id"])) for r in rows}
    assert before == {r["id"]: _expected_payment_status(r, firm.now) for r in rows}
    firm.write(lambda con, t: None)  # touches nothing, but the clock jumps from NOW to the wall clock
    assert cache.peek(rows[0]["id"]) is MISS
    after = {r["id"]: _status(cache.load(r["id"])) for r in rows}
    assert after == {r["id"]: _expected_payment_status(r, firm.now) for r in rows}
    assert after != before, "no invoice fell due between NOW and today"


def _status(doc: bytes | None) -> str:
    assert isinstance(doc, bytes)
    return str(orjson.loads(doc)["paymentStatus"])


# -- keyset fast path --------------------------------------------------------------------------


def _random_where(rnd: random.Random, keys: list[tuple[str, int]]) -> Any:
    stamps = sorted({k[0] for k in keys})
    ts, i = rnd.choice(keys)
    conds: list[dict[str, Any]] = []
    shape = rnd.randrange(8)
    if shape == 0:
        conds.append({"_or": [{"updatedAt": {"_gt": ts}},
                              {"_and": [{"updatedAt": {"_eq": ts}}, {"id": {rnd.choice(["_gt", "_gte"]): i}}]}]})
    elif shape == 1:
        conds.append({"_or": [{"updatedAt": {"_eq": ts}, "id": {"_gt": i + rnd.choice([-1, 0, 1])}},
                              {"updatedAt": {"_gt": ts}}]})
    elif shape == 2:
        conds.append({"_or": [{"updatedAt": {"_lt": ts}},
                              {"_and": [{"updatedAt": {"_eq": ts}}, {"id": {rnd.choice(["_lt", "_lte"]): i}}]}]})
    elif shape == 3:
        conds.append({"updatedAt": {rnd.choice(["_gt", "_gte", "_lt", "_lte", "_eq"]): ts}})
    elif shape == 4:
        conds.append({"updatedAt": {"_gte": ts[:10]}})
    elif shape == 5:
        return None
    if rnd.random() < 0.5:
        conds.append({"updatedAt": {rnd.choice(["_gte", "_gt"]): rnd.choice(stamps)}})
    if rnd.random() < 0.5:
        conds.append({"updatedAt": {rnd.choice(["_lt", "_lte"]): rnd.choice(stamps)}})
    return {"_and": conds}


def _both(firm: Firm, entity: Entity, where: Any, size: int) -> tuple[Any, Any]:
    cond, params = translate_where(where, entity.fields)
    order = translate_order_by([{"updatedAt": "asc"}, {"id": "asc"}], entity.fields)
    general = tuple(firm.query(entity.page_sql(cond, order), [*params, size, 0, *params])[0])
    keys = key_range(where, entity.fields, "updatedAt", "id")
    assert keys is not None, where
    fast = entity.keyset_index(firm).page(keys, size, entity.rows_sql(), entity.envelope, entity.sums)
    return general, fast


def _compare_many(firm: Firm, rnd: random.Random, rounds: int) -> None:
    for entity in (WIP, INVOICES, PAYMENTS):
        keys = [(_iso(ts), i) for ts, i in firm.query(f"SELECT updated_at, id FROM {entity.table}")]
        for _ in range(rounds):
            where, size = _random_where(rnd, keys), rnd.choice([1, 2, 7, 1000])
            general, fast = _both(firm, entity, where, size)
            assert fast == general, (entity.table, where, size)


def test_keyset_fast_path_answers_like_the_general_sql(fresh_firm: Firm) -> None:
    rnd = random.Random(3)
    _compare_many(fresh_firm, rnd, 60)
    fresh_firm.activity(0.2, seed=3)
    _compare_many(fresh_firm, rnd, 60)
    ident = fresh_firm.query("SELECT max(id) FROM aiwyn_wip")[0][0]
    fresh_firm.write(lambda con, t: con.execute("UPDATE aiwyn_wip SET hours = NULL, value = NULL, updated_at = ? "
                                                "WHERE id = ?", [t, ident]).fetchall())
    _compare_many(fresh_firm, rnd, 30)  # null money: sums skip them, an all-null range sums to null
    only = {"updatedAt": {"_eq": _iso(fresh_firm.stamp)}}
    general, fast = _both(fresh_firm, WIP, only, 10)
    assert fast == general and '"hours":null' in general[0]


@pytest.mark.parametrize("where", [
    {"id": {"_gt": 5}}, {"updatedAt": {"_neq": "2024-01-01"}}, {"updatedAt": {"_in": ["2024-01-01"]}},
    {"_not": {"updatedAt": {"_gt": "2024-01-01"}}}, {"status": {"_eq": "PAID"}},
    {"_or": [{"updatedAt": {"_gt": "2024-01-01"}}, {"updatedAt": {"_eq": "2024-01-02"}, "id": {"_gt": 1}}]},
    {"_or": [{"updatedAt": {"_gt": "2024-01-01"}}, {"updatedAt": {"_eq": "2024-01-01"}, "id": {"_lt": 1}}]},
    {"_or": [{"updatedAt": {"_gt": "2024-01-01"}}]}, {"updatedAt": {}},
])
def test_other_filters_take_the_general_sql(where: Any) -> None:
    assert key_range(where, INVOICES.fields, "updatedAt", "id") is None


def test_key_range_reads_bounds_and_keyset_pairs() -> None:
    where = {"_and": [{"updatedAt": {"_gte": "1970-01-01T00:00:01Z", "_lt": "1970-01-01T00:00:09Z"}},
                      {"_or": [{"updatedAt": {"_gt": "1970-01-01T00:00:02Z"}},
                               {"updatedAt": {"_eq": "1970-01-01T00:00:02Z"}, "id": {"_gte": 7}}]}]}
    assert key_range(where, INVOICES.fields, "updatedAt", "id") == KeyRange(
        (KeyBound(1_000_000, None, True), KeyBound(2_000_000, 7, True)), (KeyBound(9_000_000, None, False),))
    assert key_range(None, INVOICES.fields, "updatedAt", "id") == KeyRange()


def test_a_write_racing_a_fast_page_falls_back(fresh_firm: Firm, monkeypatch: pytest.MonkeyPatch) -> None:
    index = WIP.keyset_index(fresh_firm)
    assert index.page(KeyRange(), 5, WIP.rows_sql(), WIP.envelope, WIP.sums) is not None
    original = fresh_firm.query

    def racing(sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        ident = original("SELECT min(id) FROM aiwyn_wip")[0][0]
        fresh_firm.write(lambda con, t: con.execute("UPDATE aiwyn_wip SET updated_at = ? WHERE id = ?",
                                                    [t, ident]).fetchall())
        return original(sql, params)

    index.current()
    monkeypatch.setattr(fresh_firm, "query", racing)
    assert index.page(KeyRange(), 5, WIP.rows_sql(), WIP.envelope, WIP.sums) is None


def test_writes_move_version_and_stamp(fresh_firm: Firm) -> None:
    version, stamp = fresh_firm.version, fresh_firm.stamp
    assert version % 2 == 0
    seen: list[int] = []
    fresh_firm.write(lambda con, t: seen.append(fresh_firm.version))
    assert seen[0] % 2 == 1 and fresh_firm.version == version + 2 and fresh_firm.stamp > stamp

    def failing(con: duckdb.DuckDBPyConnection, t: datetime) -> None:
        con.execute("UPDATE aiwyn_wip SET notes = 'x', updated_at = ?", [t])
        raise RuntimeError("no")

    stamp = fresh_firm.stamp
    with pytest.raises(RuntimeError):
        fresh_firm.write(failing)
    assert fresh_firm.version == version + 4 and fresh_firm.stamp == stamp
    assert fresh_firm.query("SELECT count(*) FROM aiwyn_wip WHERE notes = 'x'")[0][0] == 0


@pytest.mark.parametrize(("cents", "text"), [(0, "0.00"), (5, "0.05"), (-5, "-0.05"), (-100, "-1.00"),
                                             (123456, "1234.56"), (10**15, "10000000000000.00")])
def test_money_renders_like_duckdb(cents: int, text: str) -> None:
    assert money(cents) == text
    assert duckdb.sql(f"SELECT json_object('m', CAST('{text}' AS DECIMAL(18,2)))::VARCHAR").fetchall()[0][0] == \
        f'{{"m":{text}}}'


# -- iinsight pages from rendered invoices and payments ------------------------------------------


@pytest.mark.parametrize("spec", [IINSIGHT_INVOICES, IINSIGHT_PAYMENTS], ids=["invoices", "payments"])
def test_iinsight_pages_from_the_cache_equal_the_page_sql(fresh_firm: Firm, spec: StatusList) -> None:
    pages = StatusPages(fresh_firm, spec)
    changed = f"SELECT {spec.key} FROM {spec.table} WHERE last_update_utc > ?"
    caches = {v: DocCache(fresh_firm, spec.render[v], f"v.{spec.key}", changed, chunk=8) for v in (1, 2)}
    rnd = random.Random(8)

    def compare(rounds: int) -> None:
        stamps = [r[0] for r in fresh_firm.query(f"SELECT last_update_utc FROM {spec.table}")]
        for _ in range(rounds):
            version, status = rnd.choice([1, 2]), rnd.choice(["ACTIVE", "VOIDED", "REVERSED", "NONE"])
            since, offset = rnd.choice(stamps), rnd.choice([0, 10, PAGE_SIZE, 3 * PAGE_SIZE]) * rnd.choice([0, 1])
            body, rows, first = fresh_firm.query(spec.page_sql(version), [status, since, offset])[0]
            assert pages.from_cache(caches[version], status, since, offset) == (
                body.encode(), rows, first), (version, status, since, offset)

    compare(40)
    fresh_firm.activity(0.3, seed=6)
    ids = [r[0] for r in fresh_firm.query("SELECT invoice_id FROM iinsight_invoices ORDER BY invoice_id LIMIT 3")]
    fresh_firm.write(lambda con, t: con.execute("UPDATE iinsight_invoices SET company_id = (SELECT max(company_id) "
                                                "FROM clients), last_update_utc = ? WHERE invoice_id IN (?, ?, ?)",
                                                [t, *ids]).fetchall())  # a transfer: another bill-to company
    compare(40)


def test_detail_ids_at_the_edge_of_bigint_are_404(cluster: SimulatorCluster) -> None:
    client = aiwyn(cluster)
    for ident in (2**63 - 1, 2**63, 10**30):
        for kind in ("wip", "invoice", "payment"):
            assert client.get(f"/gql/v1/{kind}/{ident}").status_code == 404, (kind, ident)
