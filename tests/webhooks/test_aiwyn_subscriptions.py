"""The Aiwyn subscription API client (sources/aiwyn/subscriptions.py) against the simulator over loopback, and
its secrets verifying real deliveries."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar

import httpx
import pytest

from simulators import Firm, SimSettings, SimulatorCluster, Webhooks
from sources._http import ApiClient, HttpSettings, SourceError
from sources.aiwyn import subscriptions as subs
from sources.aiwyn.client import aiwyn_client
from sources.aiwyn.webhooks import WebhookVerifier, parse_event
from tests.webhooks.receiver import Receiver

T = TypeVar("T")


def call(cluster: SimulatorCluster, fn: Callable[[ApiClient], Awaitable[T]]) -> T:
    """Run `fn(client)` with an Aiwyn client of the cluster on a loop of its own."""
    async def run() -> T:
        client = aiwyn_client(cluster.urls["aiwyn"], cluster.settings.jwt_api_key, HttpSettings(max_attempts=2))
        try:
            return await fn(client)
        finally:
            await client.aclose()
    return asyncio.run(run())


@pytest.fixture(scope="module")
def cluster() -> Iterator[SimulatorCluster]:
    with SimulatorCluster(Firm(seed=5, size="tiny"), SimSettings(webhooks=Webhooks(retry_scale=0.01))) as running:
        yield running


def test_catalog_create_list_secret_rotate_delete(cluster: SimulatorCluster) -> None:
    assert call(cluster, subs.catalog) == {e: ("CREATE", "UPDATE", "DELETE") for e in ("wip", "invoice", "payment")}
    every = call(cluster, lambda c: subs.create_subscription(c, "https://arwip.example.com/webhooks/aiwyn"))
    assert (every.entity_types, every.operations, every.active, every.name) == (
        ("wip", "invoice", "payment"), ("CREATE", "UPDATE", "DELETE"), True, "arwip")
    some = call(cluster, lambda c: subs.create_subscription(c, "https://b.example/h", ["payment", "payment"],
                                                            ["DELETE"], name="deletes"))
    assert (some.entity_types, some.operations) == (("payment",), ("DELETE",))
    listed = call(cluster, subs.list_subscriptions)
    assert [s.id for s in listed][-2:] == [every.id, some.id] and listed[-1] == some
    secret = call(cluster, lambda c: subs.get_secret(c, some.id))
    rotated = call(cluster, lambda c: subs.rotate_secret(c, some.id))
    assert secret.startswith("whsec_") and rotated.startswith("whsec_") and rotated != secret
    assert call(cluster, lambda c: subs.get_secret(c, some.id)) == rotated
    call(cluster, lambda c: subs.delete_subscription(c, some.id))
    assert [s.active for s in call(cluster, subs.list_subscriptions) if s.id == some.id] == [False]


def test_errors_name_what_is_wrong(cluster: SimulatorCluster) -> None:
    for fn in (lambda c: subs.delete_subscription(c, 999), lambda c: subs.get_secret(c, 999),
               lambda c: subs.rotate_secret(c, 999)):
        with pytest.raises(SourceError, match="999") as caught:
            call(cluster, fn)
        assert caught.value.status == 404
    with pytest.raises(SourceError, match="no such event entity type client; the catalog has wip, invoice"):
        call(cluster, lambda c: subs.create_subscription(c, "https://a.example/h", ["client"]))
    with pytest.raises(SourceError, match=r"HTTP 400.*url") as refused:
        call(cluster, lambda c: subs.create_subscription(c, "not-a-url"))
    assert refused.value.status == 400


def test_the_secret_from_the_client_verifies_deliveries(cluster: SimulatorCluster) -> None:
    with Receiver() as receiver:
        sub = call(cluster, lambda c: subs.create_subscription(c, receiver.url, ["invoice"]))
        verifier = WebhookVerifier(call(cluster, lambda c: subs.get_secret(c, sub.id)))
        touched = httpx.post(cluster.urls["aiwyn"] + "/_sim/aiwyn/touch", json={"entity": "invoice", "count": 2})
        got = receiver.wait_for(2)
        for r in got:
            verifier.verify(r.headers, r.body)
        assert sorted(parse_event(r.body).entity_id for r in got) == touched.json()["ids"]
        call(cluster, lambda c: subs.delete_subscription(c, sub.id))
