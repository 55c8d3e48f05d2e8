"""Load rates into PostgreSQL through dlt: Parquet via ADBC against CSV and INSERT statements.

``python bench/pg_load.py [--rows 1000000] [--insert-rows 100000] [--dsn postgresql://…]`` generates a firm's
Aiwyn WIP entries (the simulators' generator, typed as the source loads them: ``decimal128(18,2)`` money, UTC
timestamps, 19 columns) and loads them with dlt's postgres destination in each file format, into a fresh
dataset each (append), and prints rows/s per format, then one JSON line:

- ``parquet``: dlt's Parquet copy job through ADBC (``adbc-driver-postgresql``), what arwip uses;
- ``csv``: what dlt falls back to for Arrow tables when the ADBC driver is missing (``COPY … FROM STDIN``);
- ``insert_values``: INSERT statements (dlt's default for Python rows), on ``--insert-rows`` rows (slower).

Each format's time is dlt's normalize (Arrow → the file format) plus load; ``load_s`` is the load alone.
Without ``--dsn`` it starts a throwaway PostgreSQL with its default durability (``tests/pg_server.py``).
Takes about a minute for the defaults on the 2-core development machine.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import dlt
import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from simulators import Firm, FirmSize  # noqa: E402
from sources.aiwyn.settings import WIP  # noqa: E402
from tests.pg_server import throwaway_postgres  # noqa: E402

FORMATS = ("parquet", "csv", "insert_values")


def wip_rows(rows: int) -> pa.Table:
    """``rows`` generated Aiwyn WIP entries in the Aiwyn source's Arrow schema."""
    size = FirmSize(clients=200, wip=rows, aiwyn_invoices=10, nrbs=5, job_orders=5, iinsight_invoices=10)
    return Firm(seed=7, size=size).truth().aiwyn_wip.cast(WIP.arrow_schema())


def load(table: pa.Table, file_format: str, workdir: str) -> dict[str, float]:
    """Load ``table`` into dataset ``wip_<format>`` as ``file_format``; returns seconds and rows/s."""
    pipeline = dlt.pipeline(
        pipeline_name=f"pg_load_{file_format}",
        destination="postgres",
        dataset_name=f"wip_{file_format}",
        pipelines_dir=workdir,
    )

    @dlt.resource(name="wip", write_disposition="append")
    def wip() -> Iterator[pa.Table]:
        yield from table.to_batches(max_chunksize=100_000)

    pipeline.extract(wip(), loader_file_format=file_format)  # type: ignore[arg-type]
    started = time.perf_counter()
    pipeline.normalize()
    normalized = time.perf_counter()
    info = pipeline.load()
    done = time.perf_counter()
    formats = {j.job_file_info.file_format for j in info.load_packages[0].jobs["completed_jobs"]
               if j.job_file_info.table_name == "wip"}  # fmt: skip
    if formats != {file_format}:
        raise RuntimeError(f"asked for {file_format}, dlt loaded {sorted(formats)}")
    return {
        "rows": table.num_rows,
        "normalize_s": round(normalized - started, 2),
        "load_s": round(done - normalized, 2),
        "rows_per_s": round(table.num_rows / (done - started)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="WIP rows loaded as parquet and csv")
    parser.add_argument("--insert-rows", type=int, default=100_000, help="of those, rows loaded as INSERTs")
    parser.add_argument("--dsn", help="an existing server's database (default: a throwaway server)")
    args = parser.parse_args()
    table = wip_rows(args.rows)
    results: dict[str, dict[str, float]] = {}
    with contextlib.ExitStack() as stack:
        dsn = args.dsn or stack.enter_context(throwaway_postgres(durable=True)).dsn
        os.environ["DESTINATION__POSTGRES__CREDENTIALS"] = dsn
        workdir = stack.enter_context(tempfile.TemporaryDirectory(prefix="arwip-pg-load-"))
        for file_format in FORMATS:
            rows = table.slice(0, args.insert_rows) if file_format == "insert_values" else table
            results[file_format] = load(rows, file_format, workdir)
            r = results[file_format]
            print(f"{file_format:>14}: {r['rows']:>9,} rows  normalize {r['normalize_s']:6.2f} s  "
                  f"load {r['load_s']:6.2f} s  {r['rows_per_s']:>9,} rows/s", flush=True)  # fmt: skip
    parquet = results["parquet"]["rows_per_s"]
    for file_format in FORMATS[1:]:
        results[file_format]["parquet_speedup"] = round(parquet / results[file_format]["rows_per_s"], 1)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
