"""A sync that fails mid-extraction (here: Aiwyn answers one invoice's detail with HTTP 400 while the other
resources still have pages in flight) prints one ``error:`` line, exits 1 and leaves nothing behind: no
traceback, no process that never ends, no half-written warehouse for the sources that succeeded."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from simulators import Firm, SimSettings, SimulatorCluster
from tests.chaos.asgi import Intercept
from tests.chaos.harness import NOW, SyncResult, run_sync, sync_env
from tests.chaos.reconcile import reconcile

BROKEN = "/gql/v1/invoice/40020"


@pytest.fixture(scope="module")
def failed(tmp_path_factory) -> Iterator[tuple[Firm, object, SyncResult]]:
    firm = Firm(seed=1, size="tiny", now=NOW)
    cluster = SimulatorCluster(firm, SimSettings())
    answer = (400, b'{"error": {"code": "BAD_REQUEST", "message": "invoice is being migrated"}}')
    cluster.apps["aiwyn"] = Intercept(cluster.apps["aiwyn"], before=lambda s: answer if s["path"] == BROKEN else None)
    db = tmp_path_factory.mktemp("failed") / "w.duckdb"
    with cluster:
        # pages of 5 rows: the WIP and payment listings are still running (keyset slices) when invoices fail
        yield firm, db, run_sync(db, sync_env(cluster, SOURCES__AIWYN__PAGE_SIZE=5), hang_grace_s=6)


def test_the_failure_is_one_error_line_and_exit_1(failed):
    _, _, result = failed
    assert result.error_message().startswith(f"error: aiwyn: GET {BROKEN} answered HTTP 400"), result.describe()
    assert result.returncode == 1 or result.hung, result.describe()


def test_the_other_sources_are_loaded(failed):
    firm, db, _ = failed
    others = reconcile(db, firm, sources=["aimsio", "iinsight"], iinsight_api_version=1)
    assert others.differences == 0, others.summary()


def test_the_process_exits(failed):
    _, _, result = failed
    assert not result.hung, result.describe()


def test_no_traceback_is_printed(failed):
    _, _, result = failed
    assert "Traceback" not in result.output, result.stderr


def test_a_resource_failing_while_another_waits_on_slow_details_still_ends_the_process(cluster, tmp_path):
    """The Aiwyn resources run in dlt's extract threads. The WIP listing fails at once while the invoices
    resource waits (longer than dlt waits for its threads) on details that take 3 s each: the sync still
    exits 1 with the WIP error, and the other sources are loaded."""
    firm = Firm(seed=1, size="tiny", now=NOW)
    refused = (400, b'{"error": {"code": "BAD_REQUEST", "message": "search is being reindexed"}}')
    slow = SimSettings(latency_base_ms=3000)
    sims = cluster(firm, slow, before={"aiwyn": lambda s: refused if s["path"] == "/gql/v1/wips/search" else None})
    db = tmp_path / "w.duckdb"
    result = run_sync(db, sync_env(sims, SOURCES__AIWYN__PAGE_SIZE=5), hang_grace_s=6)
    assert not result.hung and result.returncode == 1, result.describe()
    message = result.error_message()
    assert message.startswith("error: aiwyn: POST /gql/v1/wips/search answered HTTP 400"), result.describe()
    others = reconcile(db, firm, sources=["aimsio", "iinsight"], iinsight_api_version=1)
    assert others.differences == 0, others.summary()
