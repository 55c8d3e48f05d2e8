"""Aimsio API constants and table specs (seed 003; aimsio.md; CONTRACT.md "Aimsio")."""

from sources._arrow import Bool, Decimal, EpochMillis, Field, Int, Json, TableSpec, Text

PREFIX = "/rest/api/standard/v1"
NRB_IMPORT_PATH = f"{PREFIX}/NRB"  # POST {"nrbList": [...]} (seed 003, CONTRACT.md "Aimsio NRB import")
NRBS_PER_REQUEST = 100
DEFAULT_START_DATE = "2000-01-01"
RATE_PER_S = 10.0  # "limited once calls exceed 10 per second"
MAX_IN_FLIGHT = 10  # "up to 10 parallel calls"

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

# Soft deletes: one row per record that vanished from a stub list (``deleted_at`` null once it is back).
DELETIONS = TableSpec(
    "deletions",
    ("entity", "guid"),
    (
        Field("entity", Text(), required=True),
        Field("guid", Text(), required=True),
        Field("deleted_at", EpochMillis()),
        Field("last_updated_at", EpochMillis()),
    ),
)

ENTITIES = {"nrbs": ("NonRecurringBillableItem", NRBS), "job_orders": ("JobOrder", JOB_ORDERS)}
