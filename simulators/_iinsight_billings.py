"""iinsight billings: `GET /api1/billings` (iinsight.md §7, CONTRACT.md "iinsight billings").

`?page=<1..>&limit=<1..1000>&query=<JSON>&sort=<JSON>&fields=<a,b>` (all optional; page 1, limit 100)
→ `{"status": true, "data": [rows]}`; an empty `data` ends the paging. Rows in the documented key order,
every value a string (`employee` and `team` are objects of strings): epoch seconds for `reference_date`
(the work day at 12:00 UTC), `reference_time` (the work's start, `start_time` o'clock Australia/Sydney)
and `time_inserted`; `invoice` is "0" until the billing is on an invoice, then that invoice's id (also
when the invoice is later voided or reversed); `unit_cost` is "0" for hourly work. Deleted billings vanish.

Pinned where the docs are vague:
- `query`: a JSON object, field → list of strings; a row matches when, for every field, its string (as
  served) equals one of the strings; in a string with `%`, `%` matches any run of characters and every
  other character (`_` too) only itself; case-sensitive; an empty list matches nothing. Scalar fields only.
- `sort`: a JSON object, field → `asc` | `desc` (any case), applied in the object's order, then `id`
  ascending; numeric fields (ids, amounts, epochs) sort as numbers, `description`, `charge_code` and
  `notes` as text. Default: `id` ascending.
- `fields`: the fields to return, in the order given (`employee`, `team` too); empty means all.
- Anything else (invalid JSON, an unknown field or direction, a value that is not a list of strings,
  page < 1, limit outside 1..1000) → 400 `invalid_request`.

Serving: the ids a (query, sort) selects are computed once per firm version (one DuckDB query) and kept
(a few lists, least recently used dropped); rows are rendered in bulk (`DocCache`). So paging through
200k billings costs a slice and dictionary lookups per page.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np
import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from simulators._app import ApiError, Vendor, raw_json
from simulators._cache import DocCache
from simulators._sqljson import flat, obj
from simulators.data import Firm

MAX_LIMIT = 1000
_KEPT = 16


def _epoch(column: str) -> str:
    return f"CAST(epoch({column}) AS BIGINT)::VARCHAR"


def _text(column: str) -> str:
    return f"b.{column}::VARCHAR"


FIELDS: dict[str, tuple[str, str | None]] = {
    "case_id": (_text("case_id"), "b.case_id"),
    "id": (_text("id"), "b.id"),
    "time_based": ("CASE WHEN b.time_based THEN '1' ELSE '0' END", "b.time_based"),
    "description": ("b.description", "b.description"),
    "estimate_link": (_text("estimate_link"), "b.estimate_link"),
    "employee": (flat([("user_id", _text("employee_id")), ("first_name", "b.employee_first_name"),
                       ("last_name", "b.employee_last_name"), ("name", "b.employee_name"),
                       ("title", "b.employee_title")]), None),
    "team": (flat([("id", _text("team_id")), ("description", "b.team_description")]), None),
    "reference_date": (f"(CAST(epoch(b.reference_date) AS BIGINT) + {12 * 3600})::VARCHAR", "b.reference_date"),
    "start_time": (_text("start_time"), "b.start_time"),
    "quantity": (_text("quantity"), "b.quantity"),
    "unit_cost": ("CASE WHEN b.unit_cost = 0 THEN '0' ELSE b.unit_cost::VARCHAR END", "b.unit_cost"),
    "unit_charge": (_text("unit_charge"), "b.unit_charge"),
    "tax_amount": (_text("tax_amount"), "b.tax_amount"),
    "tax_rate": (_text("tax_rate"), "b.tax_rate"),
    "total_charge": (_text("total_charge"), "b.total_charge"),
    "charge_code": ("b.charge_code", "b.charge_code"),
    "invoice": (_text("invoice"), "b.invoice"),
    "notes": ("b.notes", "b.notes"),
    "time_inserted": (_epoch("b.time_inserted"), "b.time_inserted"),
    "reference_time": (_epoch("b.reference_time"), "b.reference_time"),
}
"""Field → (SQL of its served text, SQL it sorts by; None: an object, neither queried nor sorted), in
the documented order, over `iinsight_billings_v b`."""



def _render_sql() -> str:
    """SQL → (id, row JSON) of the billings whose `b.id` meets `{where}` (for `DocCache`): runs of scalar
    fields as flat objects, `employee` and `team` spliced in."""
    parts: list[list[tuple[str, str]] | tuple[str, str]] = []
    for name, (text, sort) in FIELDS.items():
        if sort is None:
            parts.append((name, text))
        elif parts and isinstance(parts[-1], list):
            parts[-1].append((name, text))
        else:
            parts.append([(name, text)])
    return "SELECT b.id, " + obj(*parts) + " FROM iinsight_billings_v b WHERE {where}"


def _json_param(raw: str | None, name: str) -> dict[str, Any]:
    if raw is None or raw == "":
        return {}
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ApiError(400, "invalid_request", f"{name} must be a JSON object") from None
    if not isinstance(value, dict):
        raise ApiError(400, "invalid_request", f"{name} must be a JSON object")
    return value


def _like(value: str) -> str:
    """A query string with `%` → a LIKE pattern where only `%` is a wildcard."""
    return value.replace("\\", "\\\\").replace("_", "\\_")


def parse_query(raw: str | None) -> tuple[str, list[str]]:
    """`query` → (SQL condition over `b`, parameters); raises `ApiError` 400 on anything off the pin."""
    conds, params = ["TRUE"], []
    for name, values in _json_param(raw, "query").items():
        if FIELDS.get(name, ("", None))[1] is None:
            raise ApiError(400, "invalid_request", f"query: unknown or unqueryable field {name!r}")
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise ApiError(400, "invalid_request", f"query: {name} must be a list of strings")
        text = FIELDS[name][0]
        options = [f"{text} LIKE ? ESCAPE '\\'" if "%" in v else f"{text} = ?" for v in values]
        conds.append(f"({' OR '.join(options) or 'FALSE'})")
        params.extend(_like(v) if "%" in v else v for v in values)
    return " AND ".join(conds), params


def parse_sort(raw: str | None) -> str:
    """`sort` → SQL ORDER BY over `b` (ending with `b.id`); raises `ApiError` 400 on anything off the pin."""
    keys = []
    for name, direction in _json_param(raw, "sort").items():
        if FIELDS.get(name, ("", None))[1] is None:
            raise ApiError(400, "invalid_request", f"sort: unknown or unsortable field {name!r}")
        if not isinstance(direction, str) or direction.lower() not in ("asc", "desc"):
            raise ApiError(400, "invalid_request", f"sort: {name} must be asc or desc")
        keys.append(f"{FIELDS[name][1]} {direction.upper()}")
    return ", ".join([*keys, "b.id"])


class BillingPages:
    """Pages of billings over `firm`: id lists per (query, sort) for the current version, rows from
    a `DocCache` shared by every app serving the firm."""

    def __init__(self, firm: Firm) -> None:
        self.firm = firm
        self._ids: OrderedDict[tuple[int, str, tuple[str, ...], str], np.ndarray] = OrderedDict()
        self.docs = firm.memo("iinsight.rows:billings", lambda: DocCache(
            firm, _render_sql(), "b.id", "SELECT id FROM iinsight_billings WHERE changed_utc > ?", chunk=8192))

    def _select(self, where: str, params: list[str], order: str) -> np.ndarray:
        """Ids matching `where`, in `order`, at the firm's current version (caller holds the write lock)."""
        key = (self.firm.version, where, tuple(params), order)
        ids = self._ids.get(key)
        if ids is None:
            ids = self.firm.arrow(f"SELECT b.id FROM iinsight_billings_v b WHERE {where} ORDER BY {order}",
                                  params).column(0).to_numpy()
            self._ids[key] = ids
            while len(self._ids) > _KEPT:
                self._ids.popitem(last=False)
        self._ids.move_to_end(key)
        return ids

    def page(self, where: str, params: list[str], order: str, offset: int, limit: int) -> list[bytes]:
        """Rendered rows `offset`…`offset + limit` of the selection (blocking: run it in the thread pool)."""
        with self.firm.hold():
            selected = self._select(where, params, order)
            ids = selected[offset:offset + limit] if offset < len(selected) else selected[:0]
            docs = self.docs.load_many([int(i) for i in ids])
        return [doc for doc in docs if doc is not None]


