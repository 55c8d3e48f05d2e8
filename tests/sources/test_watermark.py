"""The watermark's boundary de-duplication (``sources._incremental.Watermark``) over pages in any order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dlt
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


def _saved(mark: Watermark, monkeypatch) -> dict | None:
    """What ``mark.save()`` writes to the dlt resource state (None: nothing)."""
    state: dict = {}
    monkeypatch.setattr(dlt.current, "resource_state", lambda: state)
    mark.save()
    return state.get(mark.name)


def test_an_unreadable_answer_caps_the_saved_watermark_where_the_unread_rows_start(monkeypatch):
    """The run read rows up to two hours past the last run, but an answer standing for rows from one hour past
    it was not JSON: the watermark saves that hour, so the next run reads from it (less the lag) again, not
    from where this run began and not past it."""
    mark = Watermark("wip", LAST_RUN - timedelta(days=30), LAG, LAST_RUN)
    mark.keep_new(_page([(7, LAST_RUN + timedelta(hours=2))]), "id", "updated_at")
    mark.cap(LAST_RUN + timedelta(hours=3))
    mark.cap(LAST_RUN + timedelta(hours=1))  # the earliest unread position wins
    saved = _saved(mark, monkeypatch)
    assert saved is not None and saved["value"] == (LAST_RUN + timedelta(hours=1)).isoformat()
    assert Watermark("wip", LAST_RUN, LAG, LAST_RUN + timedelta(hours=1)).start == LAST_RUN + timedelta(minutes=55)


def test_a_cap_before_the_runs_own_start_keeps_the_watermark_and_an_unknown_one_holds_it(monkeypatch):
    """The very first answer of the run (from ``value - lag``) was unreadable: the watermark stays where it
    was rather than stepping back a lag each run. Without a position the saved state is left untouched."""
    mark = Watermark("wip", LAST_RUN - timedelta(days=30), LAG, LAST_RUN)
    mark.cap(mark.start)
    assert _saved(mark, monkeypatch)["value"] == LAST_RUN.isoformat()
    held = Watermark("wip", LAST_RUN - timedelta(days=30), LAG, LAST_RUN)
    held.keep_new(_page([(7, LAST_RUN + timedelta(hours=2))]), "id", "updated_at")
    held.cap(None)
    assert _saved(held, monkeypatch) is None
    first = Watermark("wip", LAST_RUN, LAG, None)  # a first run whose first answer was unreadable
    first.cap(first.start)
    assert _saved(first, monkeypatch)["value"] == LAST_RUN.isoformat()
