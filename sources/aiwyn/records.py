"""Aiwyn Records API writer (seed 002 "Records", CONTRACT.md "Aiwyn Records API") over the shared
:class:`~sources._http.ApiClient` (the one :func:`sources.aiwyn.client.aiwyn_client` builds: bearer JWT, retries).

Record types and their schemas, custom record types (create, add fields, deactivate), paged record reads, and
batches of at most 100 records to upsert (``POST``), update (``PUT``) or inactivate (``DELETE``) with one typed
result per record. A batch that partly failed is a normal answer, not an exception: the failures are in
:attr:`BatchResult.failures` with the vendor's code, field and message.

Shapes: every answer is ``{"data", "error", "meta"}``; record attributes are sent with exact decimals
(:func:`sources._writes.json_content`) and read back with decimals as their exact text (``"12.50"``).
Errors: :class:`UnknownRecordType` (404), :class:`RecordTypeExists` (409), :class:`~sources._http.SourceError`
for other refusals and malformed answers, :class:`~sources._http.ConfigError` for refused credentials,
``ValueError`` for a batch over :data:`MAX_RECORDS` (never sent).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sources._arrow import parse_instant
from sources._http import ApiClient, SourceError
from sources._writes import check_batch, json_content
from sources.aiwyn import settings

MAX_RECORDS = settings.RECORDS_PER_REQUEST
FIELD_TYPES = ("string", "integer", "decimal", "boolean", "date", "datetime", "reference")


class UnknownRecordType(SourceError):
    """The record type does not exist (or is inactive): the API answered 404 ``UNKNOWN_TYPE``."""


class RecordTypeExists(SourceError):
    """A custom record type of that name exists already (409 ``TYPE_EXISTS``), possibly inactive."""


@dataclass(frozen=True)
class SystemRef:
    """The external key a record is matched by: ``{"system": "arwip", "id": "<key>"}``."""

    system: str
    id: str

    def to_json(self) -> dict[str, str]:
        return {"system": self.system, "id": self.id}

    @classmethod
    def from_json(cls, raw: Any) -> SystemRef | None:
        if not isinstance(raw, dict):
            return None
        return cls(str(raw.get("system")), str(raw.get("id")))


@dataclass(frozen=True)
class FieldSchema:
    """One field of a record type: ``type`` one of :data:`FIELD_TYPES`; ``referenced_entity_type`` names the
    type a ``reference`` field points at; ``rank`` orders fields."""

    name: str
    type: str
    required: bool = False
    nullable: bool = True
    display_name: str | None = None
    description: str | None = None
    referenced_entity_type: str | None = None
    rank: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The field object of ``POST / PUT /custom``."""
        return {"name": self.name, "displayName": self.display_name, "type": self.type, "required": self.required,
                "nullable": self.nullable, "description": self.description,
                "referencedEntityType": self.referenced_entity_type, "rank": self.rank}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> FieldSchema:
        return cls(str(raw["name"]), str(raw["type"]), bool(raw.get("required")), bool(raw.get("nullable", True)),
                   raw.get("displayName"), raw.get("description"), raw.get("referencedEntityType"), raw.get("rank"))


@dataclass(frozen=True)
class RecordType:
    """An entry of ``GET /records/types``."""

    name: str
    display_name: str
    is_custom: bool
    schema_url: str | None
    records_url: str | None


@dataclass(frozen=True)
class RecordSchema:
    """``GET /records/schema/{type}``: the type's fields."""

    entity_type: str
    fields: tuple[FieldSchema, ...]

    def field(self, name: str) -> FieldSchema | None:
        """The field called ``name``, if any."""
        return next((f for f in self.fields if f.name == name), None)


@dataclass(frozen=True)
class CustomRecordType:
    """A custom record type (``/records/custom``); ``active`` False once deactivated."""

    id: int | None
    name: str
    display_name: str | None
    description: str | None
    active: bool
    fields: tuple[FieldSchema, ...]

    @classmethod
    def from_json(cls, raw: Any) -> CustomRecordType:
        if not isinstance(raw, dict) or not isinstance(raw.get("fields"), list):
            raise SourceError(f"aiwyn: a custom record type answer has no fields (keys: {list(raw or {})[:6]})")
        return cls(raw.get("id"), str(raw["name"]), raw.get("displayName"), raw.get("description"),
                   bool(raw.get("active", True)), tuple(FieldSchema.from_json(f) for f in raw["fields"]))


