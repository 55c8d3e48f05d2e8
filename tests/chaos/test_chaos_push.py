"""Exactly once: ``kill -9`` of ``arwip push ... --apply`` at the worst moments, then the same command again, checked
against the simulators' ground truth (no duplicate NRB, each record once, each transfer once) and the ledger.

The moments, per target: a write that the vendor applied but whose answer never reached arwip (the answer is
held back until arwip is dead), a write that never reached the vendor (arwip dies while it is on its way; the
simulator then refuses it), and, for transfers, arwip dead while confirming through ``billed_to``. Every push
runs as its own process (the real CLI).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from simulators import Firm, SimulatorCluster, transfers_truth
from tests.chaos.harness import NOW, SyncResult, fast_retries, run_arwip, sync_env
from tests.push.helpers import create_record_type, newest, nrb, record_rows_sql, stored_records, write_csv, write_sql

HOLD_S = 1.5
"""How long a held request keeps the simulator busy: far longer than the harness needs to kill arwip."""


class Cue:
    """Holds back the ``nth`` request of ``method path`` (``after``: once the simulator applied it; ``before``:
    before it reaches the simulator, which then refuses it with a 503) and sets :attr:`hit`, on which the
    harness kills arwip."""

    def __init__(self, method: str, path: str, nth: int, *, search: str = "") -> None:
        self.method, self.path, self.nth, self.search = method, path, nth, search
        self.seen = 0
        self.hit = threading.Event()

    def _matches(self, scope: dict[str, Any]) -> bool:
        query = scope.get("query_string", b"").decode()
        if scope["method"] != self.method or scope["path"] != self.path or self.search not in query:
            return False
        self.seen += 1
        return self.seen == self.nth

    def before(self, scope: dict[str, Any]) -> tuple[int, bytes] | None:
        if not self._matches(scope):
            return None
        self.hit.set()
        time.sleep(HOLD_S)
        return 503, b'{"error": "held back by the test"}'

    def after(self, scope: dict[str, Any], status: int, body: bytes) -> None:
        if self._matches(scope):
            self.hit.set()
            time.sleep(HOLD_S)


def start(cluster: Callable[..., SimulatorCluster], vendor: str, cue: Cue, when: str) -> SimulatorCluster:
    hooks = {vendor: cue.before} if when == "before" else {}
    later = {vendor: cue.after} if when == "after" else {}
    return cluster(Firm(seed=3, size="tiny", now=NOW), before=hooks, after=later)


def push_twice(sims: SimulatorCluster, db: Path, cue: Cue, *args: str) -> tuple[SyncResult, SyncResult]:
    """``arwip push <args> --apply``, killed on the cue; then the same command to its end."""
    env = sync_env(sims, **fast_retries(0.2))
    argv = ["push", *args, "--db", str(db), "--apply"]
    killed = run_arwip(argv, env, kill_when=cue.hit.is_set, timeout_s=120)
    assert killed.killed, killed.describe()
    time.sleep(HOLD_S)  # the held request ends (the simulator answers a dead client)
    again = run_arwip(argv, env, timeout_s=120)
    assert again.returncode == 0, again.describe()
    return killed, again


def settled(db: Path) -> Counter[str]:
    """The newest ledger status of every key, counted: after the rerun nothing is pending or failed."""
    return Counter(e["status"] for e in newest(db).values())


@pytest.mark.parametrize("when", ["after", "before"])
def test_nrbs_once_after_kill_9(cluster: Callable[..., SimulatorCluster], tmp_path: Path, when: str) -> None:
    cue = Cue("POST", "/rest/api/standard/v1/NRB", 2)
    sims = start(cluster, "aimsio", cue, when)
    before = len(sims.firm.truth().aimsio_nrbs)
    csv = write_csv(tmp_path / "nrbs.csv", [nrb(i) for i in range(250)])
    _, again = push_twice(sims, tmp_path / "w.duckdb", cue, "aimsio-nrbs", "--csv", str(csv))
    rows = sims.firm.truth().aimsio_nrbs.to_pylist()
    ours = Counter(r["nrb_external_id"] for r in rows if (r["nrb_external_id"] or "").startswith("ARWIP-"))
    assert ours == Counter({f"ARWIP-{i:04d}": 1 for i in range(250)})  # every NRB, none twice
    assert len(rows) == before + 250
    assert {r["nrb_name"] for r in rows if r["nrb_external_id"] == "ARWIP-0249"} == {"item 249"}
    assert set(settled(tmp_path / "w.duckdb")) <= {"applied", "unchanged"}
    assert "in-doubt row(s) of an interrupted push" in again.stdout


def test_records_once_after_kill_9(cluster: Callable[..., SimulatorCluster], tmp_path: Path) -> None:
    cue = Cue("POST", "/api/v1/records", 2)
    sims = start(cluster, "aiwyn", cue, "after")
    create_record_type(sims)
    sql = write_sql(tmp_path / "rows.sql", record_rows_sql(250))
    push_twice(sims, tmp_path / "w.duckdb", cue, "aiwyn-records", "--type", "arwip_test_rows", "--sql", str(sql),
               "--key", "key")
    stored = stored_records(sims)
    assert Counter(r["system_id"] for r in stored) == Counter({f"k-{i:04d}": 1 for i in range(250)})
    assert {r["attributes"]["label"] for r in stored} == {f"row {i}" for i in range(250)}
    assert set(settled(tmp_path / "w.duckdb")) <= {"applied", "unchanged"}


@pytest.mark.parametrize(("path", "nth", "search", "when"), [
    ("/api1/invoices/transfer", 1, "", "after"),  # moved, the answer lost
    ("/api1/invoices/transfer", 1, "", "before"),  # never moved
    ("/api1/invoices/billed_to", 3, "search_criteria", "after"),  # moved, killed while confirming
])
def test_each_transfer_once_after_kill_9(cluster: Callable[..., SimulatorCluster], tmp_path: Path, path: str,
                                         nth: int, search: str, when: str) -> None:
    cue = Cue("PUT" if path.endswith("transfer") else "GET", path, nth, search=search)
    sims = start(cluster, "iinsight", cue, when)
    invoices = sims.firm.truth().iinsight_invoices.to_pylist()
    employer = str(invoices[0]["company_id"])
    moving = sorted(r["invoice_id"] for r in invoices if str(r["company_id"]) != employer)
    sql = write_sql(tmp_path / "ids.sql", f"select unnest({moving}) as invoice_id")
    _, again = push_twice(sims, tmp_path / "w.duckdb", cue, "iinsight-transfer", "--employer", employer,
                          "--sql", str(sql))
    log = transfers_truth(sims.firm).to_pylist()
    assert sorted(r["invoice_id"] for r in log) == moving  # each invoice moved exactly once
    assert {str(r["to_company_id"]) for r in log} == {employer}
    assert {str(r["company_id"]) for r in sims.firm.truth().iinsight_invoices.to_pylist()} == {employer}
    assert set(settled(tmp_path / "w.duckdb")) <= {"applied", "unchanged"}
    if when == "after":  # the move held: the rerun settles it from billed_to and sends nothing
        assert f"{len(moving)} hold at the vendor" in again.stdout, again.stdout


def failing(method: str, path: str) -> Callable[[dict[str, Any]], tuple[int, bytes] | None]:
    """A ``before`` hook answering every ``method path`` with a 503 (retried, then given up)."""
    return lambda scope: (503, b'{"error": "down"}') if (scope["method"], scope["path"]) == (method, path) else None


FAST = {"max_attempts": 2, "backoff_max_s": 0.05}


def test_a_request_that_keeps_failing_fails_its_rows_and_a_rerun_sends_them(
        cluster: Callable[..., SimulatorCluster], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines.push import push

    down = {"on": True}
    hook = failing("POST", "/rest/api/standard/v1/NRB")
    sims = cluster(Firm(seed=3, size="tiny", now=NOW), before={"aimsio": lambda s: hook(s) if down["on"] else None})
    for key, value in sims.credentials.items():
        monkeypatch.setenv(key, value)
    db, csv = tmp_path / "w.duckdb", write_csv(tmp_path / "nrbs.csv", [nrb(i) for i in range(3)])
    first = push("aimsio-nrbs", {"csv": csv}, db, apply=True, config=FAST)
    assert first.sent.counts["failed"] == 3 and first.sent.failures[0][1] == "REQUEST_FAILED"  # resend is harmless
    assert {e["status"] for e in newest(db).values()} == {"failed"}
    down["on"] = False
    again = push("aimsio-nrbs", {"csv": csv}, db, apply=True, config=FAST)
    assert (again.plan.counts["create"], again.sent.counts["applied"]) == (3, 3)
    assert {e["attempt"] for e in newest(db).values()} == {2}


def test_a_transfer_whose_fate_is_unknown_is_looked_up_not_resent(cluster: Callable[..., SimulatorCluster],
                                                                  tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines.push import push

    sims = cluster(Firm(seed=3, size="tiny", now=NOW), before={"iinsight": failing("PUT", "/api1/invoices/transfer")})
    for key, value in sims.credentials.items():
        monkeypatch.setenv(key, value)
    invoices = sims.firm.truth().iinsight_invoices.to_pylist()
    employer, invoice = str(invoices[0]["company_id"]), str(invoices[-1]["invoice_id"])
    result = push("iinsight-transfer", {"employer": employer, "invoices": invoice}, tmp_path / "w.duckdb",
                  apply=True, config=FAST)
    assert [f[:2] for f in result.sent.failures] == [(invoice, "REQUEST_FAILED")]  # billed_to: not moved
    assert transfers_truth(sims.firm).num_rows == 0
    assert sims.stats["iinsight"]["by_path"]["GET /api1/invoices/billed_to"] == 3  # plan, apply, and the lookup


def test_refused_credentials_and_a_held_warehouse(cluster: Callable[..., SimulatorCluster], tmp_path: Path) -> None:
    from pipelines.warehouse import DuckDBWarehouse

    sims = cluster(Firm(seed=3, size="tiny", now=NOW))
    db, csv = tmp_path / "w.duckdb", write_csv(tmp_path / "nrbs.csv", [nrb(1)])
    env = sync_env(sims, SOURCES__AIMSIO__PASSWORD="wrong", **fast_retries(0.05))
    refused = run_arwip(["push", "aimsio-nrbs", "--csv", str(csv), "--db", str(db), "--apply"], env)
    assert refused.returncode == 2 and "check SOURCES__AIMSIO__USERNAME" in refused.error_message(), refused.describe()
    assert newest(db)["ARWIP-0001"]["status"] == "failed"  # refused before anything was done
    with DuckDBWarehouse(db).writer_lock():
        held = run_arwip(["push", "aimsio-nrbs", "--csv", str(csv), "--db", str(db), "--apply"], sync_env(sims))
    assert held.returncode == 75, held.describe()
