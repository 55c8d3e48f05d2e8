"""Aiwyn simulator (aiwyn.md §2-§4, seeds 000 and 001, CONTRACT.md "Aiwyn").

- `POST /v1/auth/token` `{"jwtApiKey"}` → `{"accessToken": <HS256 JWT with aiwyn.md §2 claims>,
  "expiresIn", "tokenType": "Bearer"}`; a wrong key → 401.
- Lists `POST /gql/v1/wip | invoices | payments` `{"pageSize": 1..1000 (25), "page": 0.., filters}`,
  ordered by the entity date (`sortOrder`, default desc) then id asc.
- Searches `POST /gql/v1/wips/search | invoices/search | payments/search` `{"pageSize": 1..1000 (1,
  seed 000), "where", "orderBy"}`; `page`/`offset` → 400; `where`/`orderBy` over the row fields.
- Envelope `{"deid_<e>": [rows], "deid_<e>_aggregate": {"aggregate": {"count", "sum": {...}}}}`, the
  aggregate over the whole filter; money JSON numbers with two decimals, timestamps `…Z`.
- Details `GET /gql/v1/wip/{id}`, `/invoice/{id}`, `/payment/{id}` (seed vocabularies); 404 otherwise.
- Records API (`/api/v1/records...`, seed 002): `_aiwyn_records.py`.
- Every `/gql/v1/...` route is also served at `/v1/...` (the docs' curl examples). Errors are
  `{"error": {"code", "message"}}`. Pages and details are rendered to JSON inside DuckDB.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from simulators._aiwyn_records import records_routes
from simulators._app import ApiError, Vendor, bearer_token, build_app, json_response, raw_json, read_json
from simulators._cache import DocCache
from simulators._keyset import KeyRange, KeysetIndex, ascending_orders, key_range
from simulators._sqljson import array_of, flat, iso, obj
from simulators.data import SORTED_TABLES, Firm
from simulators.hasura import Field, parse_instant, translate_order_by, translate_where
from simulators.settings import SimSettings

_SECRET = b"aiwyn-simulator-signing-key"
_INVOICE_STATUSES = ("PENDING", "POSTED", "PAID", "OVERDUE", "CANCELLED", "DRAFT")
_METHODS = ("CREDIT_CARD", "DEBIT_CARD", "ACH", "BANK_TRANSFER", "CHECK", "WIRE", "PAYPAL", "APPLE_PAY",
            "GOOGLE_PAY")
_WIP_TYPES = ("TIME", "EXPENSE", "FIXED_FEE", "DISBURSEMENT")
_ASCENDING = ascending_orders("updated_at", "id")


def _fields(spec: str) -> dict[str, Field]:
    """"apiName:column:kind …" → field map (in row order)."""
    return {a: Field(c, k) for a, c, k in (item.split(":") for item in spec.split())}


@dataclass(frozen=True)
class Entity:
    """One Aiwyn read entity: store table, envelope name, row fields, money sums, list filters."""

    table: str
    envelope: str
    fields: dict[str, Field]
    sums: tuple[str, ...]
    date_field: str
    enum_filters: dict[str, tuple[str, tuple[str, ...]]]

    def row_json(self) -> str:
        """SQL text of a row's JSON, in field order (timestamps as `YYYY-MM-DDThh:mm:ssZ`)."""
        return flat([(name, iso(f.column) if f.kind == "ts" else f.column) for name, f in self.fields.items()])

    def page_sql(self, cond: str, order: str) -> str:
        """SQL → (envelope JSON, rows in page, first id) for params (*cond, limit, offset, *cond).

        Two steps in one statement (one snapshot): the page's rowids by a narrow Top-N, then the rows
        of that rowid range only (the table is kept ordered by updatedAt, so keyset pages are local).
        """
        sums = flat([(s, f"sum({self.fields[s].column})::DECIMAL(18,2)") for s in self.sums])
        aggregate = (f"(SELECT '{{\"count\":' || count(*) || ',\"sum\":' || {sums} || '}}' "
                     f"FROM {self.table} WHERE {cond})")
        return (
            f"WITH k AS (SELECT rowid AS r FROM {self.table} WHERE {cond} ORDER BY {order} LIMIT ? OFFSET ?), "
            "b AS (SELECT min(r) AS lo, max(r) AS hi, count(*) AS n FROM k), "
            f"p AS (SELECT * FROM {self.table} WHERE rowid BETWEEN (SELECT lo FROM b) AND (SELECT hi FROM b) "
            "AND rowid IN (SELECT r FROM k)) "
            "SELECT " + obj((self.envelope, array_of(self.row_json(), "p", order)),
                            (f"{self.envelope}_aggregate", f"'{{\"aggregate\":' || {aggregate} || '}}'"))
            + ", (SELECT n FROM b), (SELECT min(id) FROM p)"
        )

    def rows_sql(self) -> str:
        """SQL → (JSON array of the rows, row count, id of the first and of the last rowid) for params
        (first rowid, last rowid), in (updatedAt, id) order: a keyset page of the fast path (`_keyset.py`)."""
        ts, key = SORTED_TABLES[self.table]
        return (f"SELECT '[' || coalesce(string_agg({self.row_json()}, ',' ORDER BY {ts}, {key}), '') || ']', "
                f"count(*), arg_min({key}, rowid), arg_max({key}, rowid) FROM {self.table} WHERE rowid BETWEEN ? AND ?")

    def keyset_index(self, firm: Firm) -> KeysetIndex:
        """The firm's (shared) sorted index of this entity's table."""
        ts, key = SORTED_TABLES[self.table]
        return firm.memo(f"keyset:{self.table}", lambda: KeysetIndex(
            firm, self.table, ts, key, [self.fields[s].column for s in self.sums]))


