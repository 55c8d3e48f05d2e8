"""iinsight API constants and table specs (seed 004; iinsight.md; CONTRACT.md "iinsight", "iinsight payments",
"iinsight billings")."""

from dataclasses import dataclass
from datetime import timedelta

from sources._arrow import (
    Bool,
    Date,
    DayFirstDate,
    Decimal,
    Enum,
    EpochSeconds,
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
API_VERSIONS = (1, 2)
BILLINGS_PATH = "/api1/billings"  # v1 only (iinsight.md §7); {"status": true, "data": [...]}, page + limit
BILLINGS_MAX_PAGE_SIZE = 1000
BILLING_IDS_PER_REQUEST = 200  # a `query` of billing ids: ~3 KB of URL, well under common server limits
BILLED_TO_PATH = "/api1/invoices/billed_to"  # seed 004 §2 (page, limit 1..1000, fields required)
TRANSFER_PATH = "/api1/invoices/transfer"  # seed 004 §3 (PUT, form employer_id + invoice_ids)
TRANSFER_BATCH = 100  # invoice ids per transfer request (the seed names no limit; arwip's own)
BILLED_TO_PAGE_SIZE = 1000
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
    Setting("billings_page_size", BILLINGS_MAX_PAGE_SIZE, doc="billings per request (the API allows 1..1000)"),
)
"""``[sources.iinsight]`` keys (``SOURCES__IINSIGHT__<KEY>``); see :mod:`sources._config`."""



@dataclass(frozen=True)
class StatusList:
    """A list endpoint paged by ``modified_since`` and page number, one status at a time (iinsight.md §4, §5):
    ``GET /api<version>/<name>?modified_since=&page=&status=``, rows ordered by ``last_update_utc`` then id.

    ``key``: the rows' id field; ``statuses``: per API version, the statuses listed; ``status_in_rows``: rows
    carry their status (invoices), else (payments) the status is known only from the request and added to each
    row as ``status``; ``satus``: the v1 docs spell the parameter so (v1 invoices): it is sent in both spellings.
    """

    name: str
    key: str
    statuses: dict[int, tuple[str, ...]]
    status_in_rows: bool = True
    satus: bool = False

    def path(self, api_version: int) -> str:
        """``/api1/invoices``, ``/api2/payments``…"""
        return f"/api{api_version}/{self.name}"

    def params(self, api_version: int, status: str) -> dict[str, str]:
        """The status parameter(s) of a page request."""
        return {"status": status, "satus": status} if self.satus and api_version == 1 else {"status": status}


INVOICES = StatusList(
    "invoices", "invoice_id", {1: ("active", "voided"), 2: ("active", "voided", "reversed")}, satus=True
)
PAYMENTS = StatusList(
    "payments", "payment_id", {1: ("active", "voided"), 2: ("active", "voided")}, status_in_rows=False
)

INVOICE_ENTITY = Entity("invoices", "/api{api_version}/invoices", "invoice_id", "last_update_utc", money="total",
                        reconcile=True)
"""Invoices (core); ``path`` is formatted with the config (``api_version``). Reconciled: v1 lists only active
and voided invoices, so a reversal just disappears."""
PAYMENT_ENTITY = Entity(
    "payments",
    "/api{api_version}/payments",
    "payment_id",
    "last_update_utc",
    core=False,  # the API user may lack the permission (CONTRACT.md "Optional endpoints")
    fallback="iinsight open amounts are the vendor's total_amount_payable (open_amount_basis vendor_payable)",
    money="amount",
)
"""Payments (optional): what exact past-date AR of iinsight invoices is computed from."""
BILLING_ENTITY = Entity(
    "billings",
    BILLINGS_PATH,
    "id",
    "time_inserted",  # billings have no change timestamp: their creation is the newest change verify can see
    core=False,
    fallback="iinsight work is left out of WIP outstanding",
    money="total_charge",
)
"""Billings (optional): iinsight's recorded work, billed or not (WIP outstanding)."""
ENTITIES = (INVOICE_ENTITY, PAYMENT_ENTITY, BILLING_ENTITY)


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


def payment_spec(api_version: int) -> TableSpec:
    """Spec of ``payments`` for API version 1 (``DD-MM-YYYY`` transaction dates) or 2 (ISO). ``amount`` is kept
    as the API shows it (v2 negative, v1 either sign); ``status`` comes from the request (rows have none)."""
    day: Kind = DayFirstDate() if api_version == 1 else Date()
    return TableSpec(
        "payments",
        ("payment_id",),
        (
            Field("payment_id", Text(), required=True),
            Field("payment_number", Text()),
            Field("transaction_date", day, required=True),
            Field("amount", MONEY, required=True),
            Field("paid_by", Text()),
            Field("reference_number", Text()),
            Field("card_type", Text()),
            Field("bank", Text()),
            Field("branch", Text()),
            Field("invoice_id", Text()),
            Field("invoice_number", Text()),
            Field("bill_to_id", Text()),
            Field("type", Text()),
            Field("notes", Text()),
            Field("last_update", Text()),  # local time, DD-MM-YYYY hh:mm:ss; last_update_utc is the cursor
            Field("last_update_utc", Timestamp(), required=True),
            Field("status", Enum(frozenset({"ACTIVE", "VOIDED"})), required=True),
        ),
        changed_at="last_update_utc",
        newest_wins="last_update_utc",
    )


BILLINGS = TableSpec(
    "billings",
    ("id",),
    (
        Field("id", Text(), required=True),
        Field("case_id", Text()),
        Field("time_based", Bool()),
        Field("description", Text()),
        Field("estimate_link", Text()),
        Field("employee", Json()),
        Field("team", Json()),
        Field("reference_date", EpochSeconds(), required=True),  # the work day, 12:00 UTC
        Field("start_time", Int()),
        Field("reference_time", EpochSeconds()),
        Field("quantity", Decimal(18, 4), required=True),
        Field("unit_cost", MONEY),
        Field("unit_charge", MONEY, required=True),
        Field("tax_amount", MONEY),
        Field("tax_rate", Decimal(18, 4)),
        Field("total_charge", MONEY),
        Field("charge_code", Text()),
        Field("invoice", Text(), required=True),  # "0" until billed, then the iinsight invoice id
        Field("notes", Text()),
        Field("time_inserted", EpochSeconds()),
    ),
)
"""``billings`` (iinsight.md §7): epoch-second strings become UTC timestamps, money ``DECIMAL(18,2)``."""
