"""Aiwyn record writes and reads (CONTRACT.md "Aiwyn Records API"; rules pinned in `_records.py`).

`apply_batch` runs one `POST` (upsert), `PUT` (update) or `DELETE` (inactivate) of at most 100 records
inside a `Firm.write`: every record on its own, in order (a second record with the same systemRef sees the
first one's effect), with one lookup and one bulk write per batch. `read_page` serves `GET /records`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb
import msgspec
import pyarrow as pa

from simulators._records import DECODE, ENCODE, RecordsError, RecordTypes, TypeDef, check_value
from simulators.data import Firm

MAX_RECORDS = 100
_DONE = {"POST": "UPDATED", "PUT": "UPDATED", "DELETE": "DELETED"}
"""Operation of a record that existed, by method (POST creates the ones that did not)."""
_COLUMNS = "id, type, system, system_id, attributes, active, created_at, updated_at"
_ARROW = pa.schema([("id", pa.int64()), ("type", pa.string()), ("system", pa.string()), ("system_id", pa.string()),
                    ("attributes", pa.string()), ("active", pa.bool_()), ("created_at", pa.timestamp("us", "UTC")),
                    ("updated_at", pa.timestamp("us", "UTC"))])

Key = tuple[str, str, str]
"""(type, systemRef.system, systemRef.id as text)."""


@dataclass
class _Row:
    id: int
    type: str
    system: str | None
    system_id: str | None
    attributes: dict[str, Any]
    active: bool
    created_at: datetime


def _parse(item: Any, method: str, types: Mapping[str, TypeDef]) -> tuple[TypeDef, Key | None, dict[str, Any]]:
    """One request record → (its type, its key or None, the attributes sent, validated); RecordsError."""
    if not isinstance(item, dict):
        raise RecordsError("VALIDATION_ERROR", "each record must be an object")
    name = item.get("type")
    if not isinstance(name, str):
        raise RecordsError("VALIDATION_ERROR", "type is required", "type")
    tdef = types.get(name)
    if tdef is None or not tdef.active:
        raise RecordsError("UNKNOWN_TYPE", f"unknown record type {name!r}", "type")
    ref, key = item.get("systemRef"), None
    if ref is not None or method != "POST":
        ref_id = ref.get("id") if isinstance(ref, dict) else None
        if (not isinstance(ref, dict) or not isinstance(ref.get("system"), str) or not ref["system"]
                or isinstance(ref_id, bool) or not isinstance(ref_id, str | int) or ref_id == ""):
            raise RecordsError("VALIDATION_ERROR", "systemRef must be {\"system\": <string>, \"id\": <string or "
                               "integer>}", "systemRef")
        key = (name, ref["system"], str(ref_id))
    if method == "DELETE":
        return tdef, key, {}
    raw = item.get("attributes", {})
    if not isinstance(raw, dict):
        raise RecordsError("VALIDATION_ERROR", "attributes must be an object", "attributes")
    attributes = {}
    for field_name, value in raw.items():
        field = tdef.field(field_name)
        if field is None:
            raise RecordsError("VALIDATION_ERROR", f"{name} has no field {field_name!r}", field_name)
        attributes[field_name] = check_value(field, value)
    return tdef, key, attributes


def _complete(tdef: TypeDef, attributes: dict[str, Any]) -> dict[str, Any]:
    """The merged attributes in schema rank order; RecordsError when a required field is missing."""
    ranked = sorted(tdef.fields, key=lambda f: (f["rank"] is None, f["rank"]))
    missing = next((f["name"] for f in ranked if f["required"] and f["name"] not in attributes), None)
    if missing:
        raise RecordsError("VALIDATION_ERROR", f"{missing} is required", missing)
    known = {f["name"]: attributes[f["name"]] for f in ranked if f["name"] in attributes}
    return {**known, **{k: v for k, v in attributes.items() if k not in known}}


def _lookup(con: duckdb.DuckDBPyConnection, keys: set[Key]) -> dict[Key, _Row]:
    """The stored records of `keys` (one semi-join on the systemRef ids, the rest of the key in Python)."""
    if not keys:
        return {}
    rows = con.execute("SELECT id, type, system, system_id, attributes, active, created_at FROM aiwyn_records "
                       "WHERE system_id IN (SELECT unnest(?::VARCHAR[]))", [sorted({k[2] for k in keys})]).fetchall()
    return {(r[1], r[2], r[3]): _Row(r[0], r[1], r[2], r[3], DECODE.decode(r[4]), r[5], r[6])
            for r in rows if (r[1], r[2], r[3]) in keys}


def apply_batch(con: duckdb.DuckDBPyConnection, t: datetime, method: str, items: list[Any],
                failures: Mapping[str, str | None], ids: NextId | None = None) -> list[dict[str, Any]]:
    """Apply `items` (`method` POST / PUT / DELETE) at time `t`; returns the per-record results
    `{"index", "status", "operation", "id", "systemRef", "error"}`. `failures`: systemRef ids to refuse with
    VALIDATION_ERROR (value: the error's field, None → `systemRef`), the simulator's fault knob. `ids`: the firm's
    next record id (None: read from the table)."""
    types = RecordTypes.all(con)
    results: list[dict[str, Any]] = []
    parsed: list[tuple[int, TypeDef, Key | None, dict[str, Any]]] = []
    for index, item in enumerate(items):
        ref = item.get("systemRef") if isinstance(item, dict) else None
        results.append({"index": index, "status": "SUCCESS", "operation": None, "id": None,
                        "systemRef": ref if isinstance(ref, dict) else None, "error": None})
        try:
            tdef, key, attributes = _parse(item, method, types)
            if key is not None and key[2] in failures:
                raise RecordsError("VALIDATION_ERROR", f"record {key[2]} refused (simulated failure)",
                                   failures[key[2]] or "systemRef")
            parsed.append((index, tdef, key, attributes))
        except RecordsError as exc:
            results[index].update(status="FAILED", error=exc.body())
    state = _lookup(con, {key for _, _, key, _ in parsed if key is not None})
    ids = ids or NextId()
    if ids.value is None:
        ids.value = con.execute("SELECT coalesce(max(id), 0) + 1 FROM aiwyn_records").fetchall()[0][0]
    next_id = first_new = ids.value
    changed: dict[int, _Row] = {}
    for index, tdef, key, attributes in parsed:
        row = state.get(key) if key is not None else None
        operation = _DONE[method]
        try:
            if row is None and method != "POST":
                raise RecordsError("RECORD_NOT_FOUND", f"no {tdef.name} record with systemRef {key[1:]}", "systemRef")
            if row is None:
                row = _Row(next_id, tdef.name, key and key[1], key and key[2], _complete(tdef, attributes), True, t)
                next_id, operation = next_id + 1, "CREATED"
            elif method == "DELETE":
                row.active = False
            else:
                row.attributes = _complete(tdef, {**row.attributes, **attributes})
                row.active = row.active or method == "POST"
        except RecordsError as exc:
            results[index].update(status="FAILED", error=exc.body())
            continue
        results[index].update(operation=operation, id=row.id)
        if key is not None:
            state[key] = row
        changed[row.id] = row
    ids.value = next_id
    if changed:
        _store(con, t, list(changed.values()), first_new)
    return results


@dataclass
class NextId:
    """The next record id of a firm, read from the table on first use and kept (writes hold the firm's write lock;
    ids a rolled-back write took are skipped, never reused). One per firm: `firm.memo(..., NextId)`."""

    value: int | None = None


def _store(con: duckdb.DuckDBPyConnection, t: datetime, rows: list[_Row], first_new: int) -> None:
    """Replace the rows `rows` (by id; ids from `first_new` on are new) with their new state, stamped `t`."""
    stored = [r.id for r in rows if r.id < first_new]
    if stored:
        con.execute("DELETE FROM aiwyn_records WHERE id IN (SELECT unnest(?::BIGINT[]))", [stored])
    table = pa.table([[r.id for r in rows], [r.type for r in rows], [r.system for r in rows],
                      [r.system_id for r in rows], [ENCODE.encode(r.attributes).decode() for r in rows],
                      [r.active for r in rows], [r.created_at for r in rows], [t] * len(rows)], schema=_ARROW)
    con.register("_records_batch", table)
    try:
        con.execute(f"INSERT INTO aiwyn_records ({_COLUMNS}) SELECT {_COLUMNS} FROM _records_batch")
    finally:
        con.unregister("_records_batch")


def read_page(firm: Firm, type_name: str, page: int, size: int) -> tuple[list[dict[str, Any]], int]:
    """One page of a type's records by id (inactive ones included, flagged) and the type's record count."""
    rows = firm.query("SELECT id, type, system, system_id, attributes, active, updated_at, count(*) OVER () "
                      "FROM aiwyn_records WHERE type = ? ORDER BY id LIMIT ? OFFSET ?", [type_name, size, page * size])
    total = rows[0][7] if rows else firm.scalar("SELECT count(*) FROM aiwyn_records WHERE type = ?", [type_name])
    return [{"id": r[0], "type": r[1], "systemRef": {"system": r[2], "id": r[3]} if r[2] is not None else None,
             "attributes": msgspec.Raw(r[4].encode()), "active": r[5],
             "updatedAt": r[6].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")} for r in rows], total


def records_truth(firm: Firm) -> pa.Table:
    """Ground truth: every record (columns id, type, system, system_id, attributes (JSON text), active, created_at,
    updated_at), by id; the firm's preloaded `client` records included."""
    RecordTypes(firm)
    return firm.arrow(f"SELECT {_COLUMNS} FROM aiwyn_records ORDER BY id")


def record_types_truth(firm: Firm) -> pa.Table:
    """Ground truth: every custom record type (id, name, display_name, description, active, fields (JSON text),
    created_at, updated_at), by id."""
    RecordTypes(firm)
    return firm.arrow("SELECT * FROM aiwyn_record_types ORDER BY id")
