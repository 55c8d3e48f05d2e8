"""iinsight simulator (iinsight.md §2-§4, seed 004, CONTRACT.md "iinsight").

- `POST /auth/login`: Basic `client_id:client_secret`, form `grant_type=password, username, password`
  → `{"access_token": 40 hex, "expires_in", "token_type": "Bearer", "scope": null, "refresh_token"}`.
  `POST /auth/refresh` (Basic client, form `grant_type=refresh_token, refresh_token`) rotates both
  tokens; the old refresh token stops working. Pinned errors (RFC 6749 §5.2): bad client credentials
  → 401 `{"error": "invalid_client"}`; bad user credentials or refresh token → 400 `invalid_grant`;
  another grant type → 400 `unsupported_grant_type`. Access tokens live `iinsight_token_ttl_s`;
  refresh tokens 30 days (`/_sim/expire-tokens` only expires access tokens).
- `GET /api1/invoices?modified_since=&page=&satus=` (`status` accepted too; active | voided) and
  `GET /api2/invoices?…&status=` (also reversed): bare array of ≤ 100 invoices with
  `last_update_utc >= modified_since`, ordered by `last_update_utc`, then numeric `invoice_id`; `[]`
  past the end. Every value a string; v1 dates `DD-MM-YYYY`, v2 dates `YYYY-MM-DDT12:00:00Z` and
  `cost_id`/`description` on items; `last_update` is Australia/Sydney local time. Missing or invalid
  parameters → 400. Rows changed while a client pages move to the end of the order.
- `GET /api1/invoices/billed_to` and `PUT /api1/invoices/transfer` as in seed 004.
- Other errors: `{"error": "<code>", "error_description": "..."}` (401 `invalid_token`, 400
  `invalid_request`, 404 `not_found`, 429 `rate_limited`, 5xx `server_error`).
"""

from __future__ import annotations

import email.parser
import email.policy
import secrets
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from simulators._app import (
    ApiError,
    TokenStore,
    Vendor,
    basic_credentials,
    bearer_token,
    build_app,
    json_response,
    raw_json,
    same,
)
from simulators._cache import DocCache
from simulators._keyset import KeysetIndex, epoch_us
from simulators._sqljson import array_of, flat, iso, obj
from simulators._transfers import transfer_invoices
from simulators.data import Firm
from simulators.hasura import parse_instant
from simulators.settings import SimSettings

PAGE_SIZE = 100
_REFRESH_TTL_S = 30 * 86_400
_OAUTH_CODES = {"UNAUTHORIZED": "invalid_token", "BAD_REQUEST": "invalid_request", "NOT_FOUND": "not_found",
                "RATE_LIMITED": "rate_limited", "TOO_MANY_REQUESTS": "rate_limited",
                "INTERNAL_ERROR": "server_error", "SERVICE_UNAVAILABLE": "temporarily_unavailable",
                "METHOD_NOT_ALLOWED": "invalid_request"}
_BILLED_TO = {"invoice_id": "invoice_id", "case": "case_number", "first_name": "client_first_name",
              "last_name": "client_last_name", "invoice": "invoice_number", "to": '"to"',
              "date_of_invoice": "date_of_invoice", "total": "total", "status": "status"}
"""billed_to fields (seed 004's five first) → columns; rendered as strings (dates DD-MM-YYYY)."""


def _text(column: str) -> str:
    return f"strftime({column}, '%d-%m-%Y')" if column == "date_of_invoice" else f"{column}::VARCHAR"


def oauth_error(status: int, code: str, message: str) -> dict[str, Any]:
    """iinsight error body: `{"error": <oauth-style code>, "error_description": message}`."""
    return {"error": _OAUTH_CODES.get(code, code), "error_description": message}


def _date(column: str, version: int) -> str:
    return f"strftime({column}, '%d-%m-%Y')" if version == 1 else f"strftime({column}, '%Y-%m-%dT12:00:00Z')"


