"""iinsight's status lists: `GET /api{1,2}/invoices` and `GET /api{1,2}/payments` (iinsight.md §3-§5,
CONTRACT.md "iinsight", "iinsight payments"), one paging engine for both.

`?modified_since=<ISO Z>&page=<1..>&status=<s>` (`satus` accepted too, on both versions) → a bare JSON
array of at most `PAGE_SIZE` rows of that status with `last_update_utc >= modified_since`, ordered by
`last_update_utc`, then the numeric id; `[]` past the end. Missing or invalid parameters → 400
`invalid_request`. The store table is kept in that order (`data.SORTED_TABLES`), so a page is two
binary searches in a `KeysetIndex` grouped by status plus documents rendered in bulk (`DocCache`);
the page SQL answers when the index does not qualify. A row changed while a client pages moves to the
end of the order; the `page_shift` fault does that on purpose to the smallest id of the page just served.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from simulators._app import ApiError, Vendor, raw_json
from simulators._cache import DocCache
from simulators._keyset import KeysetIndex, epoch_us
from simulators.data import Firm
from simulators.hasura import parse_instant

PAGE_SIZE = 100
"""Rows per page, fixed by the API (iinsight.md §3)."""

Page = tuple[str | bytes, int, int | None]
"""(JSON array text, rows in it, smallest id in it or None)."""


def api_date(column: str, version: int) -> str:
    """SQL text of a date column as API `version` shows it: `DD-MM-YYYY` (v1), `YYYY-MM-DDT12:00:00Z` (v2)."""
    return f"strftime({column}, '%d-%m-%Y')" if version == 1 else f"strftime({column}, '%Y-%m-%dT12:00:00Z')"


def local_time(column: str) -> str:
    """SQL text of `last_update`: a UTC timestamp column as Australia/Sydney `DD-MM-YYYY hh:mm:ss`."""
    return f"strftime({column} AT TIME ZONE 'Australia/Sydney', '%d-%m-%Y %H:%M:%S')"


@dataclass(frozen=True)
class StatusList:
    """One listed entity of the store.

    - `table`: the store table, sorted by (`last_update_utc`, `key`), with a `status` column (upper case);
    - `render`: API version → SQL with a `{where}` slot on `v.<key>` yielding `(key, row JSON text)`;
    - `statuses`: API version → the accepted `status` values (lower case).
    """

    name: str
    table: str
    key: str
    render: dict[int, str]
    statuses: dict[int, tuple[str, ...]]

    def page_sql(self, version: int) -> str:
        """SQL → (JSON array, rows, smallest id) of one page, params (STATUS, modified_since, offset)."""
        ids = (f"SELECT {self.key} AS k, last_update_utc AS u FROM {self.table} WHERE status = ? "
               f"AND last_update_utc >= ? ORDER BY last_update_utc, {self.key} LIMIT {PAGE_SIZE} OFFSET ?")
        docs = self.render[version].replace("{where}", f"v.{self.key} IN (SELECT k FROM k)")
        return (f"WITH k AS ({ids}), d AS ({docs}) SELECT '[' || coalesce(string_agg(d.doc, ',' "
                "ORDER BY k.u, k.k), '') || ']', count(*), min(k.k) FROM k JOIN d AS d(k, doc) USING (k)")


class StatusPages:
    """Pages of one `StatusList` over `firm`: rendered rows (per API version) and the sorted index are
    shared by every app serving the firm (`Firm.memo`)."""

    def __init__(self, firm: Firm, spec: StatusList) -> None:
        self.firm, self.spec = firm, spec
        self._sql = {version: spec.page_sql(version) for version in spec.render}

    def docs(self, version: int) -> DocCache:
        """Rendered rows of API `version`, loaded 8192 ids at a time, refreshed after writes."""
        spec = self.spec
        changed = f"SELECT {spec.key} FROM {spec.table} WHERE last_update_utc > ?"
        return self.firm.memo(f"iinsight.rows:{spec.name}:v{version}", lambda: DocCache(
            self.firm, spec.render[version], f"v.{spec.key}", changed, chunk=8192))

    def from_cache(self, docs: DocCache, status: str, since: datetime, offset: int) -> Page | None:
        """A page assembled from rendered rows (ids by the status-grouped sorted index), under
        `Firm.hold()`; None when the table does not qualify (the page SQL answers then)."""
        if offset >= 2**63:
            return b"[]", 0, None
        firm, spec = self.firm, self.spec
        index = firm.memo(f"keyset:{spec.table}", lambda: KeysetIndex(
            firm, spec.table, "last_update_utc", spec.key, group_column="status"))
        with firm.hold():
            current = index.current()
            if current is None:
                return None
            ids = current.group_page(status, epoch_us(since), offset, PAGE_SIZE)
            found = docs.load_many(ids)
        rows = [doc for doc in found if doc is not None]
        if len(rows) != len(ids):
            return None
        return b"[" + b",".join(rows) + b"]", len(ids), min(ids, default=None)

    def page(self, version: int, status: str, since: datetime, offset: int) -> Page:
        """One page (blocking: run it in the thread pool): from rendered rows, else by the page SQL."""
        found = self.from_cache(self.docs(version), status, since, offset)
        if found is not None:
            return found
        body, rows, first_id = self.firm.query(self._sql[version], [status, since, offset])[0]
        return body, rows, first_id

    def touch(self, key: int) -> None:
        """Stamp row `key` now (it moves to the end of the order): the `page_shift` fault."""
        table, column = self.spec.table, self.spec.key
        self.firm.write(lambda con, t: con.execute(
            f"UPDATE {table} SET last_update_utc = ? WHERE {column} = ?", [t, key]).fetchall())


def list_route(path: str, vendor: Vendor, pages: StatusPages, version: int,
               authorize: Callable[[Request], None]) -> Route:
    """`GET path` serving `pages` as API `version` (module docstring); `authorize` raises 401."""
    allowed = pages.spec.statuses[version]

    async def handler(request: Request) -> Response:
        authorize(request)
        q = request.query_params
        status = q.get("satus") or q.get("status") if version == 1 else q.get("status") or q.get("satus")
        if not status or status.lower() not in allowed:
            raise ApiError(400, "invalid_request", f"status must be one of {', '.join(allowed)}")
        if not q.get("modified_since"):
            raise ApiError(400, "invalid_request", "modified_since is required (YYYY-MM-DDThh:mm:ssZ)")
        since = parse_instant(q["modified_since"], "modified_since")
        page = q.get("page", "")
        if not page.isdigit() or int(page) < 1:
            raise ApiError(400, "invalid_request", "page is required: an integer >= 1")
        body, rows, first_id = await vendor.db(pages.page, version, status.upper(), since,
                                               (int(page) - 1) * PAGE_SIZE)
        if rows and first_id is not None and vendor.faults.page_shift():
            await vendor.db(pages.touch, first_id)
        await vendor.delay(rows)
        return raw_json(body)

    return Route(path, handler, methods=["GET"])
