"""Faithful simulators of the Aiwyn, Aimsio and iinsight billing APIs over one seeded firm.

`Firm` generates the data (deterministic from a seed, sized by `FirmSize`), `SimulatorCluster` serves
the three APIs on loopback, `SimSettings` sets latency, Aimsio limits, token lifetimes and faults.
See `shared/api/CONTRACT.md` for the behaviour and each module's docstring for what it pins.
Ground truth of the write APIs, beside `Firm.truth()`: `records_truth`, `record_types_truth` (Aiwyn Records) and
`transfers_truth` (iinsight transfers); NRBs with their external ids are in `Truth.aimsio_nrbs`.
"""

from simulators._record_batches import record_types_truth, records_truth
from simulators._transfers import transfers_truth
from simulators.cluster import SimulatorCluster
from simulators.data import Firm, FirmSize, Truth
from simulators.settings import Faults, SimSettings

__all__ = ["Faults", "Firm", "FirmSize", "SimSettings", "SimulatorCluster", "Truth", "record_types_truth",
           "records_truth", "transfers_truth"]