def _page_sql(version: int) -> tuple[str, str]:
    """(SQL → (JSON array, rows, first invoice id) for params (status, modified_since, offset);
    SQL → (invoice id, row JSON) of the invoices `v` whose `v.invoice_id` meets `{where}`, for `DocCache`)."""
    s = lambda c: f"{c}::VARCHAR"  # noqa: E731
    head = [("cost_id", s("it.cost_id")), ("service", "it.service"), ("description", "it.description")]
    item = obj(
        [*(head if version == 2 else []), ("charge_code", "it.charge_code"), ("employee_id", s("it.employee_id"))],
        ("employee_info", flat([("user_id", s("it.employee_id")), ("first_name", "it.employee_first_name"),
                                ("last_name", "it.employee_last_name"), ("name", "it.employee_name"),
                                ("title", "it.employee_title")])),
        [("general_ledger_code", "it.general_ledger_code"),
         ("general_ledger_description", "it.general_ledger_description"),
         ("general_ledger_id", "it.general_ledger_id"), ("professional", "it.professional"),
         ("quantity", s("it.quantity")), ("rate", s("it.rate")), ("revenue_centre", "it.revenue_centre"),
         ("service_contract", "it.service_contract"), ("service_date", _date("it.service_date", version)),
         *([("service", "it.service")] if version == 1 else []),
         ("tax_amount", s("it.tax_amount")), ("total", s("it.total"))],
    )
    row = obj(
        [("invoice_id", s("r.invoice_id")), ("company_id", s("r.company_id")), ("to", 'r."to"'),
         ("to_attention", "r.to_attention"), ("to_address", "r.to_address"), ("to_email", "r.to_email"),
         ("abn", "r.abn"), ("invoice_number", "r.invoice_number"), ("case_number", "r.case_number"),
         ("terms", s("r.terms")), ("date_of_invoice", _date("r.date_of_invoice", version)),
         ("due_date", _date("r.due_date", version)), ("notes", "r.notes"),
         ("total_amount_payable", s("r.total_amount_payable")), ("client", "r.client"), ("claim_no", "r.claim_no"),
         ("provider_number", "r.provider_number"), ("assigned_to", "r.assigned_to"),
         ("start_date", _date("r.start_date", version)), ("end_date", _date("r.end_date", version)),
         ("contact_id", s("r.contact_id"))],
        ("item", "r.item_json"),
        [("sub_total", s("r.sub_total")), ("total_tax", s("r.total_tax")), ("total", s("r.total")),
         ("office_department_id", "NULL"), ("office_department_name", "NULL"),
         ("last_update", "strftime(r.last_update_utc AT TIME ZONE 'Australia/Sydney', '%d-%m-%Y %H:%M:%S')"),
         ("last_update_utc", iso("r.last_update_utc")), ("status", "r.status")],
    )
    return (
        "WITH k AS (SELECT rowid AS r FROM iinsight_invoices WHERE status = ? AND last_update_utc >= ? "
        f"ORDER BY last_update_utc, invoice_id LIMIT {PAGE_SIZE} OFFSET ?), "
        "ids AS (SELECT invoice_id FROM iinsight_invoices WHERE rowid BETWEEN (SELECT min(r) FROM k) "
        "AND (SELECT max(r) FROM k) AND rowid IN (SELECT r FROM k)), "
        "p AS (SELECT * FROM iinsight_invoices_v SEMI JOIN ids USING (invoice_id)), "
        f"items AS (SELECT it.invoice_id, '[' || string_agg({item}, ',' ORDER BY it.cost_id) || ']' AS arr "
        "FROM iinsight_items_v it SEMI JOIN p ON p.invoice_id = it.invoice_id GROUP BY it.invoice_id), "
        "r AS (SELECT p.*, coalesce(items.arr, '[]') AS item_json FROM p LEFT JOIN items USING (invoice_id)) "
        f"SELECT {array_of(row, 'r', 'r.last_update_utc, r.invoice_id')}, (SELECT count(*) FROM p), "
        "(SELECT min(invoice_id) FROM p)"
    ), (
        "WITH p AS (SELECT * FROM iinsight_invoices_v v WHERE {where}), "
        f"items AS (SELECT it.invoice_id, '[' || string_agg({item}, ',' ORDER BY it.cost_id) || ']' AS arr "
        "FROM iinsight_items_v it SEMI JOIN p ON p.invoice_id = it.invoice_id GROUP BY it.invoice_id), "
        "r AS (SELECT p.*, coalesce(items.arr, '[]') AS item_json FROM p LEFT JOIN items USING (invoice_id)) "
        f"SELECT r.invoice_id, {row} FROM r"
    )


