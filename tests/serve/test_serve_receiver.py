"""``POST /webhooks/aiwyn`` of a real ``arwip serve`` child process: signatures good, bad, rotated and stale; a
replayed event; a body too large; malformed JSON; and the metrics after a known sequence of deliveries. What is
refused is never stored; what is stored is synced; nothing secret is ever answered."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.inbox import inbox_path
from simulators import Firm, SimSettings, SimulatorCluster
from tests.chaos.harness import NOW
from tests.serve.harness import OTHER_SECRET, SECRET, Service, event_body, serve_env, signed, wait_until

UNKNOWN = "whsec_" + "dW5rbm93bi10ZXN0cy1zaWduaW5nLXNlY3JldC0zMi1ieXRl"


@pytest.fixture(scope="module")
def cluster() -> Iterator[SimulatorCluster]:
    with SimulatorCluster(Firm(seed=2, size="tiny", now=NOW), SimSettings()) as running:
        yield running


@pytest.fixture(scope="module")
def service(cluster: SimulatorCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """A service accepting two secrets (as during a rotation), its first sync published."""
    db = tmp_path_factory.mktemp("receiver") / "w.duckdb"
    with Service(db, serve_env(cluster, [SECRET, OTHER_SECRET])) as running:
        yield running.ready()
        assert running.stop() == 0


def stored_ids(db: Path) -> list[str]:
    """Event ids in the service's inbox (read beside it: WAL lets readers in)."""
    with sqlite3.connect(inbox_path(db)) as con:
        return [r[0] for r in con.execute("select event_id from events order by seq")]


def wip_ids(cluster: SimulatorCluster, n: int) -> list[int]:
    return [int(i) for i in cluster.firm.truth()["aiwyn_wip"]["id"].to_pylist()[:n]]


def test_a_good_signature_is_stored_before_the_answer_and_synced(service: Service, cluster: SimulatorCluster) -> None:
    body = event_body("evt_good", wip_ids(cluster, 1)[0])
    answer = service.post_event(body)
    assert answer.status_code == 200 and answer.json() == {"eventId": "evt_good", "duplicate": False}
    assert "evt_good" in stored_ids(service.db)  # committed when the 200 left
    service.wait_log(r"sync \(webhook\).*1 event", 60)


def test_either_secret_of_a_rotation_and_a_header_listing_two_signatures_verify(service: Service) -> None:
    assert service.post_event(event_body("evt_other", 1), secret=OTHER_SECRET).status_code == 200
    body = event_body("evt_two", 2)
    good = signed(body, SECRET)
    stale_first = signed(body, UNKNOWN, int(good["X-Aiwyn-Timestamp"]))["X-Aiwyn-Signature"]
    headers = {**good, "X-Aiwyn-Signature": f"{stale_first},{good['X-Aiwyn-Signature']}"}
    assert service.http.post("/webhooks/aiwyn", content=body, headers=headers).status_code == 200
    assert {"evt_other", "evt_two"} <= set(stored_ids(service.db))


@pytest.mark.parametrize(("secret", "skew_s", "reason"), [
    (UNKNOWN, 0, "no_match"),
    (SECRET, -301, "too_old"),
    (SECRET, 301, "too_new"),
])
def test_a_bad_or_stale_signature_is_401_and_stores_nothing(service: Service, secret: str, skew_s: int,
                                                              reason: str) -> None:
    event_id = f"evt_refused_{reason}"
    answer = service.post_event(event_body(event_id, 3), secret=secret, timestamp=int(time.time()) + skew_s)
    assert answer.status_code == 401 and answer.json()["error"] == reason
    assert event_id not in stored_ids(service.db)
    assert SECRET not in answer.text and UNKNOWN not in answer.text


