"""Running ``arwip serve`` as a real child process over loopback for the tests (and ``bench/serve_bench.py``):
start it against a simulator cluster, read its log, call its routes, stop it with SIGTERM or kill it.

Also: an Aiwyn subscription pointing at the service, deliveries signed by the test itself, and reads of the
BI snapshot (what a BI tool sees).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import httpx
import orjson

from pipelines.publish import default_snapshot_path
from tests.chaos.harness import LAUNCHER, REPO, sync_env

SECRET = "whsec_" + "c2VydmUtdGVzdHMtc2lnbmluZy1zZWNyZXQtMzItYnl0ZXM="  # base64 of 32 bytes
OTHER_SECRET = "whsec_" + "b3RoZXItdGVzdHMtc2lnbmluZy1zZWNyZXQtMzItYnl0ZXM="


def free_port() -> int:
    """A loopback port free right now (the service is started on it at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check: Callable[[], Any], timeout_s: float = 60.0, what: str = "the condition") -> Any:
    """Poll ``check()`` every 50 ms until it returns something truthy (returned); AssertionError after
    ``timeout_s`` (a bound against hanging, not a timing assertion)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout_s} s"
        time.sleep(0.05)


class Service:
    """``arwip serve --db <db> --port <port> <args>`` as a child process in ``cwd`` (``env``: config keys, e.g.
    from :func:`serve_env`). ``lines`` collects its stdout and stderr; ``url`` is its base URL."""

    def __init__(self, db: Path, env: dict[str, str], port: int | None = None, *args: str, cwd: Path = REPO) -> None:
        self.db, self.port = db, port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        argv = [sys.executable, *LAUNCHER, "serve", "--db", str(db), "--port", str(self.port), *args]
        self.proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, encoding="utf-8", errors="replace")
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.http = httpx.Client(base_url=self.url, timeout=30)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in iter(self.proc.stdout.readline, ""):
            self.lines.append(line)

    @property
    def log(self) -> str:
        return "".join(self.lines)

    def wait_log(self, pattern: str, timeout_s: float = 120.0, count: int = 1) -> list[str]:
        """The log lines matching the regex ``pattern`` once there are ``count`` of them."""
        def found() -> list[str]:
            assert self.proc.poll() is None or count <= len(self._matches(pattern)), \
                f"arwip serve exited ({self.proc.returncode}):\n{self.log[-4000:]}"
            hits = self._matches(pattern)
            return hits if len(hits) >= count else []
        return wait_until(found, timeout_s, f"{count} log line(s) matching {pattern!r}\n{self.log[-3000:]}")

    def _matches(self, pattern: str) -> list[str]:
        return [line for line in list(self.lines) if re.search(pattern, line)]

    def ready(self, timeout_s: float = 120.0) -> Service:
        """Wait until it listens and readers see its first sync (the BI snapshot, or PostgreSQL's models)."""
        self.wait_log("listening on", timeout_s)
        self.wait_log("published the BI snapshot|readers see the new models", timeout_s)
        return self

    def metrics(self) -> dict[str, float]:
        """``GET /metrics`` as ``{"name{labels}": value}`` (comments dropped)."""
        text = self.http.get("/metrics").text
        return {k: float(v) for k, v in (line.rsplit(" ", 1) for line in text.splitlines()
                                         if line and not line.startswith("#"))}

    def post_event(self, body: bytes, secret: str = SECRET, timestamp: int | None = None,
                   headers: dict[str, str] | None = None) -> httpx.Response:
        """POST a delivery to ``/webhooks/aiwyn``, signed with ``secret`` (at ``timestamp``, default now)."""
        return self.http.post("/webhooks/aiwyn", content=body,
                              headers={**signed(body, secret, timestamp), **(headers or {})})

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 120.0) -> int:
        """Send ``sig`` and wait for the exit code."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
        code = self.proc.wait(timeout_s)
        self._reader.join(timeout=10)
        self.http.close()
        return code

    def __enter__(self) -> Service:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)
        self.http.close()


@contextmanager
def lock_held(warehouse: str, holder: str = "serve") -> Iterator[int]:
    """The writer's lock of ``warehouse`` (Python text naming a :class:`pipelines.warehouse.Warehouse`, e.g.
    ``DuckDBWarehouse(Path('w.duckdb'))``) held by a child process as ``holder`` (as ``arwip serve`` holds it);
    yields the child's pid."""
    code = ("import sys\nfrom pathlib import Path\nfrom pipelines.warehouse import DuckDBWarehouse, PostgresWarehouse\n"
            f"with {warehouse}.writer_lock({holder!r}):\n    print('held', flush=True)\n    sys.stdin.readline()\n")
    child = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "held"
        yield child.pid
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(30)


