"""Running ``arwip sync`` as a child process against a simulator cluster, and killing it on cue.

Every sync of the chaos tests runs as its own process (the real CLI, ``pipelines.cli:app``), so that
``kill -9`` hits a real ``arwip sync`` and nothing a failed run leaves behind lives on in the test process.
Shared by ``tests/chaos/`` and ``bench/soak.py``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from simulators import SimulatorCluster

NOW = datetime(2026, 6, 30, 12, 0, 0, tzinfo=UTC)
"""The clock of the chaos tests' generated firms (as in ``tests/conftest.py``): deterministic data."""
REPO = Path(__file__).resolve().parents[2]
LAUNCHER = ("-c", "from pipelines.cli import app; app(prog_name='arwip')")
"""``python <LAUNCHER> <args>`` runs ``arwip <args>``."""
HANG_GRACE_S = 20.0
"""How long a sync may take to exit after printing its ``error:`` line before it counts as hung."""


def sync_env(cluster: SimulatorCluster | None = None, **extra: str | float | int) -> dict[str, str]:
    """The environment of a child ``arwip``: this one without ``SOURCES__*`` / ``ARWIP_*`` leftovers, plus
    the cluster's base URLs and credentials and ``extra`` (e.g. ``SOURCES__AIWYN__PAGE_SIZE=50``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOURCES__", "ARWIP_"))}
    env["PYTHONUNBUFFERED"] = "1"
    env["COLUMNS"] = "200"
    if cluster is not None:
        env.update(cluster.credentials)
    env.update({k: str(v) for k, v in extra.items()})
    return env


def fast_retries(backoff_max_s: float, **extra: str | float | int) -> dict[str, str | float | int]:
    """Config keys capping every source's retry backoff at ``backoff_max_s`` seconds (``SOURCES__<SOURCE>__
    BACKOFF_MAX_S``), so that tests of failing requests do not wait 30 s; plus ``extra``."""
    from sources import registry

    return {**{f"SOURCES__{name.upper()}__BACKOFF_MAX_S": backoff_max_s for name in registry.names()}, **extra}


def total_requests(cluster: SimulatorCluster) -> int:
    """Requests the three simulators received so far (admin routes excluded)."""
    return sum(s["requests"] for s in cluster.stats.values())


def fault_counts(cluster: SimulatorCluster) -> dict[str, int]:
    """Faults injected so far, by kind, over the three simulators."""
    out: dict[str, int] = {}
    for stats in cluster.stats.values():
        for kind, n in stats["faults"].items():
            out[kind] = out.get(kind, 0) + n
    return out


def state_root(db: Path) -> Path:
    """dlt's working folder of the warehouse ``db`` (``DuckDBWarehouse.state_dir``)."""
    return db.resolve().parent / ".arwip" / db.name


def load_phase(db: Path) -> bool:
    """True once any source of the warehouse ``db`` has a package normalized and not yet loaded."""
    return any(any(p.iterdir()) for p in state_root(db).glob("arwip_*/load/normalized") if p.is_dir())


def loading(db: Path) -> bool:
    """True once a load job of any source of ``db`` started (the package is normalized, its extracted copy
    gone: dlt is writing to the warehouse)."""
    return any(True for _ in state_root(db).glob("arwip_*/load/normalized/*/started_jobs/*"))


@dataclass
class SyncResult:
    """How a child ``arwip`` ended: exit code (negative: killed by that signal), output, and whether we
    killed it on cue (``killed``) or because it did not exit after reporting an error (``hung``)."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    killed: bool = False
    hung: bool = False
    requests_at_kill: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def error_lines(self) -> list[str]:
        """The lines of stderr from the ``error:`` line on (the CLI's failure message, possibly wrapped)."""
        lines = self.stderr.splitlines()
        start = next((i for i, line in enumerate(lines) if line.startswith("error:")), len(lines))
        return [line for line in lines[start:] if line.strip()]

    def error_message(self) -> str:
        """The failure message as one string (wrapped lines joined), "" when there is none."""
        return " ".join(line.strip() for line in self.error_lines())

    def describe(self) -> str:
        state = "killed" if self.killed else "hung" if self.hung else f"exit {self.returncode}"
        return f"arwip {' '.join(self.args)}: {state} after {self.seconds:.1f} s\n--- stderr ---\n{self.stderr[-4000:]}"


def _drain(stream: object, sink: list[str]) -> None:
    for line in iter(stream.readline, ""):  # type: ignore[attr-defined]
        sink.append(line)


def run_arwip(
    args: Iterable[str],
    env: dict[str, str],
    *,
    kill_when: Callable[[], bool] | None = None,
    on_kill: Callable[[], int | None] | None = None,
    timeout_s: float = 600.0,
    hang_grace_s: float = HANG_GRACE_S,
    cwd: Path = REPO,
) -> SyncResult:
    """Run ``arwip <args>`` as a child process and wait for it.

    ``kill_when`` is polled every few milliseconds; when it returns True the child gets SIGKILL (``kill -9``).
    A child still alive ``hang_grace_s`` after printing its ``error:`` line is SIGKILLed and marked ``hung``.
    ``timeout_s`` bounds the whole run (then ``hung`` too).
    """
    argv = [str(a) for a in args]
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, *LAUNCHER, *argv], env=env, cwd=cwd, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, encoding="utf-8", errors="replace",
    )
    out: list[str] = []
    err: list[str] = []
    readers = [threading.Thread(target=_drain, args=(s, sink), daemon=True) for s, sink in ((proc.stdout, out),
                                                                                          (proc.stderr, err))]
    for r in readers:
        r.start()
    killed = hung = False
    at_kill = None
    error_seen: float | None = None
    while proc.poll() is None:
        now = time.monotonic()
        if kill_when is not None and not killed and kill_when():
            os.kill(proc.pid, signal.SIGKILL)
            killed = True
            at_kill = on_kill() if on_kill else None
            break
        if error_seen is None and any(line.startswith("error:") for line in list(err)):
            error_seen = now
        if (error_seen is not None and now - error_seen > hang_grace_s) or now - started > timeout_s:
            os.kill(proc.pid, signal.SIGKILL)
            hung = True
            break
        time.sleep(0.002)
    proc.wait()
    for r in readers:
        r.join(timeout=10)
    return SyncResult(argv, proc.returncode, "".join(out), "".join(err), time.monotonic() - started, killed, hung,
                      at_kill)


def run_sync(db: Path, env: dict[str, str], *args: str, **kwargs: object) -> SyncResult:
    """``arwip sync --db <db> [args]`` (see :func:`run_arwip` for the keyword arguments)."""
    return run_arwip(["sync", "--db", str(db), *args], env, **kwargs)  # type: ignore[arg-type]