def test_missing_headers_and_a_tampered_body_are_refused(service: Service) -> None:
    body = event_body("evt_tampered", 4)
    headers = signed(body, SECRET)
    assert service.http.post("/webhooks/aiwyn", content=body.replace(b"4", b"5"), headers=headers).status_code == 401
    answer = service.http.post("/webhooks/aiwyn", content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 401 and answer.json()["error"] == "missing_header"
    assert "evt_tampered" not in stored_ids(service.db)


def test_a_replayed_event_is_answered_200_and_stored_once(service: Service) -> None:
    body = event_body("evt_replayed", 6)
    first, again = service.post_event(body), service.post_event(body)
    assert (first.status_code, again.status_code) == (200, 200)
    assert (first.json()["duplicate"], again.json()["duplicate"]) == (False, True)
    assert stored_ids(service.db).count("evt_replayed") == 1


def test_a_body_over_1_mib_is_413_and_malformed_json_is_400(service: Service) -> None:
    big = b'{"eventId": "evt_big", "pad": "' + b"x" * (1 << 20) + b'"}'
    answer = service.post_event(big)
    assert answer.status_code == 413 and answer.json()["error"] == "too_large"
    answer = service.post_event(b'{"eventId": "evt_broken", ')
    assert answer.status_code == 400 and answer.json()["error"] == "malformed_json"
    answer = service.post_event(b'{"eventId": "evt_incomplete", "entityType": "wip"}')
    assert answer.status_code == 400 and answer.json()["error"] == "missing_field"
    assert not {"evt_big", "evt_broken", "evt_incomplete"} & set(stored_ids(service.db))


def test_metrics_after_a_known_sequence_of_deliveries(cluster: SimulatorCluster, tmp_path: Path) -> None:
    """3 new events (one a DELETE), 1 replay, 1 bad signature, 1 too large, 1 malformed: the counters say exactly
    that, every event ends processed, the DELETE soft-deletes its record, and no secret is in either page."""
    db = tmp_path / "w.duckdb"
    started = time.time()
    with Service(db, serve_env(cluster, SECRET)) as service:
        service.ready()
        first, second, gone = wip_ids(cluster, 3)
        for n, (entity_id, operation) in enumerate([(first, "UPDATE"), (second, "UPDATE"), (gone, "DELETE")]):
            assert service.post_event(event_body(f"evt_{n}", entity_id, operation=operation)).status_code == 200
        assert service.post_event(event_body("evt_0", first)).json()["duplicate"] is True
        assert service.post_event(event_body("evt_9", first), secret=UNKNOWN).status_code == 401
        assert service.post_event(b"{" + b" " * (1 << 20) + b"}").status_code == 413
        assert service.post_event(b"not json").status_code == 400
        wait_until(lambda: service.metrics()["arwip_webhook_event_lag_seconds_count"] == 3, 60, "3 events synced")
        m = service.metrics()
        health = service.http.get("/healthz")
        pages = service.http.get("/metrics").text + health.text
        deleted = service.wait_log("marked deleted")
        assert service.stop() == 0
    assert m['arwip_webhook_events_received_total{source="aiwyn"}'] == 3
    assert m['arwip_webhook_events_deduplicated_total{source="aiwyn"}'] == 1
    rejected = {k: v for k, v in m.items() if k.startswith("arwip_webhook_events_rejected_total")}
    assert rejected == {'arwip_webhook_events_rejected_total{reason="no_match",source="aiwyn"}': 1,
                        'arwip_webhook_events_rejected_total{reason="too_large",source="aiwyn"}': 1,
                        'arwip_webhook_events_rejected_total{reason="malformed_json",source="aiwyn"}': 1}
    assert m["arwip_inbox_depth"] == 0
    assert m['arwip_syncs_total{kind="poll"}'] == 1 and m['arwip_syncs_total{kind="webhook"}'] >= 1
    for source in ("aiwyn", "aimsio", "iinsight"):
        assert m[f'arwip_source_last_success_timestamp_seconds{{source="{source}"}}'] >= int(started)
        assert m[f'arwip_source_rows_total{{source="{source}"}}'] > 0
        assert m[f'arwip_source_requests_total{{source="{source}"}}'] > 0
        assert m[f'arwip_source_failures_total{{source="{source}"}}'] == 0
        assert m[f'arwip_source_sync_duration_seconds_count{{source="{source}"}}'] >= 1
        assert 0 <= m[f'arwip_source_freshness_seconds{{source="{source}"}}'] < 600
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert SECRET.removeprefix("whsec_") not in pages and "whsec_" not in pages
    assert "1 marked deleted" in deleted[0]