@dataclass(frozen=True)
class Record:
    """A stored record (``GET /records``); decimal attributes are their exact text; ``updated_at`` UTC."""

    id: int
    type: str
    system_ref: SystemRef | None
    attributes: dict[str, Any]
    active: bool
    updated_at: datetime | None


@dataclass(frozen=True)
class RecordRef:
    """Which record a ``DELETE`` inactivates."""

    type: str
    system_ref: SystemRef


@dataclass(frozen=True)
class RecordWrite:
    """One record to upsert or update: attribute values as JSON values, money as ``Decimal``, dates as ``date``,
    timestamps as aware ``datetime`` (UTC). ``system_ref`` None (upsert only) always creates."""

    type: str
    system_ref: SystemRef | None
    attributes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RecordError:
    """The vendor's reason a record failed: ``code`` (``VALIDATION_ERROR``, ``UNKNOWN_TYPE``,
    ``RECORD_NOT_FOUND``, …), ``field`` when one is at fault."""

    code: str
    message: str
    field: str | None = None


@dataclass(frozen=True)
class RecordResult:
    """One record's outcome: ``operation`` ``CREATED | UPDATED | DELETED`` when it succeeded, else ``error``;
    ``id`` is Aiwyn's record id (None on failure, and after a 204 delete, which names none)."""

    index: int
    ok: bool
    operation: str | None
    id: int | None
    system_ref: SystemRef | None
    error: RecordError | None


@dataclass(frozen=True)
class BatchResult:
    """A batch's outcome: the vendor's summary counts and one result per record, in request order."""

    total: int
    succeeded: int
    failed: int
    results: tuple[RecordResult, ...]

    @property
    def failures(self) -> tuple[RecordResult, ...]:
        """The records that failed, with their reasons."""
        return tuple(r for r in self.results if not r.ok)


def _data(body: Any, what: str) -> Any:
    """The ``data`` of an envelope answer; SourceError when there is none or ``error`` is set."""
    if not isinstance(body, dict) or "data" not in body:
        raise SourceError(f"aiwyn: {what} answered without a {{data, error, meta}} envelope")
    if body.get("error"):
        raise SourceError(f"aiwyn: {what} answered an error: {body['error']}")
    return body["data"]


async def record_types(client: ApiClient) -> list[RecordType]:
    """``GET /api/v1/records/types``: every record type the API manages (built-in and active custom ones)."""
    data = _data(await client.request("GET", settings.RECORD_TYPES_PATH), "records/types")
    return [RecordType(str(t["name"]), str(t.get("displayName") or t["name"]), bool(t.get("isCustom")),
                       t.get("schemaUrl"), t.get("recordsUrl")) for t in (data or {}).get("entityTypes", [])]


async def record_schema(client: ApiClient, type_name: str) -> RecordSchema:
    """``GET /api/v1/records/schema/{type}``. Raises :class:`UnknownRecordType` when the type does not exist."""
    body = await client.request("GET", settings.RECORD_SCHEMA_PATH.format(type=type_name))
    if body is None:
        raise UnknownRecordType(f"aiwyn: no record type {type_name!r} (404 UNKNOWN_TYPE)", 404)
    data = _data(body, f"records/schema/{type_name}")
    return RecordSchema(str(data["entityType"]), tuple(FieldSchema.from_json(f) for f in data["fields"]))


async def custom_types(client: ApiClient, include_inactive: bool = False) -> list[CustomRecordType]:
    """``GET /api/v1/records/custom``: the tenant's custom types (deactivated ones too with ``include_inactive``)."""
    params = {"includeInactive": "true"} if include_inactive else None
    data = _data(await client.request("GET", settings.CUSTOM_TYPES_PATH, params=params), "records/custom")
    return [CustomRecordType.from_json(t) for t in data or []]


