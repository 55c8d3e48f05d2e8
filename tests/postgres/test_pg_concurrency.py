"""Proof that readers of the PostgreSQL warehouse never see a half-built state (the test the DuckDB snapshot has,
tests/publish/test_publish_concurrency.py, on a server that needs no snapshot).

A separate reader process (``sys.executable``, plain psycopg2 as a BI tool uses it) queries the report views in
a loop, reconnecting now and then: one statement naming several views and models (AR aging, its by-client
summary, WIP outstanding, a staging model), and the data test that every report total equals the facts (18
relations of two schemas in one statement). Meanwhile this process runs real syncs (activity at the
simulators, then ``sync --reconcile``: load, build aside, data tests, swap) and, between them, more rebuilds
of the same data. Every answer the reader gets must be the answer of one build (recorded here after each
sync), the totals test must always return no rows, and the reader must never fail. Nothing is timed.
"""

from __future__ import annotations

import json
from pathlib import Path

from pipelines.models import ReportConfig, build_models
from pipelines.models.build import SQL_DIR
from pipelines.sync import sync
from pipelines.warehouse import POSTGRES, PostgresWarehouse
from tests.reader_process import read_while

SYNCS = 4
REBUILDS = 5  # between two syncs: swaps of the same answers

ANSWER = """
select (select count(*) from reports.rpt_ar_aging),
    (select sum(open_amount) from reports.rpt_ar_aging),
    (select sum(total) from reports.rpt_ar_aging_by_client),
    (select count(*) from reports.rpt_wip_outstanding),
    (select sum(outstanding_amount) from reports.rpt_wip_outstanding),
    (select sum(total) from reports.rpt_wip_outstanding_by_client),
    (select count(*) from staging.stg_aiwyn__invoices)
"""

READER = r"""
import json, sys, time
import psycopg2

dsn, answer, totals, stop, deadline = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], time.monotonic() + 600
errors, answers, mismatches, queries, con = [], {}, [], 0, None
while time.monotonic() < deadline:  # a safety net against hanging forever, not a timing assertion
    done = __import__("os").path.exists(stop)
    try:
        if con is None or queries % 25 == 0:
            if con is not None:
                con.close()
            con = psycopg2.connect(dsn)
            con.autocommit = True
        with con.cursor() as cur:
            cur.execute(answer)
            row = cur.fetchone()
            cur.execute(totals)
            bad = cur.fetchall()
    except Exception as exc:
        errors.append(f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
        con = None
        if len(errors) >= 20:
            break
        continue
    queries += 1
    key = json.dumps([str(v) for v in row])
    answers[key] = answers.get(key, 0) + 1
    if bad:
        mismatches.append(repr(bad[:3]))
    if queries == 1:
        print("ready", flush=True)
    if done:
        break
print(json.dumps({"queries": queries, "answers": answers, "errors": errors, "mismatches": mismatches}), flush=True)
"""


def answer(pg: PostgresWarehouse) -> str:
    with pg.connect() as con:
        return json.dumps([str(v) for v in con.fetch(ANSWER)[0]])


def test_readers_see_one_build_or_the_next_during_syncs(simulators, postgres_dsn, tmp_path: Path):
    sims = simulators("tiny")
    pg = PostgresWarehouse(postgres_dsn, state_dir=tmp_path / "pg-state")
    sync(pg)
    builds = [answer(pg)]
    totals = POSTGRES.render((SQL_DIR / "tests" / "assert_report_totals_match_facts.sql").read_text())
    stop = tmp_path / "stop"

    def sync_and_rebuild() -> None:
        for _ in range(SYNCS):
            sims.firm.activity(0.1)
            sync(pg, reconcile=True)
            builds.append(answer(pg))
            with pg.connect(read_only=False) as con:
                for _ in range(REBUILDS):
                    build_models(con, ReportConfig())
        stop.touch()

    result = read_while(READER, [postgres_dsn, ANSWER, totals, str(stop)], sync_and_rebuild)
    print(f"reader: {result['queries']} queries, {len(result['answers'])} different answers of {len(set(builds))}")

    assert result["errors"] == [], result["errors"][:5]
    assert result["mismatches"] == [], result["mismatches"][:5]  # report totals always equal the facts'
    assert set(result["answers"]) <= set(builds), set(result["answers"]) - set(builds)  # each from one build
    assert len(set(builds)) == SYNCS + 1  # every sync changed the answer
    assert len(result["answers"]) >= 2 and result["queries"] >= 10
