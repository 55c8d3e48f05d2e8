"""``arwip push``: reverse ETL from the warehouse into the vendors, with a plan, a ledger and exactly-once effect.

Modules: :mod:`~pipelines.push.engine` (one push: settle, plan, apply), :mod:`~pipelines.push.plan` (rows
classified against the ledger), :mod:`~pipelines.push.sender` (the apply loop), :mod:`~pipelines.push.ledger`
(``push.ledger`` and ``push.runs``), :mod:`~pipelines.push.inputs` (streamed rows), :mod:`~pipelines.push.cli`
(the commands). The targets themselves are vendor knowledge (:mod:`sources._push`, ``sources/<vendor>/push.py``).
"""

from pipelines.push.engine import PushResult, push

__all__ = ["PushResult", "push"]
