"""iinsight billings, incrementally, from an API without a change filter (iinsight.md §7, CONTRACT.md "iinsight
billings").

Billings carry no change timestamp and ``query`` only compares strings exactly, so it cannot ask for "id > X".
What it can ask, and what a sync reads:

1. **New billings**: ``sort={"id": "desc"}``, page by page down to the newest id already loaded (ids grow with
   ``time_inserted``). On the first sync, every billing instead, sorted ``{"invoice": "desc"}``: billed ones
   first. Only unbilled billings are deleted and a billed one keeps its invoice, so a deletion or an invoicing
   while we page shifts only rows after it (the unbilled tail, re-read in step 2) or repeats rows: no billed
   billing is skipped.
2. **The unbilled set**, whole: ``query={"invoice": ["0"]}``. Its rows are loaded every sync (an edit of
   unbilled work has no timestamp to be found by).
3. **What left the unbilled set** since the last sync (invoiced, or deleted): those ids, asked for by
   ``query={"id": [...]}``, ``BILLING_IDS_PER_REQUEST`` at a time; found, they are loaded (with their invoice);
   gone, they are soft-deleted (table ``deletions``, entity ``billings``).

So an incremental sync makes about (unbilled + new) / page size requests, plus one per
``BILLING_IDS_PER_REQUEST`` billings that left the unbilled set, plus at most one page past the end.
State (dlt resource state, saved when all three steps succeeded): the newest id loaded and the unbilled ids.
A billing seen unbilled earlier in the same run that is missing from step 2 (invoiced or deleted meanwhile,
or skipped by a shift) is kept in the unbilled ids: the next sync's step 3 settles it (each id is loaded at
most once a run, so the merge never has to choose between two versions of it).
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
    """The billings to load (pages of API rows, each id once), then one :class:`BillingsRead` (see the module
    docstring for the three steps).

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

    if before.newest_id is None:  # first sync: everything, billed billings first
        pages = billing_pages(client, tally, limit, window, sort={"invoice": "desc"})
    else:
        top = before.newest_id

        def reached(rows: list[dict[str, Any]]) -> bool:
            return any(i is not None and i <= top for i in map(billing_id, rows))

        pages = billing_pages(client, tally, limit, window, sort={"id": "desc"}, expected=1, stop=reached)
    async for rows in pages:
        new = [r for r in rows if before.newest_id is None or (billing_id(r) or 0) > before.newest_id]
        if fresh := keep(new):
            yield fresh

    listed: set[int] = set()
    expected = (len(before.unbilled) + len(seen_unbilled)) // limit + 1
    async for rows in billing_pages(client, tally, limit, window, query={"invoice": ["0"]}, expected=expected):
        listed.update(i for i in map(billing_id, rows) if i is not None)
        if fresh := keep(rows):
            yield fresh

    left = sorted(set(before.unbilled) - listed - loaded)
    chunk = settings.BILLING_IDS_PER_REQUEST
    found: dict[int, dict[str, Any]] = {}
    for rows in await asyncio.gather(*(_by_id(client, tally, left[i : i + chunk]) for i in range(0, len(left), chunk))):
        found.update((i, row) for row in rows if (i := billing_id(row)) is not None)
    found = {i: found[i] for i in left if i in found}
    if fresh := keep(list(found.values())):
        yield fresh
    unbilled = listed | seen_unbilled | {i for i, row in found.items() if _unbilled(row)}
    yield BillingsRead(BillingState(newest, sorted(unbilled)), [i for i in left if i not in found])


async def _by_id(client: ApiClient, tally: RequestStats, ids: list[int]) -> list[dict[str, Any]]:
    """The billings with these ids that still exist (one request: fewer ids than a page holds)."""
    rows: list[dict[str, Any]] = []
    query = {"id": [str(i) for i in ids]}
    async for page in billing_pages(client, tally, settings.BILLINGS_MAX_PAGE_SIZE, 1, query=query, expected=1):
        rows += page
    return rows
