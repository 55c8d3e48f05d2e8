"""Fixtures of the simulator tests: a tiny firm with a fixed clock, served on loopback over real HTTP."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `.venv/bin/pytest` does not put the project root on the import path
    sys.path.insert(0, str(ROOT))

from sim_clients import NOW  # noqa: E402

from simulators import Firm, SimSettings, SimulatorCluster  # noqa: E402


@pytest.fixture(scope="session")
def firm() -> Firm:
    """A read-only tiny firm (seed 7) as of 2025-06-01 12:00 UTC; tests must not change it."""
    return Firm(seed=7, size="tiny", now=NOW)


@pytest.fixture(scope="session")
def cluster(firm: Firm) -> Iterator[SimulatorCluster]:
    """The three simulators over `firm`, default settings."""
    with SimulatorCluster(firm, SimSettings()) as running:
        yield running


@pytest.fixture
def fresh_firm() -> Firm:
    """A tiny firm of its own, for tests that change data."""
    return Firm(seed=11, size="tiny", now=NOW)


@pytest.fixture
def fresh_cluster(fresh_firm: Firm) -> Iterator[SimulatorCluster]:
    """Simulators over `fresh_firm`."""
    with SimulatorCluster(fresh_firm) as running:
        yield running
