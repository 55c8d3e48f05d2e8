"""Chaos rounds: activity, ``arwip sync`` under faults (one of them killed with ``kill -9``), reconciliation.

Shared by ``tests/chaos/test_chaos_rounds.py`` (a few rounds on a small firm) and ``bench/soak.py`` (N rounds).
Each round applies a burst of activity to the firm (none before the first), runs ``arwip sync`` as a child
process and, once a sync completed, reconciles the warehouse with the truth (rows changed *during* that
sync by the ``page_shift`` fault may still be stale, or missing when the answer that served them was lost:
they are "in flight", see :mod:`tests.chaos.reconcile_tables`). A killed sync, or one that
failed the way a scheduled run can fail, is followed by another one, as the scheduler would. After the
last round the ``page_shift`` fault is switched off and one more sync runs: the warehouse must then equal
the truth exactly.

A sync that gives up on a source after its retries (``failed after N attempts``: at chaos fault rates a
request can meet a fault on every attempt) is a *transient* failure: counted, and followed by the next sync.
Anything else that fails, hangs or leaves a difference is ``unexpected`` (see :meth:`ChaosOutcome.problems`).
"""

from __future__ import annotations

import dataclasses
import random
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from simulators import Firm, SimulatorCluster
from tests.chaos.harness import SyncResult, fault_counts, loading, run_sync, total_requests
from tests.chaos.reconcile import Reconciliation, reconcile

_TRANSIENT = re.compile(r"failed after \d+ attempts")
_PROGRESS = re.compile(r"^\s+(\w+)\.(\w+): ([\d,]+) rows fetched, ([\d,]+) requests(?: \((.*)\))?\s*$")


def is_transient(result: SyncResult) -> bool:
    """Whether a failed sync gave up on a source after its retries (the next scheduled sync carries on)."""
    return not result.hung and result.returncode == 1 and bool(_TRANSIENT.search(result.error_message()))


def progress(stderr: str) -> Counter[str]:
    """Totals of the per-resource progress lines of ``arwip sync``: rows, requests, retries, quarantined,
    re-read, deleted."""
    out: Counter[str] = Counter()
    for line in stderr.splitlines():
        m = _PROGRESS.match(line)
        if not m:
            continue
        out["rows"] += int(m.group(3).replace(",", ""))
        out["requests"] += int(m.group(4).replace(",", ""))
        for part in (m.group(5) or "").split(", "):
            n, _, what = part.partition(" ")
            if n.replace(",", "").isdigit():
                key = {"re-read": "reread"}.get(what.split(" ")[0], what.split(" ")[0])
                out[key] += int(n.replace(",", ""))
    return out


@dataclass
class Round:
    """One round: the syncs it took (killed or failed ones first) and the reconciliation after it."""

    index: int
    syncs: list[SyncResult] = field(default_factory=list)
    reconciliation: Reconciliation | None = None
    activity: dict[str, Any] | None = None
    completed: bool = False


@dataclass
class ChaosOutcome:
    """What the rounds did and found."""

    rounds: list[Round] = field(default_factory=list)
    final: Reconciliation | None = None
    transient: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    kills: list[str] = field(default_factory=list)
    counters: Counter[str] = field(default_factory=Counter)
    faults: dict[str, int] = field(default_factory=dict)
    simulators: dict[str, dict[str, Any]] = field(default_factory=dict)

    def syncs(self) -> list[SyncResult]:
        return [s for r in self.rounds for s in r.syncs]

    def problems(self) -> list[str]:
        """Unexpected failures and differences (must be empty). A round whose syncs all failed transiently is
        not checked (the next round's sync catches up); the final sync must complete."""
        out = list(self.unexpected)
        for r in self.rounds:
            rec = r.reconciliation
            if r.completed and rec is not None and rec.differences:
                out.append(f"round {r.index}:\n{rec.summary()}")
        if self.final is None or not self.rounds[-1].completed:
            out.append("no successful final sync")
        elif self.final.differences or self.final.in_flight:
            out.append(f"final:\n{self.final.summary()}")
        return out


