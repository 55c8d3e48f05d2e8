"""Aiwyn API: token exchange, keyset paging over the search endpoints, invoice details.

Implements CONTRACT.md "Aiwyn" (token at ``/v1/auth/token``; search ``/gql/v1/<entity>/search`` with
Hasura ``where``/``orderBy`` and no page parameter; ``deid_*`` envelopes; detail ``/gql/v1/invoice/{id}``).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sources._arrow import parse_instant
from sources._http import (
    ApiClient,
    BadPayload,
    ConfigError,
    HttpSettings,
    RequestStats,
    SourceError,
    TokenAuth,
    merge,
)
from sources._incremental import Page, isoformat
from sources.aiwyn import settings


def aiwyn_client(base_url: str, jwt_api_key: str, http: HttpSettings) -> ApiClient:
    """An :class:`ApiClient` for Aiwyn that exchanges ``jwt_api_key`` for a bearer JWT and refreshes it."""

    async def fetch_token(client: ApiClient) -> tuple[str, float]:
        body = await client.request("POST", settings.TOKEN_PATH, json={"jwtApiKey": jwt_api_key}, authenticated=False)
        body = body or {}
        token = next((body[k] for k in ("accessToken", "token", "access_token", "idToken") if body.get(k)), None)
        if not token:
            raise ConfigError("aiwyn: the token endpoint returned no token; check SOURCES__AIWYN__JWT_API_KEY")
        return str(token), float(body.get("expiresIn") or body.get("expires_in") or 3600)

    return ApiClient(
        "aiwyn",
        base_url,
        TokenAuth(fetch_token),
        http,
        base_url_key="SOURCES__AIWYN__BASE_URL",
        credentials_hint="SOURCES__AIWYN__JWT_API_KEY",
    )


def rows_of(body: Any) -> list[dict[str, Any]]:
    """The one top-level array of a list/search answer (``deid_wip``, ``deid_invoice``…), whatever its key."""
    if isinstance(body, list):
        return body
    if isinstance(body, dict):
        for value in body.values():
            if isinstance(value, list):
                return value
    raise SourceError(f"aiwyn: answer has no array of rows (keys: {list(body or {})[:5]})")


def count_of(body: Any) -> int | None:
    """``<key>_aggregate.aggregate.count`` of a list/search answer, if present."""
    if isinstance(body, dict):
        for key, value in body.items():
            if key.endswith("aggregate") and isinstance(value, dict):
                count = (value.get("aggregate") or {}).get("count")
                return int(count) if count is not None else None
    return None


Key = tuple[str, Any]  # a keyset position: (updatedAt as the API wrote it, id)


def _beyond(key: Key | None, op: str) -> list[dict[str, Any]]:
    """Keyset condition: strictly after (``op`` ``"_gt"``) or before (``"_lt"``) ``(updatedAt, id)``."""
    if key is None:
        return []
    stamp, row_id = key
    return [{"_or": [{"updatedAt": {op: stamp}}, {"_and": [{"updatedAt": {"_eq": stamp}}, {"id": {op: row_id}}]}]}]


async def search(
    client: ApiClient,
    entity: str,
    conditions: list[dict[str, Any]],
    page_size: int,
    order: str,
    tally: RequestStats,
) -> Any:
    body = {
        "pageSize": page_size,
        "where": {"_and": conditions},
        "orderBy": [{"updatedAt": order}, {"id": order}],
    }
    return await client.request("POST", settings.SEARCH_PATHS[entity], json=body, tally=tally)


@dataclass
class _Range:
    """Rows with ``since <= updatedAt < until`` (``until`` None: open-ended), and within those the keys
    after ``after`` and before ``before`` (exclusive keyset bounds; ``before`` cuts inside one second)."""

    since: datetime
    until: datetime | None
    after: Key | None = None
    before: Key | None = None
    probed_at: str | None = None  # the cursor's second when a cut inside it was last looked for

    def conditions(self) -> list[dict[str, Any]]:
        """The ``where._and`` conditions selecting what is left of the range."""
        bounds = [{"updatedAt": {"_gte": isoformat(self.since)}}]
        if self.until is not None:
            bounds.append({"updatedAt": {"_lt": isoformat(self.until)}})
        return bounds + _beyond(self.after, "_gt") + _beyond(self.before, "_lt")


class _Ranges:
    """The ``updatedAt`` ranges still to read, shared by concurrent keyset readers (work stealing).

    A reader takes a range and pages through it. While another reader waits for work, a reader whose range
    still spans two seconds or more gives the second half of what remains to it (cut on a whole second,
    so the keyset order is kept on both sides); when what remains lies in the second the reader is at (a
    bulk update stamps thousands of rows alike), it asks for the range's last key and cuts the ids of that
    second in half. ``horizon`` (the newest ``updatedAt`` when the read began) stands for the end of the
    open-ended range. Readers of a skewed range so end together, instead of one reader finishing a long
    sequential tail alone.
    """

    def __init__(self, ranges: list[_Range], horizon: datetime) -> None:
        self.todo = deque(ranges)
        self.horizon = horizon
        self.busy = 0
        self.waiting = 0
        self._changed = asyncio.Event()

    async def take(self) -> _Range | None:
        """The next range to read, waiting while other readers may still split one; None when all is read."""
        self.waiting += 1
        try:
            while not self.todo and self.busy:
                self._changed.clear()
                await self._changed.wait()
        finally:
            self.waiting -= 1
        if not self.todo:
            self._changed.set()  # the other waiting readers are done too
            return None
        self.busy += 1
        return self.todo.popleft()

    def release(self) -> None:
        """A reader finished its range."""
        self.busy -= 1
        self._changed.set()

    def split(self, r: _Range, cursor: datetime) -> bool:
        """Hand the second half of ``r``'s time beyond ``cursor`` (its last key's ``updatedAt``) to a waiting
        reader; False when nobody waits or less than two seconds are left."""
        if not self.waiting or r.before is not None:  # a range cut inside a second has no time to cut
            return False
        upper = r.until or self.horizon
        middle = (cursor + (upper - cursor) / 2).replace(microsecond=0)
        if not cursor < middle < upper:
            return False
        self.todo.append(_Range(middle, r.until))
        r.until = middle
        self._changed.set()
        return True

    def split_second(self, r: _Range, last: Key | None, page_size: int) -> None:
        """Hand the second half of the ids left in the cursor's second to a waiting reader, when ``last`` (the
        range's last key) shows the range ends in that second with at least two pages to go."""
        if not self.waiting or r.after is None or last is None or last[0] != r.after[0]:
            return
        try:
            first_id, last_id = int(r.after[1]), int(last[1])
        except (TypeError, ValueError):  # ids that are not integers cannot be halved
            return
        if last_id - first_id < 2 * page_size:
            return
        middle = (first_id + last_id) // 2
        self.todo.append(_Range(r.since, r.until, after=(last[0], middle - 1), before=r.before))
        r.before = (last[0], middle)
        r.probed_at = None  # it may be cut again
        self._changed.set()


