"""What the push tests share: NRB rows and CSV files, SQL files, a custom record type, the simulators' write
counters and ground truth, the ledger's entries."""

from __future__ import annotations

import asyncio
import csv
from collections import Counter
from pathlib import Path
from typing import Any

import duckdb

from simulators import SimulatorCluster, records_truth
from simulators._records import DECODE
from sources._http import HttpSettings
from sources.aiwyn import records as rec
from sources.aiwyn.client import aiwyn_client

JOB = "JOB20250514"  # seed 003's job: every generated firm has it
WRITES = ("POST /api/v1/records", "PUT /api/v1/records", "DELETE /api/v1/records", "POST /api/v1/records/custom",
          "PUT /api/v1/records/custom/{name}", "POST /rest/api/standard/v1/NRB", "PUT /api1/invoices/transfer")
"""The write routes of the three simulators (``Stats.by_path`` keys)."""
RECORD_TYPE = "arwip_test_rows"
FIELDS = (rec.FieldSchema("label", "string", required=True, nullable=False), rec.FieldSchema("amount", "decimal"),
          rec.FieldSchema("count", "integer"), rec.FieldSchema("due", "date"))


def nrb(i: int, prefix: str = "ARWIP-", **changes: Any) -> dict[str, Any]:
    """An NRB row as a CSV line would hold it (text), valid for a create on every generated firm."""
    return {"nrbExternalId": f"{prefix}{i:04d}", "nrbJobOrderNumber": JOB, "nrbName": f"item {i}",
            "nrbTypeName": "Other", "nrbAccountType": "Billable", "nrbIsBillable": "true", "nrbVendorCode": "BIT",
            "nrbRate": "10.125", "nrbQuantity": "2", **changes}


def write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(dict.fromkeys(k for row in rows for k in row)))
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_sql(path: Path, sql: str) -> Path:
    path.write_text(sql)
    return path


def record_rows_sql(n: int, start: int = 0, label: str = "row") -> str:
    """``n`` rows for :data:`RECORD_TYPE`: key ``k-0000``…, amounts as exact decimals."""
    return (f"select 'k-' || lpad(cast(i as varchar), 4, '0') as key, '{label} ' || cast(i as varchar) as label, "
            "cast(i as decimal(18, 2)) + 0.10 as amount, cast(i as integer) as count, date '2026-06-30' as due "
            f"from range({start}, {start + n}) t(i)")


def create_record_type(sims: SimulatorCluster, name: str = RECORD_TYPE) -> None:
    async def go() -> None:
        client = aiwyn_client(sims.urls["aiwyn"], sims.settings.jwt_api_key, HttpSettings())
        try:
            await rec.create_custom_type(client, name, FIELDS)
        finally:
            await client.aclose()

    asyncio.run(go())


def writes(sims: SimulatorCluster) -> Counter[str]:
    """Answers of the write routes so far, by route."""
    return Counter({path: n for vendor in sims.stats.values() for path, n in vendor["by_path"].items()
                    if path in WRITES})


def stored_records(sims: SimulatorCluster, type_name: str = RECORD_TYPE) -> list[dict[str, Any]]:
    """The records of ``type_name`` in the simulator, attributes decoded."""
    return [{**r, "attributes": DECODE.decode(r["attributes"])} for r in records_truth(sims.firm).to_pylist()
            if r["type"] == type_name]


def ledger(db: Path) -> list[dict[str, Any]]:
    """Every ledger entry, in order of writing."""
    with duckdb.connect(str(db), read_only=True) as con:
        cursor = con.execute("select * from push.ledger order by seq")
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def newest(db: Path) -> dict[str, dict[str, Any]]:
    """The newest ledger entry of every key."""
    return {e["key"]: e for e in ledger(db)}