def serve_env(cluster: Any, secret: str | list[str] | None = SECRET, **extra: str | float | int) -> dict[str, str]:
    """The environment of a child ``arwip serve``: the cluster's sources, the webhook secret(s), ``extra``."""
    keys: dict[str, str | float | int] = {}
    if secret is not None:
        keys["SOURCES__AIWYN__WEBHOOK_SECRET"] = secret if isinstance(secret, str) else orjson.dumps(secret).decode()
    return sync_env(cluster, **keys, **extra)


def signed(body: bytes, secret: str, timestamp: int | None = None) -> dict[str, str]:
    """The headers of a delivery of ``body`` signed with ``secret`` as CONTRACT.md pins it."""
    import base64

    ts = int(time.time()) if timestamp is None else timestamp
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "X-Aiwyn-Timestamp": str(ts), "X-Aiwyn-Signature": f"sha256={digest}"}


def event_body(event_id: str, entity_id: int, entity: str = "wip", operation: str = "UPDATE",
               at: str = "2026-06-30T12:00:00Z") -> bytes:
    """A delivery body as the contract pins it."""
    return orjson.dumps({"eventId": event_id, "subscriptionId": 1, "entityType": entity, "operation": operation,
                         "entityId": entity_id, "occurredAt": at, "data": {"id": entity_id, "updatedAt": at}})


@contextmanager
def aiwyn_admin(cluster: Any) -> Iterator[httpx.Client]:
    """A client of the Aiwyn simulator with a bearer token (subscriptions API, admin routes)."""
    with httpx.Client(base_url=cluster.urls["aiwyn"], timeout=30) as client:
        token = client.post("/v1/auth/token", json={"jwtApiKey": cluster.settings.jwt_api_key}).json()["accessToken"]
        client.headers["Authorization"] = f"Bearer {token}"
        yield client


def subscribe(cluster: Any, url: str) -> str:
    """Subscribe ``url`` to every Aiwyn change; returns its signing secret."""
    with aiwyn_admin(cluster) as aiwyn:
        sub = aiwyn.post("/api/v1/event-subscriptions", json={
            "name": "tests", "url": url, "entityTypes": ["wip", "invoice", "payment"],
            "operations": ["CREATE", "UPDATE", "DELETE"]}).json()["data"]
        return str(aiwyn.get(f"/api/v1/event-subscriptions/{sub['id']}/secret").json()["data"]["secret"])


def touch(cluster: Any, entity: str = "wip", count: int = 1, delete: bool = False) -> dict[str, Any]:
    """``POST /_sim/aiwyn/touch``: change ``count`` records now; returns ids, updatedAt, committedAt."""
    with httpx.Client(base_url=cluster.urls["aiwyn"], timeout=60) as aiwyn:
        answer = aiwyn.post("/_sim/aiwyn/touch", json={"entity": entity, "count": count, "delete": delete})
        answer.raise_for_status()
        return dict(answer.json())


def snapshot_rows(db: Path, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` on the BI snapshot of ``db`` (opened read-only afresh, as a BI tool does); [] when there
    is no snapshot yet."""
    snapshot = default_snapshot_path(db)
    if not snapshot.exists():
        return []
    with duckdb.connect(str(snapshot), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()
