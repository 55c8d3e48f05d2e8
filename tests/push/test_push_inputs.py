"""A push's input is streamed: a query in Arrow batches of at most ``BATCH_ROWS`` rows, a CSV file as text (a
header with a BOM included; numbers stay text, so no float is on the way)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from pipelines.push.inputs import BATCH_ROWS, open_input
from sources._push import PushInput, PushUsageError
from tests.push.helpers import write_sql


def test_a_query_streams_in_bounded_batches(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    with duckdb.connect(str(db)) as con:
        sql = write_sql(tmp_path / "q.sql", "select i as key, cast(i as decimal(18, 2)) as amount "
                                             f"from range({2 * BATCH_ROWS + 5}) t(i)")
        with open_input(con, PushInput("key", sql=sql)) as rows:
            sizes = [len(batch) for batch in rows]
            assert rows.schema.names == ["key", "amount"]
        assert sum(sizes) == 2 * BATCH_ROWS + 5 and max(sizes) <= BATCH_ROWS and len(sizes) >= 3
        with open_input(con, PushInput("key", sql=sql)) as rows:  # read again: the cursor was closed
            chunks = list(rows.chunks(100))  # an idempotent target's request size: the first request leaves early
        assert len(chunks[0]) == max(len(c) for c in chunks) == 100
        assert [r["key"] for c in chunks for r in c] == list(range(2 * BATCH_ROWS + 5))
        with open_input(con, PushInput("key", sql=sql)) as rows:
            first = next(iter(rows))[1]
        assert first == {"key": 1, "amount": Decimal("1.00")}  # an exact decimal, never a float
        con.execute("create table t (a int)")  # the connection is free for the ledger
    with duckdb.connect(str(db)) as con:  # and the file opens again
        assert con.execute("select count(*) from t").fetchall() == [(0,)]


def test_a_csv_file_is_read_as_text(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text("\ufeffnrbExternalId,nrbRate,nrbIsBillable\nA-1,10.125,true\nA-2,,false\n")
    with duckdb.connect() as con, open_input(con, PushInput("nrbExternalId", csv=path)) as rows:
        assert [r for batch in rows for r in batch] == [
            {"nrbExternalId": "A-1", "nrbRate": "10.125", "nrbIsBillable": "true"},
            {"nrbExternalId": "A-2", "nrbRate": "", "nrbIsBillable": "false"}]
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(PushUsageError, match="first line must name every column"):
        open_input(duckdb.connect(), PushInput("k", csv=tmp_path / "empty.csv"))
