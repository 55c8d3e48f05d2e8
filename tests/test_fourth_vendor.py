"""A vendor is its own folder plus one registration: a test-only fourth vendor (``tests/vendors/acme.py``, with
its own simulator) goes through ``arwip check``, ``sync``, ``verify`` and ``sync --reconcile`` unchanged."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
import uvicorn
from typer.testing import CliRunner

from pipelines.cli import app
from sources import registry
from tests.vendors import acme


@pytest.fixture
def acme_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[acme.AcmeSimulator]:
    """The Acme vendor registered, its simulator on a free loopback port, its config keys set."""
    simulator = acme.AcmeSimulator(120)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(simulator.app(), log_level="critical", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    registry.register(acme.VENDOR)
    monkeypatch.setenv("SOURCES__ACME__BASE_URL", f"http://127.0.0.1:{sock.getsockname()[1]}")
    monkeypatch.setenv("SOURCES__ACME__API_KEY", acme.API_KEY)
    yield simulator
    registry.unregister("acme")
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


def arwip(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_check_sync_verify_and_reconcile_a_registered_vendor(acme_api, tmp_path: Path):
    db = tmp_path / "w.duckdb"
    code, output = arwip("check", "--source", "acme")
    assert code == 0, output
    assert "every core entity works" in output and "items show no notes" in output

    code, output = arwip("sync", "--source", "acme", "--db", str(db))
    assert code == 0, output
    assert "acme.items: 120 rows fetched" in output
    assert "acme.notes unavailable (HTTP 404 at /v1/notes): items show no notes" in output
    assert arwip("sync", "--source", "acme", "--db", str(db), "--strict")[0] == 3  # notes still unavailable

    code, output = arwip("verify", "--source", "acme", "--db", str(db))
    assert code == 0 and "the warehouse equals the sources" in output, output

    for gone in (7, 8):
        del acme_api.items[gone]
    assert arwip("verify", "--source", "acme", "--db", str(db))[0] == 1  # 118 at the API, 120 here
    code, output = arwip("sync", "--source", "acme", "--reconcile", "--db", str(db))
    assert code == 0, output
    assert "acme.items: reconciled 118 ids at the API with 120 in the warehouse: 2 disappeared" in output
    with duckdb.connect(str(db), read_only=True) as con:
        deleted = con.sql("select guid from acme.deletions where deleted_at is not null order by guid").fetchall()
    assert deleted == [("7",), ("8",)]
    code, output = arwip("verify", "--source", "acme", "--db", str(db))
    assert code == 0, output
