"""iinsight billings, incrementally, from an API without a change filter (iinsight.md §7, CONTRACT.md "iinsight
billings").

Billings carry no change timestamp and ``query`` only compares strings exactly, so it cannot ask for "id > X".
What it can ask, and what a sync reads:

1. **New billings**: ``sort={"id": "desc"}``, page by page down to the newest id already loaded (ids grow with
   ``time_inserted``); on the first sync, every billing.
2. **The unbilled set**, whole: ``query={"invoice": ["0"]}``. Its rows are loaded every sync (an edit of
   unbilled work has no timestamp to be found by).
3. **What left the unbilled set** (invoiced, or deleted): those ids, asked for by ``query={"id": [...]}``,
   ``BILLING_IDS_PER_REQUEST`` at a time; found, they are loaded (with their invoice); gone, they are
   soft-deleted (table ``deletions``, entity ``billings``).

So an incremental sync makes about (unbilled + new) / page size requests, plus one per
``BILLING_IDS_PER_REQUEST`` billings that left the unbilled set, plus at most one page past the end.

Page shifts. In id order an invoicing moves no row, and a new billing comes first (the rows after it repeat,
which is harmless); only a deletion (of unbilled work) shifts the rows after it up by one, so a page read later
can skip one. That matters only when the deleted billing was already read this run, so it is among the ids
step 3 asks for, and comes back gone: then step 1 is read once more and what it skipped is loaded. A billing
read unbilled this run and then missing from step 2 (invoiced or deleted meanwhile) is loaded at most once a
run (so the merge never has to choose between two versions of it): kept among the unbilled ids, the next
sync's step 3 loads its new state.

State (dlt resource state, saved when every step succeeded): the newest id loaded and the unbilled ids.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from sources._http import ApiClient, RequestStats
from sources.iinsight import settings
from sources.iinsight.client import billing_pages


@dataclass
class BillingState:
    """What the last sync left: the newest billing id loaded (None before the first sync) and the ids that were
    unbilled (sorted)."""

    newest_id: int | None = None
    unbilled: list[int] = field(default_factory=list)

    @classmethod
    def load(cls, state: dict[str, Any]) -> BillingState:
        """From a dlt resource state (``{}`` on the first sync)."""
        return cls(state.get("newest_id"), list(state.get("unbilled") or []))

    def save(self, state: dict[str, Any]) -> None:
        """Into a dlt resource state."""
        state["newest_id"] = self.newest_id
        state["unbilled"] = self.unbilled


@dataclass
class BillingsRead:
    """The end of a read: the state to save and the ids that are gone (deleted at the API)."""

    state: BillingState
    gone: list[int]


def billing_id(row: Any) -> int | None:
    """A row's id as an integer, or None when it has none that parses (the row is quarantined when parsed)."""
    try:
        return int(row["id"])
    except (KeyError, TypeError, ValueError):
        return None


def _unbilled(row: Any) -> bool:
    return isinstance(row, dict) and str(row.get("invoice")) == "0"


async def read_billings(
    client: ApiClient, before: BillingState, tally: RequestStats, limit: int, window: int
) -> AsyncIterator[list[dict[str, Any]] | BillingsRead]:
    """The billings to load (pages of API rows, each id at most once), then one :class:`BillingsRead` (see the
    module docstring for the steps).

    Raises:
        EndpointUnavailable, BadPayload, SourceError: as :func:`sources.iinsight.client.billing_pages`.
    """
    loaded: set[int] = set()
    seen_unbilled: set[int] = set()
    newest = before.newest_id

    def keep(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The rows not loaded yet this run; remembers them."""
        nonlocal newest
        fresh = []
        for row in rows:
            i = billing_id(row)
            if i is not None:
                if i in loaded:
                    continue
                loaded.add(i)
                newest = i if newest is None else max(newest, i)
                if _unbilled(row):
                    seen_unbilled.add(i)
            fresh.append(row)
        return fresh

    async def new_billings() -> AsyncIterator[list[dict[str, Any]]]:
        top = before.newest_id
        sort = {"id": "desc"}
        if top is None:  # the first sync: every billing
            pages = billing_pages(client, tally, limit, window, sort=sort)
        else:
            pages = billing_pages(client, tally, limit, window, sort=sort, expected=1, stop=lambda rows: any(
                i is not None and i <= top for i in map(billing_id, rows)))
        async for rows in pages:
            new = rows if top is None else [r for r in rows if (billing_id(r) or 0) > top]
            if fresh := keep(new):
                yield fresh

    async for rows in new_billings():
        yield rows
    listed: set[int] = set()
    expected = (len(before.unbilled) + len(seen_unbilled)) // limit + 1
    async for rows in billing_pages(client, tally, limit, window, query={"invoice": ["0"]}, expected=expected):
        listed.update(i for i in map(billing_id, rows) if i is not None)
        if fresh := keep(rows):
            yield fresh
    settled = sorted(set(before.unbilled) - listed - loaded)  # left since the last sync: loaded now
    moved = sorted(seen_unbilled - listed)  # left during this run: already loaded (unbilled) this run
    found = await _by_ids(client, tally, settled + moved)
    if fresh := keep([found[i] for i in settled if i in found]):
        yield fresh
    gone = [i for i in settled + moved if i not in found]
    if set(moved) - set(found):  # deleted after we read it: rows read after the deletion may have shifted past
        async for rows in new_billings():
            yield rows
    unbilled = (listed | seen_unbilled | {i for i, row in found.items() if _unbilled(row)}) - set(gone)
    yield BillingsRead(BillingState(newest, sorted(unbilled)), gone)


async def _by_ids(client: ApiClient, tally: RequestStats, ids: list[int]) -> dict[int, dict[str, Any]]:
    """The billings with these ids that still exist, by id (``BILLING_IDS_PER_REQUEST`` ids a request)."""
    chunk = settings.BILLING_IDS_PER_REQUEST
    wanted = set(ids)
    found: dict[int, dict[str, Any]] = {}
    for rows in await asyncio.gather(*(_by_id(client, tally, ids[i : i + chunk]) for i in range(0, len(ids), chunk))):
        found.update((i, row) for row in rows if (i := billing_id(row)) in wanted and i is not None)
    return found


async def _by_id(client: ApiClient, tally: RequestStats, ids: list[int]) -> list[dict[str, Any]]:
    """The billings with these ids that still exist (one request: fewer ids than a page holds)."""
    rows: list[dict[str, Any]] = []
    query = {"id": [str(i) for i in ids]}
    async for page in billing_pages(client, tally, settings.BILLINGS_MAX_PAGE_SIZE, 1, query=query, expected=1):
        rows += page
    return rows
