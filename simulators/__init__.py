"""Faithful simulators of the Aiwyn, Aimsio and iinsight billing APIs over one seeded firm.

`Firm` generates the data (deterministic from a seed, sized by `FirmSize`), `SimulatorCluster` serves
the three APIs on loopback, `SimSettings` sets latency, Aimsio limits, token lifetimes, faults and
(`Webhooks`) Aiwyn webhook delivery.
See `shared/api/CONTRACT.md` for the behaviour and each module's docstring for what it pins.
"""

from simulators.cluster import SimulatorCluster
from simulators.data import Firm, FirmSize, Truth
from simulators.settings import Faults, SimSettings, Webhooks

__all__ = ["Faults", "Firm", "FirmSize", "SimSettings", "SimulatorCluster", "Truth", "Webhooks"]
