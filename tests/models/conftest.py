"""Fixtures of the model tests: the hand-built warehouse of models_dataset.py, built once per session (tests
only read it)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `.venv/bin/pytest` does not put the project root on the import path
    sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402
from models_dataset import load_dataset  # noqa: E402

from pipelines.models import ReportConfig, build_models  # noqa: E402


@pytest.fixture(scope="session")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DuckDB file with the dataset loaded and the models built."""
    path = tmp_path_factory.mktemp("warehouse") / "arwip.duckdb"
    with duckdb.connect(str(path)) as con:
        load_dataset(con)
        build_models(con, ReportConfig())
    return path


@pytest.fixture
def con(warehouse: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to the built warehouse (as the CLI opens it)."""
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        yield connection