WIP = Entity(
    "aiwyn_wip", "deid_wip",
    _fields("id:id:int clientId:client_id:int clientName:client_name:str jobId:job_id:int jobName:job_name:str "
            "staffId:staff_id:int staffName:staff_name:str type:type:str loggedDate:logged_date:ts hours:hours:dec "
            "rate:rate:dec value:value:dec billedAmount:billed_amount:dec writeOffAmount:write_off_amount:dec "
            "outstandingAmount:outstanding_amount:dec approved:approved:bool notes:notes:str "
            "createdAt:created_at:ts updatedAt:updated_at:ts"),
    ("hours", "value", "billedAmount", "writeOffAmount", "outstandingAmount"), "loggedDate",
    {"wipType": ("type", _WIP_TYPES)},
)
INVOICES = Entity(
    "aiwyn_invoices", "deid_invoice",
    _fields("id:id:int invoiceNumber:invoice_number:str clientId:client_id:int clientName:client_name:str "
            "jobId:job_id:int status:status:str invoiceDate:invoice_date:ts dueDate:due_date:ts "
            "subtotal:subtotal:dec taxAmount:tax_amount:dec interestAmount:interest_amount:dec "
            "totalAmount:total_amount:dec paidAmount:paid_amount:dec outstandingAmount:outstanding_amount:dec "
            "currency:currency:str description:description:str createdAt:created_at:ts updatedAt:updated_at:ts"),
    ("subtotal", "taxAmount", "interestAmount", "totalAmount", "paidAmount", "outstandingAmount"), "invoiceDate",
    {"status": ("status", _INVOICE_STATUSES)},
)
PAYMENTS = Entity(
    "aiwyn_payments", "deid_payment",
    _fields("id:id:int invoiceId:invoice_id:int clientId:client_id:int amount:amount:dec currency:currency:str "
            "paymentMethod:payment_method:str status:status:str paymentDate:payment_date:ts "
            "createdAt:created_at:ts updatedAt:updated_at:ts"),
    ("amount",), "paymentDate",
    {"paymentMethod": ("payment_method", _METHODS)},
)