async def custom_type(client: ApiClient, name: str) -> CustomRecordType | None:
    """``GET /api/v1/records/custom/{name}``, active or not; None when there is no custom type of that name."""
    body = await client.request("GET", f"{settings.CUSTOM_TYPES_PATH}/{name}")
    return None if body is None else CustomRecordType.from_json(_data(body, f"records/custom/{name}"))


async def create_custom_type(client: ApiClient, name: str, fields: Sequence[FieldSchema],
                             display_name: str | None = None, description: str | None = None) -> CustomRecordType:
    """``POST /api/v1/records/custom``: a new custom type (name ``^[a-z][a-z0-9_]{2,62}$``).

    Raises :class:`RecordTypeExists` when the name is taken (an inactive type included: reactivate it with
    :func:`update_custom_type`), :class:`~sources._http.SourceError` (status 400) for an invalid definition.
    """
    payload = {"name": name, "displayName": display_name, "description": description,
               "fields": [f.to_json() for f in fields]}
    try:
        body = await client.request("POST", settings.CUSTOM_TYPES_PATH, **json_content(payload))
    except SourceError as exc:
        if exc.status == 409:
            raise RecordTypeExists(f"aiwyn: record type {name!r} exists already (409 TYPE_EXISTS)", 409) from None
        raise
    return CustomRecordType.from_json(_data(body, "records/custom"))


async def update_custom_type(client: ApiClient, name: str, *, fields: Sequence[FieldSchema] | None = None,
                             display_name: str | None = None, description: str | None = None,
                             active: bool | None = None) -> CustomRecordType:
    """``PUT /api/v1/records/custom/{name}``: change what is given. ``fields`` add new fields or replace the ones
    of the same name (fields are never removed). Raises :class:`UnknownRecordType` for an unknown name."""
    payload: dict[str, Any] = {k: v for k, v in (("displayName", display_name), ("description", description),
                                                 ("active", active)) if v is not None}
    if fields is not None:
        payload["fields"] = [f.to_json() for f in fields]
    body = await client.request("PUT", f"{settings.CUSTOM_TYPES_PATH}/{name}", **json_content(payload))
    if body is None:
        raise UnknownRecordType(f"aiwyn: no custom record type {name!r} (404)", 404)
    return CustomRecordType.from_json(_data(body, f"records/custom/{name}"))


async def deactivate_custom_type(client: ApiClient, name: str) -> None:
    """``DELETE /api/v1/records/custom/{name}`` (204): the type is deactivated, its records kept. Raises
    :class:`UnknownRecordType` when there is no custom type of that name (looked up first: the shared client
    answers both a 204 and a 404 with None)."""
    if await custom_type(client, name) is None:
        raise UnknownRecordType(f"aiwyn: no custom record type {name!r} (404)", 404)
    await client.request("DELETE", f"{settings.CUSTOM_TYPES_PATH}/{name}")


async def iter_records(client: ApiClient, type_name: str,
                       page_size: int = settings.RECORDS_PAGE_SIZE) -> AsyncIterator[list[Record]]:
    """Pages of ``GET /api/v1/records?type=T&page=0..&pageSize=N``, inactive records included, until ``total``
    rows or a short page. Raises :class:`UnknownRecordType` when the type does not exist."""
    page, seen = 0, 0
    while True:
        params = {"type": type_name, "page": page, "pageSize": page_size}
        body = await client.request("GET", settings.RECORDS_PATH, params=params)
        if body is None:
            raise UnknownRecordType(f"aiwyn: no record type {type_name!r} (404 UNKNOWN_TYPE)", 404)
        data = _data(body, "records")
        rows = data.get("records") if isinstance(data, dict) else None
        if not isinstance(rows, list):
            raise SourceError(f"aiwyn: records page {page} of {type_name!r} has no records array")
        if rows:
            yield [_record(r) for r in rows]
        seen += len(rows)
        if len(rows) < page_size or seen >= int(data.get("total") or 0):
            return
        page += 1


def _record(raw: dict[str, Any]) -> Record:
    stamp = raw.get("updatedAt")
    return Record(int(raw["id"]), str(raw["type"]), SystemRef.from_json(raw.get("systemRef")),
                  dict(raw.get("attributes") or {}), bool(raw.get("active", True)),
                  parse_instant(stamp) if isinstance(stamp, str) else None)


