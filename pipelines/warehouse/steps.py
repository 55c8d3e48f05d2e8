"""Running a rebuild's work (:meth:`pipelines.warehouse.Rebuild.add`): the models' ``create`` statements and
the data tests, as :class:`Step` s that each wait for the steps they read.

- :func:`run_in_order`: one after the other on one connection (DuckDB: the whole rebuild is one transaction,
  and DuckDB spreads each statement over the cores itself).
- :func:`run_at_once`: up to ``threads`` steps at a time, each thread on a connection of its own (PostgreSQL,
  where one statement runs on one core: the new schemas are built aside and committed step by step, so each
  connection sees what the others built). The scheduling is the standard library's
  :class:`graphlib.TopologicalSorter`; the threads are a :class:`concurrent.futures.ThreadPoolExecutor` (the
  driver releases the GIL while the server works).
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from graphlib import TopologicalSorter
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipelines.warehouse.base import Connection


@dataclass(frozen=True)
class Step:
    """One unit of a rebuild: ``run(con)`` on some connection of the warehouse, once every step named in
    ``after`` is done.

    ``name``: what it builds or checks, e.g. ``facts.fct_wip_versions`` (a model's relation) or
    ``assert_unique_keys`` (a data test); unique within a run. ``after``: the names of the steps it needs;
    names that are not steps of the run (raw tables, what was built before it) are ignored.
    """

    name: str
    run: Callable[[Connection], None]
    after: frozenset[str] = field(default_factory=frozenset)


def run_in_order(con: Connection, steps: Sequence[Step]) -> None:
    """Run ``steps`` one after the other on ``con``, in the given order (which must have every step after the
    steps it needs). The first error is raised and stops the run."""
    for step in steps:
        step.run(con)


def run_at_once(
    connect: Callable[[], Connection],
    steps: Sequence[Step],
    threads: int,
    seconds: MutableMapping[str, float] | None = None,
) -> None:
    """Run ``steps`` on up to ``threads`` connections at once (``connect()`` opens one per thread; all are closed
    at the end), each step once the steps it needs are done.

    ``seconds``: how long each step took last time (by name); updated with the times of this run. Among the
    steps ready to start, the one with the longest chain of work waiting on it (its own time and that of the
    slowest chain of steps that need it, directly or not: the critical path) starts first, so that the long
    chains (staging → SCD2 versions → data tests) never wait behind short steps; then the one more steps wait
    on; then the given order. Without times, only the last two count.

    Raises:
        ValueError: two steps with the same name.
        graphlib.CycleError: steps that need each other.
        An error a step raised (the first one seen), once the steps already running have finished (no new step
        starts after an error). An interrupt (Ctrl-C) also waits for the running statements.
    """
    threads = max(1, threads)
    by_name = {step.name: step for step in steps}
    if len(by_name) < len(steps):
        twice = sorted(name for name, n in Counter(step.name for step in steps).items() if n > 1)
        raise ValueError(f"steps with the same name: {', '.join(twice)}")
    graph = {step.name: step.after & by_name.keys() for step in steps}
    sorter = TopologicalSorter(graph)
    sorter.prepare()
    known = {} if seconds is None else seconds
    rank = _priority(graph, known)
    local = threading.local()
    opened: list[Connection] = []
    took: dict[str, float] = {}
    guard = threading.Lock()

    def work(step: Step) -> None:
        con = getattr(local, "con", None)
        if con is None:
            con = local.con = connect()
            with guard:
                opened.append(con)
        started = time.perf_counter()
        step.run(con)
        took[step.name] = time.perf_counter() - started

    ready: list[str] = []
    running: dict[Future[None], str] = {}
    failure: BaseException | None = None
    try:
        with ThreadPoolExecutor(threads, thread_name_prefix="arwip-rebuild") as pool:
            while True:
                if failure is None:
                    ready = sorted((*ready, *sorter.get_ready()), key=rank.__getitem__)
                    while ready and len(running) < threads:
                        name = ready.pop(0)
                        running[pool.submit(work, by_name[name])] = name
                if not running:
                    break
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    name = running.pop(future)
                    error = future.exception()
                    if error is None:
                        sorter.done(name)
                    elif failure is None:
                        failure = error
    finally:
        for con in opened:
            con.close()
        if seconds is not None:
            seconds.update(took)
    if failure is not None:
        raise failure


def _priority(graph: Mapping[str, set[str]], seconds: Mapping[str, float]) -> dict[str, tuple[float, int, int]]:
    """Sort key of each step: (minus its critical path in seconds, minus the number of steps that need it
    directly or not, its position)."""
    needed_by: dict[str, set[str]] = {name: set() for name in graph}
    for name, needs in graph.items():
        for need in needs:
            needed_by[need].add(name)
    waiting: dict[str, set[str]] = {}
    path: dict[str, float] = {}

    def dependents(name: str) -> set[str]:
        if name not in waiting:
            found: set[str] = set()
            for child in needed_by[name]:
                found |= {child} | dependents(child)
            waiting[name] = found
        return waiting[name]

    def critical(name: str) -> float:
        if name not in path:
            path[name] = seconds.get(name, 0.0) + max((critical(c) for c in needed_by[name]), default=0.0)
        return path[name]

    return {name: (-critical(name), -len(dependents(name)), i) for i, name in enumerate(graph)}


def load_seconds(path: Path) -> dict[str, float]:
    """The step times :func:`save_seconds` wrote to ``path``; empty when there are none (or they cannot be read:
    they only order the work)."""
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(found, dict):
        return {}
    return {str(k): float(v) for k, v in found.items() if isinstance(v, int | float)}


def save_seconds(path: Path, seconds: Mapping[str, float]) -> None:
    """Write the step times (step name → seconds) to ``path`` as JSON, replacing it in one rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps({k: round(v, 3) for k, v in sorted(seconds.items())}, indent=1), encoding="utf-8")
    partial.replace(path)
