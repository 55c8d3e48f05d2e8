"""Knobs of the simulated vendor APIs: credentials, token lifetimes, latency, Aimsio limits, faults, webhooks.

Everything is off or permissive by default (no latency, no faults, the documented Aimsio limits of
CONTRACT.md: 10 requests per second, 10 in flight, 5 s of queueing before a 429).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Faults:
    """Per-request fault rates (probabilities in [0, 1]), all 0 by default.

    Every non-admin request draws once per kind, in the order of the fields below, from a
    `random.Random` seeded with `seed` (and the vendor name), so a sequential client sees the same
    faults on every run. The first kind hit wins, except `slow_response`, which delays and continues.

    - `error_5xx`: answer 500/502/503 with the vendor's error body.
    - `throttle_429`: answer 429 with `Retry-After: retry_after_s` (seconds).
    - `drop_connection`: send the response head, then close the connection without a body.
    - `truncate_body`: a valid HTTP response whose JSON body is cut in half (Content-Length adjusted).
    - `slow_response`: wait `slow_s` seconds before handling the request.
    - `expire_token`: revoke every access token of the vendor before handling (→ 401 on bearer calls).
    - `page_shift`: on list endpoints, after the page is rendered, touch a row already served (its
      update timestamp jumps past every other one), so it moves to the end of the paging order.
    """

    seed: int = 0
    error_5xx: float = 0.0
    throttle_429: float = 0.0
    retry_after_s: int = 1
    drop_connection: float = 0.0
    truncate_body: float = 0.0
    slow_response: float = 0.0
    slow_s: float = 2.0
    expire_token: float = 0.0
    page_shift: float = 0.0

    @property
    def any(self) -> bool:
        """True when at least one fault kind has a non-zero rate."""
        return any(
            r > 0
            for r in (
                self.error_5xx,
                self.throttle_429,
                self.drop_connection,
                self.truncate_body,
                self.slow_response,
                self.expire_token,
                self.page_shift,
            )
        )


@dataclass(frozen=True)
class Webhooks:
    """Aiwyn webhook delivery (CONTRACT.md "Aiwyn event subscriptions") and its faults.

    Delivery: `concurrency` requests at once from a queue of at most `queue_size` deliveries (a delivery
    that finds it full is dropped and counted); an attempt that is not answered 2xx within `timeout_s`
    is retried after each of `retry_delays_s` in turn (× `retry_scale`; tests use e.g. 0.01), then
    dropped. After `POST …/secret/rotate` the old secret keeps signing for `rotation_overlap_s`. The
    delivery log (`GET /_sim/aiwyn/deliveries`) keeps the last `log_size` attempts.

    Faults (probabilities in [0, 1], all 0 by default) are drawn per delivery when it is queued, in the
    order below, from a `random.Random` seeded with `seed`, so the same changes meet the same faults:

    - `drop`: never sent (counted as dropped);
    - `duplicate`: sent twice (two deliveries with the same `eventId`);
    - `reorder`: held back `reorder_delay_s` (× `retry_scale`) so later deliveries overtake it;
    - `bad_signature`: the first attempt carries a signature made with a wrong key;
    - `stale_timestamp`: the first attempt's `X-Aiwyn-Timestamp` (and signature) is `stale_by_s` old.

    A receiver that rejects a bad first attempt (4xx) gets the delivery again, correct, on the retry.
    """

    retry_delays_s: tuple[float, ...] = (1.0, 5.0, 30.0, 120.0, 600.0)
    retry_scale: float = 1.0
    timeout_s: float = 10.0
    concurrency: int = 16
    queue_size: int = 100_000
    rotation_overlap_s: float = 86_400.0
    log_size: int = 10_000
    seed: int = 0
    drop: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    reorder_delay_s: float = 2.0
    bad_signature: float = 0.0
    stale_timestamp: float = 0.0
    stale_by_s: int = 3600


@dataclass(frozen=True)
class SimSettings:
    """Behaviour of the three simulators (one instance shared by a `SimulatorCluster`).

    Times are seconds unless the name says `_ms`. Latency: every API response leaves
    `latency_base_ms + latency_per_row_ms × rows_in_response` after its route began (after the Aimsio limiter),
    the simulator's own work included, slept with `asyncio.sleep` so concurrent requests overlap as they would
    against a real server (`Vendor.delay`).
    """

    aiwyn_token_ttl_s: int = 3600
    iinsight_token_ttl_s: int = 3600
    aimsio_rate_per_s: int = 10
    aimsio_max_in_flight: int = 10
    aimsio_max_queue_wait_s: float = 5.0
    aimsio_bare_array: bool = False
    latency_base_ms: float = 0.0
    latency_per_row_ms: float = 0.0
    jwt_api_key: str = "sim-aiwyn-key"
    aimsio_username: str = "sim-user"
    aimsio_password: str = "sim-pass"
    iinsight_client_id: str = "sim-client"
    iinsight_client_secret: str = "sim-secret"
    iinsight_username: str = "sim-user"
    iinsight_password: str = "sim-pass"
    faults: Faults = field(default_factory=Faults)
    aiwyn_record_failures: frozenset[str] = frozenset()
    """Aiwyn Records API fault knob: systemRef ids (`"A-7"`, or `"A-7:amount"` to name the error's field) whose
    record writes fail with `VALIDATION_ERROR`, to test partial failures; `POST /_sim/records/failures` on the
    Aiwyn app changes the set at run time."""
    webhooks: Webhooks = field(default_factory=Webhooks)
    """Aiwyn webhook delivery: retries (`retry_scale` speeds them up for tests) and delivery faults."""
    endpoints_off: frozenset[str] = frozenset()
    endpoints_forbidden: frozenset[str] = frozenset()
    """Optional endpoints (CONTRACT.md "Optional endpoints") answering 404 / 403 from the start, named
    `<vendor>.<entity>`, e.g. `aimsio.job_orders`; switch them at run time with
    `SimulatorCluster.set_endpoint` or `POST /_sim/endpoints`."""
