"""Run the three simulators on uvicorn: in a background thread (`SimulatorCluster`, for tests, the demo
and benchmarks) or in the foreground (`serve_forever`, behind `arwip simulate`).

The cluster binds its sockets before starting, so `.urls` are known at once (port 0 → a free port),
runs the three servers on one event loop in one daemon thread, and returns from `start()` only when
all three accept connections.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import signal
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any

import uvicorn
from starlette.applications import Starlette

from simulators import aimsio, aiwyn, iinsight
from simulators.data import Firm, FirmSize
from simulators.settings import SimSettings

VENDORS = ("aiwyn", "aimsio", "iinsight")
DEFAULT_PORTS = (8701, 8702, 8703)
"""Ports of `arwip simulate` (aiwyn, aimsio, iinsight), as in `.dlt/config.toml`."""
_FACTORIES: dict[str, Callable[[Firm, SimSettings], Starlette]] = {
    "aiwyn": aiwyn.create_app, "aimsio": aimsio.create_app, "iinsight": iinsight.create_app}

Ports = Mapping[str, int] | Sequence[int]


def _port_map(ports: Ports | None) -> dict[str, int]:
    if ports is None:
        return dict.fromkeys(VENDORS, 0)
    if isinstance(ports, Mapping):
        return {v: int(ports.get(v, 0)) for v in VENDORS}
    if len(ports) != len(VENDORS):
        raise ValueError("give three ports: aiwyn, aimsio, iinsight")
    return dict(zip(VENDORS, (int(p) for p in ports), strict=True))


class SimulatorCluster:
    """The Aiwyn, Aimsio and iinsight simulators over one `Firm`, served on loopback.

    Use as a context manager (`with SimulatorCluster(firm) as c: ...`) or `start()` / `stop()`.
    `ports`: a mapping vendor → port or a sequence (aiwyn, aimsio, iinsight); 0 or missing = free port.
    """

    def __init__(self, firm: Firm, settings: SimSettings | None = None, host: str = "127.0.0.1",
                 ports: Ports | None = None, log_level: str = "critical") -> None:
        self.firm = firm
        self.settings = settings or SimSettings()
        self.host = host
        self.apps = {v: _FACTORIES[v](firm, self.settings) for v in VENDORS}
        self._ports = _port_map(ports)
        self._log_level = log_level
        self._sockets: dict[str, socket.socket] = {}
        self._servers: dict[str, uvicorn.Server] = {}
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self, timeout_s: float = 15.0) -> SimulatorCluster:
        """Bind, start the servers in a background thread and wait until they accept connections."""
        if self._thread is not None:
            return self
        for vendor in VENDORS:
            sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # else Nagle + delayed ACK: +40 ms
            sock.bind((self.host, self._ports[vendor]))
            sock.listen(2048)
            sock.setblocking(False)
            self._sockets[vendor] = sock
            config = uvicorn.Config(self.apps[vendor], log_level=self._log_level, access_log=False, lifespan="off",
                                    timeout_graceful_shutdown=2, timeout_keep_alive=30)
            self._servers[vendor] = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name="simulators", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not all(s.started for s in self._servers.values()):
            if self._error is not None or not self._thread.is_alive():
                raise RuntimeError(f"simulators failed to start: {self._error!r}")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError("simulators did not start in time")
            time.sleep(0.01)
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(asyncio.gather(
                *(self._servers[v].serve(sockets=[self._sockets[v]]) for v in VENDORS)))
        except BaseException as exc:  # surfaced by start()
            self._error = exc
        finally:
            loop.close()

    def stop(self) -> None:
        """Stop the servers and wait for the thread (idempotent)."""
        for server in self._servers.values():
            server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        for sock in self._sockets.values():
            sock.close()
        self._sockets.clear()

    @property
    def running(self) -> bool:
        """True while the server thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> SimulatorCluster:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- what clients need ---------------------------------------------------------------------
    @property
    def urls(self) -> dict[str, str]:
        """Vendor → base URL, e.g. `{"aiwyn": "http://127.0.0.1:8701", ...}` (after `start()`)."""
        out = {}
        for vendor, sock in self._sockets.items():
            host, port = sock.getsockname()[:2]
            out[vendor] = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
        return out

    @property
    def credentials(self) -> dict[str, str]:
        """dlt environment-style config: base URLs and credentials of the three sources."""
        s, urls = self.settings, self.urls
        return {
            "SOURCES__AIWYN__BASE_URL": urls["aiwyn"], "SOURCES__AIWYN__JWT_API_KEY": s.jwt_api_key,
            "SOURCES__AIMSIO__BASE_URL": urls["aimsio"], "SOURCES__AIMSIO__USERNAME": s.aimsio_username,
            "SOURCES__AIMSIO__PASSWORD": s.aimsio_password,
            "SOURCES__IINSIGHT__BASE_URL": urls["iinsight"], "SOURCES__IINSIGHT__CLIENT_ID": s.iinsight_client_id,
            "SOURCES__IINSIGHT__CLIENT_SECRET": s.iinsight_client_secret,
            "SOURCES__IINSIGHT__USERNAME": s.iinsight_username, "SOURCES__IINSIGHT__PASSWORD": s.iinsight_password,
        }

    def set_endpoint(self, name: str, state: str) -> None:
        """Switch the optional endpoint `name` (`<vendor>.<entity>`, e.g. `aimsio.job_orders`) `on`, `off`
        (404) or `forbidden` (403), at once (CONTRACT.md "Optional endpoints").

        Raises:
            ValueError: an unknown vendor, an entity that is not optional, or an unknown state.
        """
        vendor, _, entity = name.partition(".")
        if vendor not in self.apps:
            raise ValueError(f"unknown vendor {vendor!r} in {name!r}: use one of {', '.join(VENDORS)}")
        self.apps[vendor].state.vendor.set_endpoint(entity, state)

    @property
    def stats(self) -> dict[str, dict[str, Any]]:
        """Vendor → request stats: requests, by_status, by_path (`"POST /api/v1/records"` → answers),
        throttled (429s), peak_in_flight, peak_per_s, faults; Aimsio adds its limiter's admitted / limited /
        admitted_peak_in_flight / admitted_peak_per_s / queued_peak / max_wait_observed_s."""
        return {v: app.state.vendor.stats.snapshot() for v, app in self.apps.items()}


