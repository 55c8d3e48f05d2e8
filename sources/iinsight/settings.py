"""iinsight API constants and table specs (seed 004; iinsight.md; CONTRACT.md "iinsight")."""

from datetime import timedelta

from sources._arrow import (
    Date,
    DayFirstDate,
    Decimal,
    Enum,
    Field,
    Int,
    Json,
    Kind,
    TableSpec,
    Text,
    Timestamp,
)
from sources._config import Setting, with_http
from sources._vendor import Entity

LOGIN_PATH = "/auth/login"
REFRESH_PATH = "/auth/refresh"
INVOICES_PATH = {1: "/api1/invoices", 2: "/api2/invoices"}
BILLED_TO_PATH = "/api1/invoices/billed_to"  # seed 004 §2 (page, limit 1..1000, fields required)
TRANSFER_PATH = "/api1/invoices/transfer"  # seed 004 §3 (PUT, form employer_id + invoice_ids)
TRANSFER_BATCH = 100  # invoice ids per transfer request (the seed names no limit; arwip's own)
BILLED_TO_PAGE_SIZE = 1000
STATUSES = {1: ("active", "voided"), 2: ("active", "voided", "reversed")}
PAGE_SIZE = 100  # fixed by the API; a shorter page is the last
DEFAULT_START_DATE = "2000-01-01"
DEFAULT_LAG = timedelta(minutes=5)
MAX_PASSES = 3  # re-scans when rows changed while paging (page-number paging can skip rows then)

MONEY = Decimal()

SETTINGS = with_http(
    Setting("base_url", doc="regional host, e.g. https://api-usa.iinsightonline.com"),
    Setting("client_id", secret=True, doc="API client (Basic auth on /auth/login)"),
    Setting("client_secret", secret=True, doc="its secret"),
    Setting("username", secret=True, doc="the iinsight user the API acts as"),
    Setting("password", secret=True, doc="its password"),
    Setting("api_version", 1, doc="1 (/api1, DD-MM-YYYY dates) or 2 (/api2, ISO dates, reversed status)"),
    Setting("start_date", DEFAULT_START_DATE, doc="first run's modified_since (ISO date)"),
    Setting("lag_seconds", int(DEFAULT_LAG.total_seconds()), doc="re-read window behind the watermark (s)"),
)
"""``[sources.iinsight]`` keys (``SOURCES__IINSIGHT__<KEY>``); see :mod:`sources._config`."""

INVOICE_ENTITY = Entity("invoices", "/api{api_version}/invoices", "invoice_id", "last_update_utc", money="total",
                        reconcile=True)
"""Invoices (core); ``path`` is formatted with the config (``api_version``). Reconciled: v1 lists only active
and voided invoices, so a reversal just disappears."""


def invoice_specs(api_version: int) -> tuple[TableSpec, TableSpec]:
    """Specs of ``invoices`` and ``invoice_items`` for API version 1 (``DD-MM-YYYY`` dates) or 2 (ISO)."""
    day: Kind = DayFirstDate() if api_version == 1 else Date()
    invoices = TableSpec(
        "invoices",
        ("invoice_id",),
        (
            Field("invoice_id", Text(), required=True),
            Field("company_id", Text()),
            Field("to", Text()),
            Field("to_attention", Text()),
            Field("to_address", Text()),
            Field("to_email", Text()),
            Field("abn", Text()),
            Field("invoice_number", Text()),
            Field("case_number", Text()),
            Field("terms", Text()),
            Field("date_of_invoice", day, required=True),
            Field("due_date", day),
            Field("notes", Text()),
            Field("total_amount_payable", MONEY, required=True),
            Field("client", Text()),
            Field("claim_no", Text()),
            Field("provider_number", Text()),
            Field("assigned_to", Text()),
            Field("start_date", day),
            Field("end_date", day),
            Field("contact_id", Text()),
            Field("sub_total", MONEY),
            Field("total_tax", MONEY),
            Field("total", MONEY, required=True),
            Field("office_department_id", Text()),
            Field("office_department_name", Text()),
            Field("last_update", Text()),  # local time, DD-MM-YYYY hh:mm:ss; last_update_utc is the cursor
            Field("last_update_utc", Timestamp(), required=True),
            Field("status", Enum(frozenset({"ACTIVE", "VOIDED", "REVERSED"})), required=True),
        ),
        ignore=frozenset({"item"}),
        changed_at="last_update_utc",
        newest_wins="last_update_utc",
    )
    items = TableSpec(
        "invoice_items",
        ("invoice_id", "item_no"),
        (
            Field("invoice_id", Text(), required=True),
            Field("item_no", Int(), required=True),
            Field("cost_id", Text()),
            Field("charge_code", Text()),
            Field("employee_id", Text()),
            Field("employee_info", Json()),
            Field("general_ledger_code", Text()),
            Field("general_ledger_description", Text()),
            Field("general_ledger_id", Text()),
            Field("professional", Text()),
            Field("quantity", Decimal(18, 4)),
            Field("rate", MONEY),
            Field("revenue_centre", Text()),
            Field("service_contract", Text()),
            Field("service_date", day),
            Field("service", Text()),
            Field("description", Text()),
            Field("tax_amount", MONEY),
            Field("total", MONEY),
        ),
    )
    return invoices, items