def _project(docs: list[bytes], names: list[str]) -> list[bytes]:
    rows = [orjson.loads(doc) for doc in docs]
    return [orjson.dumps({name: row[name] for name in names}) for row in rows]


def billings_route(vendor: Vendor, authorize: Callable[[Request], None]) -> Route:
    """`GET /api1/billings` over `vendor.firm` (module docstring); `authorize` raises 401."""
    pages = BillingPages(vendor.firm)

    async def handler(request: Request) -> Response:
        authorize(request)
        q = request.query_params
        page, limit = q.get("page", "1"), q.get("limit", "100")
        if not (page.isdigit() and limit.isdigit() and int(page) >= 1 and 1 <= int(limit) <= MAX_LIMIT):
            raise ApiError(400, "invalid_request", f"page >= 1 and 1 <= limit <= {MAX_LIMIT}")
        names = [n for n in q.get("fields", "").split(",") if n]
        if any(n not in FIELDS for n in names):
            raise ApiError(400, "invalid_request", f"fields must be among {', '.join(FIELDS)}")
        where, params = parse_query(q.get("query"))
        order = parse_sort(q.get("sort"))
        offset = (int(page) - 1) * int(limit)
        docs = await vendor.db(pages.page, where, params, order, offset, int(limit))
        if names:
            docs = _project(docs, names)
        await vendor.delay(len(docs))
        return raw_json(b'{"status":true,"data":[' + b",".join(docs) + b"]}")

    return Route("/api1/billings", handler, methods=["GET"])
