"""While another process holds the warehouse (``arwip serve``): ``arwip report`` and ``arwip verify`` read the
BI snapshot and say so; ``arwip sync`` exits 75 naming the holder; without a snapshot yet, one clear line."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.publish import default_snapshot_path
from pipelines.sync import sync
from pipelines.warehouse import EXIT_LOCKED, DuckDBWarehouse
from simulators import SimulatorCluster
from tests.serve.harness import lock_held


def held(db: Path) -> AbstractContextManager[int]:
    """The writer's lock of ``db`` held by a child process as ``serve``; yields its pid."""
    return lock_held(f"DuckDBWarehouse(Path({str(db)!r}))")


def test_report_and_verify_read_the_snapshot_while_serve_holds_the_warehouse(
    simulators: Callable[..., SimulatorCluster], warehouse: Path
) -> None:
    simulators()
    sync(warehouse)
    runner = CliRunner()
    alone = runner.invoke(app, ["report", "aging", "--db", str(warehouse), "--format", "csv"])
    assert alone.exit_code == 0 and "note:" not in alone.output
    with held(warehouse) as pid:
        assert DuckDBWarehouse(warehouse).lock_holder() == f"serve (pid {pid})"
        report = runner.invoke(app, ["report", "aging", "--db", str(warehouse), "--format", "csv"])
        verify = runner.invoke(app, ["verify", "--db", str(warehouse)])
        locked = runner.invoke(app, ["sync", "--db", str(warehouse)])
    assert DuckDBWarehouse(warehouse).lock_holder() is None
    snapshot = default_snapshot_path(warehouse)
    note = f"arwip serve (pid {pid}) holds {warehouse}: reading the BI snapshot {snapshot} (published "
    assert report.exit_code == 0 and note in " ".join(report.output.split()), report.output
    assert report.stdout == alone.stdout  # the same rows: the snapshot is the last sync's copy
    assert verify.exit_code == 0 and note in " ".join(verify.output.split()) and "equals the sources" in verify.output
    assert locked.exit_code == EXIT_LOCKED and f"another arwip serve (pid {pid}) is writing" in locked.output


def test_no_snapshot_yet_is_one_clear_line(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    db.touch()
    warehouse = DuckDBWarehouse(db)
    with held(db):
        with pytest.raises(FileNotFoundError, match="has not published a BI snapshot"):
            warehouse.for_readers()
        result = CliRunner().invoke(app, ["report", "wip", "--db", str(db)])
    assert result.exit_code == 1 and "has not published a BI snapshot" in result.output
    assert warehouse.for_readers() == (warehouse, None)
    assert (warehouse.state_dir / "writer.lock").exists()
