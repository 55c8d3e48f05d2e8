"""Fault injection: each kind at rate 1, counted in stats, reproducible from the fault seed."""

from __future__ import annotations

from dataclasses import replace

import httpx
import orjson
import pytest
from sim_clients import NOW, aimsio, aiwyn, iinsight

from simulators import Faults, Firm, FirmSize, SimSettings, SimulatorCluster

FIRM = Firm(seed=6, size="tiny", now=NOW)


def _cluster(firm: Firm = FIRM, **rates: float) -> SimulatorCluster:
    return SimulatorCluster(firm, SimSettings(faults=Faults(seed=1, **rates)))


def test_server_errors_use_the_vendor_error_body() -> None:
    with _cluster(error_5xx=1.0) as c:
        r = httpx.post(c.urls["aiwyn"] + "/v1/auth/token", json={"jwtApiKey": "sim-aiwyn-key"})
        assert r.status_code in (500, 502, 503) and "code" in r.json()["error"]
        r = httpx.post(c.urls["iinsight"] + "/auth/login")
        assert r.status_code in (500, 502, 503) and isinstance(r.json()["error"], str)
        assert httpx.get(c.urls["aiwyn"] + "/_sim/stats").json()["faults"] == {"error_5xx": 1}


def test_throttling_sends_retry_after() -> None:
    with _cluster(throttle_429=1.0) as c:
        r = httpx.get(c.urls["aimsio"] + "/rest/api/standard/v1/JobOrder", auth=("sim-user", "sim-pass"))
        assert r.status_code == 429 and r.headers["Retry-After"] == "1"
        assert c.stats["aimsio"]["faults"] == {"throttle_429": 1} and c.stats["aimsio"]["throttled"] == 1


def test_dropped_connection() -> None:
    with _cluster(drop_connection=1.0) as c, pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        httpx.post(c.urls["aiwyn"] + "/v1/auth/token", json={"jwtApiKey": "sim-aiwyn-key"})


def test_truncated_body() -> None:
    with SimulatorCluster(FIRM) as clean:
        full = aimsio(clean).get("/NonRecurringBillableItem").content
    with _cluster(truncate_body=1.0) as c:
        r = aimsio(c).get("/NonRecurringBillableItem")
        assert r.status_code == 200 and 0 < len(r.content) < len(full) and full.startswith(r.content)
        with pytest.raises(orjson.JSONDecodeError):
            orjson.loads(r.content)


def test_token_expires_mid_run() -> None:
    with _cluster(expire_token=1.0) as c:
        client = aiwyn(c)  # the token call carries no bearer: unaffected
        assert client.post("/gql/v1/wip", json={}).status_code == 401
        assert iinsight(c).get("/api1/invoices", params={"modified_since": "2000-01-01T00:00:00Z", "page": 1,
                                                         "satus": "active"}).status_code == 401
        assert c.stats["aiwyn"]["faults"]["expire_token"] == 1


def test_slow_response_is_counted() -> None:
    with SimulatorCluster(FIRM, SimSettings(faults=Faults(slow_response=1.0, slow_s=0.01))) as c:
        assert aimsio(c).get("/JobOrder").status_code == 200
        assert c.stats["aimsio"]["faults"] == {"slow_response": 1}


def test_page_shift_moves_a_served_iinsight_row_to_the_end() -> None:
    size = replace(FirmSize.preset("tiny"), iinsight_invoices=250, iinsight_voided_share=0, iinsight_reversed_share=0)
    firm = Firm(seed=2, size=size, now=NOW)
    with _cluster(firm, page_shift=1.0) as c:
        client = iinsight(c)
        pages = [client.get("/api1/invoices", params={"modified_since": "2000-01-01T00:00:00Z", "page": n,
                                                      "satus": "active"}).json() for n in (1, 2, 3, 4)]
        assert c.stats["iinsight"]["faults"]["page_shift"] == 3
    seen = [int(r["invoice_id"]) for page in pages for r in page]
    assert len(seen) == 250 and len(set(seen)) < 250  # naive page-number paging repeats and skips rows
    assert set(firm.truth().iinsight_invoices.column("invoice_id").to_pylist()) - set(seen)
    shifted = min(int(r["invoice_id"]) for r in pages[0])  # the row page 1 touched moved to the end
    assert shifted in [int(r["invoice_id"]) for r in pages[2]]


def test_page_shift_bumps_an_aiwyn_row_past_the_keyset() -> None:
    firm = Firm(seed=2, size="tiny", now=NOW)
    with _cluster(firm, page_shift=1.0) as c:
        rows = aiwyn(c).post("/gql/v1/wips/search", json={"pageSize": 5, "orderBy": [{"updatedAt": "asc"}]}).json()
        shifted = min(r["id"] for r in rows["deid_wip"])
        assert firm.query("SELECT updated_at FROM aiwyn_wip WHERE id = ?", [shifted])[0][0] == firm.now > NOW


def test_faults_are_reproducible_from_the_seed() -> None:
    def codes() -> list[int]:
        with SimulatorCluster(FIRM, SimSettings(faults=Faults(seed=42, error_5xx=0.3, throttle_429=0.2))) as c:
            client = httpx.Client(base_url=c.urls["aiwyn"])
            return [client.post("/v1/auth/token", json={"jwtApiKey": "sim-aiwyn-key"}).status_code for _ in range(30)]

    first, second = codes(), codes()
    assert first == second and len(set(first)) >= 3
