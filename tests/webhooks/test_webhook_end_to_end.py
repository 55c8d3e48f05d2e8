"""The receiver pieces together against the simulator: verify, parse and store each delivery before answering,
as `arwip serve` will; duplicated and badly signed deliveries end as exactly one stored event per change."""

from __future__ import annotations

from pathlib import Path

import httpx

from pipelines.inbox import Inbox
from simulators import Firm, SimSettings, SimulatorCluster, Webhooks
from sources.aiwyn.webhooks import WebhookRejected, WebhookVerifier, parse_event
from tests.webhooks.receiver import Receiver


def test_duplicated_and_badly_signed_deliveries_store_each_change_once(tmp_path: Path) -> None:
    settings = SimSettings(webhooks=Webhooks(retry_scale=0.01, duplicate=0.5, bad_signature=0.5, seed=2))
    verifier: list[WebhookVerifier] = []
    rejected: list[str] = []
    with Inbox(tmp_path / "inbox.sqlite") as inbox:
        def receive(headers: dict[str, str], body: bytes) -> int:
            try:
                verifier[0].verify(headers, body)
                inbox.store(parse_event(body))
            except WebhookRejected as exc:
                rejected.append(exc.reason)
                return exc.status
            return 204

        with SimulatorCluster(Firm(seed=4, size="tiny"), settings) as cluster, Receiver(receive) as receiver:
            aiwyn = httpx.Client(base_url=cluster.urls["aiwyn"])
            token = aiwyn.post("/v1/auth/token", json={"jwtApiKey": settings.jwt_api_key}).json()["accessToken"]
            aiwyn.headers["Authorization"] = f"Bearer {token}"
            sub = aiwyn.post("/api/v1/event-subscriptions", json={
                "name": "e2e", "url": receiver.url, "entityTypes": ["wip"], "operations": ["UPDATE"]}).json()["data"]
            verifier.append(WebhookVerifier(aiwyn.get(f"/api/v1/event-subscriptions/{sub['id']}/secret")
                                            .json()["data"]["secret"]))
            ids = aiwyn.post("/_sim/aiwyn/touch", json={"entity": "wip", "count": 10}).json()["ids"]
            faults = aiwyn.get("/_sim/stats").json()["faults"]
            receiver.wait_for(10 + faults["webhook_duplicate"], status=204)
        counters = inbox.counters()
        assert sorted(e.event.entity_id for e in inbox.pending()) == ids
        assert (counters.stored, counters.duplicates) == (10, faults["webhook_duplicate"])
        assert rejected == ["no_match"] * faults["webhook_bad_signature"] and 0 < len(rejected) < 10
