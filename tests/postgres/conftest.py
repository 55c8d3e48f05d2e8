"""Fixtures of the Postgres tests: a :class:`PostgresWarehouse` on a fresh database of the session's server."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.warehouse import PostgresWarehouse


@pytest.fixture
def pg(postgres_dsn: str, tmp_path: Path) -> PostgresWarehouse:
    """The warehouse of a new, empty database (arwip's working folder in the test's tmp_path)."""
    return PostgresWarehouse(postgres_dsn, state_dir=tmp_path / "pg-state")
