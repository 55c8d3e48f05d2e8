"""``arwip push aiwyn-records``: rows as Aiwyn records (seed 002 "Records", CONTRACT.md "Aiwyn Records API"), over
the writer :mod:`sources.aiwyn.records`.

By default the rows are arwip's client summary (the report ``client_summary``: open AR and WIP outstanding per
aging bucket, DSO, as-of date; one record per client name) as the custom record type ``arwip_ar_summary``, which
the push creates when it is missing and extends when the summary gains columns (other buckets configured). With
``--type T --sql FILE --key COLUMN`` any query over the warehouse becomes records of the existing type ``T``.

Every record is matched by ``systemRef = {"system": "arwip", "id": <key>}``: an upsert of the same key updates
the same record, so a resend is harmless (the target is idempotent), and ``--delete-missing`` inactivates only
records of system ``arwip`` that arwip's ledger pushed. Rows are checked against ``/records/schema/{type}``
before anything is sent: a required field that is null, a value of the wrong type (money must be a decimal,
never a float) or a column that is not a field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa

from sources._http import ApiClient
from sources._push import (
    Args,
    Invalid,
    Outcome,
    Payload,
    Prepared,
    PushInput,
    PushOption,
    PushTarget,
    PushUsageError,
    Row,
)
from sources.aiwyn import records, settings
from sources.aiwyn.records import FieldSchema, RecordRef, RecordWrite, SystemRef

SYSTEM = "arwip"
"""systemRef.system of every record arwip writes."""
SUMMARY_TYPE = "arwip_ar_summary"
SUMMARY_REPORT = "client_summary"
SUMMARY_KEY = "client_name"
_OPERATIONS = {"CREATED": "create", "UPDATED": "update", "DELETED": "delete"}
_ACRONYMS = {"ar": "AR", "wip": "WIP", "dso": "DSO", "id": "ID"}


def field_type(column: pa.Field) -> str:
    """The record field type (seed 002) of an Arrow column. Raises :class:`PushUsageError` for one that has none."""
    kind = column.type
    for test, name in ((pa.types.is_boolean, "boolean"), (pa.types.is_integer, "integer"),
                       (pa.types.is_decimal, "decimal"), (pa.types.is_date, "date"),
                       (pa.types.is_timestamp, "datetime"), (pa.types.is_string, "string"),
                       (pa.types.is_large_string, "string")):
        if test(kind):
            return name
    raise PushUsageError(f"column {column.name} is {kind}: no record field type holds it (cast it in the query)")


def display_name(column: str) -> str:
    """``ar_bucket_1_30`` → ``AR bucket 1 30``."""
    words = [_ACRONYMS.get(w, w) for w in column.split("_")]
    return " ".join([words[0][:1].upper() + words[0][1:], *words[1:]])


def attribute(spec: FieldSchema, value: Any) -> Any:
    """``value`` as the JSON value of field ``spec`` (dates ``YYYY-MM-DD``, timestamps RFC 3339 UTC, money an
    exact ``Decimal``). Raises :class:`Invalid` naming the field."""
    if value is None:
        if spec.required or not spec.nullable:
            raise Invalid(f"{spec.name} is required", spec.name)
        return None
    kind, ok = spec.type, False
    if kind == "decimal" and isinstance(value, float):
        raise Invalid(f"{spec.name} is a floating-point number: cast it to decimal in the query", spec.name)
    if kind in ("integer", "reference") and isinstance(value, Decimal) and value == value.to_integral_value():
        value = int(value)
    if kind == "string":
        ok = isinstance(value, str)
    elif kind in ("integer", "reference"):
        ok = (isinstance(value, int) and not isinstance(value, bool)) or (kind == "reference" and isinstance(value, str)
                                                                         and value != "")
    elif kind == "decimal":
        ok = isinstance(value, Decimal | int) and not isinstance(value, bool) and Decimal(value).is_finite()
    elif kind == "boolean":
        ok = isinstance(value, bool)
    elif kind == "date":
        value = value.isoformat() if isinstance(value, date) and not isinstance(value, datetime) else value
        ok = isinstance(value, str) and _parses(date.fromisoformat, value) and len(value) == 10
    elif kind == "datetime":
        if isinstance(value, datetime):
            value = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
            value = value.isoformat().replace("+00:00", "Z")
        ok = isinstance(value, str) and _parses(datetime.fromisoformat, value)
    if not ok:
        raise Invalid(f"{spec.name} must be a {kind}, got {value!r}", spec.name)
    return value


def _parses(parse: Any, text: str) -> bool:
    try:
        parsed = parse(text)
    except ValueError:
        return False
    return not isinstance(parsed, datetime) or parsed.tzinfo is not None


def _payload(fields: Mapping[str, FieldSchema], key: str) -> Any:
    def payload(row: Mapping[str, Any]) -> Payload:
        return {name: attribute(spec, row[name]) for name, spec in fields.items() if name in row}
    return payload


class AiwynRecords(PushTarget):
    """Aiwyn records of one type, upserted by systemRef (see the module docstring)."""

    name = "aiwyn-records"
    vendor = "aiwyn"
    help = (f"Upsert Aiwyn records. By default arwip's summary per client as the custom record type {SUMMARY_TYPE} "
            "(open AR and WIP outstanding per aging bucket, DSO, as-of date; the type is created, and gains new "
            "fields, as needed); with --type T --sql FILE --key COLUMN, any query as records of an existing type.")
    options = (
        PushOption("--type", f"Record type to write (default {SUMMARY_TYPE}: arwip's client summary)."),
        PushOption("--sql", "File holding one query over the warehouse: one record per row, a field per column.",
                   "file"),
        PushOption("--key", "With --sql: the column whose value is the record's systemRef id."),
        PushOption("--delete-missing", "Inactivate the records arwip pushed to this type before that the query no "
                   "longer returns (never records arwip did not create).", "flag"),
    )
    batch_size = settings.RECORDS_PER_REQUEST
    deletes = True

    def input(self, args: Args) -> PushInput:
        if args.get("sql") is None:
            if args.get("type") not in (None, SUMMARY_TYPE) or args.get("key"):
                raise PushUsageError("--type and --key go with --sql FILE (only arwip's summary has a default query)")
            return PushInput(SUMMARY_KEY, report=SUMMARY_REPORT)
        if not args.get("type") or not args.get("key"):
            raise PushUsageError("--sql FILE needs --type T (an existing record type) and --key COLUMN")
        if args["type"] == SUMMARY_TYPE:
            raise PushUsageError(f"{SUMMARY_TYPE} holds arwip's client summary: push a query to another type")
        return PushInput(args["key"], sql=args["sql"])

    def object(self, args: Args) -> str:
        return args.get("type") or SUMMARY_TYPE

    async def prepare(self, client: ApiClient, args: Args, schema: pa.Schema) -> Prepared:
        key = self.input(args).key
        if key not in schema.names:
            raise PushUsageError(f"the input has no key column {key!r} (columns: {', '.join(schema.names)})")
        if args.get("sql") is None:
            return await self._prepare_summary(client, schema, key)
        type_name = args["type"]
        try:
            found = await records.record_schema(client, type_name)
        except records.UnknownRecordType:
            raise PushUsageError(f"Aiwyn has no record type {type_name!r}: create it in Aiwyn first (arwip creates "
                                 f"only its own {SUMMARY_TYPE})") from None
        fields = {f.name: f for f in found.fields}
        unknown = [c for c in schema.names if c not in fields and c != key]
        if unknown:
            raise PushUsageError(f"column(s) {', '.join(unknown)} are not fields of record type {type_name} (its "
                                 f"fields: {', '.join(fields)})")
        missing = [f.name for f in found.fields if f.required and f.name not in schema.names]
        if missing:
            raise PushUsageError(f"the query has no column for the required field(s) {', '.join(missing)} of "
                                 f"record type {type_name}")
        return Prepared(_payload(fields, key))

    async def _prepare_summary(self, client: ApiClient, schema: pa.Schema, key: str) -> Prepared:
        wanted = [FieldSchema(c.name, field_type(c), required=c.name == key, nullable=c.name != key,
                              display_name=display_name(c.name), rank=rank) for rank, c in enumerate(schema)]
        existing = await records.custom_type(client, SUMMARY_TYPE)
        if existing is None:
            async def create(c: ApiClient) -> None:
                await records.create_custom_type(c, SUMMARY_TYPE, wanted, "arwip AR summary",
                                                 "arwip's open AR and WIP outstanding per client (arwip push)")
            note = f"record type {SUMMARY_TYPE} is missing: it would be created with {len(wanted)} fields"
            return Prepared(_payload({f.name: f for f in wanted}, key), [note], create, fresh=True)
        new = [f for f in wanted if f.name not in {g.name for g in existing.fields}]
        fields = {f.name: f for f in (*existing.fields, *new)}
        notes = [f"record type {SUMMARY_TYPE} would gain the field(s) {', '.join(f.name for f in new)}"] if new else []
        if not existing.active:
            notes.append(f"record type {SUMMARY_TYPE} is inactive: it would be reactivated")
        if not notes:
            return Prepared(_payload(fields, key))

        async def update(c: ApiClient) -> None:
            await records.update_custom_type(c, SUMMARY_TYPE, fields=new or None, active=True)
        return Prepared(_payload(fields, key), notes, update)

    async def send(self, client: ApiClient, args: Args, rows: Sequence[Row]) -> list[Outcome]:
        type_name = self.object(args)
        result = await records.upsert_records(client, [RecordWrite(type_name, SystemRef(SYSTEM, key), payload)
                                                       for key, payload in rows])
        return [_outcome(key, r) for (key, _), r in zip(rows, result.results, strict=True)]

    async def delete(self, client: ApiClient, args: Args, keys: Sequence[str]) -> list[Outcome]:
        type_name = self.object(args)
        result = await records.delete_records(client, [RecordRef(type_name, SystemRef(SYSTEM, k)) for k in keys])
        outcomes = [_outcome(key, r) for key, r in zip(keys, result.results, strict=True)]
        return [Outcome(o.key, True, "delete", message="already gone") if o.code == "RECORD_NOT_FOUND" else o
                for o in outcomes]


def _outcome(key: str, result: records.RecordResult) -> Outcome:
    error = result.error
    if result.ok or error is None:
        return Outcome(key, result.ok, _OPERATIONS.get(result.operation or ""))
    return Outcome(key, False, None, error.code, error.field, error.message)


TARGET = AiwynRecords()
