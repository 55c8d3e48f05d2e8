"""The Aiwyn Records store (seed 002 "Records", CONTRACT.md "Aiwyn Records API"): record types and their
schemas, custom record types, and records with their per-record validation, held in the firm's DuckDB.

Tables (created on first use, through `Firm.write`):
- `aiwyn_record_types`: custom types: id, name, display_name, description, active, fields (JSON text of
  the field list), created_at, updated_at. Built-in types live in `BUILTIN_TYPES` (code, not data).
- `aiwyn_records`: id, type, system, system_id (systemRef; NULL when the record has none), attributes (JSON
  text, keys in schema rank order, decimals as exact JSON numbers), active, created_at, updated_at.
  The firm's clients are preloaded as `client` records with systemRef `{"system": "aiwyn", "id": "<id>"}`
  (records no integration created).

Pinned where the docs are silent:
- A record is matched by (type, systemRef.system, systemRef.id); `id` is compared as text. POST with a
  null systemRef always creates (that record can never be matched again).
- Attributes merge: the ones sent overwrite, the others stay. Required fields are checked on the merged
  record, types on each value sent: `string` a JSON string; `integer` a JSON integer; `decimal` a JSON
  number or a string holding a finite decimal (stored exactly); `boolean`; `date` `YYYY-MM-DD`;
  `datetime` ISO 8601 with `Z` or an offset; `reference` the id (integer or string) of a record of
  `referencedEntityType` (existence not checked). null only where `nullable`. Unknown attribute → error.
- The first problem of a record is its error (type, systemRef, attributes in the order sent, then missing
  required fields in rank order).
- POST reactivates an inactive record; PUT updates it and leaves it inactive; DELETE of an inactive record
  succeeds again (idempotent).
- A custom type name matches `^[a-z][a-z0-9_]{2,62}$` and is taken by any type, built-in or custom, active
  or not. PUT merges `fields` by name (new names are added, given names replaced; none removed). An
  inactive type is unknown to `/types`, `/schema`, record reads and writes (`UNKNOWN_TYPE`), but still
  shown by `GET /custom/{name}` and `GET /custom?includeInactive=true`; `PUT {"active": true}` restores it.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import duckdb
import msgspec

from simulators.data import Firm

FIELD_TYPES = ("string", "integer", "decimal", "boolean", "date", "datetime", "reference")
TYPE_NAME = re.compile(r"^[a-z][a-z0-9_]{2,62}$")
FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,62}$")
DECODE = msgspec.json.Decoder(float_hook=Decimal)
"""JSON → Python with every non-integer number as an exact `Decimal`."""
ENCODE = msgspec.json.Encoder(decimal_format="number")
"""Python → JSON with `Decimal`s written as exact JSON numbers."""


class RecordsError(Exception):
    """A refused call or record: HTTP status (for whole-request errors), code, message and field."""

    def __init__(self, code: str, message: str, field: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.field, self.status = code, message, field, status

    def body(self) -> dict[str, Any]:
        """`{"code", "message", "field"}`."""
        return {"code": self.code, "message": self.message, "field": self.field}


Field = dict[str, Any]
"""A field as the API shows it: name, displayName, type, required, nullable, description, referencedEntityType,
rank (every key present)."""


@dataclass(frozen=True)
class TypeDef:
    """A record type: built-in (`id` None) or custom."""

    name: str
    display_name: str
    fields: tuple[Field, ...]
    is_custom: bool = False
    id: int | None = None
    description: str | None = None
    active: bool = True

    def field(self, name: str) -> Field | None:
        """The field called `name`, if any."""
        return self._by_name.get(name)

    @functools.cached_property
    def _by_name(self) -> dict[str, Field]:
        return {f["name"]: f for f in self.fields}

    def schema(self) -> dict[str, Any]:
        """`GET /schema/{type}`'s data: the fields without `description`."""
        return {"entityType": self.name,
                "fields": [{k: v for k, v in f.items() if k != "description"} for f in self.fields]}

    def urls(self, base: str) -> dict[str, str]:
        """`schemaUrl` and `recordsUrl` under `base` (scheme and host of the request)."""
        return {"schemaUrl": f"{base}/api/v1/records/schema/{self.name}",
                "recordsUrl": f"{base}/api/v1/records?type={self.name}"}

    def as_json(self, base: str) -> dict[str, Any]:
        """The custom-type object of seed 002 (`POST/GET/PUT /custom...`)."""
        return {"id": self.id, "name": self.name, "displayName": self.display_name, "description": self.description,
                "isCustom": self.is_custom, "active": self.active, "fields": list(self.fields),
                **self.urls(base)}