@dataclass
class ChaosPlan:
    """The knobs of :func:`run_chaos`."""

    rounds: int = 4
    activity: float = 0.05
    kill_rounds: frozenset[int] = frozenset({2})
    seed: int = 1
    max_attempts: int = 4
    final_attempts: int = 8
    hang_grace_s: float = 5.0
    iinsight_api_version: int = 2


def set_page_shift(cluster: SimulatorCluster, rate: float) -> None:
    """Change the ``page_shift`` fault rate of the running simulators (the other faults are kept)."""
    for app in cluster.apps.values():
        plan = app.state.vendor.faults
        plan.faults = dataclasses.replace(plan.faults, page_shift=rate)


def run_chaos(
    cluster: SimulatorCluster,
    firm: Firm,
    db: Path,
    env: dict[str, str],
    plan: ChaosPlan,
    log: Callable[[str], None] = lambda _: None,
) -> ChaosOutcome:
    """Run ``plan.rounds`` rounds plus the final quiet-paging sync; see the module docstring."""
    rng = random.Random(plan.seed)
    out = ChaosOutcome()
    last_requests = 50
    for index in range(plan.rounds):
        rnd = Round(index)
        if index:
            rnd.activity = firm.activity(plan.activity)
        started = datetime.now(UTC).replace(microsecond=0)
        before = total_requests(cluster)
        _sync_until_done(cluster, db, env, plan, rnd, out, rng, index in plan.kill_rounds, last_requests, log)
        last_requests = max(10, total_requests(cluster) - before)
        rnd.reconciliation = reconcile(db, firm, in_flight_since=started,
                                       iinsight_api_version=plan.iinsight_api_version)
        out.rounds.append(rnd)
        log(f"round {index}: {len(rnd.syncs)} sync(s){'' if rnd.completed else ' (none completed)'}, "
            f"{rnd.reconciliation.differences} difference(s), {rnd.reconciliation.in_flight} in flight")
    set_page_shift(cluster, 0.0)
    last = Round(plan.rounds)
    _sync_until_done(cluster, db, env, dataclasses.replace(plan, max_attempts=plan.final_attempts), last, out, rng,
                     False, last_requests, log)
    out.rounds.append(last)
    out.final = reconcile(db, firm, iinsight_api_version=plan.iinsight_api_version)
    log(f"final: {out.final.differences} difference(s)")
    out.faults = fault_counts(cluster)
    out.simulators = cluster.stats
    for s in out.syncs():
        out.counters.update(progress(s.stderr))
    return out


def _sync_until_done(
    cluster: SimulatorCluster,
    db: Path,
    env: dict[str, str],
    plan: ChaosPlan,
    rnd: Round,
    out: ChaosOutcome,
    rng: random.Random,
    kill: bool,
    span: int,
    log: Callable[[str], None],
) -> None:
    for _ in range(plan.max_attempts):
        kill_when = None
        if kill:  # at a random request of the extraction, or (if it ends first) once loading started
            at = total_requests(cluster) + rng.randint(1, span)
            kill_when = lambda at=at: total_requests(cluster) >= at or loading(db)  # noqa: E731
        result = run_sync(db, env, kill_when=kill_when, on_kill=lambda: total_requests(cluster),
                          hang_grace_s=plan.hang_grace_s)
        rnd.syncs.append(result)
        if result.killed:
            kill = False
            what = "while loading" if loading(db) else f"at request {result.requests_at_kill}"
            out.kills.append(f"round {rnd.index}: kill -9 {what} after {result.seconds:.1f} s")
            log(out.kills[-1])
            continue
        if result.returncode == 0 and not result.hung:
            rnd.completed = True
            return
        if not is_transient(result):
            out.unexpected.append(f"round {rnd.index}: {result.describe()}")
            log(out.unexpected[-1])
            return
        out.transient.append(f"round {rnd.index}: {result.error_message()[:200]}")
        log(f"round {rnd.index}: transient failure, syncing again: {result.error_message()[:200]}")
    log(f"round {rnd.index}: no successful sync in {plan.max_attempts} attempts")
