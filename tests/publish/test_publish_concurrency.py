"""Proof that BI can read the snapshot while syncs keep writing and publishing.

A separate reader process (``sys.executable``, the project's DuckDB) opens the *snapshot* read-only afresh
for every query, as a BI tool reconnecting does, and queries the report views in a loop. Meanwhile this
process plays 20 syncs: insert a batch of invoices into the warehouse, rebuild the models, write a marker
row with the report's row count and sum computed in the warehouse, publish. Every answer the reader gets
must be a whole publish — the report and raw aggregates equal to the marker of that same publish — and it
must never fail to open or lock the file. Nothing is timed.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from pipelines.models import build_models, create_missing_raw_tables
from pipelines.publish import publish_snapshot
from tests.reader_process import read_while

PUBLISHES = 20
BATCH = 200  # invoices per sync

READER = r"""
import json, sys, time
import duckdb

path, final_round, deadline = sys.argv[1], int(sys.argv[2]), time.monotonic() + float(sys.argv[3])
QUERY = '''
select m.round, m.report_rows, m.report_total, m.raw_rows, m.raw_total,
    (select count(*) from reports.rpt_ar_aging),
    (select sum(open_amount) from reports.rpt_ar_aging),
    (select sum(total) from reports.rpt_ar_aging_by_client),
    (select count(*) from aiwyn.invoices),
    (select sum(total_amount) from aiwyn.invoices)
from main.publish_marker as m
'''
errors, inconsistent, rounds, queries, finished = [], [], {}, 0, False
while time.monotonic() < deadline:  # a safety net against hanging forever, not a timing assertion
    try:
        con = duckdb.connect(path, read_only=True)
        try:
            row = con.execute(QUERY).fetchall()
        finally:
            con.close()
    except Exception as exc:
        errors.append(f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
        if len(errors) >= 20:
            break
        continue
    queries += 1
    if len(row) != 1:
        inconsistent.append(repr(row))
        continue
    rnd, m_rows, m_total, m_raw_rows, m_raw_total, rows, total, by_client, raw_rows, raw_total = row[0]
    if (rows, total, by_client, raw_rows, raw_total) != (m_rows, m_total, m_total, m_raw_rows, m_raw_total):
        inconsistent.append(repr(row[0]))
    rounds[rnd] = rounds.get(rnd, 0) + 1
    if queries == 1:
        print("ready", flush=True)
    if rnd >= final_round:
        finished = True
        break
print(json.dumps({"queries": queries, "rounds": rounds, "errors": errors, "inconsistent": inconsistent,
                  "finished": finished}), flush=True)
"""


def sync_round(warehouse: Path, rnd: int) -> tuple[int, str]:
    """One simulated sync: a batch of invoices, models rebuilt, the marker written; returns (rows, sum)."""
    with duckdb.connect(str(warehouse)) as con:
        if rnd == 0:
            create_missing_raw_tables(con)
            con.execute("create table aiwyn._dlt_loads (load_id varchar)")
        first = rnd * BATCH
        con.execute(
            """
            insert into aiwyn.invoices by name
            select range as id, 'A-' || range as invoice_number, 'Client ' || (range % 11) as client_name,
                'POSTED' as status, timestamptz '2024-01-01 08:00:00+00' - to_days(cast(range % 300 as integer))
                as invoice_date, timestamptz '2024-01-31 23:59:59+00' - to_days(cast(range % 300 as integer))
                as due_date, cast((range * 37) % 5000 + 0.07 * (range % 10) as decimal(18, 2)) as total_amount,
                timestamptz '2024-02-01 00:00:00+00' as updated_at
            from range(?, ?)
            """,
            [first, first + BATCH + rnd],  # batches of different sizes: every publish changes the answer
        )
        con.execute("insert into aiwyn._dlt_loads values (?)", [str(rnd)])
        build_models(con)  # as a sync does (some models are materialized as tables: a rebuild refreshes them)
        con.execute(
            """
            create or replace table main.publish_marker as
            select ? as round, r.report_rows, r.report_total, w.raw_rows, w.raw_total
            from (select count(*) as report_rows, sum(open_amount) as report_total from reports.rpt_ar_aging) as r,
                (select count(*) as raw_rows, sum(total_amount) as raw_total from aiwyn.invoices) as w
            """,
            [rnd],
        )
        rows, total = con.execute("select report_rows, report_total from main.publish_marker").fetchone()
    publish_snapshot(warehouse)
    return rows, str(total)


def test_reader_never_sees_a_lock_error_or_a_half_published_snapshot(tmp_path: Path) -> None:
    warehouse = tmp_path / "arwip.duckdb"
    snapshot = tmp_path / "arwip-bi.duckdb"
    answers = [sync_round(warehouse, 0)]

    def publish() -> None:
        for rnd in range(1, PUBLISHES + 1):
            answers.append(sync_round(warehouse, rnd))

    result = read_while(READER, [str(snapshot), str(PUBLISHES), "300"], publish, timeout_s=300)
    print(f"reader: {result['queries']} queries, saw {len(result['rounds'])} of {PUBLISHES + 1} publishes")

    assert result["errors"] == [], result["errors"][:5]  # no lock conflict, no unreadable file
    assert result["inconsistent"] == [], result["inconsistent"][:5]
    assert result["finished"], result
    assert {"0", str(PUBLISHES)} <= set(result["rounds"]), result["rounds"]
    assert result["queries"] >= 2
    assert len({rows for rows, _ in answers}) == PUBLISHES + 1  # every publish changed the report
    # the warehouse was never blocked by the reader, and only the snapshot and the warehouse remain
    assert sorted(p.name for p in tmp_path.iterdir()) == ["arwip-bi.duckdb", "arwip.duckdb"]
    with duckdb.connect(str(snapshot), read_only=True) as snap:
        dlt = "select count(*) from duckdb_tables() where table_name like '\\_dlt%' escape '\\'"
        assert snap.execute(dlt).fetchone()[0] == 0
        assert snap.execute("select count(*) from reports.rpt_ar_aging").fetchone()[0] == answers[-1][0]
