"""The benchmarks' process harness: the simulators in a child process (``Simulators``), a child run measured with
``os.wait4`` and optionally py-spy (``run_child``, ``ChildRun``), the PostgreSQL server of ``--destination
postgres`` (``Postgres``), and what they share: the politeness budget, this interpreter and the stderr console.

Importing it puts the tree it lives in first on ``sys.path`` (``python bench/<script>.py`` measures this tree,
also a copy, not the installed one).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))  # measure the tree this file lives in (also a copy), not the installed one
PYTHON = sys.executable
VENDORS = ("aiwyn", "aimsio", "iinsight")
IN_FLIGHT = {"aiwyn": 8, "aimsio": 10, "iinsight": 8}
AIMSIO_RATE_PER_S = 10.0
BUDGET_ENV = {
    "SOURCES__AIWYN__MAX_IN_FLIGHT": "8",
    "SOURCES__IINSIGHT__MAX_IN_FLIGHT": "8",
    "SOURCES__AIMSIO__MAX_IN_FLIGHT": "10",
    "SOURCES__AIMSIO__RATE_PER_S": "10",
}

console = Console(stderr=True, width=None if sys.stderr.isatty() else 140)


def cpu_times() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from ``/proc/stat`` (all cores)."""
    try:
        fields = [float(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except OSError:
        return 0.0, 0.0
    tick = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)
    return (sum(fields) - idle) / tick, sum(fields) / tick


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a live process (``/proc/<pid>/stat``), 0 if unknown."""
    try:
        parts = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (float(parts[11]) + float(parts[12])) / os.sysconf("SC_CLK_TCK")


def py_spy() -> str | None:
    """Path of ``py-spy`` (PATH or beside this interpreter), or None."""
    found = shutil.which("py-spy")
    beside = Path(PYTHON).parent / "py-spy"
    return found or (str(beside) if beside.exists() else None)


class Simulators:
    """The simulators of one firm in a child process (``bench/_simserver.py``); a context manager."""

    def __init__(self, size: str, seed: int, base_ms: float, per_row_ms: float, workdir: Path,
                 age_minutes: float = 0.0) -> None:
        self.size, self.seed, self.base_ms, self.per_row_ms = size, seed, base_ms, per_row_ms
        self.age_minutes = age_minutes  # the firm is generated as of this long ago
        self.log = workdir / f"simulators-{size}.log"
        self.proc: subprocess.Popen[str] | None = None
        self.info: dict[str, Any] = {}

    def __enter__(self) -> Simulators:
        console.print(
            f"[bold]Simulators[/]: generating the {self.size} firm (seed {self.seed}), latency "
            f"{self.base_ms:g} ms + {self.per_row_ms:g} ms/row…"
        )
        args = [
            PYTHON,
            str(BENCH / "_simserver.py"),
            "--size",
            self.size,
            "--seed",
            str(self.seed),
            "--latency-base-ms",
            str(self.base_ms),
            "--latency-per-row-ms",
            str(self.per_row_ms),
            "--age-minutes",
            str(self.age_minutes),
        ]
        path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
        with open(self.log, "w") as err:
            self.proc = subprocess.Popen(
                args, cwd=ROOT, env={**os.environ, "PYTHONPATH": path}, stdout=subprocess.PIPE, stderr=err, text=True
            )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # the JSON line once all three accept connections
        if not line:
            raise RuntimeError(f"simulators did not start; see {self.log}")
        self.info = json.loads(line)
        for vendor in VENDORS:  # they answer: the admin route of each
            httpx.get(f"{self.urls[vendor]}/_sim/info", timeout=30).raise_for_status()
        console.print(
            f"  ready in {self.info['generated_s']:.1f} s of generation: "
            + ", ".join(f"{v} {u}" for v, u in self.urls.items())
        )
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def urls(self) -> dict[str, str]:
        return dict(self.info["urls"])

    @property
    def env(self) -> dict[str, str]:
        """The environment a sync needs: base URLs, credentials, the politeness budget."""
        path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
        return {**os.environ, **self.info["credentials"], **BUDGET_ENV, "PYTHONPATH": path}

    def stats(self) -> dict[str, dict[str, Any]]:
        """``GET /_sim/stats`` of each vendor."""
        return {v: httpx.get(f"{self.urls[v]}/_sim/stats", timeout=30).json() for v in VENDORS}

    def activity(self, fraction: float) -> dict[str, Any]:
        """One burst of activity over the whole firm (``POST /_sim/activity`` on one vendor)."""
        answer = httpx.post(f"{self.urls['aiwyn']}/_sim/activity", json={"fraction": fraction}, timeout=300)
        answer.raise_for_status()
        return dict(answer.json())


@dataclass
class ChildRun:
    """A finished child process: its RESULT JSON, wall seconds, peak RSS, CPU seconds, exit status."""

    result: dict[str, Any]
    wall_s: float
    maxrss_mb: float
    cpu_s: float
    status: int
    sim_cpu_s: float = 0.0
    machine_busy_s: float = 0.0
    profiles: dict[str, Path] = field(default_factory=dict)


def run_child(
    args: list[str],
    env: dict[str, str],
    log: Path,
    sims: Simulators | None = None,
    profile_dir: Path | None = None,
    label: str = "run",
    cwd: Path = ROOT,
) -> ChildRun:
    """Run a child (stdout and stderr to ``log``), wait with ``os.wait4`` for its own rusage, parse the
    ``RESULT`` line. With ``profile_dir``, py-spy records the child and the simulators meanwhile."""
    busy0, _ = cpu_times()
    sim0 = process_cpu(sims.pid) if sims else 0.0
    started = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, text=True)
    spies: list[subprocess.Popen[bytes]] = []
    profiles: dict[str, Path] = {}
    spy = py_spy() if profile_dir else None
    if profile_dir and not spy:
        console.print("  [yellow]--profile: py-spy not found (pip install py-spy into the venv)[/]")
    if spy and profile_dir:
        targets = {f"{label}-sync": proc.pid, **({f"{label}-simulators": sims.pid} if sims else {})}
        for name, pid in targets.items():
            profiles[name] = profile_dir / f"{name}.txt"
            spies.append(
                subprocess.Popen(
                    [
                        spy,
                        "record",
                        "--pid",
                        str(pid),
                        "--rate",
                        "25",
                        "--format",
                        "raw",
                        "--nonblocking",
                        "--threads",
                        "--output",
                        str(profiles[name]),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    sim_cpu = (process_cpu(sims.pid) - sim0) if sims else 0.0
    busy1, _ = cpu_times()
    for s in spies:
        s.send_signal(signal.SIGINT)
        try:
            s.wait(timeout=60)
        except subprocess.TimeoutExpired:
            s.kill()
    result: dict[str, Any] = {}
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("RESULT "):
            result = json.loads(line[len("RESULT ") :])
    if proc.returncode != 0 or not result:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-25:])
        raise RuntimeError(f"{' '.join(args[1:3])} exited {proc.returncode}; log {log}:\n{tail}")
    return ChildRun(
        result,
        wall,
        usage.ru_maxrss / 1024,
        usage.ru_utime + usage.ru_stime,
        proc.returncode,
        sim_cpu,
        busy1 - busy0,
        profiles,
    )


class Postgres:
    """The PostgreSQL server of ``--destination postgres``: a throwaway one (PostgreSQL's default durability) or
    the server of ``dsn``; :meth:`database` creates a fresh database there."""

    def __init__(self, dsn: str | None) -> None:
        self.dsn = dsn
        self._server: Any = None

    def __enter__(self) -> Postgres:
        if self.dsn is None:
            from tests.pg_server import throwaway_postgres

            self._server = throwaway_postgres(durable=True)
            self.dsn = self._server.__enter__().dsn
            console.print(f"[bold]PostgreSQL[/]: a throwaway server, {self.dsn.rsplit('@', 1)[1]}")
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._server is not None:
            self._server.__exit__(*exc)

    def database(self, name: str) -> str:
        """Create database ``name`` (dropped first if it exists); its DSN."""
        import psycopg2

        assert self.dsn is not None
        con = psycopg2.connect(self.dsn)
        con.autocommit = True
        try:
            with con.cursor() as cur:
                cur.execute(f'drop database if exists "{name}"')
                cur.execute(f'create database "{name}"')
        finally:
            con.close()
        return self.dsn.rsplit("/", 1)[0] + "/" + name