_WIP_DETAIL = "SELECT id, " + obj(
    [("id", "id"), ("description", "notes"),
     ("status", "CASE WHEN outstanding_amount = 0 AND billed_amount > 0 THEN 'BILLED' "
                "WHEN approved THEN 'APPROVED' ELSE 'PENDING_APPROVAL' END"),
     ("type", "'BILLABLE'"), ("staffId", "staff_id"), ("staffName", "staff_name"), ("clientId", "client_id"),
     ("clientName", "client_name"), ("projectId", "job_id"), ("projectName", "job_name"), ("taskId", "NULL"),
     ("taskName", "NULL"), ("date", iso("logged_date")),
     ("startTime", f"CASE WHEN hours > 0 THEN {iso('logged_date + INTERVAL 9 HOUR')} END"),
     ("endTime", "CASE WHEN hours > 0 THEN "
                 f"{iso('logged_date + INTERVAL 9 HOUR + to_seconds(CAST(hours * 3600 AS BIGINT))')} END"),
     ("duration", "hours"), ("billableHours", "hours"), ("nonBillableHours", "0.00::DECIMAL(18,2)"),
     ("hourlyRate", "rate"), ("billableAmount", "value"), ("currency", "'USD'"), ("notes", "notes")],
    ("approvalHistory", "CASE WHEN approved THEN '[' || " + flat(
        [("id", "1"), ("approverId", "staff_id"), ("approverName", "staff_name"),
         ("approvalDate", iso("updated_at")), ("status", "'APPROVED'"), ("comments", "'Approved'")])
     + " || ']' ELSE '[]' END"),
    [("wipType", "type"), ("jobId", "job_id"), ("jobName", "job_name"), ("loggedDate", iso("logged_date")),
     ("value", "value"), ("billedAmount", "billed_amount"), ("writeOffAmount", "write_off_amount"),
     ("outstandingAmount", "outstanding_amount"), ("approved", "approved"), ("createdAt", iso("created_at")),
     ("updatedAt", iso("updated_at"))],
) + " FROM aiwyn_wip WHERE {where}"
_INVOICE_DETAIL = "SELECT i.id, " + obj(
    [("id", "i.id"), ("invoiceNumber", "i.invoice_number"), ("reference", "i.reference"), ("status", "i.status"),
     ("paymentStatus", "NULL"),
     ("clientId", "i.client_id"), ("clientName", "i.client_name"), ("clientEmail", "c.email"),
     ("jobId", "i.job_id"), ("projectId", "i.job_id"), ("projectName", "i.project_name"),
     ("invoiceDate", iso("i.invoice_date")), ("issueDate", iso("i.invoice_date")), ("dueDate", iso("i.due_date")),
     ("subtotal", "i.subtotal"), ("taxAmount", "i.tax_amount"), ("interestAmount", "i.interest_amount"),
     ("totalAmount", "i.total_amount"), ("currency", "i.currency"), ("paidAmount", "i.paid_amount"),
     ("outstandingAmount", "i.outstanding_amount"), ("description", "i.description")],
    ("lineItems", array_of(flat([("id", "l.id"), ("description", "l.description"), ("quantity", "l.quantity"),
                                 ("unitPrice", "l.unit_price"), ("amount", "l.amount"), ("taxRate", "l.tax_rate")]),
                           "aiwyn_line_items l WHERE l.invoice_id = i.id", "l.id")),
    ("payments", array_of(flat([("id", "p.id"), ("amount", "p.amount"), ("paymentDate", iso("p.payment_date")),
                                ("paymentMethod", "p.payment_method"), ("status", "p.status")]),
                          "aiwyn_payments p WHERE p.invoice_id = i.id", "p.id")),
    [("notes", "i.notes"), ("createdAt", iso("i.created_at")), ("updatedAt", iso("i.updated_at"))],
) + (", CASE WHEN i.outstanding_amount = 0 AND i.total_amount > 0 THEN 'PAID' END, "
       "CASE WHEN i.outstanding_amount > 0 THEN epoch_us(i.due_date) END, "
       "CASE WHEN i.paid_amount > 0 THEN 'PARTIALLY_PAID' ELSE 'UNPAID' END "
       "FROM aiwyn_invoices i JOIN clients c ON c.client_id = i.client_id WHERE {where}")
