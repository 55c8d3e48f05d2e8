"""The chaos proof: several ``arwip sync`` rounds with activity between them, every fault the simulators can
inject switched on at a meaningful rate, one sync killed with ``kill -9`` at a random (seeded) point; after
the last round the warehouse equals the simulators' ground truth: zero missing, duplicate, extra or stale
rows, money sums equal to the cent, and the AR aging and WIP reports equal to the ones computed from the
truth (``tests/chaos/reconcile.py``).

A sync that gives up on a source after its retries is followed by another, as the next scheduled sync would
(``tests/chaos/rounds.py``); any other failure or difference fails the test.

Reproduce a run with ``ARWIP_CHAOS_SEED=<seed>``; ``bench/soak.py`` runs the same for many rounds.
"""

from __future__ import annotations

import os

from simulators import Faults, Firm, FirmSize, SimSettings
from tests.chaos.harness import NOW, sync_env
from tests.chaos.rounds import ChaosPlan, run_chaos

SEED = int(os.environ.get("ARWIP_CHAOS_SEED", "20261121"))
RATE = 0.05
SIZE = FirmSize(clients=8, wip=400, aiwyn_invoices=80, nrbs=20, job_orders=5, iinsight_invoices=260)
"""Big enough that every list is paged (Aiwyn pages of 50 in concurrent keyset slices, iinsight > 100 rows)."""


def chaos_faults(seed: int, rate: float = RATE) -> Faults:
    """Every fault kind at ``rate``, page shifts twice as often (few requests are list pages). A token
    revocation revokes every token of the vendor, so requests in flight meet a 401 right after their
    re-authentication too: they are retried. Slow responses take 2 s, beyond the 1 s client timeout the
    chaos syncs are given."""
    return Faults(seed=seed, error_5xx=rate, throttle_429=rate, retry_after_s=1, drop_connection=rate,
                  truncate_body=rate, slow_response=rate, slow_s=2.0, expire_token=rate, page_shift=2 * rate)


def chaos_env(cluster, **extra):
    """The sync environment of the chaos runs: API v2 (lists reversed invoices too), pages of 50 rows on
    Aiwyn, 1 s client timeouts (``SOURCES__<API>__TIMEOUT_S``)."""
    return sync_env(cluster, SOURCES__IINSIGHT__API_VERSION=2, SOURCES__AIWYN__PAGE_SIZE=50,
                    SOURCES__AIWYN__TIMEOUT_S=1, SOURCES__AIMSIO__TIMEOUT_S=1, SOURCES__IINSIGHT__TIMEOUT_S=1, **extra)


def test_chaos_rounds_end_equal_to_the_truth(cluster, tmp_path):
    firm = Firm(seed=7, size=SIZE, now=NOW)
    sims = cluster(firm, SimSettings(faults=chaos_faults(SEED)))
    db = tmp_path / "chaos.duckdb"
    log: list[str] = []
    outcome = run_chaos(sims, firm, db, chaos_env(sims), ChaosPlan(rounds=4, kill_rounds=frozenset({2}), seed=SEED),
                        log.append)
    story = f"seed {SEED}\n" + "\n".join(log)

    # the proof: every difference is accounted for, and the final sync left the warehouse equal to the truth
    assert outcome.problems() == [], story + "\n" + "\n".join(outcome.problems())
    assert outcome.final is not None and outcome.final.quarantined == 0, story
    assert len(outcome.kills) == 1, story
    # the faults really happened, and the clients retried through them
    assert set(outcome.faults) >= {"error_5xx", "throttle_429", "drop_connection", "truncate_body",
                                   "slow_response", "expire_token", "page_shift"}, outcome.faults
    assert outcome.counters["retries"] > 0, story
    # Aimsio: the client's own pacing keeps the API's limiter from ever refusing a request
    aimsio = outcome.simulators["aimsio"]
    assert aimsio["limited"] == 0 and aimsio["admitted_peak_in_flight"] <= 10, aimsio
    assert aimsio["admitted_peak_per_s"] <= 10, aimsio
