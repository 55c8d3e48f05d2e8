"""A rebuild's steps (pipelines.warehouse.steps): each after the steps it needs, several at once on separate
connections, the first error stopping new steps, the critical path (from the last run's times) first."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from pipelines.warehouse.steps import Step, load_seconds, run_at_once, run_in_order, save_seconds


class Recorder:
    """Connections that record what ran on them (the runner only opens and closes them)."""

    def __init__(self) -> None:
        self.opened: list[Recorder.Con] = []
        self.events: list[tuple[str, str]] = []
        self.connections: dict[str, int] = {}  # step -> id of the connection it ran on
        self.lock = threading.Lock()

    class Con:
        closed = False

        def close(self) -> None:
            self.closed = True

    def connect(self) -> Any:
        con = Recorder.Con()
        with self.lock:
            self.opened.append(con)
        return con

    def step(self, name: str, after: Iterable[str] = (), then: Callable[[], object] | None = None) -> Step:
        def run(con: Any) -> None:
            with self.lock:
                self.events.append(("start", name))
                self.connections[name] = id(con)
            if then is not None:
                then()
            with self.lock:
                self.events.append(("end", name))

        return Step(name, run, frozenset(after))

    def started(self) -> list[str]:
        return [name for kind, name in self.events if kind == "start"]


def test_each_step_starts_after_the_steps_it_needs() -> None:
    rec = Recorder()
    steps = [
        rec.step("reports.r", {"facts.f", "staging.b"}),
        rec.step("facts.f", {"staging.a", "raw.table"}),  # raw.table is not a step: ignored
        rec.step("staging.a"),
        rec.step("staging.b"),
        rec.step("test", {"reports.r"}),
    ]
    run_at_once(rec.connect, steps, threads=3)
    ended = {name: i for i, (kind, name) in enumerate(rec.events) if kind == "end"}
    started = {name: i for i, (kind, name) in enumerate(rec.events) if kind == "start"}
    assert sorted(started) == sorted(s.name for s in steps)
    for step in steps:
        assert all(ended[need] < started[step.name] for need in step.after if need in ended)
    assert rec.opened and all(con.closed for con in rec.opened)


def test_independent_steps_run_at_once_on_their_own_connections() -> None:
    rec = Recorder()
    both = threading.Barrier(2, timeout=30)  # broken (an error) unless the two steps run at the same time
    run_at_once(rec.connect, [rec.step("a", then=both.wait), rec.step("b", then=both.wait)], threads=2)
    assert rec.connections["a"] != rec.connections["b"] and len(rec.opened) == 2


def test_the_first_error_stops_new_steps_and_is_raised() -> None:
    rec = Recorder()

    def fail() -> None:
        raise RuntimeError("model does not compile")

    steps = [rec.step("broken", then=fail), rec.step("later"), rec.step("after broken", {"broken"})]
    with pytest.raises(RuntimeError, match="model does not compile"):
        run_at_once(rec.connect, steps, threads=1)
    assert rec.started() == ["broken"]
    assert all(con.closed for con in rec.opened)


def test_the_critical_path_starts_first() -> None:
    def order(seconds: dict[str, float] | None) -> list[str]:
        rec = Recorder()
        steps = [rec.step("short"), rec.step("staging"), rec.step("versions", {"staging"})]
        run_at_once(rec.connect, steps, threads=1, seconds=seconds)
        return rec.started()

    # without times: the step others wait on first, then the given order
    assert order(None) == ["staging", "short", "versions"]
    # with last run's times: the longest chain of work first (staging 1 s + versions 5 s > short 2 s)
    times = {"short": 2.0, "staging": 1.0, "versions": 5.0}
    assert order(times) == ["staging", "versions", "short"]
    assert set(times) == {"short", "staging", "versions"} and all(t < 1.0 for t in times.values())  # updated


def test_two_steps_of_one_name_are_refused() -> None:
    rec = Recorder()
    with pytest.raises(ValueError, match=r"^steps with the same name: staging\.a$"):
        run_at_once(rec.connect, [rec.step("staging.a"), rec.step("b"), rec.step("staging.a")], threads=2)
    assert rec.started() == []


def test_in_order_runs_the_given_order_on_one_connection() -> None:
    rec = Recorder()
    con = rec.connect()
    run_in_order(con, [rec.step("b"), rec.step("a")])
    assert rec.started() == ["b", "a"]


def test_step_times_are_kept_in_a_file(tmp_path: Path) -> None:
    path = tmp_path / "state" / "rebuild-seconds.json"
    assert load_seconds(path) == {}
    save_seconds(path, {"facts.fct_wip_versions": 5.4321, "assert_unique_keys": 6.9})
    assert load_seconds(path) == {"assert_unique_keys": 6.9, "facts.fct_wip_versions": 5.432}
    path.write_text("{not json")
    assert load_seconds(path) == {}  # only orders the work: a bad file is as no file
