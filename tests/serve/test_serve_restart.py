"""Stopping and restarting a real ``arwip serve``: SIGTERM in the middle of a sync (finished within
``--stop-timeout``, or abandoned after it), ``kill -9`` with events in the inbox; each time the next start
resumes, processes every stored event, and the warehouse ends equal to the source (``arwip verify``, which
reads the BI snapshot while the service holds the warehouse)."""

from __future__ import annotations

import re
import signal
from pathlib import Path

from pipelines.inbox import Inbox, inbox_path
from simulators import Firm, SimSettings, SimulatorCluster, Webhooks
from tests.chaos.harness import NOW, run_arwip
from tests.serve.harness import Service, free_port, serve_env, subscribe, touch, wait_until

SLOW = SimSettings(latency_base_ms=300, webhooks=Webhooks(retry_scale=0.01))
"""Every answer 300 ms late: a tiny firm's syncs last long enough to be interrupted."""


def lines_after(log: str, first: str) -> list[str]:
    """The log lines from the first one matching ``first`` on."""
    lines = log.splitlines()
    start = next(i for i, line in enumerate(lines) if re.search(first, line))
    return lines[start:]


def verified(db: Path, env: dict[str, str]) -> str:
    """``arwip verify`` while the service runs: it must read the BI snapshot, say so, and find no difference."""
    result = run_arwip(["verify", "--db", str(db)], env, timeout_s=120)
    assert result.returncode == 0, result.describe()
    assert "holds" in result.stderr and "reading the BI snapshot" in result.stderr, result.stderr
    return result.output


def test_sigterm_mid_sync_finishes_or_abandons_it_and_the_next_start_resumes(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    with SimulatorCluster(Firm(seed=6, size="tiny", now=NOW), SLOW) as cluster:
        env = serve_env(cluster, None)
        with Service(db, env, None, "--stop-timeout", "120") as first:
            first.wait_log(r"sync \(poll\)")
            assert first.stop(signal.SIGTERM) == 0
        finished = lines_after(first.log, "stopping: waiting up to 120 s")
        assert any("published the BI snapshot" in line for line in finished), first.log
        assert finished[-1].endswith("INFO stopped"), first.log

        touch(cluster, "wip", 4)  # the next start has something to read
        with Service(db, env, None, "--stop-timeout", "0") as second:
            second.wait_log(r"sync \(poll\)")
            assert second.stop(signal.SIGTERM) == 0
        assert "the running sync did not finish within 0 s: abandoned; the next start resumes it" in second.log
        assert "published the BI snapshot" not in second.log

        with Service(db, env) as third:
            third.ready()
            report = verified(db, env)
            assert third.stop(signal.SIGINT) == 0
    assert "the warehouse equals the sources" in report


def test_kill_9_with_events_in_the_inbox_then_restart_processes_them(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    with SimulatorCluster(Firm(seed=7, size="tiny", now=NOW), SLOW) as cluster:
        port = free_port()
        env = serve_env(cluster, subscribe(cluster, f"http://127.0.0.1:{port}/webhooks/aiwyn"))
        with Service(db, env, port) as killed:
            killed.ready()
            changed = touch(cluster, "wip", 5)
            killed.wait_log(r"sync \(webhook\)")
            assert killed.stop(signal.SIGKILL) == -signal.SIGKILL
        with Inbox(inbox_path(db)) as inbox:  # a new session: the dead one's claims are pending again
            left = sorted(e.event.entity_id for e in inbox.pending())
        assert left == changed["ids"]

        with Service(db, env, port) as restarted:
            restarted.wait_log("inbox: 5 event\\(s\\) left from before")
            restarted.ready()
            wait_until(lambda: restarted.metrics()["arwip_inbox_depth"] == 0, 60, "the inbox emptied")
            report = verified(db, env)
            assert restarted.stop() == 0
        with Inbox(inbox_path(db)) as inbox:
            counters = inbox.counters()
    assert (counters.stored, counters.processed, counters.depth) == (5, 5, 0)
    assert "the warehouse equals the sources" in report