async def _last_key(
    client: ApiClient, entity: str, conditions: list[dict[str, Any]], tally: RequestStats
) -> Key | None:
    """The greatest ``(updatedAt, id)`` matching ``conditions`` (one row, descending), or None when there is
    none or the answer was not JSON."""
    try:
        rows = rows_of(await search(client, entity, conditions, 1, "desc", tally))
    except BadPayload:
        return None
    return (rows[0]["updatedAt"], rows[0]["id"]) if rows else None


async def _keyset_pages(
    client: ApiClient,
    entity: str,
    r: _Range,
    page_size: int,
    tally: RequestStats,
    ranges: _Ranges | None = None,
) -> AsyncIterator[Page]:
    """Pages of the rows of range ``r`` in ``(updatedAt, id)`` order, by keyset; ``ranges`` may split it.

    A page that is not JSON ends the range (its last key, the next page's start, is unknown): it comes as
    its :class:`BadPayload`, ``unread_from`` the range's position, so the next run reads on from there.
    """
    while True:
        try:
            rows = rows_of(await search(client, entity, r.conditions(), page_size, "asc", tally))
        except BadPayload as exc:
            exc.unread_from = parse_instant(r.after[0]) if r.after else r.since
            yield exc
            return
        if rows:
            yield rows
        if len(rows) < page_size:
            return
        r.after = (rows[-1]["updatedAt"], rows[-1]["id"])
        if ranges is None or ranges.split(r, parse_instant(r.after[0])) or not ranges.waiting:
            continue
        if r.probed_at != r.after[0]:  # a reader waits and time cannot be cut: look for a cut in this second
            r.probed_at = r.after[0]
            ranges.split_second(r, await _last_key(client, entity, r.conditions(), tally), page_size)