def _field(name: str, kind: str, required: bool, nullable: bool, display: str | None, description: str | None,
           referenced: str | None, rank: int) -> Field:
    return {"name": name, "displayName": display or name, "type": kind, "required": required, "nullable": nullable,
            "description": description, "referencedEntityType": referenced, "rank": rank}


def _builtin(name: str, spec: str) -> TypeDef:
    """`"name!:string clientId:reference>client …"` (`!` = required, not nullable) → a built-in type."""
    fields = []
    for rank, item in enumerate(spec.split()):
        key, kind = item.split(":")
        kind, _, ref = kind.partition(">")
        required = key.endswith("!")
        key = key.rstrip("!")
        words = re.sub(r"(?<!^)(?=[A-Z])", " ", key)
        display = words[0].upper() + words[1:]
        fields.append(_field(key, kind, required, not required, display, None, ref or None, rank))
    return TypeDef(name, name.replace("_", " ").title(), tuple(fields))


BUILTIN_TYPES = {t.name: t for t in (
    _builtin("client", "name!:string clientRef:string email:string industryId:reference>industry "
                       "partnerStaffId:reference>staff creditLimit:decimal onboardedOn:date"),
    _builtin("contact", "firstName!:string lastName!:string email:string phone:string clientId:reference>client"),
    _builtin("department", "name!:string code:string"),
    _builtin("industry", "name!:string code:string"),
    _builtin("office", "name!:string city:string country:string"),
    _builtin("service_line", "name!:string code:string"),
    _builtin("staff", "firstName!:string lastName!:string email:string departmentId:reference>department "
                      "hourlyRate:decimal isPartner:boolean hiredAt:datetime"),
)}
"""Built-in record types (seed 002's Records tags: client, contact, department, industry, office, service line,
staff), with schemas pinned here."""


def check_value(f: Field, value: Any) -> Any:
    """`value` of field `f`, validated and normalised (decimal strings → `Decimal`); RecordsError otherwise."""
    if value is None:
        if not f["nullable"]:
            raise RecordsError("VALIDATION_ERROR", f"{f['name']} must not be null", f["name"])
        return None
    kind, ok = f["type"], False
    if kind == "string":
        ok = isinstance(value, str)
    elif kind in ("integer", "reference") and isinstance(value, int) and not isinstance(value, bool):
        ok = True
    elif kind == "reference":
        ok = isinstance(value, str) and value != ""
    elif kind == "decimal" and isinstance(value, Decimal | int | str) and not isinstance(value, bool):
        try:
            value = Decimal(value) if isinstance(value, str) else value
            ok = not isinstance(value, Decimal) or value.is_finite()
        except InvalidOperation:
            ok = False
    elif kind == "boolean":
        ok = isinstance(value, bool)
    elif kind == "date" and isinstance(value, str):
        ok = _parses(date.fromisoformat, value) and len(value) == 10
    elif kind == "datetime" and isinstance(value, str):
        ok = _parses(datetime.fromisoformat, value) and datetime.fromisoformat(value).tzinfo is not None
    if not ok:
        raise RecordsError("VALIDATION_ERROR", f"{f['name']} must be a {kind}, got {value!r}", f["name"])
    return value


def _parses(parse: Any, value: str) -> bool:
    try:
        parse(value)
    except ValueError:
        return False
    return True


