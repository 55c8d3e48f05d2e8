"""Aimsio API constants and table specs (seed 003; aimsio.md; CONTRACT.md "Aimsio")."""

from sources._arrow import Bool, Decimal, EpochMillis, Field, Int, Json, TableSpec, Text
from sources._config import Setting, with_http
from sources._vendor import Entity

PREFIX = "/rest/api/standard/v1"
NRB_IMPORT_PATH = f"{PREFIX}/NRB"  # POST {"nrbList": [...]} (seed 003, CONTRACT.md "Aimsio NRB import")
NRBS_PER_REQUEST = 100
DEFAULT_START_DATE = "2000-01-01"
RATE_PER_S = 10.0  # "limited once calls exceed 10 per second"
MAX_IN_FLIGHT = 10  # "up to 10 parallel calls"

SETTINGS = with_http(
    Setting("base_url", doc="e.g. https://sandbox.aimsio.com"),
    Setting("username", secret=True, doc="integration user (HTTP Basic)"),
    Setting("password", secret=True, doc="its password"),
    Setting("start_date", DEFAULT_START_DATE, doc="first run loads objects updated since this ISO date"),
    Setting("rate_per_s", RATE_PER_S, doc="request starts per second (the API allows 10)"),
    Setting("max_in_flight", MAX_IN_FLIGHT, doc="concurrent requests (the API allows 10)"),
)
"""``[sources.aimsio]`` keys (``SOURCES__AIMSIO__<KEY>``); see :mod:`sources._config`."""

MONEY = Decimal()
QUANTITY = Decimal(18, 3)  # the API sends "1.000", "750.000"

STUBS = TableSpec(
    "stubs",
    ("guid",),
    (
        Field("guid", Text(), required=True),
        Field("dtype", Text()),
        Field("updatedAt", EpochMillis(), required=True),
    ),
)

_NRB_FIELDS = (
    Field("nrbGuid", Text(), required=True),
    Field("nrbExternalId", Text()),
    Field("nrbOriginReference", Text()),
    Field("nrbJobOrderNumber", Text()),
    Field("nrbWBSGuid", Text()),
    Field("nrbWBSSharedIdentifier", Text()),
    Field("nrbPONumber", Text()),
    Field("nrbPurchaseOrderGuid", Text()),
    Field("nrbPurchaseOrderCostItemOriginReference", Text()),
    Field("nrbInvoiceNumber", Text()),
    Field("nrbInvoiceDate", EpochMillis()),
    Field("nrbName", Text()),
    Field("nrbTypeUname", Text()),
    Field("nrbTypeName", Text()),
    Field("nrbDocumentType", Text()),
    Field("nrbAccountType", Text()),
    Field("nrbIsBillable", Bool()),
    Field("nrbVendorGuid", Text()),
    Field("nrbVendorCode", Text()),
    Field("nrbRate", QUANTITY),
    Field("nrbQuantity", QUANTITY),
    Field("nrbVendorTax", QUANTITY),
    Field("nrbUpcharge", QUANTITY),
    Field("nrbMarkupAppliesOn", Text()),
    Field("nrbTotalAfterMarkup", MONEY, required=True),
    Field("nrbIsExported", Bool()),
    Field("isInternal", Bool()),
    Field("nrbShouldReconcileWithPO", Bool()),
    Field("nrbBilledInGuid", Text()),
    Field("nrbBilledInName", Text()),
    Field("nrbFileName", Text()),
    Field("nrbNotes", Text()),
    Field("nrbCreatedAt", EpochMillis(), required=True),
    Field("nrbCreatedByUserName", Text()),
    Field("nrbCreatedByFullName", Text()),
    Field("nrbUpdatedAt", EpochMillis(), required=True),
    Field("nrbLineItems", Json()),
    Field("nrbParentGuid", Text()),
    Field("nrbParentExternalId", Text()),
)

NRBS = TableSpec(
    "nrbs",
    ("nrb_guid",),
    _NRB_FIELDS,
    ignore=frozenset({"nrbChildren"}),
    changed_at="nrb_updated_at",
    newest_wins="nrb_updated_at",
)
# Children of an AP-invoice NRB (``nrbChildren``), replaced per parent.
NRB_CHILDREN = TableSpec("nrb_children", ("nrb_guid",), _NRB_FIELDS, ignore=frozenset({"nrbChildren"}))

JOB_ORDERS = TableSpec(
    "job_orders",
    ("job_guid",),
    (
        Field("jobGuid", Text(), required=True),
        Field("jobId", Int()),
        Field("jobNumber", Text()),
        Field("jobName", Text()),
        Field("jobDescription", Text()),
        Field("jobStatus", Text()),
        Field("jobTypeUname", Text()),
        Field("jobClientCode", Text()),
        Field("jobClientGuid", Text()),
        Field("jobClientName", Text()),
        Field("jobPriceBookName", Text()),
        Field("jobStartDate", EpochMillis()),
        Field("jobEndDate", EpochMillis()),
        Field("jobCreatedAt", EpochMillis()),
        Field("jobUpdatedAt", EpochMillis(), required=True),
        Field("jobWBSSchedule", Json()),
    ),
    newest_wins="job_updated_at",
)

NRB_ENTITY = Entity("nrbs", f"{PREFIX}/NonRecurringBillableItem", "nrb_guid", "nrb_updated_at")
JOB_ORDER_ENTITY = Entity(
    "job_orders",
    f"{PREFIX}/JobOrder",
    "job_guid",
    "job_updated_at",
    core=False,  # GET-all JobOrder is only inferred from the docs (aimsio.md §6), and needs its own permission
    fallback="NRB client names fall back to the job number",
)
ENTITIES: dict[str, tuple[Entity, TableSpec]] = {
    "nrbs": (NRB_ENTITY, NRBS),
    "job_orders": (JOB_ORDER_ENTITY, JOB_ORDERS),
}
"""Entity name -> (the entity, its table spec); NRBs are core, job orders only enrich."""
