"""Knobs of the simulated vendor APIs: credentials, token lifetimes, latency, Aimsio limits, faults.

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
class SimSettings:
    """Behaviour of the three simulators (one instance shared by a `SimulatorCluster`).

    Times are seconds unless the name says `_ms`. Latency: every API response is delayed by
    `latency_base_ms + latency_per_row_ms × rows_in_response` with `asyncio.sleep`, so concurrent
    requests overlap as they would against a real server.
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
    endpoints_off: frozenset[str] = frozenset()
    endpoints_forbidden: frozenset[str] = frozenset()
    """Optional endpoints (CONTRACT.md "Optional endpoints") answering 404 / 403 from the start, named
    `<vendor>.<entity>`, e.g. `aimsio.job_orders`; switch them at run time with
    `SimulatorCluster.set_endpoint` or `POST /_sim/endpoints`."""
