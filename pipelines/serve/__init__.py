"""``arwip serve``: the long-running service (issue 13). :mod:`.service` runs it, :mod:`.app` is its HTTP side
(webhooks, ``/healthz``, ``/metrics``), :mod:`.coordinator` schedules the syncs, :mod:`.metrics` counts, and
:mod:`.cli` holds the ``serve`` and ``subscriptions`` commands."""