def serve_forever(size: str | FirmSize = "demo", seed: int = 1, host: str = "127.0.0.1",
                  ports: Ports | None = DEFAULT_PORTS, settings: SimSettings | None = None, *,
                  latency_base_ms: float | None = None, latency_per_row_ms: float | None = None) -> None:
    """Generate a firm, serve the three simulators in the foreground until Ctrl-C, printing each base
    URL and the credentials (as dlt environment variables) to use against them."""
    settings = settings or SimSettings()
    changes = {k: v for k, v in (("latency_base_ms", latency_base_ms), ("latency_per_row_ms", latency_per_row_ms))
               if v is not None}
    settings = dataclasses.replace(settings, **changes)
    if threading.current_thread() is threading.main_thread():  # `kill` stops as cleanly as Ctrl-C
        signal.signal(signal.SIGTERM, signal.default_int_handler)
    started = time.monotonic()
    firm = Firm(seed=seed, size=size)
    print(f"Generated firm (seed {seed}, size {size if isinstance(size, str) else 'custom'}) "
          f"in {time.monotonic() - started:.1f} s; as of {firm.now.isoformat()}", flush=True)
    with SimulatorCluster(firm, settings, host, ports, log_level="warning") as cluster:
        for vendor, url in cluster.urls.items():
            print(f"  {vendor:9s} {url}   (admin: POST {url}/_sim/activity, GET {url}/_sim/stats)", flush=True)
        print("Credentials (export these or put them in .dlt/secrets.toml):", flush=True)
        for key, value in cluster.credentials.items():
            print(f"  export {key}={value}", flush=True)
        print("Serving; Ctrl-C to stop.", flush=True)
        try:
            while cluster.running:
                time.sleep(0.5)
        except KeyboardInterrupt:
            print("Stopping.", flush=True)


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m simulators [--size demo] [--seed 1] [--host …] [--ports 8701 8702 8703] …`."""
    parser = argparse.ArgumentParser(description="Serve the Aiwyn, Aimsio and iinsight simulators.")
    parser.add_argument("--size", default="demo", help="tiny, demo, medium or large")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--ports", type=int, nargs=3, default=list(DEFAULT_PORTS), metavar=("AIWYN", "AIMSIO",
                                                                                           "IINSIGHT"))
    parser.add_argument("--latency-base-ms", type=float, default=0.0)
    parser.add_argument("--latency-per-row-ms", type=float, default=0.0)
    parser.add_argument("--aimsio-bare-array", action="store_true")
    args = parser.parse_args(argv)
    settings = SimSettings(latency_base_ms=args.latency_base_ms, latency_per_row_ms=args.latency_per_row_ms,
                           aimsio_bare_array=args.aimsio_bare_array)
    try:
        serve_forever(args.size, args.seed, args.host, args.ports, settings)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
