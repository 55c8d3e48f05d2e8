"""Ground truth equals what the three APIs serve, before and after activity driven over the admin routes."""

from __future__ import annotations

from decimal import Decimal

import httpx
from sim_clients import aimsio, aiwyn, billings_all, iinsight, iinsight_all, keyset

from simulators import Firm, SimulatorCluster


def _iso(ts: object) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")  # type: ignore[attr-defined]


def assert_api_matches_truth(cluster: SimulatorCluster, firm: Firm) -> None:
    truth = firm.truth()
    client = aiwyn(cluster)
    for path, table, money in (("/gql/v1/wips/search", "aiwyn_wip", "outstandingAmount"),
                               ("/gql/v1/invoices/search", "aiwyn_invoices", "outstandingAmount"),
                               ("/gql/v1/payments/search", "aiwyn_payments", "amount")):
        served = {r["id"]: r for r in keyset(client, path, page_size=50)}
        rows = truth[table].to_pylist()
        assert set(served) == {r["id"] for r in rows}, table
        column = {"outstandingAmount": "outstanding_amount", "amount": "amount"}[money]
        for row in rows:
            api = served[row["id"]]
            assert Decimal(str(api[money])).quantize(Decimal("0.01")) == row[column], (table, row["id"])
            assert api["updatedAt"] == _iso(row["updated_at"]), (table, row["id"])
    nrbs = {s["guid"]: s["updatedAt"] for s in aimsio(cluster).get("/NonRecurringBillableItem").json()["value"]}
    assert nrbs == {r["nrb_guid"]: int(r["nrb_updated_at"].timestamp() * 1000) for r in truth.aimsio_nrbs.to_pylist()}
    ii = iinsight(cluster)
    served_ii = {int(r["invoice_id"]): r for status in ("active", "voided", "reversed")
                 for r in iinsight_all(ii, 2, status)}
    expected = {r["invoice_id"]: r for r in truth.iinsight_invoices.to_pylist()}
    assert set(served_ii) == set(expected)
    for key, row in expected.items():
        api = served_ii[key]
        assert (api["status"], Decimal(api["total_amount_payable"]), api["last_update_utc"]) == (
            row["status"], row["total_amount_payable"], _iso(row["last_update_utc"])), key
    for version in (1, 2):
        served_pay = {int(r["payment_id"]): (status.upper(), abs(Decimal(r["amount"])), r["last_update_utc"])
                      for status in ("active", "voided")
                      for r in iinsight_all(ii, version, status, entity="payments")}
        assert served_pay == {r["payment_id"]: (r["status"], r["amount"], _iso(r["last_update_utc"]))
                              for r in truth.iinsight_payments.to_pylist()}, version
    served_bill = {int(r["id"]): (int(r["invoice"]), Decimal(r["total_charge"])) for r in billings_all(ii)}
    assert served_bill == {r["id"]: (r["invoice"], r["total_charge"]) for r in truth.iinsight_billings.to_pylist()}


def test_truth_equals_api(cluster: SimulatorCluster, firm: Firm) -> None:
    assert_api_matches_truth(cluster, firm)


def test_activity_over_admin_route(fresh_cluster: SimulatorCluster, fresh_firm: Firm) -> None:
    base = fresh_cluster.urls["aiwyn"]
    before = fresh_firm.truth()
    ii = iinsight(fresh_cluster)
    old_pages = iinsight_all(ii, 1, "active", param="satus")
    counts = httpx.post(base + "/_sim/activity", json={"fraction": 0.1, "seed": 3}).json()
    assert counts["aiwyn.wip"]["edited"] > 0 and counts["aimsio.nrbs"]["deleted"] > 0
    t = _iso(fresh_firm.now)
    after = fresh_firm.truth()
    changed = {r["id"] for r in after.aiwyn_wip.to_pylist() if _iso(r["updated_at"]) == t}
    old = {r["id"]: r for r in before.aiwyn_wip.to_pylist()}
    assert any(old[i]["outstanding_amount"] != r["outstanding_amount"]
               for r in after.aiwyn_wip.to_pylist() if (i := r["id"]) in old and i in changed)
    # an incremental read from the previous high-water mark sees exactly the changed rows
    rows = keyset(aiwyn(fresh_cluster), "/gql/v1/wips/search", page_size=4)
    assert {r["id"] for r in rows if r["updatedAt"] == t} == changed
    # iinsight rows changed since the last read moved to the end of the order
    since = old_pages[-1]["last_update_utc"]
    new_pages = iinsight_all(ii, 1, "active", since=since, param="satus")
    assert new_pages[-1]["last_update_utc"] == t
    guids = lambda t: set(t.aimsio_nrbs.column("nrb_guid").to_pylist())  # noqa: E731
    deleted = guids(before) - guids(after)
    assert deleted
    assert aimsio(fresh_cluster).get(f"/NonRecurringBillableItem/{deleted.pop()}").status_code == 404
    assert_api_matches_truth(fresh_cluster, fresh_firm)
    bad = httpx.post(base + "/_sim/activity", json={"fraction": 2})
    assert bad.status_code == 400