def _page_from_cache(firm: Firm, docs: DocCache, status: str, since: datetime,
                     offset: int) -> tuple[bytes, int, int | None] | None:
    """A page assembled from rendered invoices: ids by the sorted index of (last_update_utc,
    invoice_id) per status, documents from `docs`, under `Firm.hold()` (one version throughout).
    None when the table does not qualify or the offset is out of BIGINT range (the page SQL answers then)."""
    if offset >= 2**63:
        return None
    index = firm.memo("keyset:iinsight_invoices", lambda: KeysetIndex(
        firm, "iinsight_invoices", "last_update_utc", "invoice_id", group_column="status"))
    with firm.hold():
        current = index.current()
        if current is None:
            return None
        ids = current.group_page(status, epoch_us(since), offset, PAGE_SIZE)
        found = [docs.load(i) for i in ids]
    rows = [doc for doc in found if doc is not None]
    if len(rows) != len(ids):
        return None
    return b"[" + b",".join(rows) + b"]", len(ids), min(ids, default=None)


async def _form(request: Request) -> dict[str, str]:
    """Form fields of an urlencoded or multipart body (no python-multipart needed), query as fallback."""
    fields = dict(request.query_params)
    raw = await request.body()
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("multipart/form-data"):
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + raw)
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if name:
                fields[str(name)] = part.get_content().strip() if isinstance(part.get_content(), str) else ""
    else:
        fields.update(parse_qsl(raw.decode(errors="replace"), keep_blank_values=True))
    return fields


