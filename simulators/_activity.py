"""One burst of activity on a firm (see `Firm.activity`): new, edited, paid, voided and deleted rows.

Runs inside `Firm.write`: every touched row gets the burst's timestamp `t`; aggregates stay
consistent (Aiwyn paid/outstanding/status follow payments, an active iinsight invoice's payable = total −
its active payments, invoices made of billings total those billings, WIP outstanding = value − billed −
write-off, NRB totals follow seed 003's formula). Only unbilled iinsight billings are deleted.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pyarrow as pa

from simulators._arrays import dec, uuids
from simulators._gen import STAFF_ID0, gen_invoices, gen_payments, gen_wip
from simulators._gen_aimsio import NRB_SCHEMA, gen_nrbs, nrb_total
from simulators._gen_iinsight import (
    CHARGE_CODES,
    Lines,
    billing_table,
    gen_iinsight,
    invoices_for_lines,
    payment_table,
    random_lines,
)

if TYPE_CHECKING:
    from simulators.data import Firm

Counts = dict[str, dict[str, int]]


def _n(fraction: float, total: int, part: float = 1.0) -> int:
    """At least one row, else about `fraction × part` of `total`."""
    return max(1, round(fraction * part * total))


def _pick(rng: np.random.Generator, rows: list[tuple[Any, ...]], k: int) -> list[tuple[Any, ...]]:
    """`k` rows (or all) chosen at random, in their original order."""
    if len(rows) <= k:
        return rows
    return [rows[i] for i in sorted(rng.choice(len(rows), k, replace=False).tolist())]


def _insert(con: duckdb.DuckDBPyConnection, table: str, rows: pa.Table) -> None:
    con.register("_new", rows)
    con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _new")
    con.unregister("_new")


def _update_from(con: duckdb.DuckDBPyConnection, sql: str, rows: pa.Table) -> None:
    """Run an `UPDATE … FROM _chg` with `rows` registered as `_chg`."""
    con.register("_chg", rows)
    con.execute(sql)
    con.unregister("_chg")


def _next(con: duckdb.DuckDBPyConnection, table: str, column: str) -> int:
    return int(con.execute(f"SELECT coalesce(max({column}), 0) + 1 FROM {table}").fetchall()[0][0])


def _wip(firm: Firm, con: duckdb.DuckDBPyConnection, rng: np.random.Generator, ts: int, f: float) -> dict[str, int]:
    total = con.execute("SELECT count(*) FROM aiwyn_wip").fetchall()[0][0]
    rows = _pick(rng, con.execute(
        "SELECT id, CAST(value * 100 AS BIGINT), CAST(billed_amount * 100 AS BIGINT), "
        "CAST(write_off_amount * 100 AS BIGINT) FROM aiwyn_wip WHERE outstanding_amount > 0 ORDER BY id").fetchall(),
        _n(f, total))
    if rows:
        ids, value, billed, wo = (np.array(c, dtype=np.int64) for c in zip(*rows, strict=True))
        out = value - billed - wo
        r = rng.random(len(ids))
        billed = np.where(r < 0.6, value - wo,
                          np.where(r < 0.85, billed + np.maximum(1, np.floor(out * rng.uniform(0.3, 0.7, len(ids)))),
                                   billed)).astype(np.int64)
        wo = np.where(r >= 0.85, value - billed, wo)
        _update_from(con, "UPDATE aiwyn_wip w SET billed_amount = c.billed, write_off_amount = c.wo, "
                          "outstanding_amount = w.value - c.billed - c.wo, approved = true, updated_at = c.t "
                          "FROM _chg c WHERE w.id = c.id",
                     pa.table({"id": ids, "billed": dec(billed), "wo": dec(wo), "t": _ts(ts, len(ids))}))
    new = gen_wip(rng, firm.context, _n(f, total, 0.5), _next(con, "aiwyn_wip", "id"), fresh_at=ts)
    _insert(con, "aiwyn_wip", new)
    return {"new": new.num_rows, "edited": len(rows), "deleted": 0}


def _ts(seconds: int, n: int) -> pa.Array:
    return pa.array([seconds * 1_000_000] * n, pa.timestamp("us", tz="UTC"))


def _invoices(firm: Firm, con: duckdb.DuckDBPyConnection, rng: np.random.Generator, ts: int, f: float) -> Counts:
    total = con.execute("SELECT count(*) FROM aiwyn_invoices").fetchall()[0][0]
    ctx = firm.context
    open_rows = _pick(rng, con.execute(
        "SELECT id, client_id, CAST(outstanding_amount * 100 AS BIGINT) FROM aiwyn_invoices "
        "WHERE status IN ('POSTED', 'OVERDUE') AND outstanding_amount > 0 ORDER BY id").fetchall(), _n(f, total))
    paying = {r[0] for r in open_rows}
    touched: set[int] = set(paying)
    if open_rows:
        ids, clients, out = (np.array(c, dtype=np.int64) for c in zip(*open_rows, strict=True))
        part = np.maximum(1, np.floor(out * rng.uniform(0.2, 0.8, len(ids))))
        amount = np.where(rng.random(len(ids)) < 0.5, out, part)
        failed = rng.random(len(ids)) < 0.05
        status = ["FAILED" if x else "CONFIRMED" for x in failed.tolist()]
        at = np.full(len(ids), ts)
        pays = gen_payments(rng, dataclasses.replace(ctx, now_s=ts), ids, amount.astype(np.int64), status, at, at,
                         _next(con, "aiwyn_payments", "id"), clients)
        _insert(con, "aiwyn_payments", pays)
        ok = ~failed
        _update_from(con, "UPDATE aiwyn_invoices i SET paid_amount = i.paid_amount + c.amt, "
                          "outstanding_amount = i.outstanding_amount - c.amt, "
                          "status = CASE WHEN i.outstanding_amount - c.amt = 0 THEN 'PAID' ELSE i.status END, "
                          "updated_at = c.t FROM _chg c WHERE i.id = c.id",
                     pa.table({"id": ids[ok], "amt": dec(amount[ok].astype(np.int64)), "t": _ts(ts, int(ok.sum()))}))
    transitions = (
        ("CANCELLED", "status IN ('POSTED', 'OVERDUE', 'PENDING', 'DRAFT') AND paid_amount = 0", 0.1),
        ("OVERDUE", "status = 'POSTED' AND due_date < ? AND outstanding_amount > 0", 0.25),
        ("POSTED", "status IN ('DRAFT', 'PENDING')", 0.25),
    )
    t = datetime.fromtimestamp(ts, UTC)
    changes: list[tuple[int, str]] = []
    for new_status, where, part in transitions:
        params = [t] if "?" in where else []
        rows = [r for r in con.execute(f"SELECT id FROM aiwyn_invoices WHERE {where} ORDER BY id", params).fetchall()
                if r[0] not in touched]
        chosen = [r[0] for r in _pick(rng, rows, _n(f, total, part))]
        touched.update(chosen)
        changes.extend((i, new_status) for i in chosen)
    _update_from(con, "UPDATE aiwyn_invoices i SET status = c.status, updated_at = c.t FROM _chg c WHERE i.id = c.id",
                 pa.table({"id": pa.array([c[0] for c in changes], pa.int64()),
                           "status": pa.array([c[1] for c in changes], pa.string()), "t": _ts(ts, len(changes))}))
    shares = (0.0, 0.0, 0.0, 0.0)
    inv, lines, _ = gen_invoices(rng, ctx, _n(f, total, 0.5), (_next(con, "aiwyn_invoices", "id"),
                                 _next(con, "aiwyn_line_items", "id"), 0), shares, fresh_at=ts)
    _insert(con, "aiwyn_invoices", inv)
    _insert(con, "aiwyn_line_items", lines)
    return {"aiwyn.invoices": {"new": inv.num_rows, "edited": len(touched), "deleted": 0},
            "aiwyn.payments": {"new": len(open_rows), "edited": 0, "deleted": 0}}


def _nrbs(firm: Firm, con: duckdb.DuckDBPyConnection, rng: np.random.Generator, ts: int, f: float) -> Counts:
    t = datetime.fromtimestamp(ts, UTC)
    live = con.execute(
        "SELECT nrb_guid, nrb_is_billable AND nrb_billed_in_guid IS NULL, nrb_document_type, nrb_rate, "
        "nrb_quantity, nrb_vendor_tax, nrb_upcharge, nrb_markup_applies_on FROM aimsio_nrbs "
        "WHERE NOT deleted AND nrb_parent_guid IS NULL ORDER BY seq").fetchall()
    edited = _pick(rng, live, _n(f, len(live)))
    gone = {r[0] for r in edited}
    deleted = _pick(rng, [r for r in live if r[0] not in gone], _n(f, len(live), 0.25))
    bill_guids = iter(uuids(rng, len(edited)))
    for k, (guid, unbilled, doc, rate, qty, tax, up, mode) in enumerate(edited):
        if unbilled:
            con.execute("UPDATE aimsio_nrbs SET nrb_billed_in_guid = ?, nrb_billed_in_name = ?, "
                        "nrb_is_exported = true, nrb_updated_at = ? WHERE nrb_guid = ? OR nrb_parent_guid = ?",
                        [next(bill_guids), f"INV-{ts % 100_000:05d}-{k}", t, guid, guid])
        elif doc != "RECEIPT_AP_INVOICE":
            qty = qty + Decimal(1)
            con.execute("UPDATE aimsio_nrbs SET nrb_quantity = ?, nrb_total_after_markup = ?, nrb_updated_at = ? "
                        "WHERE nrb_guid = ?", [qty, nrb_total(rate, qty, tax, up, mode), t, guid])
        else:
            con.execute("UPDATE aimsio_nrbs SET nrb_is_exported = true, nrb_updated_at = ? "
                        "WHERE nrb_guid = ? OR nrb_parent_guid = ?", [t, guid, guid])
    con.executemany("UPDATE aimsio_nrbs SET deleted = true, nrb_updated_at = ? "
                    "WHERE nrb_guid = ? OR nrb_parent_guid = ?", [[t, r[0], r[0]] for r in deleted])
    jobs = [dict(zip(("job_number", "job_schedule_guid", "job_start_date"), r, strict=True)) for r in con.execute(
        "SELECT job_number, job_schedule_guid, job_start_date FROM aimsio_jobs ORDER BY job_id").fetchall()]
    new = gen_nrbs(rng, firm.context, jobs, _n(f, len(live), 0.5), _next(con, "aimsio_nrbs", "seq"), fresh_at=ts)
    _insert(con, "aimsio_nrbs", pa.Table.from_pylist(new, NRB_SCHEMA))
    job_rows = _pick(rng, con.execute("SELECT job_id, job_status FROM aimsio_jobs ORDER BY job_id").fetchall(),
                     _n(f, len(jobs)))
    following = {"Unassigned": "Assigned", "Assigned": "Active", "Active": "Finished"}
    for job_id, status in job_rows:
        nxt = following.get(status, status)
        con.execute("UPDATE aimsio_jobs SET job_status = ?, job_updated_at = ?, "
                    "job_end_date = CASE WHEN ? = 'Finished' THEN coalesce(job_end_date, ?) ELSE job_end_date END "
                    "WHERE job_id = ?", [nxt, t, nxt, t, job_id])
    return {"aimsio.nrbs": {"new": len(new), "edited": len(edited), "deleted": len(deleted)},
            "aimsio.job_orders": {"new": 0, "edited": len(job_rows), "deleted": 0}}


def _iinsight(firm: Firm, con: duckdb.DuckDBPyConnection, rng: np.random.Generator, ts: int, f: float) -> Counts:
    """Voids of unpaid invoices, payments on open ones, voids of payments (payable follows), new invoices."""
    t = datetime.fromtimestamp(ts, UTC)
    total = con.execute("SELECT count(*) FROM iinsight_invoices").fetchall()[0][0]
    unpaid = con.execute("SELECT invoice_id FROM iinsight_invoices WHERE status = 'ACTIVE' "
                         "AND total_amount_payable = total AND total > 0 ORDER BY invoice_id").fetchall()
    voids = _pick(rng, unpaid, _n(f, total, 0.125))
    voided = {r[0] for r in voids}
    status = ["REVERSED" if rng.random() < 0.2 else "VOIDED" for _ in voids]
    _update_from(con, "UPDATE iinsight_invoices i SET status = c.status, total_amount_payable = 0, "
                      "last_update_utc = c.t FROM _chg c WHERE i.invoice_id = c.id",
                 pa.table({"id": pa.array([r[0] for r in voids], pa.int64()), "status": pa.array(status, pa.string()),
                           "t": _ts(ts, len(voids))}))
    payments = con.execute("SELECT count(*) FROM iinsight_payments").fetchall()[0][0]
    undone = _pick(rng, con.execute("SELECT payment_id, invoice_id FROM iinsight_payments WHERE status = 'ACTIVE' "
                                    "ORDER BY payment_id").fetchall(), _n(f, payments, 0.1))
    con.execute("UPDATE iinsight_payments SET status = 'VOIDED', last_update_utc = ? WHERE payment_id IN "
                "(SELECT unnest(?))", [t, [r[0] for r in undone]])
    payable = [r for r in con.execute(
        "SELECT i.invoice_id, i.invoice_number, i.company_id, CAST(i.total_amount_payable * 100 AS BIGINT), "
        "(SELECT count(*) FROM iinsight_payments p WHERE p.invoice_id = i.invoice_id) FROM iinsight_invoices i "
        "WHERE status = 'ACTIVE' AND total_amount_payable > 0 ORDER BY invoice_id").fetchall() if r[0] not in voided]
    paid = _pick(rng, payable, _n(f, total, 0.5))
    if paid:
        ids, numbers, companies, owed, made = (np.array(c) for c in zip(*paid, strict=True))
        part = np.maximum(1, np.floor(owed * rng.uniform(0.2, 0.8, len(ids)))).astype(np.int64)
        amount = np.where(rng.random(len(ids)) < 0.5, owed, part).astype(np.int64)
        first = _next(con, "iinsight_payments", "payment_id")
        _insert(con, "iinsight_payments", payment_table(
            rng, firm.context, np.arange(first, first + len(ids)),
            {"invoice_id": ids, "invoice_number": numbers, "company_id": companies, "seq": made + 1},
            amount, np.full(len(ids), ts // 86_400), np.full(len(ids), ts), np.zeros(len(ids), dtype=bool)))
    touched = sorted({r[0] for r in paid} | {r[1] for r in undone})
    con.execute("UPDATE iinsight_invoices i SET total_amount_payable = i.total - s.paid, last_update_utc = ? FROM ("
                "SELECT k.id, coalesce(sum(p.amount) FILTER (WHERE p.status = 'ACTIVE'), 0) AS paid "
                "FROM (SELECT unnest(?) AS id) k LEFT JOIN iinsight_payments p ON p.invoice_id = k.id GROUP BY k.id"
                ") s WHERE i.invoice_id = s.id AND i.status = 'ACTIVE'", [t, touched])
    inv, items = gen_iinsight(rng, firm.context, _n(f, total, 0.5), (_next(con, "iinsight_invoices", "invoice_id"),
                              _next(con, "iinsight_items", "cost_id")), (0.0, 0.0), fresh_at=ts)
    _insert(con, "iinsight_invoices", inv)
    _insert(con, "iinsight_items", items)
    return {"iinsight.invoices": {"new": inv.num_rows, "edited": len(voids) + len(touched), "deleted": 0},
            "iinsight.payments": {"new": len(paid), "edited": len(undone), "deleted": 0}}


_UNBILLED = (f"SELECT id, case_id AS case, employee_id - {STAFF_ID0} AS staff, "
             f"list_position({list(CHARGE_CODES)}, charge_code) - 1 AS service, "
             "CAST(reference_date - DATE '1970-01-01' AS BIGINT) AS day, CAST(quantity * 100 AS BIGINT) AS quantity, "
             "CAST(unit_charge * 100 AS BIGINT) AS rate, CAST(tax_amount * 100 AS BIGINT) AS tax, description "
             "FROM iinsight_billings WHERE invoice_id = 0 AND NOT deleted ORDER BY id")
"""The unbilled billings as `Lines` columns (plus `id`)."""


def _billings(firm: Firm, con: duckdb.DuckDBPyConnection, rng: np.random.Generator, ts: int, f: float) -> Counts:
    """Deletes a few unbilled billings, puts some on new invoices (one per case), adds new ones."""
    t = datetime.fromtimestamp(ts, UTC)
    total = con.execute("SELECT count(*) FROM iinsight_billings WHERE NOT deleted").fetchall()[0][0]
    unbilled = con.sql(_UNBILLED).to_arrow_table()
    pick = rng.permutation(unbilled.num_rows)
    gone = np.sort(pick[:_n(f, total, 0.02)])
    chosen = np.sort(pick[len(gone):len(gone) + _n(f, total, 0.1)])
    con.execute("UPDATE iinsight_billings SET deleted = true, changed_utc = ? WHERE id IN (SELECT unnest(?))",
                [t, unbilled.column("id").take(gone).to_pylist()])
    lines = Lines(**{n: unbilled.column(n).to_numpy() for n in ("case", "staff", "service", "day", "quantity", "rate",
                                                                "tax")}, owner=np.zeros(unbilled.num_rows, np.int64),
                  description=unbilled.column("description").combine_chunks()).take(chosen)
    cases, owner = np.unique(lines.case, return_inverse=True)
    order = np.argsort(owner, kind="stable")
    inv_id0 = _next(con, "iinsight_invoices", "invoice_id")
    inv, items = invoices_for_lines(rng, firm.context, dataclasses.replace(lines, owner=owner).take(order),
                                    (inv_id0, _next(con, "iinsight_items", "cost_id")), ts)
    _insert(con, "iinsight_invoices", inv)
    _insert(con, "iinsight_items", items)
    _update_from(con, "UPDATE iinsight_billings b SET invoice_id = c.invoice, changed_utc = c.t FROM _chg c "
                      "WHERE b.id = c.id", pa.table({"id": unbilled.column("id").take(chosen[order]),
                                                    "invoice": owner[order] + inv_id0, "t": _ts(ts, len(chosen))}))
    n_new = _n(f, total, 0.25)
    fresh = random_lines(rng, firm.context, ts // 86_400 - rng.integers(0, 4, n_new))
    first = _next(con, "iinsight_billings", "id")
    _insert(con, "iinsight_billings", billing_table(rng, fresh, np.arange(first, first + n_new), np.full(n_new, ts)))
    return {"iinsight.invoices": {"new": len(cases), "edited": 0, "deleted": 0},
            "iinsight.billings": {"new": n_new, "edited": len(chosen), "deleted": len(gone)}}


def apply_activity(firm: Firm, con: duckdb.DuckDBPyConnection, rng: np.random.Generator, t: datetime,
                   fraction: float) -> Counts:
    """Apply the burst at instant `t` (called by `Firm.activity` inside `Firm.write`)."""
    ts = int(t.timestamp())
    firm.context = dataclasses.replace(firm.context, now_s=ts, today=ts // 86_400)
    counts: Counts = {"aiwyn.wip": _wip(firm, con, rng, ts, fraction)}
    counts.update(_invoices(firm, con, rng, ts, fraction))
    counts.update(_nrbs(firm, con, rng, ts, fraction))
    counts.update(_iinsight(firm, con, rng, ts, fraction))
    for entity, kinds in _billings(firm, con, rng, ts, fraction).items():
        counts[entity] = {k: counts.get(entity, {}).get(k, 0) + v for k, v in kinds.items()}
    return counts



AIWYN_TABLES = {"wip": "aiwyn_wip", "invoice": "aiwyn_invoices", "payment": "aiwyn_payments"}
"""Aiwyn entity type (CONTRACT.md "Aiwyn event subscriptions" catalog) → store table."""


def touch_aiwyn(con: duckdb.DuckDBPyConnection, t: datetime, entity: str, count: int,
                delete: bool = False) -> list[int]:
    """Change `count` Aiwyn records of `entity` (`wip`, `invoice`, `payment`) at instant `t`, inside `Firm.write`:
    the records changed longest ago (oldest `(updatedAt, id)`), so repeated calls cycle through the table.

    - update (`delete` false): stamp `updatedAt = t`, content unchanged;
    - delete: WIP and payments are hard-deleted, each leaving a tombstone in `aiwyn_deletions` (a CONFIRMED
      payment's amount goes back onto its invoice: `paidAmount` down, `outstandingAmount` up, PAID →
      OVERDUE or POSTED by due date, stamped `t`); invoices are cancelled instead (CANCELLED, stamped `t`;
      only those without payments that are not PAID or CANCELLED already).

    Returns the ids changed, ascending (fewer than `count` when the table has fewer candidates).
    Raises ValueError for an unknown entity or a count < 1.
    """
    if entity not in AIWYN_TABLES:
        raise ValueError(f"entity must be one of {', '.join(AIWYN_TABLES)}; got {entity!r}")
    if count < 1:
        raise ValueError("count must be at least 1")
    table = AIWYN_TABLES[entity]
    cancel = delete and entity == "invoice"
    where = "WHERE paid_amount = 0 AND status NOT IN ('PAID', 'CANCELLED')" if cancel else ""
    ids = sorted(r[0] for r in con.execute(
        f"SELECT id FROM {table} {where} ORDER BY updated_at, id LIMIT ?", [count]).fetchall())
    params = {"t": t, "ids": ids}
    if not delete or cancel:
        status = ", status = 'CANCELLED'" if cancel else ""
        con.execute(f"UPDATE {table} SET updated_at = $t{status} WHERE list_contains($ids, id)", params)
        return ids
    if entity == "payment":
        con.execute("UPDATE aiwyn_invoices i SET paid_amount = i.paid_amount - p.amt, "
                    "outstanding_amount = i.outstanding_amount + p.amt, updated_at = $t, status = CASE "
                    "WHEN i.status <> 'PAID' THEN i.status WHEN i.due_date < $t THEN 'OVERDUE' ELSE 'POSTED' END "
                    "FROM (SELECT invoice_id, sum(amount) AS amt FROM aiwyn_payments WHERE list_contains($ids, id) "
                    "AND status = 'CONFIRMED' GROUP BY invoice_id) p WHERE i.id = p.invoice_id", params)
    con.execute(f"DELETE FROM {table} WHERE list_contains($ids, id)", {"ids": ids})
    con.execute("INSERT INTO aiwyn_deletions SELECT $entity, unnest($ids), $t", {**params, "entity": entity})
    return ids
