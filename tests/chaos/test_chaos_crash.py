"""Crash safety: ``kill -9`` of ``arwip sync`` and the next ``arwip sync``; two syncs on one warehouse.

(A kill at a random request of the extraction is part of ``test_chaos_rounds.py``.)
"""

from __future__ import annotations

import shutil
import threading

from simulators import Firm
from tests.chaos.harness import NOW, loading, run_sync, state_root, sync_env
from tests.chaos.reconcile import reconcile


def test_kill_9_while_loading_then_the_next_sync_finishes_the_package_and_converges(cluster, tmp_path):
    firm = Firm(seed=5, size="tiny", now=NOW)
    sims = cluster(firm)
    db = tmp_path / "w.duckdb"
    env = sync_env(sims, SOURCES__IINSIGHT__API_VERSION=2)
    for _ in range(3):  # the load phase lasts long enough to be caught; if not, there is another sync
        killed = run_sync(db, env, kill_when=lambda: loading(db))
        if killed.killed:
            break
        firm.activity(0.05)
    assert killed.killed, killed.describe()

    resumed = run_sync(db, env)
    assert resumed.returncode == 0, resumed.describe()
    assert "package(s) left by an earlier run" in resumed.stderr, resumed.stderr
    result = reconcile(db, firm)
    assert result.differences == 0, result.summary()


def _extracted_packages(db, source: str):
    return sorted((state_root(db) / f"arwip_{source}" / "normalize" / "extracted").glob("*"))


def test_kill_9_between_normalize_commit_and_cleanup_is_recovered(cluster, tmp_path, monkeypatch):
    """dlt's normalize step commits a package to ``load/normalized/<id>`` and then deletes its extracted copy
    (``normalize/extracted/<id>``); ``kill -9`` between the two leaves both. The chaos rounds met this state
    (kill on the first normalized package); it is rebuilt here deterministically from the real files."""
    from pipelines.warehouse import DuckDBWarehouse
    from sources import registry

    firm = Firm(seed=6, size="tiny", now=NOW)
    sims = cluster(firm)
    db = tmp_path / "w.duckdb"
    for key, value in sims.credentials.items():
        monkeypatch.setenv(key, value)
    pipeline = DuckDBWarehouse(db).pipeline("aimsio")
    vendor = registry.get("aimsio")
    pipeline.extract(vendor.source(vendor.config(), {}), loader_file_format="parquet")
    (package,) = _extracted_packages(db, "aimsio")
    shutil.copytree(package, tmp_path / "extracted-copy")
    pipeline.normalize()  # commits load/normalized/<id>, then removes normalize/extracted/<id> ...
    shutil.copytree(tmp_path / "extracted-copy", package)  # ... the removal a kill -9 would have prevented
    assert (state_root(db) / "arwip_aimsio" / "load" / "normalized" / package.name).is_dir()

    resumed = run_sync(db, sync_env(sims), "--source", "aimsio")
    assert resumed.returncode == 0, resumed.describe()
    result = reconcile(db, firm, sources=["aimsio"])
    assert result.differences == 0, result.summary()



def test_a_second_sync_on_the_same_warehouse_exits_75_at_once(cluster, tmp_path):
    """The first sync is held inside the warehouse lock (its first Aiwyn request waits on a gate) while the
    second one runs: the second exits with 75 and one clear line; the first then completes."""
    arrived, gate = threading.Event(), threading.Event()

    def hold(scope):
        if scope["path"] == "/v1/auth/token" and not gate.is_set():
            arrived.set()
            gate.wait(timeout=120)  # blocks the simulators' loop: the first sync cannot finish meanwhile
        return None

    sims = cluster("tiny", before={"aiwyn": hold})
    db = tmp_path / "w.duckdb"
    env = sync_env(sims)
    first: list = []
    runner = threading.Thread(target=lambda: first.append(run_sync(db, env)), daemon=True)
    runner.start()
    try:
        assert arrived.wait(timeout=120), "the first sync never reached the simulators"
        second = run_sync(db, env)
        first_still_running = runner.is_alive()
    finally:
        gate.set()
    runner.join(timeout=300)

    assert second.returncode == 75, second.describe()
    assert first_still_running
    message = second.error_message()  # (a long message wraps: see test_chaos_config's one-line test)
    assert "another arwip sync" in message and "try again later" in message, second.describe()
    assert "Traceback" not in second.output
    assert first and first[0].returncode == 0, first[0].describe() if first else "the first sync did not end"
