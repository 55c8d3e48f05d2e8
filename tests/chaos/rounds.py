"""Chaos rounds: activity, ``arwip sync`` under faults (one of them killed with ``kill -9``), reconciliation.

Shared by ``tests/chaos/test_chaos_rounds.py`` (a few rounds on a small firm) and ``bench/soak.py`` (N rounds).
Each round applies a burst of activity to the firm (none before the first), runs ``arwip sync`` as a child
process and, once a sync completed, reconciles the warehouse with the truth (rows changed *during* that
sync by the ``page_shift`` fault may still be stale: they are "in flight"). A killed sync, or one that
failed the way a scheduled run can fail, is followed by another one, as the scheduler would. After the
last round the ``page_shift`` fault is switched off and one more sync runs: the warehouse must then equal
the truth exactly.

Failures of the product that are known and reported (see ``KNOWN``) are recorded, not raised: the chaos test
turns them into an xfail after it checked everything else; anything else is ``unexpected``.
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

KNOWN: dict[str, str] = {
    "reauth-401-twice": "a 401 after the one re-authentication of a request (token revoked again) fails the "
    "whole sync as a configuration error (sources/_http.py ApiClient.request / _interpret)",
    "hang-after-failure": "after a failed extraction the process never exits: a queue put parked in the HTTP "
    "loop's executor is never released (sources/_http.py Session.iterate)",
    "stuck-after-kill-in-normalize": "killed between dlt's normalize commit and the removal of the extracted "
    "package, the pipeline fails at step=normalize on every later run (pipelines/sync.py sync_source resumes "
    "pending packages without repairing the half-committed one)",
    "merge-keeps-older-version": "a record read twice in one run (changed while paging) is loaded in both "
    "versions and the merge keeps the older one; the watermark's boundary de-dup then never reads it again "
    "(no dedup_sort on the change timestamp; sources/_incremental.py, sources/iinsight/__init__.py)",
}
_SIGNATURES = {
    "reauth-401-twice": re.compile(r"was refused \(HTTP 401\)"),
    "stuck-after-kill-in-normalize": re.compile(r"failed at `step=normalize`"),
}
_PROGRESS = re.compile(r"^\s+(\w+)\.(\w+): ([\d,]+) rows fetched, ([\d,]+) requests(?: \((.*)\))?\s*$")


def classify(result: SyncResult) -> list[str]:
    """The known bugs a failed sync shows (empty: unexpected failure)."""
    text = result.error_message()
    found = [name for name, pattern in _SIGNATURES.items() if pattern.search(text)]
    if result.hung:
        found.append("hang-after-failure")
    return found


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
    data_tests_failed: bool = False
    completed: bool = False


@dataclass
class ChaosOutcome:
    """What the rounds did and found."""

    rounds: list[Round] = field(default_factory=list)
    final: Reconciliation | None = None
    known: Counter[str] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)
    kills: list[str] = field(default_factory=list)
    counters: Counter[str] = field(default_factory=Counter)
    faults: dict[str, int] = field(default_factory=dict)
    simulators: dict[str, dict[str, Any]] = field(default_factory=dict)

    def syncs(self) -> list[SyncResult]:
        return [s for r in self.rounds for s in r.syncs]

    def problems(self) -> list[str]:
        """Differences and failures that are not known bugs (must be empty). A round whose syncs all failed with
        known bugs is not reconciled (the next round's sync catches up); the final sync must complete."""
        out = list(self.unexpected)
        for r in self.rounds:
            rec = r.reconciliation
            if r.completed and rec is not None and rec.differences - rec.superseded:
                out.append(f"round {r.index}:\n{rec.summary()}")
        if self.final is None or not self.rounds[-1].completed:
            out.append("no successful final sync")
        elif self.final.differences - self.final.superseded or self.final.in_flight:
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
        _check_round(rnd, rnd.reconciliation, out)
        out.rounds.append(rnd)
        log(f"round {index}: {len(rnd.syncs)} sync(s){'' if rnd.completed else ' (none completed)'}, "
            f"{rnd.reconciliation.differences} difference(s) "
            f"({rnd.reconciliation.superseded} superseded), {rnd.reconciliation.in_flight} in flight")
    set_page_shift(cluster, 0.0)
    last = Round(plan.rounds)
    _sync_until_done(cluster, db, env, dataclasses.replace(plan, max_attempts=plan.final_attempts), last, out, rng,
                     False, last_requests, log)
    out.rounds.append(last)
    out.final = reconcile(db, firm, iinsight_api_version=plan.iinsight_api_version)
    _check_round(last, out.final, out)
    log(f"final: {out.final.differences} difference(s) ({out.final.superseded} superseded)")
    out.faults = fault_counts(cluster)
    out.simulators = cluster.stats
    for s in out.syncs():
        out.counters.update(progress(s.stderr))
    return out


def _check_round(rnd: Round, rec: Reconciliation, out: ChaosOutcome) -> None:
    if rec.superseded:
        out.known["merge-keeps-older-version"] += 1
    elif rnd.data_tests_failed:
        out.unexpected.append(f"round {rnd.index}: the data tests failed (exit 4) with no superseded row")


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
        if result.returncode == 4 and not result.hung:  # loaded; the data tests found an inconsistency
            rnd.completed = rnd.data_tests_failed = True
            log(f"round {rnd.index}: data tests failed (exit 4): {result.error_message()[:200]}")
            return
        known = classify(result)
        if not known or (result.hung and len(known) == 1 and not result.error_message()):
            out.unexpected.append(f"round {rnd.index}: {result.describe()}")
            log(out.unexpected[-1])
            return
        out.known.update(known)
        log(f"round {rnd.index}: known bug(s) {known}: {result.error_message()[:200]}")
    # every attempt failed with known bugs: the next round (the next scheduled sync) carries on
    log(f"round {rnd.index}: no successful sync in {plan.max_attempts} attempts")