async def upsert_records(client: ApiClient, records: Sequence[RecordWrite]) -> BatchResult:
    """``POST /api/v1/records``: create the records not matched by systemRef, update the others (attributes
    merge), reactivating inactive ones. At most :data:`MAX_RECORDS` (else ``ValueError``, nothing sent)."""
    return await _batch(client, "POST", [_write_json(r) for r in records], [r.system_ref for r in records])


async def update_records(client: ApiClient, records: Sequence[RecordWrite]) -> BatchResult:
    """``PUT /api/v1/records``: update existing records only (others fail ``RECORD_NOT_FOUND``); every record needs
    a systemRef (``ValueError``). At most :data:`MAX_RECORDS`."""
    if any(r.system_ref is None for r in records):
        raise ValueError("aiwyn records: an update needs the systemRef of every record")
    return await _batch(client, "PUT", [_write_json(r) for r in records], [r.system_ref for r in records])


async def delete_records(client: ApiClient, refs: Sequence[RecordRef]) -> BatchResult:
    """``DELETE /api/v1/records``: inactivate (soft-delete) records; unknown ones fail ``RECORD_NOT_FOUND``. A
    204 (every record succeeded) gives ``DELETED`` results without ids. At most :data:`MAX_RECORDS`.

    Caveat: the shared client answers a 404 with None as it does a 204, so a base URL without the Records API
    would read as "all deleted"; callers reach the API first (schema, upserts) before they delete.
    """
    payload = [{"type": r.type, "systemRef": r.system_ref.to_json()} for r in refs]
    return await _batch(client, "DELETE", payload, [r.system_ref for r in refs])


def _write_json(record: RecordWrite) -> dict[str, Any]:
    return {"type": record.type, "systemRef": record.system_ref and record.system_ref.to_json(),
            "attributes": dict(record.attributes)}


async def _batch(client: ApiClient, method: str, payload: list[dict[str, Any]],
                 refs: list[SystemRef | None]) -> BatchResult:
    check_batch(payload, MAX_RECORDS, "aiwyn records")
    if not payload:
        return BatchResult(0, 0, 0, ())
    body = await client.request(method, settings.RECORDS_PATH, **json_content({"records": payload}))
    if body is None and method == "DELETE":  # 204: every record succeeded
        results = tuple(RecordResult(i, True, "DELETED", None, ref, None) for i, ref in enumerate(refs))
        return BatchResult(len(results), len(results), 0, results)
    data = _data(body, f"{method} records")
    raw = data.get("records") if isinstance(data, dict) else None
    indexes = [r.get("index") for r in raw if isinstance(r, dict)] if isinstance(raw, list) else []
    if not all(isinstance(i, int) for i in indexes) or sorted(indexes) != list(range(len(payload))):
        raise SourceError(f"aiwyn: {method} records answered results that do not match the {len(payload)} sent")
    results = tuple(_result(r, refs[r["index"]]) for r in sorted(raw, key=lambda r: r["index"]))
    summary = data.get("summary") or {}
    failed = sum(not r.ok for r in results)
    return BatchResult(int(summary.get("total", len(results))), int(summary.get("succeeded", len(results) - failed)),
                       int(summary.get("failed", failed)), results)


def _result(raw: dict[str, Any], sent: SystemRef | None) -> RecordResult:
    status = raw.get("status")
    if status not in ("SUCCESS", "FAILED"):
        raise SourceError(f"aiwyn: record result {raw.get('index')} has status {status!r}")
    error = raw.get("error")
    reason = RecordError(str(error.get("code")), str(error.get("message") or ""), error.get("field")) \
        if isinstance(error, dict) else None
    if status == "FAILED" and reason is None:
        reason = RecordError("UNKNOWN", "the API gave no reason")
    record_id = raw.get("id")
    return RecordResult(int(raw["index"]), status == "SUCCESS", raw.get("operation"),
                        int(record_id) if record_id is not None else None,
                        SystemRef.from_json(raw.get("systemRef")) or sent, reason)