"""Invoice details by `i.id`: (id, JSON with `"paymentStatus":null`, PAID or NULL, due µs when something
is outstanding, the status when not overdue); `paymentStatus` follows the firm's clock (`_invoice_body`)."""
_PAYMENT_DETAIL = "SELECT p.id, " + flat([
    ("id", "p.id"), ("amount", "p.amount"), ("currency", "p.currency"), ("paymentMethod", "p.payment_method"),
    ("cardLastFour", "p.card_last_four"), ("cardType", "p.card_type"), ("status", "p.status"),
    ("confirmationDate", f"CASE WHEN p.status = 'CONFIRMED' THEN {iso('p.payment_date')} END"),
    ("processorReference", "p.processor_reference"), ("clientId", "p.client_id"), ("clientName", "c.name"),
    ("invoiceId", "p.invoice_id"), ("invoiceNumber", "i.invoice_number"), ("paymentDate", iso("p.payment_date")),
    ("createdAt", iso("p.created_at")), ("updatedAt", iso("p.updated_at")),
]) + (" FROM aiwyn_payments p JOIN clients c ON c.client_id = p.client_id "
      "LEFT JOIN aiwyn_invoices i ON i.id = p.invoice_id WHERE {where}")
_STATUS_SLOT = b'"paymentStatus":null'


def _invoice_doc(row: tuple[Any, ...]) -> tuple[bytes, int, bytes | None, int | None, bytes]:
    """A rendered invoice row → (JSON, offset of the paymentStatus slot, PAID, due µs, not-overdue status)."""
    doc = str(row[1]).encode()
    return doc, doc.index(_STATUS_SLOT), row[2] and row[2].encode(), row[3], row[4].encode()


def _invoice_body(value: tuple[bytes, int, bytes | None, int | None, bytes], firm: Firm) -> bytes:
    """The invoice JSON with `paymentStatus` as of the firm's clock: PAID (nothing outstanding) /
    OVERDUE (outstanding, due < now) / PARTIALLY_PAID / UNPAID."""
    doc, cut, paid, due_us, other = value
    status = paid or (b"OVERDUE" if due_us is not None and due_us < int(firm.now.timestamp()) * 1_000_000 else other)
    return doc[:cut] + b'"paymentStatus":"' + status + b'"' + doc[cut + len(_STATUS_SLOT):]


_DETAILS = {
    "wip": (_WIP_DETAIL, "id", "SELECT id FROM aiwyn_wip WHERE updated_at > ?", 4096),
    "invoice": (_INVOICE_DETAIL, "i.id", "SELECT id FROM aiwyn_invoices WHERE updated_at > ? "
                "UNION ALL SELECT invoice_id FROM aiwyn_payments WHERE updated_at > ?", None),
    "payment": (_PAYMENT_DETAIL, "p.id", "SELECT id FROM aiwyn_payments WHERE updated_at > ? "
                "OR invoice_id IN (SELECT id FROM aiwyn_invoices WHERE updated_at > ?)", 8192),
}
"""Detail caches: render SQL, key, keys changed since a stamp, load chunk (None: all invoices at once,
as a sync asks for every changed one; ~1 s for 100k invoices)."""


def detail_cache(firm: Firm, kind: str) -> DocCache:
    """The firm's (shared) cache of `wip`, `invoice` or `payment` details."""
    render, key, changed, chunk = _DETAILS[kind]
    extra: dict[str, Any] = {"finish": _invoice_doc, "serve": _invoice_body} if kind == "invoice" else {}
    return firm.memo(f"aiwyn.detail:{kind}", lambda: DocCache(firm, render, key, changed, chunk=chunk, **extra))


