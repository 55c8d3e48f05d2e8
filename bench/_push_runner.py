"""One ``arwip push --apply`` in its own process, timed for the push benchmark (``bench/push_bench.py``).

``python bench/_push_runner.py --target aiwyn-records --args '{"type": "t", "sql": "q.sql", "key": "key"}' --db
w.duckdb --stats-url http://127.0.0.1:8701/_sim/stats`` runs :func:`pipelines.push.push` with the simulators'
credentials from the environment and prints one line ``RESULT {json}``: ``plan_s`` (start to the plan),
``apply_s`` (the plan to the last batch's outcome recorded: setup, the second reading of the input, every
request and every ledger write), ``total_s``, the rows ``applied`` / ``failed``, ``batches``, and from the
vendor's ``/_sim/stats`` before and after the apply phase its ``requests``, ``throttled`` (429s) and
``latency_ms`` (the latency the simulator charged, what the bound divides).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines.push import PushResult, push  # noqa: E402
from pipelines.push.sender import Sent  # noqa: E402

COUNTERS = ("requests", "throttled", "latency_ms_sum")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", required=True)
    parser.add_argument("--args", required=True, help="the target's options as JSON (files as paths)")
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--stats-url", required=True)
    options = parser.parse_args(argv)
    args: dict[str, Any] = json.loads(options.args)
    for name in ("sql", "csv"):
        if args.get(name):
            args[name] = Path(args[name])
    marks: dict[str, Any] = {}

    def stats() -> dict[str, float]:
        body = httpx.get(options.stats_url, timeout=30).json()
        return {k: float(body.get(k) or 0) for k in COUNTERS}

    def planned(result: PushResult) -> None:
        marks["plan"], marks["before"] = time.perf_counter(), stats()

    def progress(sent: Sent) -> None:
        marks["last"] = time.perf_counter()

    started = time.perf_counter()
    result = push(options.target, args, options.db, apply=True, on_plan=planned, on_progress=progress)
    ended = time.perf_counter()
    after = stats()
    delta = {k: after[k] - marks["before"][k] for k in COUNTERS}
    print("RESULT " + json.dumps({
        "plan_s": round(marks["plan"] - started, 3), "apply_s": round(marks.get("last", ended) - marks["plan"], 3),
        "total_s": round(ended - started, 3), "planned": dict(result.plan.counts),
        "applied": result.sent.counts["applied"], "failed": result.sent.counts["failed"],
        "batches": result.sent.batches, "requests": int(delta["requests"]), "throttled": int(delta["throttled"]),
        "latency_ms": round(delta["latency_ms_sum"], 1)}), flush=True)


if __name__ == "__main__":
    main()