def parse_fields(raw: Any, known_types: set[str], given: str = "fields") -> list[Field]:
    """A custom type's `fields` list → field definitions (rank defaults to the position); RecordsError (400
    VALIDATION_ERROR naming the field) on anything malformed."""
    if not isinstance(raw, list):
        raise RecordsError("VALIDATION_ERROR", f"{given} must be an array of field objects", given)
    out: list[Field] = []
    for i, item in enumerate(raw):
        where = f"{given}[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not FIELD_NAME.match(item["name"]):
            raise RecordsError("VALIDATION_ERROR", f"{where}.name must match {FIELD_NAME.pattern}", f"{where}.name")
        if item.get("type") not in FIELD_TYPES:
            raise RecordsError("VALIDATION_ERROR", f"{where}.type must be one of {', '.join(FIELD_TYPES)}",
                               f"{where}.type")
        ref = item.get("referencedEntityType")
        if (item["type"] == "reference") != (ref is not None) or (ref is not None and ref not in known_types):
            raise RecordsError("VALIDATION_ERROR", f"{where}.referencedEntityType must name a known record type "
                               "for (and only for) a reference field", f"{where}.referencedEntityType")
        flags = {k: item.get(k, d) for k, d in (("required", False), ("nullable", True))}
        rank = item.get("rank", i)
        texts = {k: item.get(k) for k in ("displayName", "description")}
        if (any(not isinstance(v, bool) for v in flags.values()) or not isinstance(rank, int | None)
                or any(not isinstance(v, str | None) for v in texts.values())):
            raise RecordsError("VALIDATION_ERROR", f"{where}: required/nullable are booleans, rank an integer, "
                               "displayName/description strings", where)
        out.append(_field(item["name"], item["type"], flags["required"], flags["nullable"], texts["displayName"],
                            texts["description"], ref, i if rank is None else rank))
    names = [f["name"] for f in out]
    if len(set(names)) != len(names):
        raise RecordsError("VALIDATION_ERROR", f"{given} has duplicate names", given)
    return out


def _fields_json(fields: tuple[Field, ...] | list[Field]) -> str:
    return ENCODE.encode(list(fields)).decode()


def _type_from_row(row: tuple[Any, ...]) -> TypeDef:
    type_id, name, display, description, active, fields_json = row
    fields = tuple(DECODE.decode(fields_json))
    return TypeDef(name, display, fields, True, type_id, description, active)


_DDL = """
CREATE TABLE IF NOT EXISTS aiwyn_record_types (id BIGINT, name VARCHAR, display_name VARCHAR, description VARCHAR,
    active BOOLEAN, fields VARCHAR, created_at TIMESTAMPTZ, updated_at TIMESTAMPTZ);
CREATE TABLE IF NOT EXISTS aiwyn_records (id BIGINT, type VARCHAR, system VARCHAR, system_id VARCHAR,
    attributes VARCHAR, active BOOLEAN, created_at TIMESTAMPTZ, updated_at TIMESTAMPTZ);
"""
_TYPE_COLUMNS = "id, name, display_name, description, active, fields"


