"""Aimsio simulator (aimsio.md, seed 003, CONTRACT.md "Aimsio"), under `/rest/api/standard/v1`.

- HTTP Basic on every call (wrong or missing → 401 `{"error": {"code", "message"}}`).
- `GET /NonRecurringBillableItem` → `{"value": [{"dtype": "NonRecurringBillableItem", "guid",
  "updatedAt": epoch ms}]}` (a bare array with `SimSettings.aimsio_bare_array`): every live top-level
  NRB, in creation order, no paging. Children and deleted NRBs are not listed.
- `GET /NonRecurringBillableItem/{guid}` → the full NRB in seed 003's key order, numbers as strings
  (`"1.000"`, total `"862.50"`), epoch-ms timestamps, `nrbLineItems: []`, `nrbChildren` (nested
  NRBs carrying `nrbParentGuid`), then `nrbJobOrderNumber`, `nrbWBSSharedIdentifier`,
  `nrbDocumentType`, `nrbShouldReconcileWithPO`, `nrbParentGuid`, `nrbParentExternalId`. Unknown or
  deleted guid → 404.
- `GET /JobOrder` (stubs `{"dtype": "JobOrder", "guid", "updatedAt"}`) and `GET /JobOrder/{guid}`
  (aimsio.md §6.1, `jobWBSSchedule` nested, lat/long JSON numbers).
- `POST /NRB {"nrbList": [...]}` (at most 100 items, else 400 `TOO_MANY_ITEMS` with nothing applied) →
  `IntegrationImportResult` (seed 003), status 200: match a live NRB by `nrbGuid`, else `nrbExternalId`,
  else `nrbOriginReference` and edit it, otherwise create; a rejected item gives a notice `{"index",
  "level": "ERROR", "field", "message"}`, the others are applied (`_nrb_import.py` pins the rules).
- Limits (`_limiter.py`): 10 starts per second, 10 in flight, queue up to 5 s, then 429 + Retry-After.
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from simulators._app import ApiError, Vendor, basic_credentials, build_app, json_response, raw_json, read_json, same
from simulators._cache import DocCache
from simulators._limiter import Limiter, LimitMiddleware
from simulators._nrb_import import MAX_ITEMS, import_nrbs
from simulators._sqljson import array_of, flat, obj
from simulators.data import Firm
from simulators.settings import SimSettings

PREFIX = "/rest/api/standard/v1"


def _ms(column: str) -> str:
    return f"epoch_ms({column})"


def _nrb_json(a: str, children: str) -> str:
    """SQL text of one NRB (table alias `a`) in seed 003's key order; `children` = JSON array SQL."""
    s = lambda c: f"{a}.{c}"  # noqa: E731
    text = lambda c: f"{a}.{c}::VARCHAR"  # noqa: E731
    return obj(
        [("nrbFileName", s("nrb_file_name")), ("nrbExternalId", s("nrb_external_id")),
         ("nrbAccountType", s("nrb_account_type")), ("nrbCreatedByFullName", s("nrb_created_by_full_name")),
         ("nrbIsBillable", s("nrb_is_billable")), ("nrbQuantity", text("nrb_quantity")),
         ("nrbTypeUname", s("nrb_type_uname")), ("nrbOriginReference", s("nrb_origin_reference"))],
        ("nrbLineItems", "'[]'"),
        [("nrbBilledInName", s("nrb_billed_in_name")), ("nrbMarkupAppliesOn", s("nrb_markup_applies_on")),
         ("nrbVendorGuid", s("nrb_vendor_guid")), ("nrbWBSGuid", s("nrb_wbs_guid")),
         ("nrbInvoiceDate", _ms(s("nrb_invoice_date"))), ("nrbName", s("nrb_name")),
         ("nrbCreatedByUserName", s("nrb_created_by_user_name")), ("nrbVendorTax", text("nrb_vendor_tax")),
         ("nrbPurchaseOrderGuid", s("nrb_purchase_order_guid")),
         ("nrbPurchaseOrderCostItemOriginReference", s("nrb_purchase_order_cost_item_origin_reference")),
         ("nrbPONumber", s("nrb_po_number")), ("nrbGuid", s("nrb_guid")), ("nrbUpcharge", text("nrb_upcharge")),
         ("nrbTotalAfterMarkup", text("nrb_total_after_markup")), ("nrbNotes", s("nrb_notes")),
         ("nrbRate", text("nrb_rate")), ("nrbTypeName", s("nrb_type_name")),
         ("nrbCreatedAt", _ms(s("nrb_created_at"))), ("nrbUpdatedAt", _ms(s("nrb_updated_at"))),
         ("nrbInvoiceNumber", s("nrb_invoice_number")), ("nrbIsExported", s("nrb_is_exported")),
         ("nrbBilledInGuid", s("nrb_billed_in_guid")), ("isInternal", s("is_internal")),
         ("nrbVendorCode", s("nrb_vendor_code")), ("nrbJobOrderNumber", s("nrb_job_order_number")),
         ("nrbWBSSharedIdentifier", s("nrb_wbs_shared_identifier")), ("nrbDocumentType", s("nrb_document_type")),
         ("nrbShouldReconcileWithPO", s("nrb_should_reconcile_with_po")),
         ("nrbParentGuid", s("nrb_parent_guid")), ("nrbParentExternalId", s("nrb_parent_external_id"))],
        ("nrbChildren", children),
    )


