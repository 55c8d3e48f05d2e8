"""The durable event inbox (pipelines/inbox.py): de-duplication by eventId, claims and batches, counters, and
what survives a kill -9 of the process that stored and claimed events."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from datetime import UTC, datetime
from pathlib import Path

import orjson

from pipelines.inbox import Inbox, inbox_path
from pipelines.warehouse import DuckDBWarehouse
from sources.aiwyn.webhooks import WebhookEvent, parse_event

ROOT = Path(__file__).resolve().parents[2]


def event(n: int, entity: str = "wip", operation: str = "UPDATE") -> WebhookEvent:
    """The n-th hand-made event (`evt_<n>`, entity id 100000 + n)."""
    at = "2026-06-30T12:00:00Z"
    return parse_event(orjson.dumps({"eventId": f"evt_{n}", "subscriptionId": 1, "entityType": entity,
                                     "operation": operation, "entityId": 100_000 + n, "occurredAt": at,
                                     "data": {"id": 100_000 + n, "updatedAt": at}}))


def test_the_inbox_lives_in_the_warehouse_state_folder_in_wal_mode(tmp_path: Path) -> None:
    db = tmp_path / "warehouse.duckdb"
    path = inbox_path(db)
    assert path.parent == DuckDBWarehouse(db).state_dir and path.name == "inbox.sqlite"
    with Inbox(path) as inbox:
        assert inbox.store(event(1))
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_replayed_event_id_is_stored_once(tmp_path: Path) -> None:
    with Inbox(tmp_path / "inbox.sqlite") as inbox:
        assert inbox.store(event(1)) is True
        assert inbox.store(event(1)) is False
        assert inbox.store(event(2, "payment", "DELETE")) is True
        pending = inbox.pending()
        assert [p.event for p in pending] == [event(1), event(2, "payment", "DELETE")]
        assert pending[0].event.updated_at == datetime(2026, 6, 30, 12, tzinfo=UTC)
        assert pending[0].event.payload == event(1).payload and pending[0].seq < pending[1].seq
        batch = inbox.claim()
        assert inbox.mark_processed(batch) == 2
        assert inbox.store(event(1)) is False  # still a duplicate once processed
        counters = inbox.counters()
        assert (counters.stored, counters.duplicates, counters.processed, counters.depth) == (2, 2, 2, 0)


def test_claims_batches_and_release(tmp_path: Path) -> None:
    with Inbox(tmp_path / "inbox.sqlite") as inbox:
        for n in range(5):
            inbox.store(event(n))
        first = inbox.claim(limit=3)
        assert [e.event.event_id for e in first.events] == ["evt_0", "evt_1", "evt_2"]
        inbox.store(event(5))  # arrives during the sync: the next batch
        assert [e.event.event_id for e in inbox.pending()] == ["evt_3", "evt_4", "evt_5"]
        second = inbox.claim()
        assert [e.event.event_id for e in second.events] == ["evt_3", "evt_4", "evt_5"]
        assert inbox.claim().events == ()
        assert inbox.release(second) == 3  # its sync failed
        assert inbox.mark_processed(first) == 3 and inbox.mark_processed(first) == 0
        assert inbox.depth() == 3 and [e.event.event_id for e in inbox.claim().events] == ["evt_3", "evt_4", "evt_5"]


def test_a_finished_batch_stays_done_for_the_next_session(tmp_path: Path) -> None:
    path = tmp_path / "inbox.sqlite"
    with Inbox(path) as inbox:
        for n in range(4):
            inbox.store(event(n))
        inbox.mark_processed(inbox.claim(limit=2))
        inbox.claim(limit=1)  # never finished
    with Inbox(path) as after:
        assert [e.event.event_id for e in after.pending()] == ["evt_2", "evt_3"]
        assert after.counters().processed == 2 and after.purge(older_than_s=0) == 2 and after.depth() == 2


def test_concurrent_producers_count_exactly(tmp_path: Path) -> None:
    path = tmp_path / "inbox.sqlite"
    with Inbox(path) as shared, Inbox(path) as other:
        def produce(inbox: Inbox, start: int) -> None:
            for n in range(start, start + 60):
                inbox.store(event(n))  # 0..119, each id stored by two threads

        threads = [threading.Thread(target=produce, args=(box, start))
                   for box in (shared, other) for start in (0, 60)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        counters = shared.counters()
        assert (counters.stored, counters.duplicates, counters.depth) == (120, 120, 120)


_CHILD = textwrap.dedent("""
    import sys
    from pipelines.inbox import Inbox
    from tests.webhooks.test_webhook_inbox import event

    inbox = Inbox(sys.argv[1])
    for n in range(20):
        inbox.store(event(n))
    claimed = inbox.claim(limit=15)
    inbox.mark_processed(inbox.claim(limit=5))
    print("claimed", len(claimed.events), flush=True)
    n = 20
    while True:  # store until killed, reporting each event once store() returned
        inbox.store(event(n))
        print("stored", n, flush=True)
        n += 1
""")


def test_kill_9_loses_no_stored_event_and_frees_its_claims(tmp_path: Path) -> None:
    path = tmp_path / "inbox.sqlite"
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(path)], cwd=ROOT, stdout=subprocess.PIPE,
                             text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert child.stdout is not None
    assert child.stdout.readline().split() == ["claimed", "15"]
    confirmed = [int(child.stdout.readline().split()[1]) for _ in range(100)]
    child.send_signal(signal.SIGKILL)  # in the middle of storing more
    child.wait(timeout=10)
    with Inbox(path) as restarted:
        assert sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        pending = {e.event.event_id for e in restarted.pending(limit=100_000)}
        assert {f"evt_{n}" for n in range(15)} <= pending  # claimed by a batch that never finished
        assert not {f"evt_{n}" for n in range(15, 20)} & pending  # processed before the kill
        assert {f"evt_{n}" for n in confirmed} <= pending
        counters = restarted.counters()
        assert counters.processed == 5 and counters.stored == counters.depth + 5 >= 120
