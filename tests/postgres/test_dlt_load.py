"""dlt's postgres destination, credentials from ``DESTINATION__POSTGRES__CREDENTIALS``, loads Arrow tables as
Parquet through ADBC (``adbc-driver-postgresql``), columnar, with arwip's types kept: money numeric(18,2),
UTC timestamps timestamptz, dates date. Without ADBC dlt falls back to CSV (COPY)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import dlt
import psycopg2
import pyarrow as pa
import pytest
from dlt.destinations.impl.postgres.postgres import PostgresParquetCopyJob

from simulators import Firm
from sources.aiwyn.settings import WIP
from tests.conftest import NOW


@pytest.fixture(scope="module")
def wip() -> pa.Table:
    """The tiny firm's Aiwyn WIP entries, typed as the source loads them (120 rows)."""
    return Firm(size="tiny", now=NOW).truth().aiwyn_wip.cast(WIP.arrow_schema())


def _load(wip: pa.Table, tmp_path: Path) -> tuple[set[tuple[str, str]], dlt.Pipeline]:
    """Load ``wip`` as the sources do (Parquet, merged on the key, ``_dlt_load_id`` added); returns the
    completed jobs' (table, file format)."""
    dlt.config["normalize.parquet_normalizer.add_dlt_load_id"] = True
    pipeline = dlt.pipeline(
        pipeline_name="pg_load", destination="postgres", dataset_name="aiwyn", pipelines_dir=str(tmp_path)
    )

    @dlt.resource(name="wip", primary_key="id", write_disposition="merge")
    def rows() -> Iterator[pa.Table]:
        yield wip

    info = pipeline.run(rows(), loader_file_format="parquet")
    jobs = info.load_packages[0].jobs["completed_jobs"]
    return {(job.job_file_info.table_name, job.job_file_info.file_format) for job in jobs}, pipeline


def _columns(dsn: str, table: str) -> dict[str, str]:
    con = psycopg2.connect(dsn)
    try:
        with con.cursor() as cur:
            cur.execute(
                "select column_name, format_type(atttypid, atttypmod) || case when attnotnull then ' not null' "
                "else '' end from information_schema.columns join pg_attribute on attrelid = %s::regclass "
                "and attname = column_name where table_schema || '.' || table_name = %s",
                [table, table],
            )
            return dict(cur.fetchall())
    finally:
        con.close()


def test_arrow_loads_as_parquet_through_adbc(wip, postgres_dsn, monkeypatch, tmp_path):
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", postgres_dsn)
    adbc_tables: list[str] = []
    connect = PostgresParquetCopyJob._connect

    def spy(job: PostgresParquetCopyJob):  # the real ADBC connection, noted
        adbc_tables.append(job.load_table_name)
        return connect(job)

    monkeypatch.setattr(PostgresParquetCopyJob, "_connect", spy)
    jobs, _ = _load(wip, tmp_path)

    assert ("wip", "parquet") in jobs  # dlt keeps Parquet for Postgres only when it finds the ADBC driver
    assert adbc_tables == ["wip"]  # merge: ingested into aiwyn_staging.wip, then merged by SQL
    con = psycopg2.connect(postgres_dsn)
    with con, con.cursor() as cur:
        cur.execute("select count(*), sum(value), min(logged_date), count(distinct _dlt_load_id) from aiwyn.wip")
        count, total, first, loads = cur.fetchone()
    con.close()
    assert (count, loads) == (wip.num_rows, 1)
    assert total == sum(wip["value"].to_pylist(), Decimal(0))
    assert first == min(wip["logged_date"].to_pylist())  # the same UTC instant
    columns = _columns(postgres_dsn, "aiwyn.wip")
    assert columns["id"] == "bigint not null"
    assert columns["value"] == "numeric(18,2)"
    assert columns["hours"] == "numeric(18,4)"
    assert columns["logged_date"] == "timestamp with time zone"
    assert columns["client_name"] == "character varying"
    assert columns["approved"] == "boolean"
    assert columns["_dlt_load_id"] == "character varying(64) not null"


def test_without_adbc_arrow_falls_back_to_csv(wip, postgres_dsn, monkeypatch, tmp_path):
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", postgres_dsn)
    monkeypatch.setenv("DISABLE_ADBC_DETECTION", "true")  # as if adbc-driver-postgresql were not installed
    jobs, _ = _load(wip, tmp_path)
    assert ("wip", "csv") in jobs and ("wip", "parquet") not in jobs
