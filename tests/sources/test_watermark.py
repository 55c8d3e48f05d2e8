"""The watermark's boundary de-duplication (``sources._incremental.Watermark``) over pages in any order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa

from sources._incremental import Watermark

LAG = timedelta(minutes=5)
LAST_RUN = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _page(rows: list[tuple[int, datetime]]) -> pa.Table:
    stamps = pa.array([r[1] for r in rows], pa.timestamp("us", "UTC"))
    return pa.table({"id": [r[0] for r in rows], "updated_at": stamps})


def test_rows_loaded_at_the_boundary_are_dropped_even_after_a_page_of_much_newer_rows():
    """The last run loaded rows 1 and 2 at its watermark. This run's readers bring a page of rows changed an
    hour later first, then the page holding rows 1 and 2 again (unchanged) and 3 (changed at the same second
    after that run read it): 1 and 2 are dropped, 3 is kept."""
    mark = Watermark("wip", LAST_RUN - timedelta(days=30), LAG, LAST_RUN, {"1": LAST_RUN.isoformat(),
                                                                        "2": LAST_RUN.isoformat()})
    later = LAST_RUN + timedelta(hours=1)
    newer, dropped = mark.keep_new(_page([(7, later), (8, later)]), "id", "updated_at")
    assert newer["id"].to_pylist() == [7, 8] and dropped == 0
    boundary, dropped = mark.keep_new(_page([(1, LAST_RUN), (2, LAST_RUN), (3, LAST_RUN)]), "id", "updated_at")
    assert boundary["id"].to_pylist() == [3] and dropped == 2
    assert mark.value == later
