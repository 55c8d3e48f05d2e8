"""``arwip serve``: the long-running service (uvicorn in the foreground, logs on stdout, SIGTERM stops it).

It holds the warehouse's writer's lock for its whole life (``arwip sync`` exits 75 meanwhile; ``arwip report`` and
``arwip verify`` read a DuckDB warehouse's BI snapshot, a PostgreSQL one's live schemas), opens the webhook inbox
(:mod:`pipelines.inbox`), starts the scheduler (:mod:`pipelines.serve.coordinator`) and serves
:mod:`pipelines.serve.app`.

Stopping (SIGTERM or Ctrl-C): no new request is accepted, requests in flight finish (an event being stored is
stored and answered), the running sync gets ``stop_timeout_s`` to finish; if it has not, the process exits
anyway (as a ``kill -9`` would: the next start resumes the sync, and its events are still in the inbox).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import time
from pathlib import Path

import uvicorn
from prometheus_client import disable_created_metrics

from pipelines.inbox import Inbox, inbox_path
from pipelines.serve.app import create_app
from pipelines.serve.coordinator import Coordinator
from pipelines.serve.metrics import ServeMetrics
from pipelines.warehouse import Warehouse, as_warehouse
from sources import registry
from sources._config import Setting
from sources._http import ConfigError
from sources._vendor import Config, Vendor
from sources._webhooks import Receiver

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8787
DEFAULT_STOP_TIMEOUT_S = 20.0
log = logging.getLogger("arwip.serve")


def _logging() -> None:
    """Log lines ``<UTC time> <level> <message>`` on stdout (systemd's journal, a container's log)."""
    handler = logging.StreamHandler(sys.stdout)
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%dT%H:%M:%SZ")
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    for name, level in (("arwip", logging.INFO), ("uvicorn", logging.WARNING)):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False


def _receivers(vendors: dict[str, tuple[Vendor, Config]]) -> dict[str, Receiver | None]:
    """Per source with webhooks, its receiver; None (and a warning) when no secret is configured.

    Raises:
        ConfigError: a configured secret that is malformed (the key is named, the secret is not).
    """
    receivers: dict[str, Receiver | None] = {}
    for name, (vendor, config) in vendors.items():
        hooks = vendor.webhooks
        if hooks is None:
            continue
        env = Setting(hooks.secret_key).env(name)
        secrets = config[hooks.secret_key]
        if not secrets:
            log.warning("%s: no webhook secret (%s): webhooks are refused (503) until it is set and the service "
                        "restarted; polls still run", name, env)
            receivers[name] = None
            continue
        try:
            receivers[name] = hooks.receiver(secrets)
        except ValueError as exc:
            raise ConfigError(f"{env}: {exc}") from None
    return receivers


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (port 0: any free port). Raises ConfigError when that fails."""
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port} (--host, --port): {exc.strerror or exc}") from None
    return sock


def serve(warehouse: Warehouse | Path, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
          sources: list[str] | None = None, stop_timeout_s: float = DEFAULT_STOP_TIMEOUT_S) -> None:
    """Run the service in the foreground until SIGTERM or SIGINT (see the module docstring).

    Raises:
        ConfigError: a missing or malformed key of a source, or the address cannot be listened on.
        SyncLocked: another process holds the warehouse.
        ValueError: an unknown source.
    """
    _logging()
    disable_created_metrics()  # no *_created series: counters start with the process, as Prometheus expects
    vendors = {v.name: (v, v.config()) for v in registry.vendors(sources)}
    receivers = _receivers(vendors)
    warehouse = as_warehouse(warehouse)
    with warehouse.writer_lock("serve"):
        sock = _listen(host, port)
        inbox = Inbox(inbox_path(warehouse))
        left = inbox.depth()
        if left:
            log.info("inbox: %d event(s) left from before, processed with the first sync", left)
        metrics = ServeMetrics(vendors, receivers, inbox.depth)
        coordinator = Coordinator(warehouse, vendors, inbox, metrics)
        abandoned: list[bool] = []

        def on_stop() -> None:
            if coordinator.running is not None:
                log.info("stopping: waiting up to %.0f s for the running sync", stop_timeout_s)
            abandoned.append(not coordinator.stop(stop_timeout_s))

        app = create_app(receivers, inbox, coordinator, metrics, on_stop)
        server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="on"))
        for sig in (signal.SIGTERM, signal.SIGINT):  # uvicorn re-raises the stop signal on exit: end cleanly then
            signal.signal(sig, lambda *_: None)
        bound_host, bound_port = sock.getsockname()[:2]
        log.info("arwip serve %s: listening on http://%s:%d (sources %s; webhooks at %s)", warehouse.location,
                 bound_host, bound_port, ", ".join(vendors), ", ".join(f"/webhooks/{s}" for s in receivers) or "none")
        server.run(sockets=[sock])
        if abandoned and abandoned[0]:
            log.warning("the running sync did not finish within %.0f s: abandoned; the next start resumes it (its "
                        "events stay in the inbox)", stop_timeout_s)
            logging.shutdown()
            os._exit(0)  # the sync's threads cannot be interrupted; what they leave is resumable (as after kill -9)
        inbox.close()
    log.info("stopped")