_NRB_DETAIL = ("SELECT n.nrb_guid, "
               + _nrb_json("n", array_of(_nrb_json("k", "'[]'"), "aimsio_nrbs k WHERE k.nrb_parent_guid = "
                                         "n.nrb_guid AND NOT k.deleted", "k.seq"))
               + " FROM aimsio_nrbs_live n WHERE {where}")
"""NRB details by `n.nrb_guid` (live NRBs: not deleted, parent not deleted), children nested."""
_NRB_CHANGED = ("SELECT nrb_guid FROM aimsio_nrbs WHERE nrb_updated_at > ? "
                "UNION ALL SELECT nrb_parent_guid FROM aimsio_nrbs WHERE nrb_updated_at > ? "
                "UNION ALL SELECT k.nrb_guid FROM aimsio_nrbs k JOIN aimsio_nrbs p ON p.nrb_guid = k.nrb_parent_guid "
                "WHERE p.nrb_updated_at > ?")
"""NRBs whose detail may change with rows stamped after `?`: the rows, their parents, their children."""
_JOB_DETAIL = "SELECT job_guid, " + obj(
    [(k, f"epoch_ms({c})" if c.endswith(("_date", "_at")) else c) for k, c in (
        ("jobId", "job_id"), ("jobGuid", "job_guid"), ("jobNumber", "job_number"), ("jobName", "job_name"),
        ("jobDescription", "job_description"), ("jobStatus", "job_status"), ("jobTypeUname", "job_type_uname"),
        ("jobClientCode", "job_client_code"), ("jobClientGuid", "job_client_guid"),
        ("jobClientName", "job_client_name"), ("jobPriceBookName", "job_price_book_name"),
        ("jobPriceBookGuid", "job_price_book_guid"), ("jobStartDate", "job_start_date"),
        ("jobEndDate", "job_end_date"), ("jobCreatedAt", "job_created_at"), ("jobUpdatedAt", "job_updated_at"),
        ("jobShowInDispatching", "job_show_in_dispatching"),
        ("jobAssigneeEmployeeNumber", "job_assignee_employee_number"),
        ("jobAssigneeFullName", "job_assignee_full_name"), ("jobAssigneeUserName", "job_assignee_user_name"),
        ("jobAddress", "job_address"), ("jobLocationCode", "job_location_code"),
        ("jobLocationName", "job_location_name"), ("jobLocationLat", "job_location_lat"),
        ("jobLocationLong", "job_location_long"), ("jobDirection", "job_direction"))],
    ("jobWBSSchedule", obj([("jobScheduleGuid", "job_schedule_guid"),
                            ("jobScheduleBudgetEntryOption", "job_schedule_budget_entry_option"),
                            ("jobScheduleContractValueEntryOption", "job_schedule_contract_value_entry_option"),
                            ("jobScheduleChangeSettingOption", "job_schedule_change_setting_option")],
                           ("jobScheduleConversionRules", "'[]'"))),
) + " FROM aimsio_jobs WHERE {where}"