class RecordTypes:
    """Record types of one firm: the built-ins plus the custom ones in `aiwyn_record_types`."""

    def __init__(self, firm: Firm) -> None:
        self.firm = firm
        firm.memo("aiwyn.records", lambda: firm.write(_create, reorder=False))

    @staticmethod
    def all(con: duckdb.DuckDBPyConnection | Firm) -> dict[str, TypeDef]:
        """Every type by name, custom ones inactive too (`con`: a write's connection, or the firm to read)."""
        rows = con.query(f"SELECT {_TYPE_COLUMNS} FROM aiwyn_record_types ORDER BY id") if isinstance(con, Firm) \
            else con.execute(f"SELECT {_TYPE_COLUMNS} FROM aiwyn_record_types ORDER BY id").fetchall()
        return {**BUILTIN_TYPES, **{t.name: t for t in map(_type_from_row, rows)}}

    def get(self, name: str, include_inactive: bool = False) -> TypeDef:
        """The type `name`; RecordsError 404 UNKNOWN_TYPE when there is none (or it is inactive)."""
        found = self.all(self.firm).get(name)
        if found is None or not (found.active or include_inactive):
            raise RecordsError("UNKNOWN_TYPE", f"unknown record type {name!r}", "type", 404)
        return found

    def custom(self, name: str) -> TypeDef:
        """The custom type `name`, active or not; 404 UNKNOWN_TYPE for a built-in or unknown name."""
        found = self.get(name, include_inactive=True)
        if not found.is_custom:
            raise RecordsError("UNKNOWN_TYPE", f"{name!r} is not a custom record type", "name", 404)
        return found

    def create(self, body: dict[str, Any]) -> TypeDef:
        """`POST /custom` body → the new type; 400 VALIDATION_ERROR, 409 TYPE_EXISTS."""
        name = body.get("name")
        if not isinstance(name, str) or not TYPE_NAME.match(name):
            raise RecordsError("VALIDATION_ERROR", f"name must match {TYPE_NAME.pattern}", "name")
        for key in ("displayName", "description"):
            if not isinstance(body.get(key), str | None):
                raise RecordsError("VALIDATION_ERROR", f"{key} must be a string or null", key)

        def change(con: duckdb.DuckDBPyConnection, t: datetime) -> TypeDef:
            types = self.all(con)
            if name in types:
                raise RecordsError("TYPE_EXISTS", f"record type {name!r} already exists", "name", 409)
            fields = parse_fields(body.get("fields"), {*types, name})
            new_id = con.execute("SELECT coalesce(max(id), 0) + 1 FROM aiwyn_record_types").fetchall()[0][0]
            created = TypeDef(name, body.get("displayName") or name, tuple(fields), True, new_id,
                              body.get("description"))
            con.execute("INSERT INTO aiwyn_record_types VALUES (?, ?, ?, ?, true, ?, ?, ?)",
                        [new_id, name, created.display_name, created.description, _fields_json(fields), t, t])
            return created

        return self.firm.write(change, reorder=False)

    def update(self, name: str, body: dict[str, Any]) -> TypeDef:
        """`PUT /custom/{name}`: the fields given change (fields merged by name); 400, 404 UNKNOWN_TYPE."""
        current = self.custom(name)
        changes: dict[str, Any] = {}
        for key, attr in (("displayName", "display_name"), ("description", "description")):
            if body.get(key) is not None:
                if not isinstance(body[key], str):
                    raise RecordsError("VALIDATION_ERROR", f"{key} must be a string", key)
                changes[attr] = body[key]
        if body.get("active") is not None:
            if not isinstance(body["active"], bool):
                raise RecordsError("VALIDATION_ERROR", "active must be a boolean", "active")
            changes["active"] = body["active"]

        def change(con: duckdb.DuckDBPyConnection, t: datetime) -> TypeDef:
            if body.get("fields") is not None:
                given = {f["name"]: f for f in parse_fields(body["fields"], set(self.all(con)))}
                kept = [given.pop(f["name"], f) for f in current.fields]
                changes["fields"] = (*kept, *given.values())
            updated = replace(current, **changes)
            con.execute("UPDATE aiwyn_record_types SET display_name = ?, description = ?, active = ?, fields = ?, "
                        "updated_at = ? WHERE name = ?", [updated.display_name, updated.description, updated.active,
                                                           _fields_json(updated.fields), t, name])
            return updated

        return self.firm.write(change, reorder=False)


def _create(con: duckdb.DuckDBPyConnection, t: datetime) -> None:
    """The records tables, and the firm's clients as `client` records (what other systems created)."""
    con.execute(_DDL)
    con.execute("INSERT INTO aiwyn_records SELECT row_number() OVER (ORDER BY client_id), 'client', 'aiwyn', "
                "client_id::VARCHAR, json_object('name', name, 'clientRef', client_code, 'email', email)::VARCHAR, "
                "true, ?, ? FROM clients", [t, t])
