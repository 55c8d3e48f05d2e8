"""iinsight invoice transfers (seed 004 `PUT /api1/invoices/transfer`, CONTRACT.md "iinsight billed_to and
transfer") and their log, the ground truth behind "each transfer once".

Table `iinsight_transfers` (created by the first transfer): transfer_id (one per request that moved something),
invoice_id, from_company_id, to_company_id, transferred_at. A transfer to the invoice's current employer is
still a transfer (logged, `last_update_utc` stamped), as iinsight counts it in `updated_count`.
"""

from __future__ import annotations

from datetime import datetime

import duckdb
import pyarrow as pa

from simulators.data import Firm

_SCHEMA = pa.schema([("transfer_id", pa.int64()), ("invoice_id", pa.int64()), ("from_company_id", pa.int64()),
                     ("to_company_id", pa.int64()), ("transferred_at", pa.timestamp("us", "UTC"))])
_DDL = ("CREATE TABLE IF NOT EXISTS iinsight_transfers (transfer_id BIGINT, invoice_id BIGINT, "
        "from_company_id BIGINT, to_company_id BIGINT, transferred_at TIMESTAMPTZ)")


def transfer_invoices(con: duckdb.DuckDBPyConnection, t: datetime, employer: int, ids: list[int]) -> list[int]:
    """Move the invoices `ids` to company `employer` at `t` (inside `Firm.write`): their `company_id` and
    `last_update_utc` change and each move is logged. Returns the ids moved, in request order, without repeats;
    ids iinsight does not know are left out."""
    wanted = list(dict.fromkeys(ids))
    marks = ", ".join("?" * len(wanted))
    found = {r[0] for r in con.execute(f"SELECT invoice_id FROM iinsight_invoices WHERE invoice_id IN ({marks})",
                                       wanted).fetchall()}
    moved = [i for i in wanted if i in found]
    if moved:
        con.execute(_DDL)
        con.execute(f"INSERT INTO iinsight_transfers SELECT (SELECT coalesce(max(transfer_id), 0) + 1 FROM "
                    f"iinsight_transfers), invoice_id, company_id, ?, ? FROM iinsight_invoices WHERE invoice_id IN "
                    f"({marks}) ORDER BY invoice_id", [employer, t, *wanted])
        con.execute(f"UPDATE iinsight_invoices SET company_id = ?, last_update_utc = ? WHERE invoice_id IN ({marks})",
                    [employer, t, *wanted]).fetchall()
    return moved


def transfers_truth(firm: Firm) -> pa.Table:
    """Ground truth: every invoice move (columns as in the module docstring), in transfer order."""
    exists = firm.scalar("SELECT count(*) FROM information_schema.tables WHERE table_name = 'iinsight_transfers'")
    if not exists:
        return _SCHEMA.empty_table()
    return firm.arrow("SELECT * FROM iinsight_transfers ORDER BY transfer_id, invoice_id").cast(_SCHEMA)