def issue_token(vendor: Vendor) -> dict[str, Any]:
    """A JWT-looking HS256 token with aiwyn.md §2's claims, registered for `aiwyn_token_ttl_s`."""
    ttl = vendor.settings.aiwyn_token_ttl_s
    iat = int(time.time())
    uid = "sim" + secrets.token_hex(12)
    claims = {
        "iss": "https://securetoken.google.com/aiwyn-sim", "aud": "aiwyn-sim", "auth_time": iat, "user_id": uid,
        "sub": uid, "iat": iat, "exp": iat + ttl, "email": "api-user@sim.aiwyn.ai", "email_verified": True,
        "tenant": "aiwynsb", "staffId": 420, "authKeyId": 11, "roles": ["SUPER_ADMIN", "aiwynsb_API_ADMIN"],
        "https://hasura.io/jwt/claims": {
            "x-hasura-allowed-roles": ["aiwynsb_SUPER_ADMIN", "aiwynsb_API_USER", "aiwynsb_API_ADMIN",
                                       "aiwynsb_RECORD_R", "aiwynsb_RECORD_W", "aiwynsb_CUSTOM_TYPE_R",
                                       "aiwynsb_CUSTOM_TYPE_W"],
            "x-hasura-default-role": "aiwynsb_API_ADMIN", "x-hasura-user-id": uid, "x-hasura-tenant-id": "aiwynsb"},
    }

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    signing = b64(orjson.dumps({"alg": "HS256", "typ": "JWT", "kid": "sim"})) + "." + b64(orjson.dumps(claims))
    token = signing + "." + b64(hmac.new(_SECRET, signing.encode(), hashlib.sha256).digest())
    vendor.tokens.add(token, ttl)
    return {"accessToken": token, "expiresIn": ttl, "tokenType": "Bearer"}


def _int(body: dict[str, Any], key: str, default: int, lo: int, hi: int | None = None) -> int:
    value = body.get(key, default)
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool) or value < lo or (hi is not None and value > hi):
        raise ApiError(400, "BAD_REQUEST", f"{key} must be an integer in [{lo} .. {hi if hi else '∞'}]")
    return value


def _list_filters(entity: Entity, body: dict[str, Any]) -> tuple[str, list[Any], str]:
    """List body filters → (SQL condition, params, ORDER BY) (seed 000 / 001 / aiwyn.md §4.4.1)."""
    conds, params = ["TRUE"], []
    for key, column in (("clientId", "client_id"), ("jobId", "job_id")):
        if body.get(key) is not None and (key == "clientId" or entity is WIP):
            params.append(_int(body, key, 0, 0))
            conds.append(f"{column} = ?")
    for key, (column, allowed) in entity.enum_filters.items():
        value = body.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or value.upper() not in allowed:
            raise ApiError(400, "BAD_REQUEST", f"{key} must be one of {', '.join(allowed)}")
        conds.append(f"{column} = ?")
        params.append(value.upper())
    date_col = entity.fields[entity.date_field].column
    for key, op in (("startDate", ">="), ("endDate", "<=")):
        if body.get(key) is not None:
            params.append(parse_instant(body[key], key))
            conds.append(f"{date_col} {op} ?")
    order = str(body.get("sortOrder") or "desc").lower()
    if order not in ("asc", "desc"):
        raise ApiError(400, "BAD_REQUEST", "sortOrder must be asc or desc")
    return " AND ".join(conds), params, f"{date_col} {order.upper()}, id ASC"


