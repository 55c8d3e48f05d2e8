"""``arwip push``: reverse ETL into a vendor, with a plan, a ledger and exactly-once effect.

:func:`push` runs one push of a target (:mod:`sources._push`, reached through :mod:`sources.registry`):

1. With ``--apply``, under the warehouse lock: settle the rows an interrupted push left ``pending`` (in doubt).
   A target whose resend is harmless (``idempotent``: the vendor matches the key) marks them ``interrupted`` and
   the plan sends them again; any other asks the vendor which of them hold (``in_effect``) and records those as
   ``applied``, so they are never sent twice.
2. Plan: stream the input (:mod:`pipelines.push.inputs`), check each row (:meth:`PushTarget.prepare`) and
   classify it against the ledger, or against the vendor for a target that is not idempotent
   (:mod:`pipelines.push.plan`); report the plan (``on_plan``). A dry run stops here: nothing is sent and
   nothing written.
3. Apply: run the target's setup (e.g. create a record type), stream the input again and send the rows to
   create or update, then the deletes, in batches (:mod:`pipelines.push.sender`), each batch's intent in the
   ledger before its request and its outcome after; invalid and unchanged rows are recorded too.

Exactly once: every send is preceded by its ``pending`` entry, so a ``kill -9`` at any moment leaves either no
trace of a request (nothing sent) or a ``pending`` entry that step 1 of the next push settles, by resending an
upsert the vendor matches by key or by asking the vendor before resending anything else.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from pipelines.push import ledger as ledgers
from pipelines.push.inputs import BATCH_ROWS, Input, open_input
from pipelines.push.ledger import Entry, KeyState, Ledger
from pipelines.push.plan import SEND, Plan, Planned, Planner
from pipelines.push.sender import Progress, Sender, Sent
from pipelines.warehouse import Connection, DuckDBConnection, Warehouse, as_warehouse
from sources import registry
from sources._http import ApiClient
from sources._push import Args, Prepared, PushInput, PushTarget, PushUsageError


@dataclass
class PushResult:
    """What one push did: its ``push_id`` (None for a dry run), target and object, the :class:`Plan`, the
    in-doubt rows it settled (``settled``: ``applied`` / ``interrupted`` counts), what the apply loop did
    (``sent``), the HTTP requests made and the seconds taken."""

    target: str
    object: str
    applied: bool
    push_id: str | None = None
    plan: Plan = field(default_factory=Plan)
    settled: dict[str, int] = field(default_factory=dict)
    in_doubt: int = 0
    sent: Sent = field(default_factory=Sent)
    requests: int = 0
    seconds: float = 0.0

    @property
    def clean(self) -> bool:
        """No row was invalid and none failed."""
        return not self.plan.counts["invalid"] and not self.sent.counts["failed"]


def new_push_id() -> str:
    """``p20260630T120000Z-1a2b3c``: sortable by time, unique."""
    return f"p{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def push(target_name: str, args: Args, warehouse: Warehouse | Path, *, apply: bool = False,
         retry_failed: bool = False, delete_missing: bool = False, keep: int = 10,
         on_plan: Callable[[PushResult], None] | None = None, on_progress: Progress | None = None,
         config: dict[str, Any] | None = None) -> PushResult:
    """Plan (and with ``apply`` send) one push of ``target_name`` with its options ``args``, its ledger in
    ``warehouse`` (a :class:`~pipelines.warehouse.Warehouse` or the path of a DuckDB file; see the module
    docstring). ``keep``: how many invalid rows and failures the result lists; ``config``: overrides of the
    vendor's configuration keys.

    Raises:
        PushUsageError: options or input columns that do not fit the target (nothing was sent).
        SyncLocked: another sync or push holds the warehouse (``apply``).
        ConfigError, SourceError: the vendor refused the credentials, an endpoint is missing, or a request's fate
            could not be settled; rows already sent keep their outcomes and in-flight ones stay ``pending``.
        ModelsNotBuilt: the input is an arwip report and the warehouse has no models.
    """
    vendor, target = registry.push_target(target_name)
    source = target.input(args)
    if delete_missing and not target.deletes:
        raise PushUsageError(f"{target.name} cannot delete: --delete-missing does not apply")
    settings = vendor.config(config)
    warehouse = as_warehouse(warehouse)
    with warehouse.writer_lock("push") if apply else nullcontext():
        con = _connect(warehouse, apply)
        try:
            run = _Run(target, args, con, source.key, apply, retry_failed, delete_missing, keep)
            return asyncio.run(run.go(vendor.client(settings), source, on_plan, on_progress))
        finally:
            con.close()


def _connect(warehouse: Warehouse, apply: bool) -> Connection:
    if apply:
        return warehouse.connect(read_only=False)
    try:
        warehouse.require()
    except FileNotFoundError:  # a dry run before the first sync: no ledger, no warehouse tables
        return DuckDBConnection(duckdb.connect(":memory:"))
    return warehouse.connect()


class _Run:
    """One push's steps (see the module docstring)."""

    def __init__(self, target: PushTarget, args: Args, con: Connection, key: str, apply: bool,
                 retry_failed: bool, delete_missing: bool, keep: int) -> None:
        self.target, self.args, self.con, self.key = target, args, con, key
        self.retry_failed, self.delete_missing, self.keep = retry_failed, delete_missing, keep
        self.result = PushResult(target.name, target.object(args), apply)
        self.ledger = Ledger(con, new_push_id(), target.name, self.result.object) if apply else None
        self.duplicates: set[str] = set()

    async def go(self, client: ApiClient, source: PushInput, on_plan: Callable[[PushResult], None] | None,
                 on_progress: Progress | None) -> PushResult:
        started = asyncio.get_running_loop().time()
        try:
            state = ledgers.state(self.con, self.target.name, self.result.object)
            if self.ledger is not None:
                await self._settle(client, state)
            else:
                self.result.in_doubt = sum(s.status == "pending" for s in state.values())
            with open_input(self.con, source) as rows:
                prepared = await self.target.prepare(client, self.args, rows.schema)
                planner = Planner(state, prepared, self.key, retry_failed=self.retry_failed,
                                  creates=self.target.creates)
                plan = self.result.plan
                plan.notes.extend(prepared.notes)
                async for batch in self._classified(client, planner, rows):
                    plan.add(batch, self.keep)
            planner.recount(plan)
            self.duplicates = planner.duplicates
            plan.deletes = planner.deletes() if self.delete_missing else []
            if on_plan is not None:
                on_plan(self.result)
            if self.ledger is not None:
                await self._apply(client, source, state, prepared, on_progress)
        finally:
            self.result.requests = client.stats.requests
            self.result.seconds = asyncio.get_running_loop().time() - started
            await client.aclose()
        return self.result

    async def _settle(self, client: ApiClient, state: dict[str, KeyState]) -> None:
        """Step 1: decide the ``pending`` rows an interrupted push left (see the module docstring)."""
        assert self.ledger is not None
        doubt = [k for k, s in state.items() if s.status == "pending"]
        if not doubt:
            return
        held: set[str] = set()
        if not self.target.idempotent:
            held = await self.target.in_effect(client, self.args, doubt) or set()
        entries = []
        for key in doubt:
            s = state[key]
            if key in held:
                entries.append(Entry(key, s.operation, "applied", s.sha, message="settled after an interrupted push: "
                                     "the vendor shows the change holds", attempt=s.attempt))
                state[key] = KeyState("applied", s.attempt, s.operation, s.sha, s.sha, s.operation in ledgers.LIVE)
            else:
                entries.append(Entry(key, s.operation, "interrupted", s.sha, message="in doubt after an interrupted "
                                     "push: sent again", attempt=s.attempt))
                s.status = "interrupted"
        self.ledger.record(entries)
        self.result.settled = {"applied": len(held & set(doubt)), "interrupted": len(set(doubt) - held)}

    async def _classified(self, client: ApiClient, planner: Planner, rows: Input) -> AsyncIterator[list[Planned]]:
        """The input's rows classified, batch by batch; a target that is not idempotent is asked which of the rows
        to send already hold (those are unchanged). An idempotent target's batches are of its request size, so
        the first request leaves as soon as its rows are checked."""
        for batch in rows.chunks(self.target.batch_size if self.target.idempotent else None):
            planned = [planner.check(row, ask_vendor=not self.target.idempotent) for row in batch]
            if not self.target.idempotent:
                wanted = [p.key for p in planned if p.action in SEND]
                held = await self.target.in_effect(client, self.args, wanted) if wanted else set()
                planned = [planner.held(p) if p.action in SEND and p.key in (held or ()) else p for p in planned]
            yield planned

    async def _apply(self, client: ApiClient, source: PushInput, state: dict[str, KeyState], prepared: Prepared,
                     on_progress: Progress | None) -> None:
        """Step 3: set up, send every row to create or update, then the deletes; record the rest."""
        assert self.ledger is not None
        ledger, result = self.ledger, self.result
        result.push_id = ledger.push_id
        if prepared.setup is not None:
            await prepared.setup(client)
        ledger.start()
        sender = Sender(self.target, client, self.args, ledger, window=2 * client.settings.max_in_flight,
                        keep=self.keep, on_progress=on_progress)
        try:
            planner = Planner(state, prepared, self.key, retry_failed=self.retry_failed, creates=self.target.creates,
                              duplicates=self.duplicates)
            unsent: list[Entry] = []  # invalid and unchanged rows: nothing is sent, so they are recorded in bulk
            with open_input(self.con, source) as rows:
                async for batch in self._classified(client, planner, rows):
                    if sender.error is not None:
                        break
                    unsent += [Entry(p.key, "none", p.action, p.sha, error_field=p.field, message=p.message)
                               for p in batch if p.action in ("invalid", "unchanged")]
                    if len(unsent) >= BATCH_ROWS:
                        await ledger.append(unsent)
                        unsent = []
                    for p in batch:
                        if p.action in SEND:
                            await sender.add(p)
                        if sender.error is not None:
                            break
            await ledger.append(unsent)
            for key in planner.deletes() if self.delete_missing else ():
                s = state[key]
                await sender.add(Planned(key, "delete", attempt=s.attempt + 1 if s.status in ledgers.OPEN else 1))
            await sender.close()
        except BaseException as exc:
            sender.error = sender.error or exc
            await sender.wait()  # the ledger's connection is free again before the run is closed
            ledger.finish("failed", f"{type(exc).__name__}: {str(exc)[:300]}")
            raise
        finally:
            result.sent = sender.sent
        counts = sender.sent.counts
        ledger.finish("done", f"applied {counts['applied']}, failed {counts['failed']}, invalid "
                              f"{result.plan.counts['invalid']}, unchanged {result.plan.counts['unchanged']}")
