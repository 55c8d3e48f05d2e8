"""The apply loop of a push: batches of rows sent concurrently within the vendor's budget, each batch's intent
in the ledger before its request leaves and its outcome after.

:class:`Sender` takes planned rows (or keys to delete) one at a time, cuts batches of the target's size and keeps
up to ``window`` of them under way (the client's own slots and rate limit bound what is in flight: a window of
twice that has the next batches' intents committed by the time a request slot frees). Ledger entries are
written off the event loop, concurrent batches sharing commits (:meth:`Ledger.append`). A refused row is an outcome; a
refused request fails its rows with the HTTP status and the vendor's message; a request whose fate is unknown
(retries exhausted, an answer that is not JSON) fails its rows when the target is idempotent (a resend is
harmless) and otherwise asks the vendor which of them hold. Credentials refused, an endpoint missing, or a fate
the vendor cannot tell stop the push (:attr:`Sender.error`); what was in flight is recorded first.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pipelines.push.ledger import Entry, Ledger
from pipelines.push.plan import Planned
from sources._http import ApiClient, ConfigError, EndpointUnavailable, SourceError
from sources._push import Args, Outcome, PushTarget


@dataclass
class Sent:
    """What the apply loop did: per status the rows recorded (``applied``, ``failed``), the first failures
    (``key, code, field, message``) and the batches sent."""

    counts: Counter[str] = field(default_factory=Counter)
    failures: list[tuple[str, str | None, str | None, str | None]] = field(default_factory=list)
    batches: int = 0


Progress = Callable[[Sent], None]


def vendor_message(exc: SourceError) -> str:
    """The vendor's own words for a refused request (its JSON error's message), else the client's message."""
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error")
    for text in (error.get("message") if isinstance(error, dict) else None, body.get("error_description"),
                 body.get("message"), error if isinstance(error, str) else None):
        if isinstance(text, str) and text:
            return text
    return str(exc)


class Sender:
    """Sends the rows of one push (see the module docstring); ``keep`` failures are kept for the report."""

    def __init__(self, target: PushTarget, client: ApiClient, args: Args, ledger: Ledger, *, window: int,
                 keep: int = 10, on_progress: Progress | None = None) -> None:
        self.target, self.client, self.args, self.ledger = target, client, args, ledger
        self.sent, self.keep, self.on_progress = Sent(), keep, on_progress
        self.error: BaseException | None = None
        self._batch: list[Planned] = []
        self._slots = asyncio.Semaphore(max(1, window))
        self._tasks: set[asyncio.Task[None]] = set()

    async def add(self, row: Planned) -> None:
        """Queue one row (``create``/``update``) or key (``delete``); a full batch is sent. Batches hold one kind."""
        if self._batch and (self._batch[0].action == "delete") != (row.action == "delete"):
            await self.flush()
        self._batch.append(row)
        if len(self._batch) >= self.target.batch_size:
            await self.flush()

    async def flush(self) -> None:
        """Send what is queued (waiting for a free place in the window)."""
        batch, self._batch = self._batch, []
        if not batch or self.error is not None:
            return
        await self._slots.acquire()
        if self.error is not None:
            self._slots.release()
            return
        task = asyncio.create_task(self._send(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Send what is queued and wait for every batch; raises the error that stopped the push, if any."""
        await self.flush()
        await self.wait()
        if self.error is not None:
            raise self.error

    async def wait(self) -> None:
        """Wait for the batches under way (their outcomes recorded), sending nothing more."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _send(self, batch: list[Planned]) -> None:
        try:
            await self.ledger.append([Entry(r.key, r.action, "pending", r.sha, attempt=r.attempt) for r in batch])
            outcomes = await self._outcomes(batch)
            if outcomes is not None:
                await self._record(batch, outcomes)
        except BaseException as exc:  # recorded as the push's error; the rows stay pending (in doubt)
            self.error = self.error or exc
        finally:
            self._slots.release()

    async def _outcomes(self, batch: list[Planned]) -> list[Outcome] | None:
        keys = [r.key for r in batch]
        try:
            if batch[0].action == "delete":
                return await self.target.delete(self.client, self.args, keys)
            return await self.target.send(self.client, self.args, [(r.key, r.payload or {}) for r in batch])
        except (ConfigError, EndpointUnavailable) as exc:  # refused before anything was done: stop the push
            await self._record(batch, [Outcome(k, False, None, _code(exc), None, vendor_message(exc)) for k in keys])
            self.error = self.error or exc
            return None
        except SourceError as exc:
            if exc.status is not None and 400 <= exc.status < 500:  # the request was refused as a whole
                return [Outcome(k, False, None, _code(exc), None, vendor_message(exc)) for k in keys]
            return await self._unknown_fate(keys, exc)

    async def _unknown_fate(self, keys: list[str], exc: SourceError) -> list[Outcome]:
        """Outcomes of a request whose fate is unknown: failed (to retry) when a resend is harmless, else what the
        vendor shows. Raises when the vendor cannot tell (the rows stay pending for the next push to settle)."""
        message = f"the request's fate is unknown ({exc})"
        if self.target.idempotent:
            return [Outcome(k, False, None, "REQUEST_FAILED", None, message) for k in keys]
        held = await self.target.in_effect(self.client, self.args, keys)
        if held is None:
            raise exc
        return [Outcome(k, True, None, message="the vendor shows the change holds") if k in held
                else Outcome(k, False, None, "REQUEST_FAILED", None, message) for k in keys]

    async def _record(self, batch: Sequence[Planned], outcomes: Sequence[Outcome]) -> None:
        if [o.key for o in outcomes] != [r.key for r in batch]:
            raise SourceError(f"{self.target.name}: the outcomes do not match the {len(batch)} rows sent")
        entries = []
        for row, o in zip(batch, outcomes, strict=True):
            status = "applied" if o.ok else "failed"
            entries.append(Entry(row.key, o.operation or row.action, status, row.sha, o.code, o.field, o.message,
                                 row.attempt))
            self.sent.counts[status] += 1
            if not o.ok and len(self.sent.failures) < self.keep:
                self.sent.failures.append((row.key, o.code, o.field, o.message))
        await self.ledger.append(entries)
        self.sent.batches += 1
        if self.on_progress is not None:
            self.on_progress(self.sent)


def _code(exc: Any) -> str:
    return f"HTTP_{exc.status}" if getattr(exc, "status", None) else type(exc).__name__
