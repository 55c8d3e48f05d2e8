"""The raw tables the models read: every vendor's tables (:attr:`sources._vendor.Vendor.tables`), its
soft-deletes, entity-status and quarantine tables and the ``*_history`` versions tables, created empty when a
sync has not loaded them yet.
"""

from __future__ import annotations

import dataclasses

import duckdb
import pyarrow as pa

from sources import registry
from sources._arrow import TableSpec
from sources._deletions import DELETIONS
from sources._incremental import QUARANTINE
from sources._vendor import ENTITY_STATUS

LOAD_ID = "_dlt_load_id"
"""dlt's column naming the load of each row (the Arrow tables get it, see :func:`pipelines.warehouse.make_pipeline`)."""


def history_spec(spec: TableSpec) -> TableSpec:
    """The spec of ``spec``'s versions table (``spec.history_table``): the same columns, primary key
    (natural key, change timestamp), as the sources load it.

    Raises:
        ValueError: ``spec`` keeps no history (no ``changed_at``).
    """
    if not spec.history_table or not spec.changed_at:
        raise ValueError(f"table {spec.name} keeps no history")
    return dataclasses.replace(
        spec, name=spec.history_table, primary_key=(*spec.primary_key, spec.changed_at), changed_at=None
    )


def raw_tables() -> tuple[tuple[str, TableSpec], ...]:
    """Every raw table the models read, as (schema, spec): each registered vendor's tables, its
    ``deletions`` (soft deletes, :data:`sources._deletions.DELETIONS`), its ``entity_status`` (whether each
    optional entity was available, :data:`sources._vendor.ENTITY_STATUS`) and its ``quarantine``
    (:data:`sources._incremental.QUARANTINE`, which the data tests read), each table followed by its
    ``<table>_history`` when its spec keeps history. Missing ones are created empty."""
    specs = (DELETIONS, ENTITY_STATUS, QUARANTINE)
    pairs = [(v.name, spec) for v in registry.vendors() for spec in (*v.tables, *specs)]
    return tuple(
        pair
        for schema, spec in pairs
        for pair in ((schema, spec), *(((schema, history_spec(spec)),) if spec.history_table else ()))
    )


def history_tables() -> dict[str, str]:
    """Raw table -> its versions table (``schema.name``), for the raw tables that keep history."""
    return {
        f"{schema}.{spec.name}": f"{schema}.{spec.history_table}" for schema, spec in raw_tables() if spec.history_table
    }


def create_missing_raw_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Create every raw table of :func:`raw_tables` that does not exist, empty, with exactly the columns dlt gives
    it: its spec's (names, types, NOT NULL where the spec's Arrow field is not nullable) and then dlt's
    ``_dlt_load_id``, so a later first load of the table finds every column it brings (dlt would otherwise add
    ``_dlt_load_id`` NOT NULL to an existing table, with a warning).

    A sync may have loaded only some sources; the views need all their inputs. Returns the tables created
    (``schema.name``). Existing tables are left as they are.
    """
    created = []
    for schema, spec in raw_tables():
        exists = con.execute(
            "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
            [schema, spec.name],
        ).fetchall()[0][0]
        if exists:
            continue
        arrow_schema = spec.arrow_schema().append(pa.field(LOAD_ID, pa.string()))
        view = f"_arwip_empty_{schema}_{spec.name}"
        con.register(view, arrow_schema.empty_table())
        try:
            con.execute(f'create schema if not exists "{schema}"')
            con.execute(f'create table "{schema}"."{spec.name}" as select * from "{view}"')
        finally:
            con.unregister(view)
        for field in arrow_schema:
            if not field.nullable:  # the primary key, NOT NULL as dlt declares it
                con.execute(f'alter table "{schema}"."{spec.name}" alter column "{field.name}" set not null')
        created.append(f"{schema}.{spec.name}")
    return created
