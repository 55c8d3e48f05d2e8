"""The shared HTTP client (``sources._http.ApiClient``) and the sources' token exchanges against the
simulators over real HTTP: ``Retry-After``, tokens expiring mid-run."""

from __future__ import annotations

import asyncio

import httpx
import orjson
import pytest

from simulators.settings import Faults, SimSettings
from sources._http import ApiClient, HttpSettings
from sources._http.client import _Wait
from sources.aiwyn.client import aiwyn_client
from sources.iinsight.client import iinsight_client

SEARCH = ("POST", "/gql/v1/wips/search", {"json": {"pageSize": 1}})
INVOICES = ("GET", "/api2/invoices", {"params": {"modified_since": "2000-01-01T00:00:00Z", "page": 1,
                                                 "status": "active"}})


def _client(sims, vendor: str) -> ApiClient:
    s, url = sims.settings, sims.urls[vendor]
    http = HttpSettings(backoff_max_s=0.2)
    if vendor == "aiwyn":
        return aiwyn_client(url, s.jwt_api_key, http)
    return iinsight_client(url, s.iinsight_client_id, s.iinsight_client_secret, s.iinsight_username,
                           s.iinsight_password, http)


def _calls(client: ApiClient, call, between=None, times: int = 2):
    """Run ``call`` ``times`` times with the client (``between()`` after the first); returns the bodies."""

    async def go():
        try:
            bodies = []
            for i in range(times):
                if i == 1 and between:
                    between()
                method, path, kwargs = call
                bodies.append(await client.request(method, path, **kwargs))
            return bodies
        finally:
            await client.aclose()

    return asyncio.run(go())


def _paths(seen: list[str]):
    def after(scope, status, body):
        seen.append(f"{scope['path']} {status}")

    return after


def test_retry_after_is_the_wait_before_the_retry_capped_by_the_backoff_limit(cluster, monkeypatch):
    """A 429 says how long to wait: the retry waits exactly that (not a random backoff), at most the cap."""
    waits: list[float] = []
    real = _Wait.__call__
    monkeypatch.setattr(_Wait, "__call__", lambda self, state: waits.append(real(self, state)) or waits[-1])
    answers = iter([("0.3", 429), ("120", 429)])

    def before(scope):
        if scope["path"] == SEARCH[1]:
            after, status = next(answers, (None, None))
            if status:
                return status, b'{"error": {"code": "RATE_LIMITED", "message": "slow down"}}', {"Retry-After": after}
        return None

    sims = cluster("tiny", before={"aiwyn": before})
    client = _client(sims, "aiwyn")
    client.settings = HttpSettings(backoff_max_s=0.5)  # the cap of every wait
    (body,) = _calls(client, SEARCH, times=1)
    assert body and waits == [0.3, 0.5] and client.stats.retries == 2, (waits, client.stats)


@pytest.mark.parametrize("vendor", ["aiwyn", "iinsight"])
def test_tokens_revoked_mid_run_are_renewed_once(cluster, vendor):
    seen: list[str] = []
    sims = cluster("tiny", after={vendor: _paths(seen)})
    client = _client(sims, vendor)
    call = SEARCH if vendor == "aiwyn" else INVOICES
    bodies = _calls(client, call, between=lambda: httpx.post(sims.urls[vendor] + "/_sim/expire-tokens"))
    assert all(bodies) and client.stats.reauths == 1, (client.stats, seen)
    if vendor == "iinsight":  # renewed with the refresh token, not a new login
        assert [p for p in seen if p.startswith("/auth/")] == ["/auth/login 200", "/auth/refresh 200"], seen


def test_iinsight_refresh_answer_lost_after_rotation_logs_in_again(cluster):
    """The refresh answer is cut in half (the simulators' truncate_body fault) after the server rotated the
    refresh token: the retry with the old token is refused (400 invalid_grant); the client logs in again."""
    seen: list[str] = []

    def after(scope, status, body):
        seen.append(f"{scope['path']} {status}")
        if scope["path"] == "/auth/refresh" and status == 200 and seen.count("/auth/refresh 200") == 1:
            return body[: len(body) // 2]
        return None

    sims = cluster("tiny", after={"iinsight": after})
    client = _client(sims, "iinsight")
    bodies = _calls(client, INVOICES, between=lambda: httpx.post(sims.urls["iinsight"] + "/_sim/expire-tokens"))
    assert all(bodies), seen
    assert [p for p in seen if p.startswith("/auth/")] == [
        "/auth/login 200", "/auth/refresh 200", "/auth/refresh 400", "/auth/login 200"], seen


def test_a_token_revoked_again_right_after_reauthentication_is_retried(cluster):
    revoked: list[str] = []

    def before(scope):
        bearer = any(k == b"authorization" and v.startswith(b"Bearer ") for k, v in scope["headers"])
        if scope["path"] == SEARCH[1] and bearer and len(revoked) < 2:
            revoked.append(scope["path"])
            return 401, orjson.dumps({"error": {"code": "UNAUTHORIZED", "message": "token revoked"}})
        return None

    sims = cluster("tiny", before={"aiwyn": before})
    client = _client(sims, "aiwyn")
    (body,) = _calls(client, SEARCH, times=1)
    assert body and client.stats.reauths >= 1


def test_a_revoked_token_costs_only_the_requests_in_flight_with_it(cluster):
    """Tokens revoked again and again under hundreds of concurrent detail calls: each revocation refuses at
    most the requests already sent with the old token (the budget of 8); a call that was waiting for a slot
    meanwhile waits for the new token instead of sending the revoked one (which cost ~20 refusals each)."""
    sims = cluster("tiny", settings=SimSettings(faults=Faults(seed=5, expire_token=0.03)))
    client = _client(sims, "aiwyn")
    ids = [i for (i,) in sims.firm.query("SELECT id FROM aiwyn_invoices ORDER BY id")]
    paths = [f"/gql/v1/invoice/{i}" for i in ids] * 20

    async def go():
        try:
            return await client.details(paths)
        finally:
            await client.aclose()

    answers = asyncio.run(go())
    revoked = sims.stats["aiwyn"]["faults"]["expire_token"]
    refused = client.stats.by_status.get(401, 0)
    assert [a["id"] for a in answers] == [int(p.rsplit("/", 1)[1]) for p in paths]
    assert revoked >= 5 and refused <= client.settings.max_in_flight * revoked, (revoked, client.stats)
