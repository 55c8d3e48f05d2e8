"""Aiwyn API constants and table specs (CONTRACT.md "Aiwyn"; seeds 000 WIP and 001 invoices)."""

from datetime import timedelta

from sources._arrow import Bool, Decimal, Enum, Field, Int, TableSpec, Text, Timestamp
from sources._config import Setting, with_http

TOKEN_PATH = "/v1/auth/token"
SEARCH_PATHS = {
    "wip": "/gql/v1/wips/search",
    "invoices": "/gql/v1/invoices/search",
    "payments": "/gql/v1/payments/search",
}
INVOICE_DETAIL_PATH = "/gql/v1/invoice/{id}"
EVENT_ENTITIES = {"wip": "wip", "invoice": "invoices", "payment": "payments"}
"""Webhook entity type (CONTRACT.md "Aiwyn event subscriptions") -> the entity (resource) it changes."""
RECORDS_PATH = "/api/v1/records"  # Records API (seed 002, CONTRACT.md "Aiwyn Records API")
RECORD_TYPES_PATH = "/api/v1/records/types"
RECORD_SCHEMA_PATH = "/api/v1/records/schema/{type}"
CUSTOM_TYPES_PATH = "/api/v1/records/custom"
RECORDS_PER_REQUEST = 100  # more → 400 TOO_MANY_RECORDS
RECORDS_PAGE_SIZE = 1000  # the records list's maximum pageSize
PAGE_SIZE = 1000  # the search endpoints' maximum
DEFAULT_START_DATE = "2000-01-01"
DEFAULT_LAG = timedelta(minutes=5)

MONEY = Decimal()

SETTINGS = with_http(
    Setting("base_url", doc="API host, e.g. https://demo.api.aiwyn.ai"),
    Setting("jwt_api_key", secret=True, doc="API key exchanged at /v1/auth/token for a 1-hour JWT"),
    Setting("start_date", DEFAULT_START_DATE, doc="first run reads changes since this ISO date"),
    Setting("lag_seconds", int(DEFAULT_LAG.total_seconds()), doc="re-read window behind the watermark (s)"),
    Setting("page_size", PAGE_SIZE, doc="rows per search request (1..1000)"),
    Setting("webhook_secret", (), secret=True, doc="webhook signing secret(s) whsec_..., a list while rotating"),
)
"""``[sources.aiwyn]`` keys (``SOURCES__AIWYN__<KEY>``); see :mod:`sources._config`."""

WIP = TableSpec(
    "wip",
    ("id",),
    (
        Field("id", Int(), required=True),
        Field("clientId", Int()),
        Field("clientName", Text()),
        Field("jobId", Int()),
        Field("jobName", Text()),
        Field("staffId", Int()),
        Field("staffName", Text()),
        Field("type", Enum(frozenset({"TIME", "EXPENSE", "FIXED_FEE", "DISBURSEMENT"}))),
        Field("loggedDate", Timestamp(), required=True),
        Field("hours", Decimal(18, 4)),
        Field("rate", MONEY),
        Field("value", MONEY, required=True),
        Field("billedAmount", MONEY),
        Field("writeOffAmount", MONEY),
        Field("outstandingAmount", MONEY),
        Field("approved", Bool()),
        Field("notes", Text()),
        Field("createdAt", Timestamp()),
        Field("updatedAt", Timestamp(), required=True),
    ),
    changed_at="updated_at",
    newest_wins="updated_at",
)

INVOICE_STATUSES = frozenset({"PENDING", "POSTED", "PAID", "OVERDUE", "CANCELLED", "DRAFT"})

INVOICES = TableSpec(
    "invoices",
    ("id",),
    (
        Field("id", Int(), required=True),
        Field("invoiceNumber", Text()),
        Field("clientId", Int()),
        Field("clientName", Text()),
        Field("jobId", Int()),
        Field("status", Enum(INVOICE_STATUSES), required=True),
        Field("invoiceDate", Timestamp(), required=True),
        Field("dueDate", Timestamp()),
        Field("subtotal", MONEY),
        Field("taxAmount", MONEY),
        Field("interestAmount", MONEY),
        Field("totalAmount", MONEY, required=True),
        Field("paidAmount", MONEY),
        Field("outstandingAmount", MONEY),
        Field("currency", Text()),
        Field("description", Text()),
        Field("createdAt", Timestamp()),
        Field("updatedAt", Timestamp(), required=True),
    ),
    changed_at="updated_at",
    newest_wins="updated_at",
)

# Line items come from the invoice detail (seed 001 "Get invoice by ID"), one row per lineItems[] entry.
INVOICE_LINE_ITEMS = TableSpec(
    "invoice_line_items",
    ("invoice_id", "id"),
    (
        Field("invoice_id", Int(), required=True),
        Field("id", Int(), required=True),
        Field("description", Text()),
        Field("quantity", Decimal(18, 4)),
        Field("unitPrice", MONEY),
        Field("amount", MONEY, required=True),
        Field("taxRate", Decimal(9, 4)),
    ),
)

PAYMENTS = TableSpec(
    "payments",
    ("id",),
    (
        Field("id", Int(), required=True),
        Field("invoiceId", Int()),
        Field("clientId", Int()),
        Field("amount", MONEY, required=True),
        Field("currency", Text()),
        Field("paymentMethod", Text()),
        Field("status", Text()),
        Field("paymentDate", Timestamp(), required=True),
        Field("createdAt", Timestamp()),
        Field("updatedAt", Timestamp(), required=True),
    ),
    newest_wins="updated_at",
)