def _stubs_sql(dtype: str, source: str, guid: str, updated: str, order: str, bare: bool) -> str:
    rows = array_of(flat([("dtype", f"'{dtype}'"), ("guid", guid), ("updatedAt", f"epoch_ms({updated})")]),
                    source, order)
    return f"SELECT {rows}, (SELECT count(*) FROM {source})" if bare else \
        f"SELECT '{{\"value\":' || {rows} || '}}', (SELECT count(*) FROM {source})"


def create_app(firm: Firm, settings: SimSettings | None = None) -> Starlette:
    """The Aimsio simulator app over `firm`."""
    vendor = Vendor("aimsio", firm, settings or SimSettings())
    bare = vendor.settings.aimsio_bare_array
    nrb_stubs = _stubs_sql("NonRecurringBillableItem", "aimsio_nrbs_live WHERE nrb_parent_guid IS NULL", "nrb_guid",
                           "nrb_updated_at", "seq", bare)
    job_stubs = _stubs_sql("JobOrder", "aimsio_jobs", "job_guid", "job_updated_at", "job_id", bare)
    nrbs = firm.memo("aimsio.detail:nrb", lambda: DocCache(firm, _NRB_DETAIL, "n.nrb_guid", _NRB_CHANGED))
    jobs = firm.memo("aimsio.detail:job", lambda: DocCache(
        firm, _JOB_DETAIL, "job_guid", "SELECT job_guid FROM aimsio_jobs WHERE job_updated_at > ?"))

    def authorize(request: Request) -> str:
        creds = basic_credentials(request)
        if creds is None or not (same(creds[0], vendor.settings.aimsio_username)
                                 and same(creds[1], vendor.settings.aimsio_password)):
            raise ApiError(401, "UNAUTHORIZED", "invalid username or password",
                           {"WWW-Authenticate": 'Basic realm="Aimsio"'})
        return creds[0]

    def stubs(sql: str) -> Any:
        async def handler(request: Request) -> Response:
            authorize(request)
            body, rows = (await vendor.db(firm.query, sql))[0]
            await vendor.delay(rows)
            return raw_json(body)
        return handler

    def detail(cache: DocCache, what: str) -> Any:
        async def handler(request: Request) -> Response:
            authorize(request)
            return await vendor.document(cache, request.path_params["guid"], what)
        return handler

    async def post_nrbs(request: Request) -> Response:
        user = authorize(request)
        items = (await read_json(request)).get("nrbList")
        if not isinstance(items, list):
            raise ApiError(400, "BAD_REQUEST", "body must be {\"nrbList\": [...]}")
        if len(items) > MAX_ITEMS:
            raise ApiError(400, "TOO_MANY_ITEMS", f"at most {MAX_ITEMS} items in nrbList; got {len(items)}")
        result = await vendor.db(firm.write, lambda con, t: import_nrbs(con, t, items, user), False)  # not sorted
        await vendor.delay(len(items))
        return json_response(result)

    routes = [
        Route(f"{PREFIX}/NonRecurringBillableItem", stubs(nrb_stubs), methods=["GET"]),
        Route(f"{PREFIX}/NonRecurringBillableItem/{{guid}}", detail(nrbs, "NonRecurringBillableItem"),
              methods=["GET"]),
        Route(f"{PREFIX}/JobOrder", stubs(job_stubs), methods=["GET"]),
        Route(f"{PREFIX}/JobOrder/{{guid}}", detail(jobs, "JobOrder"), methods=["GET"]),
        Route(f"{PREFIX}/NRB", post_nrbs, methods=["POST"]),
    ]
    cfg = vendor.settings
    limiter = Limiter(cfg.aimsio_rate_per_s, cfg.aimsio_max_in_flight, cfg.aimsio_max_queue_wait_s, vendor.stats.extra)
    return build_app(vendor, routes, [Middleware(LimitMiddleware, vendor=vendor, limiter=limiter)],
                     optional={"job_orders": (f"{PREFIX}/JobOrder",)})
