"""Soak: the chaos test for many rounds (not in CI).

    .venv/bin/python bench/soak.py --rounds 20 --size demo [--seed 1] [--rate 0.05] [--kill-every 3]

Serves a firm from the simulators with every fault on (5xx, 429 + Retry-After, dropped connections,
truncated bodies, responses slower than the client timeout, token revocations, rows moving while paged),
then runs N rounds of activity + ``arwip sync`` (a real child process; every ``--kill-every``-th round's sync
is killed with ``kill -9`` at a random request, or once loading started, and the next sync must recover),
reconciling the warehouse with the simulators' ground truth after each round and exactly after a final
sync with page shifts off (``tests/chaos/rounds.py``, ``tests/chaos/reconcile.py``).

Prints the faults injected, the retries the clients made, the rows quarantined, the differences found
(must be 0) and the known product bugs met. Exit code 0 when nothing unexplained was found, else 1.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from simulators import Faults, Firm, SimSettings, SimulatorCluster  # noqa: E402
from tests.chaos.harness import sync_env  # noqa: E402
from tests.chaos.rounds import ChaosPlan, run_chaos  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--rounds", type=int, default=10, help="rounds of activity + sync (default 10)")
    p.add_argument("--size", default="demo", help="firm size: tiny, demo, medium, large (default demo)")
    p.add_argument("--seed", type=int, default=1, help="seed of the firm, the faults and the kill points")
    p.add_argument("--rate", type=float, default=0.05, help="rate of each fault kind (default 0.05)")
    p.add_argument("--expire-rate", type=float, default=None, help="token revocations (default rate / 2.5)")
    p.add_argument("--page-shift-rate", type=float, default=None, help="rows moved while paged (default 2 x rate)")
    p.add_argument("--activity", type=float, default=0.02, help="share of every entity changed per round")
    p.add_argument("--kill-every", type=int, default=3, help="kill -9 the sync of every k-th round (0: never)")
    p.add_argument("--timeout", type=float, default=1.0, help="client timeout (s); slow responses take 2 x this")
    p.add_argument("--api-version", type=int, default=2, choices=(1, 2), help="iinsight API version (default 2)")
    p.add_argument("--workdir", type=Path, default=None, help="where the warehouse goes (default: a temp dir)")
    p.add_argument("--keep", action="store_true", help="keep the warehouse and dlt folders")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    rate = args.rate
    faults = Faults(
        seed=args.seed,
        error_5xx=rate,
        throttle_429=rate,
        retry_after_s=1,
        drop_connection=rate,
        truncate_body=rate,
        slow_response=rate,
        slow_s=2 * args.timeout,
        expire_token=rate / 2.5 if args.expire_rate is None else args.expire_rate,
        page_shift=2 * rate if args.page_shift_rate is None else args.page_shift_rate,
    )
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="arwip-soak-"))
    workdir.mkdir(parents=True, exist_ok=True)
    db = workdir / "soak.duckdb"
    kills = frozenset(range(args.kill_every, args.rounds, args.kill_every)) if args.kill_every else frozenset()
    plan = ChaosPlan(
        rounds=args.rounds,
        activity=args.activity,
        kill_rounds=kills,
        seed=args.seed,
        iinsight_api_version=args.api_version,
    )
    started = time.monotonic()

    def log(message: str) -> None:
        print(f"[{time.monotonic() - started:7.1f} s] {message}", flush=True)

    firm = Firm(seed=args.seed, size=args.size, now=datetime.now(UTC))
    log(f"firm {args.size} (seed {args.seed}): {firm.counts()}; warehouse {db}")
    timeout = {f"SOURCES__{s}__TIMEOUT_S": args.timeout for s in ("AIWYN", "AIMSIO", "IINSIGHT")}
    try:
        with SimulatorCluster(firm, SimSettings(faults=faults)) as cluster:
            env = sync_env(cluster, SOURCES__IINSIGHT__API_VERSION=args.api_version, **timeout)
            outcome = run_chaos(cluster, firm, db, env, plan, log)
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)

    problems = outcome.problems()
    final = outcome.final
    syncs = outcome.syncs()
    print()
    print(f"rounds:             {args.rounds} (+1 final), {len(syncs)} syncs in {time.monotonic() - started:.0f} s")
    print(f"kills (kill -9):    {len(outcome.kills)}" + "".join(f"\n  {k}" for k in outcome.kills))
    print(
        f"faults injected:    {sum(outcome.faults.values())} "
        + ", ".join(f"{k} {v}" for k, v in sorted(outcome.faults.items()))
    )
    for vendor, stats in outcome.simulators.items():
        print(f"  {vendor:9s} {stats['requests']} requests, statuses {stats['by_status']}")
    print(
        f"retries made:       {outcome.counters['retries']} (of {outcome.counters['requests']} requests the "
        f"syncs reported; {outcome.counters['reread']} rows re-read in lag windows)"
    )
    print(f"rows quarantined:   {final.quarantined if final else 'n/a'}")
    print(
        f"aimsio limiter:     {outcome.simulators['aimsio'].get('limited', 0)} refused (429), peak "
        f"{outcome.simulators['aimsio'].get('admitted_peak_per_s', 0)}/s"
    )
    print(f"differences found:  {len(problems)} unexplained" + (f"; final: {final.counts()}" if final else ""))
    print(f"transient failures: {len(outcome.transient)} (a source gave up after its retries; the next sync resumed)")
    for problem in problems:
        print("\n" + problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