async def _reader(
    client: ApiClient, entity: str, ranges: _Ranges, page_size: int, tally: RequestStats
) -> AsyncIterator[Page]:
    """One keyset reader: takes ranges from ``ranges`` until everything is read."""
    while (r := await ranges.take()) is not None:
        try:
            async for page in _keyset_pages(client, entity, r, page_size, tally, ranges):
                yield page
        finally:
            ranges.release()


async def changed_rows(
    client: ApiClient,
    entity: str,
    since: datetime,
    tally: RequestStats,
    page_size: int = settings.PAGE_SIZE,
    slices: int = 1,
) -> AsyncIterator[Page]:
    """All rows of ``entity`` changed at or after ``since``, as pages (lists of API rows).

    With ``slices > 1`` and more than two pages to read, up to ``slices`` keyset readers run concurrently:
    the ``updatedAt`` range starts cut into equal spans of time, and a reader that runs out of work takes
    half of another's remaining span (:class:`_Ranges`). The last range is open-ended, so rows changed while
    we page are still read. Pages arrive in no particular order; an unreadable one as its
    :class:`BadPayload` (it ends its range, see :func:`_keyset_pages`).
    """
    try:
        first = await search(client, entity, [{"updatedAt": {"_gte": isoformat(since)}}], page_size, "asc", tally)
    except BadPayload as exc:
        exc.unread_from = since
        yield exc
        return
    rows = rows_of(first)
    if rows:
        yield rows
    if len(rows) < page_size:
        return
    after = (rows[-1]["updatedAt"], rows[-1]["id"])
    total = count_of(first)
    if slices <= 1 or (total is not None and total <= 2 * page_size):
        async for page in _keyset_pages(client, entity, _Range(since, None, after), page_size, tally):
            yield page
        return
    # an unknown end (unreadable answer): one open-ended range to start with, which the readers still split
    newest = await _last_key(client, entity, [{"updatedAt": {"_gte": isoformat(since)}}], tally)
    lo = parse_instant(after[0])
    hi = parse_instant(newest[0]) if newest else lo
    n = max(1, min(slices, math.ceil((total or 0) / page_size)))
    step = (hi - lo) / n
    cuts = sorted({cut for k in range(1, n) if (cut := (lo + step * k).replace(microsecond=0)) > lo})
    edges: list[datetime | None] = [*cuts, None]
    # the first page is read: the first range goes on after its last key, up to the first cut
    ranges = [_Range(since, edges[0], after)] + [_Range(a, b) for a, b in zip(cuts, edges[1:], strict=True)]
    plan = _Ranges(ranges, horizon=hi)
    async for page in merge([_reader(client, entity, plan, page_size, tally) for _ in range(slices)]):
        yield page


async def with_details(
    pages: AsyncIterator[Page],
    client: ApiClient,
    tally: RequestStats,
    skip: Callable[[dict[str, Any]], bool],
    ahead: int = 2,
) -> AsyncIterator[Page]:
    """Invoice pages with each new row's detail attached (``row["_detail"]``: see :meth:`ApiClient.details`),
    pipelined on the event loop.

    The details of up to ``ahead`` pages are requested while later pages are read, so the API's in-flight
    budget stays busy. Rows for which ``skip(row)`` is true (already loaded at the watermark boundary)
    get no detail request. A detail that was not JSON stays a :class:`BadPayload`, ``unread_from`` its
    invoice's ``updatedAt``.
    """
    pending: deque[tuple[Page, asyncio.Future[Page]]] = deque()

    async def attach(page: Page) -> Page:
        if isinstance(page, BadPayload):
            return page
        wanted = [r for r in page if isinstance(r, dict) and r.get("id") is not None and not skip(r)]
        found = await client.details([settings.INVOICE_DETAIL_PATH.format(id=r["id"]) for r in wanted], tally)
        for row, detail in zip(wanted, found, strict=True):
            if isinstance(detail, BadPayload):
                with contextlib.suppress(ValueError):  # position unknown: the watermark is held
                    detail.unread_from = parse_instant(str(row.get("updatedAt")))
            row["_detail"] = detail
        return page

    try:
        async for page in pages:
            task = asyncio.ensure_future(attach(page))
            task.add_done_callback(lambda t: t.cancelled() or t.exception())  # retrieved: no "never retrieved"
            pending.append((page, task))
            if len(pending) > ahead:
                yield await pending.popleft()[1]
        while pending:
            yield await pending.popleft()[1]
    finally:  # the consumer stopped early (a failure elsewhere): no detail requests left running
        for _, task in pending:
            task.cancel()
