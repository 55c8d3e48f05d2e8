"""iinsight simulator (iinsight.md §2-§5, §7, seed 004, CONTRACT.md "iinsight", "iinsight payments",
"iinsight billings").

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
  parameters → 400. Rows changed while a client pages move to the end of the order (`_iinsight_lists.py`).
- `GET /api1/invoices/billed_to` and `PUT /api1/invoices/transfer` as in seed 004.
- `GET /api1/payments`, `GET /api2/payments` (`_iinsight_payments.py`) and `GET /api1/billings`
  (`_iinsight_billings.py`): optional endpoints (`payments`, `billings`) that can be switched off (404)
  or forbidden (403), CONTRACT.md "Optional endpoints".
- Other errors: `{"error": "<code>", "error_description": "..."}` (401 `invalid_token`, 400
  `invalid_request`, 404 `not_found`, 429 `rate_limited`, 5xx `server_error`).
"""

from __future__ import annotations

import email.parser
import email.policy
import secrets
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
from simulators._iinsight_billings import billings_route
from simulators._iinsight_lists import PAGE_SIZE, StatusList, StatusPages, api_date, list_route, local_time
from simulators._iinsight_payments import PAYMENTS
from simulators._sqljson import array_of, flat, iso, obj
from simulators._transfers import transfer_invoices
from simulators.data import Firm
from simulators.settings import SimSettings

_REFRESH_TTL_S = 30 * 86_400
_OAUTH_CODES = {"UNAUTHORIZED": "invalid_token", "BAD_REQUEST": "invalid_request", "NOT_FOUND": "not_found",
                "RATE_LIMITED": "rate_limited", "TOO_MANY_REQUESTS": "rate_limited",
                "INTERNAL_ERROR": "server_error", "SERVICE_UNAVAILABLE": "temporarily_unavailable",
                "METHOD_NOT_ALLOWED": "invalid_request", "FORBIDDEN": "insufficient_scope"}
_BILLED_TO = {"invoice_id": "invoice_id", "case": "case_number", "first_name": "client_first_name",
              "last_name": "client_last_name", "invoice": "invoice_number", "to": '"to"',
              "date_of_invoice": "date_of_invoice", "total": "total", "status": "status"}
"""billed_to fields (seed 004's five first) → columns; rendered as strings (dates DD-MM-YYYY)."""


def _text(column: str) -> str:
    return f"strftime({column}, '%d-%m-%Y')" if column == "date_of_invoice" else f"{column}::VARCHAR"


def oauth_error(status: int, code: str, message: str) -> dict[str, Any]:
    """iinsight error body: `{"error": <oauth-style code>, "error_description": message}`."""
    return {"error": _OAUTH_CODES.get(code, code), "error_description": message}


def _invoice_sql(version: int) -> str:
    """SQL → (invoice id, row JSON) of the invoices `v` whose `v.invoice_id` meets `{where}` (items nested),
    as API `version` renders them."""
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
         ("service_contract", "it.service_contract"), ("service_date", api_date("it.service_date", version)),
         *([("service", "it.service")] if version == 1 else []),
         ("tax_amount", s("it.tax_amount")), ("total", s("it.total"))],
    )
    row = obj(
        [("invoice_id", s("r.invoice_id")), ("company_id", s("r.company_id")), ("to", 'r."to"'),
         ("to_attention", "r.to_attention"), ("to_address", "r.to_address"), ("to_email", "r.to_email"),
         ("abn", "r.abn"), ("invoice_number", "r.invoice_number"), ("case_number", "r.case_number"),
         ("terms", s("r.terms")), ("date_of_invoice", api_date("r.date_of_invoice", version)),
         ("due_date", api_date("r.due_date", version)), ("notes", "r.notes"),
         ("total_amount_payable", s("r.total_amount_payable")), ("client", "r.client"), ("claim_no", "r.claim_no"),
         ("provider_number", "r.provider_number"), ("assigned_to", "r.assigned_to"),
         ("start_date", api_date("r.start_date", version)), ("end_date", api_date("r.end_date", version)),
         ("contact_id", s("r.contact_id"))],
        ("item", "r.item_json"),
        [("sub_total", s("r.sub_total")), ("total_tax", s("r.total_tax")), ("total", s("r.total")),
         ("office_department_id", "NULL"), ("office_department_name", "NULL"),
         ("last_update", local_time("r.last_update_utc")), ("last_update_utc", iso("r.last_update_utc")),
         ("status", "r.status")],
    )
    return (
        "WITH p AS (SELECT * FROM iinsight_invoices_v v WHERE {where}), "
        f"items AS (SELECT it.invoice_id, '[' || string_agg({item}, ',' ORDER BY it.cost_id) || ']' AS arr "
        "FROM iinsight_items_v it SEMI JOIN p ON p.invoice_id = it.invoice_id GROUP BY it.invoice_id), "
        "r AS (SELECT p.*, coalesce(items.arr, '[]') AS item_json FROM p LEFT JOIN items USING (invoice_id)) "
        f"SELECT r.invoice_id, {row} FROM r"
    )


INVOICES = StatusList("invoices", "iinsight_invoices", "invoice_id", {1: _invoice_sql(1), 2: _invoice_sql(2)},
                      {1: ("active", "voided"), 2: ("active", "voided", "reversed")})
"""`/api1/invoices` and `/api2/invoices` (iinsight.md §4)."""


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
    invoices, payments = StatusPages(firm, INVOICES), StatusPages(firm, PAYMENTS)
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
        *(list_route(f"/api{v}/invoices", vendor, invoices, v, authorize) for v in (1, 2)),
        Route("/api1/invoices/billed_to", billed_to, methods=["GET"]),
        Route("/api1/invoices/transfer", transfer, methods=["PUT"]),
        *(list_route(f"/api{v}/payments", vendor, payments, v, authorize) for v in (1, 2)),
        billings_route(vendor, authorize),
    ]
    return build_app(vendor, routes, optional={"payments": ("/api1/payments", "/api2/payments"),
                                               "billings": ("/api1/billings",)})

