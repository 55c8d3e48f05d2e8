"""Aiwyn event subscriptions over HTTP: the API in its envelope, signed deliveries of the firm's changes to a
loopback receiver (checked with arwip's verifier), retries with backoff, secret rotation and delivery faults."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import pairwise
from typing import Any

import httpx
import orjson
import pytest
from sim_clients import NOW, aiwyn

from simulators import Firm, SimSettings, SimulatorCluster, Webhooks
from sources.aiwyn.webhooks import SignatureError, WebhookVerifier, parse_event
from tests.webhooks.receiver import Received, Receiver

PATH = "/api/v1/event-subscriptions"
ALL = {"entityTypes": ["wip", "invoice", "payment"], "operations": ["CREATE", "UPDATE", "DELETE"]}


@contextmanager
def serve(seed: int = 11, **knobs: Any) -> Iterator[SimulatorCluster]:
    """Simulators over a fresh tiny firm, webhook retries 100x faster, `knobs` set on `Webhooks`."""
    settings = SimSettings(webhooks=Webhooks(**{"retry_scale": 0.01, **knobs}))
    with SimulatorCluster(Firm(seed=seed, size="tiny", now=NOW), settings) as cluster:
        yield cluster


def subscribe(client: httpx.Client, url: str, **body: Any) -> tuple[int, str]:
    """Create a subscription (every type and operation unless `body` says) → (id, secret)."""
    r = client.post(PATH, json={"name": "test", "url": url, **ALL, **body})
    assert r.status_code == 201, r.text
    sub_id = r.json()["data"]["id"]
    return sub_id, client.get(f"{PATH}/{sub_id}/secret").json()["data"]["secret"]


def touch(cluster: SimulatorCluster, entity: str, count: int, delete: bool = False) -> dict[str, Any]:
    r = httpx.post(cluster.urls["aiwyn"] + "/_sim/aiwyn/touch", json={"entity": entity, "count": count,
                                                                       "delete": delete})
    assert r.status_code == 200, r.text
    return r.json()


def settled(cluster: SimulatorCluster, timeout_s: float = 20.0) -> dict[str, Any]:
    """The delivery log once nothing is pending (polled until `timeout_s`)."""
    deadline = time.monotonic() + timeout_s
    while True:
        log = httpx.get(cluster.urls["aiwyn"] + "/_sim/aiwyn/deliveries", params={"limit": 10_000}).json()
        if log["pending"] == 0 or time.monotonic() > deadline:
            assert log["pending"] == 0, log
            return log
        time.sleep(0.02)


def hints(received: list[Received]) -> set[tuple[str, str, int]]:
    return {(e.entity_type, e.operation, e.entity_id) for e in (parse_event(r.body) for r in received)}


def test_catalog_lists_every_entity_and_operation(cluster: SimulatorCluster) -> None:
    body = aiwyn(cluster).get(PATH + "/catalog").json()
    assert body["error"] is None and body["meta"]["success"] is True
    assert body["data"] == {"entityTypes": [{"entityType": e, "operations": ["CREATE", "UPDATE", "DELETE"]}
                                            for e in ("wip", "invoice", "payment")]}


def test_subscription_crud_in_the_envelope() -> None:
    with serve() as cluster:
        client = aiwyn(cluster)
        created = client.post(PATH + "/", json={"name": "a", "url": "https://x.example/h", **ALL, "active": True})
        assert created.status_code == 201
        sub = created.json()["data"]
        assert set(sub) == {"id", "name", "url", "entityTypes", "operations", "active", "createdAt"}
        assert sub["id"] == 1 and sub["active"] is True and sub["createdAt"].endswith("Z")
        client.post(PATH, json={"name": "b", "url": "http://y.example/h", "entityTypes": ["wip"],
                                "operations": ["DELETE"]})
        assert [s["name"] for s in client.get(PATH).json()["data"]] == ["a", "b"]
        updated = client.put(f"{PATH}/1", json={"name": "a2", "entityTypes": ["invoice"], "id": 1}).json()["data"]
        assert (updated["name"], updated["entityTypes"], updated["url"]) == ("a2", ["invoice"], "https://x.example/h")
        assert client.put(f"{PATH}/2", json={"active": False}).json()["data"]["active"] is False
        gone = client.delete(f"{PATH}/1")
        assert gone.status_code == 204 and gone.content == b""
        assert [s["active"] for s in client.get(PATH + "/").json()["data"]] == [False, False]
        missing = client.delete(f"{PATH}/9")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "SUBSCRIPTION_NOT_FOUND"
        assert missing.json()["data"] is None and missing.json()["meta"]["success"] is False
        for bad, field in (({"name": "c", **ALL}, "url"), ({"name": "c", "url": "ftp://z", **ALL}, "url"),
                           ({"name": "c", "url": "http://z", **ALL, "entityTypes": ["client"]}, "entityTypes"),
                           ({"name": "c", "url": "http://z", **ALL, "operations": []}, "operations"),
                           ({"name": "c", "url": "http://z", **ALL, "secret": "x"}, "secret")):
            r = client.post(PATH, json=bad)
            assert r.status_code == 400 and r.json()["error"]["code"] == "VALIDATION_ERROR", bad
            assert r.json()["error"]["field"] == field
        anonymous = httpx.get(cluster.urls["aiwyn"] + PATH)
        assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "UNAUTHORIZED"


def test_secret_is_whsec_base64_of_32_bytes_and_rotates() -> None:
    with serve() as cluster:
        client = aiwyn(cluster)
        sub_id, secret = subscribe(client, "http://127.0.0.1:9/h")
        assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:], validate=True)) == 32
        rotated = client.post(f"{PATH}/{sub_id}/secret/rotate").json()["data"]["secret"]
        assert rotated != secret and len(base64.b64decode(rotated[6:], validate=True)) == 32
        assert client.get(f"{PATH}/{sub_id}/secret").json()["data"]["secret"] == rotated
        assert client.get(f"{PATH}/7/secret").status_code == 404


def test_touched_records_are_delivered_signed_one_each() -> None:
    with serve() as cluster, Receiver() as receiver:
        _, secret = subscribe(aiwyn(cluster), receiver.url)
        touched = touch(cluster, "wip", 3)
        got = receiver.wait_for(3)
        verifier = WebhookVerifier(secret)
        for r in got:
            verifier.verify(r.headers, r.body)
            event = parse_event(r.body)
            assert r.headers["x-aiwyn-event-id"] == event.event_id and event.event_id.startswith("evt_")
            assert event.occurred_at == event.updated_at
            assert event.updated_at.strftime("%Y-%m-%dT%H:%M:%SZ") == touched["updatedAt"]
            assert abs(int(r.headers["x-aiwyn-timestamp"]) - time.time()) < 60
        assert hints(got) == {("wip", "UPDATE", i) for i in touched["ids"]} and len(touched["ids"]) == 3
        assert settled(cluster)["counts"] == {"queued": 3, "attempted": 3, "succeeded": 3, "failed": 0, "dropped": 0}
        stats = httpx.get(cluster.urls["aiwyn"] + "/_sim/stats").json()
        assert stats["webhook_succeeded"] == 3 and stats["requests"] == 3  # admin routes are not counted


def test_operations_follow_the_firm_changes() -> None:
    with serve() as cluster, Receiver() as receiver:
        subscribe(aiwyn(cluster), receiver.url)
        firm = cluster.firm
        firm.activity(0.2)
        t = firm.stamp
        expected = {(e, "CREATE" if created == t else "UPDATE", i) for e, table in
                    (("wip", "aiwyn_wip"), ("invoice", "aiwyn_invoices"), ("payment", "aiwyn_payments"))
                    for i, created in firm.query(f"SELECT id, created_at FROM {table} WHERE updated_at = ?", [t])}
        assert {op for _, op, _ in expected} == {"CREATE", "UPDATE"}
        assert hints(receiver.wait_for(len(expected))) == expected
        receiver.received.clear()
        paid_invoice, status = firm.query("SELECT invoice_id, status FROM aiwyn_payments ORDER BY updated_at, id "
                                          "LIMIT 1")[0]
        wip = touch(cluster, "wip", 2, delete=True)
        invoices = touch(cluster, "invoice", 2, delete=True)
        payments = touch(cluster, "payment", 1, delete=True)
        assert (wip["operation"], invoices["operation"], payments["operation"]) == ("DELETE", "UPDATE", "DELETE")
        assert firm.scalar("SELECT count(*) FROM aiwyn_payments WHERE id = ?", payments["ids"]) == 0
        statuses = firm.query("SELECT DISTINCT status FROM aiwyn_invoices WHERE id IN (SELECT unnest(?))",
                              [invoices["ids"]])
        assert statuses == [("CANCELLED",)]
        expected = ({("wip", "DELETE", i) for i in wip["ids"]} | {("invoice", "UPDATE", i) for i in invoices["ids"]}
                    | {("payment", "DELETE", payments["ids"][0])})
        if status == "CONFIRMED":  # its amount went back onto its invoice
            expected.add(("invoice", "UPDATE", paid_invoice))
        assert hints(receiver.wait_for(len(expected))) == expected


def test_hard_deletes_leave_search_and_detail() -> None:
    with serve() as cluster:
        client = aiwyn(cluster)
        oldest = "SELECT id FROM {} ORDER BY updated_at, id LIMIT 1"  # what a delete takes first
        wip_id, pay_id = (cluster.firm.scalar(oldest.format(t)) for t in ("aiwyn_wip", "aiwyn_payments"))
        assert client.get(f"/gql/v1/wip/{wip_id}").status_code == 200  # cached now
        assert client.get(f"/gql/v1/payment/{pay_id}").status_code == 200
        assert touch(cluster, "wip", 1, delete=True)["ids"] == [wip_id]
        assert touch(cluster, "payment", 1, delete=True)["ids"] == [pay_id]
        assert client.get(f"/gql/v1/wip/{wip_id}").status_code == 404
        assert client.get(f"/gql/v1/payment/{pay_id}").status_code == 404
        where = {"id": {"_in": [wip_id]}}
        assert client.post("/gql/v1/wips/search", json={"pageSize": 10, "where": where}).json()["deid_wip"] == []


def test_subscriptions_get_only_what_they_asked_for() -> None:
    with serve() as cluster, Receiver() as wanted, Receiver() as inactive:
        client = aiwyn(cluster)
        subscribe(client, wanted.url, entityTypes=["payment"], operations=["DELETE"])
        off, _ = subscribe(client, inactive.url)
        client.delete(f"{PATH}/{off}")
        touch(cluster, "wip", 2)
        deleted = touch(cluster, "payment", 2, delete=True)
        settled(cluster)
        assert hints(wanted.received) == {("payment", "DELETE", i) for i in deleted["ids"]}
        assert len(wanted.received) == 2 and inactive.received == []


def test_failed_deliveries_are_retried_with_backoff() -> None:
    attempts: dict[bytes, int] = {}

    def flaky(headers: dict[str, str], body: bytes) -> int:
        attempts[body] = attempts.get(body, 0) + 1
        return 500 if attempts[body] <= 2 else 200

    with serve() as cluster, Receiver(flaky) as receiver:
        subscribe(aiwyn(cluster), receiver.url)
        touch(cluster, "invoice", 2)
        receiver.wait_for(2, status=200)
        log = settled(cluster)
        assert log["counts"] == {"queued": 2, "attempted": 6, "succeeded": 2, "failed": 4, "dropped": 0}
        assert sorted(attempts.values()) == [3, 3]
        for event_id in {d["eventId"] for d in log["deliveries"]}:
            tries = [d for d in log["deliveries"] if d["eventId"] == event_id]
            assert [(d["attempt"], d["outcome"], d["status"]) for d in tries] == [
                (1, "failed", 500), (2, "failed", 500), (3, "delivered", 200)]
            gaps = [later["at"] - earlier["at"] for earlier, later in pairwise(tries)]
            assert gaps[0] >= 0.01 and gaps[1] >= 0.05  # 1 s and 5 s, x 0.01


def test_a_delivery_is_dropped_after_the_last_retry() -> None:
    with serve(retry_delays_s=(1.0, 2.0)) as cluster, Receiver(lambda h, b: 503) as receiver:
        subscribe(aiwyn(cluster), receiver.url)
        touch(cluster, "wip", 1)
        log = settled(cluster)
        assert len(receiver.received) == 3
        assert log["counts"] == {"queued": 1, "attempted": 3, "succeeded": 0, "failed": 3, "dropped": 1}
        assert log["deliveries"][-1]["outcome"] == "dropped" and log["deliveries"][-1]["error"] == "retries exhausted"


def test_deactivating_stops_pending_retries() -> None:
    with serve(retry_scale=0.2) as cluster, Receiver(lambda h, b: 500) as receiver:
        client = aiwyn(cluster)
        sub_id, _ = subscribe(client, receiver.url)
        touch(cluster, "wip", 1)
        receiver.wait_for(1)
        client.delete(f"{PATH}/{sub_id}")
        log = settled(cluster)
        assert log["deliveries"][-1]["error"] == "subscription inactive" and len(receiver.received) <= 2


def test_rotation_signs_with_both_secrets_for_the_overlap() -> None:
    with serve() as cluster, Receiver() as receiver:
        client = aiwyn(cluster)
        sub_id, old = subscribe(client, receiver.url)
        new = client.post(f"{PATH}/{sub_id}/secret/rotate").json()["data"]["secret"]
        touch(cluster, "payment", 1)
        got = receiver.wait_for(1)[0]
        assert got.headers["x-aiwyn-signature"].count("sha256=") == 2 and "," in got.headers["x-aiwyn-signature"]
        for secrets in ([old], [new], [old, new]):
            WebhookVerifier(secrets).verify(got.headers, got.body)
    with serve(rotation_overlap_s=0) as cluster, Receiver() as receiver:
        client = aiwyn(cluster)
        sub_id, old = subscribe(client, receiver.url)
        new = client.post(f"{PATH}/{sub_id}/secret/rotate").json()["data"]["secret"]
        touch(cluster, "payment", 1)
        got = receiver.wait_for(1)[0]
        WebhookVerifier(new).verify(got.headers, got.body)
        with pytest.raises(SignatureError, match="matches"):
            WebhookVerifier(old).verify(got.headers, got.body)


def test_fault_duplicates_send_the_same_event_twice() -> None:
    with serve(duplicate=1.0) as cluster, Receiver() as receiver:
        subscribe(aiwyn(cluster), receiver.url)
        touch(cluster, "wip", 2)
        got = receiver.wait_for(4)
        ids = [parse_event(r.body).event_id for r in got]
        assert len(set(ids)) == 2 and all(ids.count(i) == 2 for i in ids)
        assert settled(cluster)["counts"]["queued"] == 4
        assert httpx.get(cluster.urls["aiwyn"] + "/_sim/stats").json()["faults"] == {"webhook_duplicate": 2}


def _dropped_positions(seed: int) -> list[int]:
    with serve(drop=0.5, seed=seed) as cluster, Receiver() as receiver:
        subscribe(aiwyn(cluster), receiver.url)
        ids = touch(cluster, "wip", 20)["ids"]
        log = settled(cluster)
        delivered = {parse_event(r.body).entity_id for r in receiver.received}
        dropped = [d["entityId"] for d in log["deliveries"] if d["outcome"] == "dropped"]
        assert sorted(delivered | set(dropped)) == ids and not delivered & set(dropped)
        assert log["counts"]["dropped"] == len(dropped) == httpx.get(
            cluster.urls["aiwyn"] + "/_sim/stats").json()["faults"]["webhook_drop"]
        return [ids.index(i) for i in dropped]


def test_fault_drops_are_never_sent_and_seeded() -> None:
    first = _dropped_positions(seed=3)
    assert 0 < len(first) < 20 and _dropped_positions(seed=3) == first


def test_fault_rates_change_at_run_time() -> None:
    with serve(seed=3) as cluster, Receiver() as receiver:
        subscribe(aiwyn(cluster), receiver.url, entityTypes=["wip"])
        faults = cluster.urls["aiwyn"] + "/_sim/aiwyn/webhook-faults"
        assert httpx.post(faults, json={"drop": 1.5}).status_code == 400
        assert httpx.post(faults, json={"delay": 0.5}).status_code == 400
        assert httpx.post(faults, json={"drop": 1.0}).json() == {
            "drop": 1.0, "duplicate": 0.0, "reorder": 0.0, "bad_signature": 0.0, "stale_timestamp": 0.0}
        touch(cluster, "wip", 3)
        assert settled(cluster)["counts"]["dropped"] == 3 and receiver.received == []
        httpx.post(faults, json={"drop": 0})
        ids = touch(cluster, "wip", 2)["ids"]
        assert sorted(parse_event(r.body).entity_id for r in receiver.wait_for(2)) == ids


@pytest.mark.parametrize(("fault", "reason"), [("bad_signature", "no_match"), ("stale_timestamp", "too_old")])
def test_fault_bad_first_attempt_is_rejected_then_retried(fault: str, reason: str) -> None:
    verifier: list[WebhookVerifier] = []
    reasons: list[str] = []

    def verifying(headers: dict[str, str], body: bytes) -> int:
        try:
            verifier[0].verify(headers, body)
        except SignatureError as exc:
            reasons.append(exc.reason)
            return 401
        return 204

    with serve(**{fault: 1.0}) as cluster, Receiver(verifying) as receiver:
        _, secret = subscribe(aiwyn(cluster), receiver.url)
        verifier.append(WebhookVerifier(secret))
        touch(cluster, "wip", 2)
        receiver.wait_for(2, status=204)
        log = settled(cluster)
        assert reasons == [reason, reason]
        assert [(d["attempt"], d["status"], d["fault"]) for d in log["deliveries"] if d["attempt"] == 1] == [
            (1, 401, fault)] * 2
        assert log["counts"] == {"queued": 2, "attempted": 4, "succeeded": 2, "failed": 2, "dropped": 0}


def test_fault_reorder_lets_later_deliveries_overtake() -> None:
    with serve(reorder=0.5, seed=5, concurrency=1, reorder_delay_s=20.0) as cluster, Receiver() as receiver:
        subscribe(aiwyn(cluster), receiver.url)
        ids = touch(cluster, "wip", 12)["ids"]
        arrived = [parse_event(r.body).entity_id for r in receiver.wait_for(12)]
        held = httpx.get(cluster.urls["aiwyn"] + "/_sim/stats").json()["faults"]["webhook_reorder"]
        assert sorted(arrived) == ids and 0 < held < 12
        assert arrived != ids and arrived[: 12 - held] == [i for i in ids if i in arrived[: 12 - held]]


def test_payload_shape_is_the_contracts() -> None:
    with serve() as cluster, Receiver() as receiver:
        sub_id, _ = subscribe(aiwyn(cluster), receiver.url)
        touch(cluster, "invoice", 1)
        body = orjson.loads(receiver.wait_for(1)[0].body)
        assert set(body) == {"eventId", "subscriptionId", "entityType", "operation", "entityId", "occurredAt", "data"}
        assert body["subscriptionId"] == sub_id and set(body["data"]) == {"id", "updatedAt"}
        assert body["data"]["id"] == body["entityId"] and body["occurredAt"].endswith("Z")