def create_app(firm: Firm, settings: SimSettings | None = None) -> Starlette:
    """The Aiwyn simulator app over `firm`."""
    vendor = Vendor("aiwyn", firm, settings or SimSettings())

    def authorize(request: Request) -> None:
        if not vendor.tokens.valid(bearer_token(request)):
            raise ApiError(401, "UNAUTHORIZED", "missing, invalid or expired bearer token")

    async def token(request: Request) -> Response:
        body = await read_json(request)
        key = body.get("jwtApiKey")
        if not isinstance(key, str) or not hmac.compare_digest(key, vendor.settings.jwt_api_key):
            raise ApiError(401, "UNAUTHORIZED", "invalid jwtApiKey")
        return json_response(issue_token(vendor))

    def render_page(entity: Entity, cond: str, params: list[Any], order: str, size: int, offset: int,
                    keys: KeyRange | None = None) -> tuple[str, int, int | None]:
        """(envelope JSON, rows, smallest id): by the sorted index when `keys` is the whole filter,
        else (or when it declines) by the general SQL."""
        if keys is not None and offset == 0:
            found = entity.keyset_index(firm).page(keys, size, entity.rows_sql(), entity.envelope, entity.sums)
            if found is not None:
                return found
        body, rows, first_id = firm.query(entity.page_sql(cond, order), [*params, size, offset, *params])[0]
        return body, rows, first_id

    async def serve_page(entity: Entity, cond: str, params: list[Any], order: str, size: int, offset: int,
                         keys: KeyRange | None = None) -> Response:
        body, rows, first_id = await vendor.db(render_page, entity, cond, params, order, size, offset, keys)
        if rows and vendor.faults.page_shift():
            await vendor.db(firm.write, lambda con, t: con.execute(
                f"UPDATE {entity.table} SET updated_at = ? WHERE id = ?", [t, first_id]).fetchall())
        await vendor.delay(rows)
        return raw_json(body)

    def lister(entity: Entity) -> Callable[[Request], Awaitable[Response]]:
        async def handler(request: Request) -> Response:
            authorize(request)
            body = await read_json(request)
            size, page = _int(body, "pageSize", 25, 1, 1000), _int(body, "page", 0, 0)
            cond, params, order = _list_filters(entity, body)
            return await serve_page(entity, cond, params, order, size, page * size)
        return handler

    def searcher(entity: Entity) -> Callable[[Request], Awaitable[Response]]:
        async def handler(request: Request) -> Response:
            authorize(request)
            body = await read_json(request)
            if "page" in body or "offset" in body:
                raise ApiError(400, "BAD_REQUEST", "search takes no page or offset: page by keyset in `where`")
            size = _int(body, "pageSize", 1, 1, 1000)
            where = body.get("where")
            cond, params = translate_where(where, entity.fields)
            order = translate_order_by(body.get("orderBy"), entity.fields)
            keys = key_range(where, entity.fields, "updatedAt", "id") if order in _ASCENDING else None
            return await serve_page(entity, cond, params, order, size, 0, keys)
        return handler

    def detail(kind: str, what: str) -> Callable[[Request], Awaitable[Response]]:
        cache = detail_cache(firm, kind)

        async def handler(request: Request) -> Response:
            authorize(request)
            return await vendor.document(cache, request.path_params["id"], what)
        return handler

    api = [
        ("/wip", lister(WIP), "POST"), ("/invoices", lister(INVOICES), "POST"),
        ("/payments", lister(PAYMENTS), "POST"), ("/wips/search", searcher(WIP), "POST"),
        ("/invoices/search", searcher(INVOICES), "POST"), ("/payments/search", searcher(PAYMENTS), "POST"),
        ("/wip/{id:int}", detail("wip", "WIP entry"), "GET"),
        ("/invoice/{id:int}", detail("invoice", "invoice"), "GET"),
        ("/payment/{id:int}", detail("payment", "payment"), "GET"),
    ]
    routes = [Route("/v1/auth/token", token, methods=["POST"])]
    routes += [Route(prefix + path, fn, methods=[method]) for prefix in ("/gql/v1", "/v1") for path, fn, method in api]
    routes += records_routes(vendor)
    return build_app(vendor, routes)

