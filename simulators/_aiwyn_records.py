"""Aiwyn Records API routes (seed 002 "Records", CONTRACT.md "Aiwyn Records API"), mounted by `aiwyn.py`.

Bearer JWT as for reads; every answer is the envelope `{"data", "error", "meta": {"success", "message",
"timestamp", "version"}}`, errors `{"data": null, "error": {"code", "message", "field"}, "meta"}`.

- `GET /api/v1/records/types` → `data: {"entityTypes": [{name, displayName, isCustom, schemaUrl, recordsUrl}]}`
  (built-in types, then active custom ones).
- `GET /api/v1/records/schema/{type}` → `data: {entityType, fields: [{name, displayName, type, required,
  nullable, referencedEntityType, rank}]}`; unknown → 404 `UNKNOWN_TYPE`.
- `GET /api/v1/records/custom[?includeInactive=true]` → `data: [customType]`; `POST /custom` → 201
  `data: customType` (400 `VALIDATION_ERROR`, 409 `TYPE_EXISTS`); `GET | PUT /custom/{name}` → 200;
  `DELETE /custom/{name}` → 204 (deactivates). Unknown or built-in name → 404 `UNKNOWN_TYPE`.
- `GET /api/v1/records?type=T&page=0..&pageSize=1..1000 (50)` → `data: {records: [{id, type, systemRef,
  attributes, active, updatedAt}], total}`, by id.
- `POST` (upsert) / `PUT` (update) / `DELETE` (inactivate) `/api/v1/records` `{"records": [...]}`: more than
  100 → 400 `TOO_MANY_RECORDS`, nothing applied; else 200 `data: {summary: {total, succeeded, failed},
  records: [{index, status, operation, id, systemRef, error}]}` (`meta.success` true: failures are per
  record); a DELETE where every record succeeded → 204, no body.
- Fault knob: records whose systemRef id is in `SimSettings.aiwyn_record_failures` (`"id"` or `"id:field"`)
  fail with `VALIDATION_ERROR` (field `systemRef` or the one given); `POST /_sim/records/failures
  {"refs": [...]}` replaces the set at run time (admin: no auth, not counted).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from simulators._app import Vendor, bearer_token
from simulators._record_batches import MAX_RECORDS, NextId, apply_batch, read_page
from simulators._records import DECODE, ENCODE, RecordsError, RecordTypes

PREFIX = "/api/v1/records"
Handler = Callable[[Request], Awaitable[Response]]


def _envelope(data: Any, status: int = 200, message: str = "OK", error: dict[str, Any] | None = None) -> Response:
    meta = {"success": error is None, "message": message, "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "version": "v1"}
    return Response(ENCODE.encode({"data": data, "error": error, "meta": meta}), status, media_type="application/json")


def failure_map(refs: Any) -> dict[str, str | None]:
    """`["A-1", "A-2:amount"]` → `{"A-1": None, "A-2": "amount"}` (systemRef id → error field); ValueError."""
    if isinstance(refs, str) or not all(isinstance(r, str) and r for r in refs):
        raise ValueError("refs must be a list of systemRef ids, each optionally followed by :<field>")
    return {r.split(":", 1)[0]: (r.split(":", 1)[1] if ":" in r else None) for r in refs}


async def _body(request: Request) -> dict[str, Any]:
    try:
        body = DECODE.decode(await request.body() or b"{}")
    except msgspec.DecodeError:
        raise RecordsError("BAD_REQUEST", "body is not valid JSON") from None
    if not isinstance(body, dict):
        raise RecordsError("BAD_REQUEST", "body must be a JSON object")
    return body


def _int(request: Request, key: str, default: int, lo: int, hi: int | None = None) -> int:
    raw = request.query_params.get(key)
    if raw is None:
        return default
    if not raw.isdigit() or int(raw) < lo or (hi is not None and int(raw) > hi):
        raise RecordsError("VALIDATION_ERROR", f"{key} must be an integer in [{lo} .. {hi or '∞'}]", key)
    return int(raw)


def records_routes(vendor: Vendor) -> list[Route]:
    """The Records API routes (and the `/_sim/records/failures` admin route) of the Aiwyn app `vendor`."""
    firm = vendor.firm
    failures = failure_map(sorted(vendor.settings.aiwyn_record_failures))

    def endpoint(fn: Handler) -> Handler:
        async def handler(request: Request) -> Response:
            try:
                if not vendor.tokens.valid(bearer_token(request)):
                    raise RecordsError("UNAUTHORIZED", "missing, invalid or expired bearer token", status=401)
                return await fn(request)
            except RecordsError as exc:
                return _envelope(None, exc.status, exc.message, exc.body())
        return handler

    async def types(request: Request) -> Response:
        defs = await vendor.db(lambda: RecordTypes(firm).all(firm))
        base = str(request.base_url).rstrip("/")
        listed = [{"name": t.name, "displayName": t.display_name, "isCustom": t.is_custom, **t.urls(base)}
                  for t in defs.values() if t.active]
        return _envelope({"entityTypes": listed})

    async def schema(request: Request) -> Response:
        tdef = await vendor.db(lambda: RecordTypes(firm).get(request.path_params["type"]))
        return _envelope(tdef.schema())

    async def custom_list(request: Request) -> Response:
        everything = request.query_params.get("includeInactive", "false").lower() == "true"
        defs = await vendor.db(lambda: RecordTypes(firm).all(firm))
        base = str(request.base_url).rstrip("/")
        return _envelope([t.as_json(base) for t in defs.values() if t.is_custom and (t.active or everything)])

    async def custom_create(request: Request) -> Response:
        body = await _body(request)
        created = await vendor.db(lambda: RecordTypes(firm).create(body))
        return _envelope(created.as_json(str(request.base_url).rstrip("/")), 201, "Record type created")

    async def custom_one(request: Request) -> Response:
        name, store = request.path_params["name"], await vendor.db(RecordTypes, firm)
        if request.method == "DELETE":
            await vendor.db(store.update, name, {"active": False})
            return Response(status_code=204)
        if request.method == "PUT":
            tdef = await vendor.db(store.update, name, await _body(request))
        else:
            tdef = await vendor.db(store.custom, name)
        return _envelope(tdef.as_json(str(request.base_url).rstrip("/")))

    async def read(request: Request) -> Response:
        name = request.query_params.get("type")
        if not name:
            raise RecordsError("VALIDATION_ERROR", "type is required", "type")
        page, size = _int(request, "page", 0, 0), _int(request, "pageSize", 50, 1, 1000)
        await vendor.db(lambda: RecordTypes(firm).get(name))
        rows, total = await vendor.db(read_page, firm, name, page, size)
        await vendor.delay(len(rows))
        return _envelope({"records": rows, "total": total})

    async def write(request: Request) -> Response:
        items = (await _body(request)).get("records")
        if not isinstance(items, list):
            raise RecordsError("VALIDATION_ERROR", "body must be {\"records\": [...]}", "records")
        if len(items) > MAX_RECORDS:
            raise RecordsError("TOO_MANY_RECORDS", f"at most {MAX_RECORDS} records a request; got {len(items)}",
                               "records")
        await vendor.db(RecordTypes, firm)
        ids = firm.memo("aiwyn.records.next_id", NextId)
        results = await vendor.db(firm.write, lambda con, t: apply_batch(con, t, request.method, items, failures,
                                                                         ids), False)
        await vendor.delay(len(items))
        failed = sum(r["status"] == "FAILED" for r in results)
        if request.method == "DELETE" and not failed:
            return Response(status_code=204)
        summary = {"total": len(results), "succeeded": len(results) - failed, "failed": failed}
        return _envelope({"summary": summary, "records": results}, message=f"{summary['succeeded']} succeeded, "
                         f"{failed} failed")

    async def set_failures(request: Request) -> Response:
        try:
            refs = failure_map((await _body(request)).get("refs", []))
        except (RecordsError, ValueError) as exc:
            return _envelope(None, 400, str(exc), {"code": "BAD_REQUEST", "message": str(exc), "field": "refs"})
        failures.clear()
        failures.update(refs)
        return _envelope({"failures": failures})

    return [
        Route(f"{PREFIX}/types", endpoint(types), methods=["GET"]),
        Route(f"{PREFIX}/schema/{{type}}", endpoint(schema), methods=["GET"]),
        Route(f"{PREFIX}/custom", endpoint(custom_list), methods=["GET"]),
        Route(f"{PREFIX}/custom", endpoint(custom_create), methods=["POST"]),
        Route(f"{PREFIX}/custom/{{name}}", endpoint(custom_one), methods=["GET", "PUT", "DELETE"]),
        Route(PREFIX, endpoint(read), methods=["GET"]),
        Route(PREFIX, endpoint(write), methods=["POST", "PUT", "DELETE"]),
        Route("/_sim/records/failures", set_failures, methods=["POST"]),
    ]