def create_app(firm: Firm, settings: SimSettings | None = None) -> Starlette:
    """The iinsight simulator app over `firm`."""
    vendor = Vendor("iinsight", firm, settings or SimSettings(), error_body=oauth_error)
    refresh_tokens = TokenStore()
    pages = {1: _page_sql(1), 2: _page_sql(2)}

    changed = "SELECT invoice_id FROM iinsight_invoices WHERE last_update_utc > ?"

    def docs(version: int) -> DocCache:
        """Rendered invoices (items nested) of API `version`, loaded 8192 ids at a time."""
        return firm.memo(f"iinsight.rows:v{version}", lambda: DocCache(
            firm, pages[version][1], "v.invoice_id", changed, chunk=8192))

    def render_page(version: int, status: str, since: datetime, offset: int) -> tuple[str | bytes, int, int | None]:
        """(JSON array, rows, smallest id) of one page: from rendered invoices, else by the page SQL."""
        found = _page_from_cache(firm, docs(version), status, since, offset)
        if found is not None:
            return found
        body, rows, first_id = firm.query(pages[version][0], [status, since, offset])[0]
        return body, rows, first_id

    def client_ok(request: Request) -> None:
        creds = basic_credentials(request)
        cfg = vendor.settings
        if creds is None or not (same(creds[0], cfg.iinsight_client_id) and same(creds[1], cfg.iinsight_client_secret)):
            raise ApiError(401, "invalid_client", "client authentication failed")

    def issue() -> Response:
        access, refresh = secrets.token_hex(20), secrets.token_hex(20)
        vendor.tokens.add(access, vendor.settings.iinsight_token_ttl_s)
        refresh_tokens.add(refresh, _REFRESH_TTL_S)
        return json_response({"access_token": access, "expires_in": vendor.settings.iinsight_token_ttl_s,
                              "token_type": "Bearer", "scope": None, "refresh_token": refresh})

    async def login(request: Request) -> Response:
        client_ok(request)
        form = await _form(request)
        if form.get("grant_type") != "password":
            raise ApiError(400, "unsupported_grant_type", "grant_type must be password")
        cfg = vendor.settings
        if not (same(form.get("username", ""), cfg.iinsight_username)
                and same(form.get("password", ""), cfg.iinsight_password)):
            raise ApiError(400, "invalid_grant", "invalid username or password")
        return issue()

    async def refresh(request: Request) -> Response:
        client_ok(request)
        form = await _form(request)
        if form.get("grant_type") != "refresh_token":
            raise ApiError(400, "unsupported_grant_type", "grant_type must be refresh_token")
        token = form.get("refresh_token", "")
        if not refresh_tokens.valid(token):
            raise ApiError(400, "invalid_grant", "invalid or expired refresh token")
        refresh_tokens.revoke(token)
        return issue()

    def authorize(request: Request) -> None:
        if not vendor.tokens.valid(bearer_token(request)):
            raise ApiError(401, "invalid_token", "missing, invalid or expired access token")

    def invoices(version: int) -> Any:
        allowed = ("active", "voided") if version == 1 else ("active", "voided", "reversed")

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
            body, rows, first_id = await vendor.db(render_page, version, status.upper(), since,
                                                   (int(page) - 1) * PAGE_SIZE)
            if rows and vendor.faults.page_shift():
                await vendor.db(firm.write, lambda con, t: con.execute(
                    "UPDATE iinsight_invoices SET last_update_utc = ? WHERE invoice_id = ?", [t, first_id]).fetchall())
            await vendor.delay(rows)
            return raw_json(body)
        return handler

    async def billed_to(request: Request) -> Response:
        authorize(request)
        q = request.query_params
        employer, wanted = q.get("employer_id", ""), q.get("fields", "")
        if not employer.isdigit() or not wanted:
            raise ApiError(400, "invalid_request", "employer_id (integer) and fields are required")
        names = wanted.split(",")
        if any(n not in _BILLED_TO for n in names):
            raise ApiError(400, "invalid_request", f"fields must be among {', '.join(_BILLED_TO)}")
        names = ["invoice_id", *[n for n in names if n != "invoice_id"]]
        sort_col, sort_type = q.get("sort_col", "invoice_id"), q.get("sort_type", "asc").lower()
        if sort_col not in _BILLED_TO or sort_type not in ("asc", "desc"):
            raise ApiError(400, "invalid_request", "sort_col must be a field, sort_type asc or desc")
        conds, params = ["company_id = ?"], [int(employer)]
        try:
            criteria = orjson.loads(q["search_criteria"]) if q.get("search_criteria") else {}
        except orjson.JSONDecodeError:
            criteria = None
        if not isinstance(criteria, dict) or any(k not in _BILLED_TO for k in criteria):
            raise ApiError(400, "invalid_request", "search_criteria must be a JSON object of field: values")
        for key, values in criteria.items():
            options = str(values).split(",")
            conds.append(f"{_text(_BILLED_TO[key])} IN ({', '.join('?' * len(options))})")
            params.extend(options)
        page, limit = q.get("page", "1"), q.get("limit", str(PAGE_SIZE))
        if not (page.isdigit() and limit.isdigit() and int(page) >= 1 and 1 <= int(limit) <= 1000):
            raise ApiError(400, "invalid_request", "page >= 1 and 1 <= limit <= 1000")
        order = f"{_BILLED_TO[sort_col]} {sort_type.upper()}, invoice_id"
        sql = (f"WITH b AS (SELECT * FROM iinsight_invoices_v WHERE {' AND '.join(conds)} ORDER BY {order} "
               f"LIMIT ? OFFSET ?) SELECT {array_of(flat([(n, _text(_BILLED_TO[n])) for n in names]), 'b', order)}, "
               "(SELECT count(*) FROM b)")
        body, rows = (await vendor.db(firm.query, sql, [*params, int(limit), (int(page) - 1) * int(limit)]))[0]
        await vendor.delay(rows)
        return raw_json(body)

    async def transfer(request: Request) -> Response:
        authorize(request)
        form = await _form(request)
        employer, raw_ids = form.get("employer_id", ""), form.get("invoice_ids", "")
        ids = raw_ids.split(",")
        if not employer.isdigit() or not raw_ids or not all(i.isdigit() and len(i) < 19 for i in [employer, *ids]):
            raise ApiError(400, "invalid_request", "employer_id and invoice_ids (comma-separated ids) are required")
        if not await vendor.db(firm.query, "SELECT 1 FROM clients WHERE company_id = ?", [int(employer)]):
            raise ApiError(400, "invalid_request", f"unknown employer_id {employer}")

        moved = await vendor.db(firm.write, lambda con, t: transfer_invoices(con, t, int(employer),
                                                                             [int(i) for i in ids]))
        await vendor.delay(len(moved))
        return json_response({"message": "Invoice(s) Transferred", "invoice_ids": ",".join(map(str, moved)),
                              "updated_count": len(moved), "inserted_count": 0})

    routes = [
        Route("/auth/login", login, methods=["POST"]), Route("/auth/refresh", refresh, methods=["POST"]),
        Route("/api1/invoices", invoices(1), methods=["GET"]), Route("/api2/invoices", invoices(2), methods=["GET"]),
        Route("/api1/invoices/billed_to", billed_to, methods=["GET"]),
        Route("/api1/invoices/transfer", transfer, methods=["PUT"]),
    ]
    return build_app(vendor, routes)

