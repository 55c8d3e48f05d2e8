"""Fixtures of the chaos tests: simulator clusters (optionally wrapped by a test-side interceptor)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `.venv/bin/pytest` does not put the project root on the import path
    sys.path.insert(0, str(ROOT))

from simulators import Firm, FirmSize, SimSettings, SimulatorCluster  # noqa: E402
from tests.chaos.asgi import Intercept  # noqa: E402
from tests.chaos.harness import NOW  # noqa: E402

StartCluster = Callable[..., SimulatorCluster]


@pytest.fixture
def cluster() -> Iterator[StartCluster]:
    """``cluster(firm_or_size, settings=None, seed=1, before={vendor: fn}, after={vendor: fn})``: a started
    simulator cluster (stopped after the test); ``before``/``after`` wrap vendor apps in :class:`Intercept`."""
    started: list[SimulatorCluster] = []

    def start(
        firm: Firm | FirmSize | str = "tiny",
        settings: SimSettings | None = None,
        seed: int = 1,
        before: dict[str, Callable] | None = None,
        after: dict[str, Callable] | None = None,
    ) -> SimulatorCluster:
        if not isinstance(firm, Firm):
            firm = Firm(seed=seed, size=firm, now=NOW)
        c = SimulatorCluster(firm, settings or SimSettings())
        for vendor in set(before or {}) | set(after or {}):
            c.apps[vendor] = Intercept(c.apps[vendor], before=(before or {}).get(vendor),
                                       after=(after or {}).get(vendor))
        started.append(c.start())
        return c

    yield start
    for c in started:
        c.stop()
