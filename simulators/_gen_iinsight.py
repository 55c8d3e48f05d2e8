"""Vectorised generators of the iinsight data (iinsight.md §4, §5, §7): invoices with items, payments, billings.

Tables carry the store's column names (`data.py`); money is int64 cents in numpy and an exact
`decimal128(18, 2)` in Arrow. What holds by construction:

- an ACTIVE invoice's `total_amount_payable` = `total` − the amounts of its ACTIVE payments; VOIDED and
  REVERSED invoices have no active payment and nothing payable;
- a payment lies between its invoice's date and the invoice's `last_update_utc`; a voided one was
  voided (its `last_update_utc`) no later than that either;
- a billed billing is one item of its invoice (same employee, date, quantity, rate, tax and total, so an
  invoice's billings never add up to more than the invoice) dated on or before the invoice date;
- ids follow creation: payment and billing ids increase with their creation instant.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from simulators._arrays import (
    DAY,
    HORIZON_DAYS,
    cents,
    cyclic_buckets,
    dates,
    days,
    days_past_due,
    dec,
    exact_counts,
    fmt,
    group_sum,
    seconds,
    shuffled_classes,
    split_amounts,
    spread_updates,
    take,
    ts,
)
from simulators._gen import COMPANY_ID0, FIRST_NAMES, LAST_NAMES, STAFF_ID0, Context

SERVICES = ("Equipment", "Assessment", "Report writing", "Travel", "Case management", "Ergonomic review")
CHARGE_CODES = ("OR04", "ch1", "RTWNE01", "AS01", "TR02", "CM05")
"""Charge code of each service (same index)."""
_BY_UNIT = np.array([s in ("Equipment", "Travel") for s in SERVICES])
"""Services billed by the unit; the others by the hour (`time_based` "1")."""
_CONTRACTS = ("Allianz", "WorkCover NSW", "icare", "QBE", "dvy-sc")
_GL = (("003", "account 3.", "3"), (None, None, "0"), ("101", "Consulting revenue", "101"))
_STATES = ("NSW", "VIC", "QLD")
PAYMENT_TYPES = ("Cash", "Cheque", "EFT", "Credit Card", "Direct Deposit")
_BANKS = ("Westpac", "ANZ", "Commonwealth Bank", "NAB")
_BRANCHES = ("Sydney CBD", "Parramatta", "Melbourne Central", "Brisbane City")
_H = 3600


@dataclass(frozen=True)
class Lines:
    """Units of work, as invoice items or billings: numpy arrays of equal length.

    `owner`: invoice id (0: not invoiced; in `invoices_for_lines`, the index of the new invoice);
    `case`: case id; `staff`: employee index (id − STAFF_ID0); `service`: index into `SERVICES`;
    `day`: service / reference date (days since 1970-01-01); `quantity`, `rate`, `tax`: cents (hundredths),
    with quantity × rate a whole number of cents; `description`: Arrow strings.
    """

    owner: np.ndarray
    case: np.ndarray
    staff: np.ndarray
    service: np.ndarray
    day: np.ndarray
    quantity: np.ndarray
    rate: np.ndarray
    tax: np.ndarray
    description: pa.Array

    @property
    def value(self) -> np.ndarray:
        """quantity × rate (cents), before tax."""
        return self.quantity * self.rate // 100

    def take(self, index: np.ndarray) -> Lines:
        """The lines at `index`."""
        return Lines(**{f.name: getattr(self, f.name).take(index) for f in fields(self)})

    def concat(self, other: Lines) -> Lines:
        """These lines, then `other`'s."""
        pairs = {f.name: (getattr(self, f.name), getattr(other, f.name)) for f in fields(self)}
        return Lines(**{name: pa.concat_arrays(list(pair)) if isinstance(pair[0], pa.Array) else np.concatenate(pair)
                        for name, pair in pairs.items()})


def _describe(rng: np.random.Generator, service: np.ndarray) -> pa.Array:
    kind = np.array(["Initial", "Follow-up", "Review"], dtype=object)[rng.integers(0, 3, len(service))]
    return fmt("%s - %s", np.array(SERVICES, dtype=object)[service], kind)


def random_lines(rng: np.random.Generator, ctx: Context, day: np.ndarray) -> Lines:
    """Unbilled work on the given days: hourly services in quarter hours at $60-250, unit services
    1-5 units at $20-400; 70% with 10% tax."""
    n = len(day)
    service = rng.integers(0, len(SERVICES), n)
    by_unit = _BY_UNIT[service]
    quantity = np.where(by_unit, rng.integers(1, 6, n) * 100, rng.integers(1, 17, n) * 25)
    rate = np.where(by_unit, rng.integers(20, 401, n), rng.integers(60, 251, n)) * 100
    value = quantity * rate // 100
    tax = np.where(rng.random(n) < 0.7, (value * 10 + 50) // 100, 0)
    return Lines(np.zeros(n, np.int64), rng.integers(1, 400, n), rng.integers(0, len(ctx.staff_first), n), service,
                 day, quantity, rate, tax, _describe(rng, service))


def item_table(rng: np.random.Generator, lines: Lines, cost_id0: int) -> pa.Table:
    """Invoice items (store `iinsight_items`) of `lines`, `cost_id` from `cost_id0`."""
    m = len(lines.owner)
    gl = rng.integers(0, len(_GL), m)
    return pa.table({
        "cost_id": np.arange(cost_id0, cost_id0 + m),
        "invoice_id": lines.owner,
        "charge_code": take(CHARGE_CODES, lines.service),
        "employee_id": lines.staff + STAFF_ID0,
        "general_ledger_code": take([g[0] for g in _GL], gl),
        "general_ledger_description": take([g[1] for g in _GL], gl),
        "general_ledger_id": take([g[2] for g in _GL], gl),
        "professional": pa.array([""] * m, pa.string()),
        "quantity": dec(lines.quantity),
        "rate": dec(lines.rate),
        "revenue_centre": take(("Another Revenue Centre", None, "Head Office"), rng.integers(0, 3, m)),
        "service_contract": take(_CONTRACTS, rng.integers(0, len(_CONTRACTS), m)),
        "service_date": dates(lines.day),
        "service": take(SERVICES, lines.service),
        "description": lines.description,
        "tax_amount": dec(lines.tax),
        "total": dec(lines.value + lines.tax),
    })


def _invoice_table(rng: np.random.Generator, ctx: Context, inv_ids: np.ndarray, clients: np.ndarray,
                   case: np.ndarray, terms: np.ndarray, period: tuple[np.ndarray, np.ndarray, np.ndarray],
                   money: tuple[np.ndarray, np.ndarray, np.ndarray], updated: np.ndarray,
                   status: pa.Array) -> pa.Table:
    """Invoice headers; `period` = (invoice, start, end) days, `money` = (sub_total, total_tax, payable) cents."""
    n = len(inv_ids)
    inv_day, start, end = period
    sub, tax, payable = money
    state = np.array(_STATES, dtype=object)[case % 3]
    return pa.table({
        "invoice_id": inv_ids,
        "company_id": clients + COMPANY_ID0,
        "invoice_number": fmt("%s%d", state, inv_ids + 2_013_000),
        "case_number": fmt("%s%d", state, case),
        "terms": terms,
        "date_of_invoice": dates(inv_day),
        "due_date": dates(inv_day + terms),
        "notes": take(("", "Thank you for your business", "Please quote the invoice number"),
                      rng.choice(3, n, p=[0.7, 0.2, 0.1])),
        "total_amount_payable": dec(payable),
        "client_first_name": take(FIRST_NAMES, case % len(FIRST_NAMES)),
        "client_last_name": take(LAST_NAMES, (case * 7) % len(LAST_NAMES)),
        "claim_no": fmt("%d", rng.integers(1000, 9999, n)),
        "provider_number": take(("", "345666", "204118", "771203"), rng.integers(0, 4, n)),
        "assigned_to": take(ctx.staff_names, rng.integers(0, len(ctx.staff_first), n)),
        "start_date": dates(start),
        "end_date": dates(end),
        "sub_total": dec(sub),
        "total_tax": dec(tax),
        "total": dec(sub + tax),
        "last_update_utc": ts(updated),
        "status": status,
    })


def gen_iinsight(rng: np.random.Generator, ctx: Context, n: int, ids: tuple[int, int],
                 shares: tuple[float, float], fresh_at: int | None = None) -> tuple[pa.Table, pa.Table]:
    """`n` iinsight invoices (+ items); `shares` = (voided, reversed), exact counts; rest ACTIVE.

    Active ones: 45% fully paid (payable 0.00), the others open over the five aging buckets, a third
    of those partially paid (`gen_iinsight_payments` makes the payments). Voided/reversed ones have
    nothing payable. `ids` = first (invoice, cost) ids. Returns (invoices, items).
    """
    inv_id0, cost_id0 = ids
    c = ctx.pick_clients(rng, n)
    terms = rng.choice([14, 19, 30], n)
    if fresh_at is None:
        cls = shuffled_classes(rng, n, [shares[0], shares[1]])  # 0 voided, 1 reversed, 2 active
        paid_full = (cls == 2) & (rng.random(n) < 0.45)
        is_open = (cls == 2) & ~paid_full
        dpd = days_past_due(rng, cyclic_buckets(is_open))
        inv_day = np.where(is_open, ctx.today - dpd - terms, ctx.today - rng.integers(20, HORIZON_DAYS, n))
    else:
        cls = np.full(n, 2)
        paid_full = np.zeros(n, dtype=bool)
        is_open = ~paid_full
        inv_day = np.full(n, fresh_at // DAY)
    n_items = rng.integers(1, 4, n)
    owner = np.repeat(np.arange(n), n_items)
    m = len(owner)
    quarters = rng.integers(1, 17, m)
    rate_d = rng.integers(60, 251, m)
    sub = quarters * rate_d * 25
    item_tax = np.where(rng.random(m) < 0.7, (sub * 10 + 50) // 100, 0)
    total = group_sum(sub + item_tax, n_items)
    partial = is_open & (rng.random(n) < 0.35) & (fresh_at is None)
    paid = np.where(paid_full, total, np.where(partial, np.maximum(1, np.floor(total * rng.uniform(0.1, 0.9, n))), 0))
    payable = np.where(cls == 2, total - paid.astype(np.int64), 0)
    start = inv_day - rng.integers(0, 31, n)
    end = start + (rng.random(n) * (inv_day - start + 1)).astype(np.int64)
    if fresh_at is None:
        created = np.minimum(inv_day * DAY + rng.integers(7 * _H, 18 * _H, n), ctx.now_s)
        updated = spread_updates(rng, created, ctx.now_s, paid_full | partial | (cls != 2), ctx.tie_at)
    else:
        updated = np.full(n, fresh_at)
    case = rng.integers(1, 400, n)
    inv_ids = np.arange(inv_id0, inv_id0 + n)
    service = rng.integers(0, len(SERVICES), m)
    lines = Lines(inv_ids[owner], case[owner], rng.integers(0, len(ctx.staff_first), m), service,
                  start[owner] + (rng.random(m) * (end - start + 1)[owner]).astype(np.int64), quarters * 25,
                  rate_d * 100, item_tax, _describe(rng, service))
    invoices = _invoice_table(rng, ctx, inv_ids, c, case, terms, (inv_day, start, end),
                              (group_sum(sub, n_items), group_sum(item_tax, n_items), payable), updated,
                              take(("VOIDED", "REVERSED", "ACTIVE"), cls))
    return invoices, item_table(rng, lines, cost_id0)


def invoices_for_lines(rng: np.random.Generator, ctx: Context, lines: Lines, ids: tuple[int, int],
                       at: int) -> tuple[pa.Table, pa.Table]:
    """New ACTIVE, unpaid invoices dated and stamped `at` (epoch s) made of `lines`, whose `owner` is the
    new invoice's index (0, 1, …; lines sorted by it, each invoice's case from its first line).
    `ids` = first (invoice, cost) ids. Returns (invoices, items)."""
    n = int(lines.owner.max()) + 1 if len(lines.owner) else 0
    counts = np.bincount(lines.owner, minlength=n)
    first = np.cumsum(counts) - counts
    sub, tax = group_sum(lines.value, counts), group_sum(lines.tax, counts)
    inv_ids = np.arange(ids[0], ids[0] + n)
    period = (np.full(n, at // DAY), np.minimum.reduceat(lines.day, first), np.maximum.reduceat(lines.day, first))
    invoices = _invoice_table(rng, ctx, inv_ids, ctx.pick_clients(rng, n), lines.case[first],
                              rng.choice([14, 19, 30], n), period, (sub, tax, sub + tax), np.full(n, at),
                              pa.array(["ACTIVE"] * n))
    return invoices, item_table(rng, replace(lines, owner=inv_ids[lines.owner]), ids[1])


def payment_table(rng: np.random.Generator, ctx: Context, ids: np.ndarray, invoice: dict[str, np.ndarray],
                  amount: np.ndarray, day: np.ndarray, updated: np.ndarray, voided: np.ndarray) -> pa.Table:
    """Payments (store `iinsight_payments`): `invoice` = per payment its invoice's `invoice_id`,
    `invoice_number`, `company_id` and `seq` (1-based number among the invoice's payments); `amount`
    cents (> 0, the receipt), `day` its transaction date (epoch days), `updated` its `last_update_utc`
    (epoch s), `voided` its status. `v1_negative`: v1 shows this payment's amount negative (v2 always does)."""
    m = len(ids)
    kind = rng.choice(len(PAYMENT_TYPES), m, p=[0.1, 0.2, 0.35, 0.2, 0.15])
    banked = (kind == 1) | (kind == 2) | (kind == 4)
    none = np.full(m, len(_BANKS))
    return pa.table({
        "payment_id": ids,
        "payment_number": pc.binary_join_element_wise(pa.array(invoice["invoice_number"], pa.string()),
                                                      pc.cast(pa.array(invoice["seq"], pa.int64()), pa.string()), "-P"),
        "invoice_id": invoice["invoice_id"],
        "transaction_date": dates(day),
        "amount": dec(amount),
        "v1_negative": rng.random(m) < 0.5,
        "paid_by": take(ctx.client_names, invoice["company_id"] - COMPANY_ID0),
        "reference_number": pc.binary_join_element_wise("RCPT", pc.cast(pa.array(ids), pa.string()), ""),
        "card_type": take(("Visa", "Mastercard", "Amex", ""), np.where(kind == 3, rng.integers(0, 3, m), 3)),
        "bank": take((*_BANKS, ""), np.where(banked, rng.integers(0, len(_BANKS), m), none)),
        "branch": take((*_BRANCHES, ""), np.where(banked, rng.integers(0, len(_BRANCHES), m), none)),
        "bill_to_id": invoice["company_id"],
        "type": take(PAYMENT_TYPES, kind),
        "notes": take(("", "Part payment", "Thank you"), rng.choice(3, m, p=[0.8, 0.1, 0.1])),
        "status": take(("ACTIVE", "VOIDED"), voided.astype(np.int64)),
        "last_update_utc": ts(updated),
    })


def gen_iinsight_payments(rng: np.random.Generator, ctx: Context, invoices: pa.Table, n: int, id0: int,
                          voided_share: float) -> tuple[pa.Table, pa.Table]:
    """Exactly `n` payments (none without invoices) explaining `invoices`' payable: `round(n × voided_share)`
    VOIDED ones on any invoice, the rest ACTIVE, at least one per paid invoice, splitting what it was
    paid (total − payable). With fewer active payments than paid invoices, the paid invoices left over
    become unpaid (payable = total); with no paid invoice every payment is voided. Returns (payments,
    invoices with that payable)."""
    total, payable = cents(invoices.column("total")), cents(invoices.column("total_amount_payable"))
    active = pc.equal(invoices.column("status"), "ACTIVE").to_numpy(zero_copy_only=False)
    paid_at = np.flatnonzero(active & (payable < total))
    n_voided, n_active = exact_counts(n if invoices.num_rows else 0, [voided_share])
    if n_active < len(paid_at):
        unpaid = rng.choice(paid_at, len(paid_at) - n_active, replace=False)
        payable[unpaid] = total[unpaid]
        paid_at = np.setdiff1d(paid_at, unpaid)
        invoices = invoices.set_column(invoices.schema.get_field_index("total_amount_payable"),
                                       "total_amount_payable", dec(payable))
    if len(paid_at) == 0:  # nothing paid: every payment was voided
        n_voided, n_active = n_voided + n_active, 0
    per = 1 + np.bincount(rng.integers(0, max(len(paid_at), 1), n_active - len(paid_at)), minlength=len(paid_at))
    owner = np.repeat(paid_at, per)
    amount = split_amounts(rng, (total - payable)[paid_at], per)
    voided_owner = rng.integers(0, max(invoices.num_rows, 1), n_voided)
    owner = np.concatenate([owner, voided_owner]).astype(np.int64)
    amount = np.concatenate([amount, np.maximum(100, np.floor(total[voided_owner] * rng.uniform(0.1, 1.0, n_voided))
                                                .astype(np.int64))])
    voided = np.arange(len(owner)) >= len(owner) - n_voided
    inv_day = days(invoices.column("date_of_invoice"))[owner]
    last = seconds(invoices.column("last_update_utc"))[owner]
    lo = np.minimum(inv_day * DAY + 18 * _H, last)
    made = lo + (rng.random(len(owner)) * (last - lo)).astype(np.int64)
    updated = np.where(voided, made + (rng.random(len(owner)) * (last - made)).astype(np.int64), made)
    day = np.maximum(inv_day, made // DAY - rng.integers(0, 3, len(owner)))
    order = np.lexsort((owner, made))  # ids follow creation
    owner, amount, day, updated, voided = owner[order], amount[order], day[order], updated[order], voided[order]
    by_invoice = np.lexsort((np.arange(len(owner)), owner))
    seq = np.empty(len(owner), np.int64)
    counts = np.bincount(owner[by_invoice], minlength=invoices.num_rows)
    seq[by_invoice] = np.arange(len(owner)) - np.repeat(np.cumsum(counts) - counts, counts) + 1
    columns = {c: invoices.column(c).to_numpy() for c in ("invoice_id", "company_id")}
    columns["invoice_number"] = invoices.column("invoice_number").to_numpy(zero_copy_only=False)
    invoice = {c: v[owner] for c, v in columns.items()} | {"seq": seq}
    return payment_table(rng, ctx, np.arange(id0, id0 + len(owner)), invoice, amount, day, updated, voided), invoices


def _items_as_lines(invoices: pa.Table, items: pa.Table) -> Lines:
    """The items as `Lines` owned by their invoice ids (case ids read off the case numbers)."""
    case = pc.cast(pc.utf8_slice_codeunits(invoices.column("case_number"), 3), pa.int64()).to_numpy()
    inv_ids = invoices.column("invoice_id").to_numpy()
    owner = items.column("invoice_id").to_numpy()
    service = pc.index_in(items.column("service"), value_set=pa.array(SERVICES)).to_numpy(zero_copy_only=False)
    return Lines(owner, case[np.searchsorted(inv_ids, owner)], items.column("employee_id").to_numpy() - STAFF_ID0,
                 service.astype(np.int64), days(items.column("service_date")), cents(items.column("quantity")),
                 cents(items.column("rate")), cents(items.column("tax_amount")),
                 items.column("description").combine_chunks())


def _local(day: np.ndarray, hour: np.ndarray, zone: str = "Australia/Sydney") -> np.ndarray:
    """Epoch seconds of `hour` o'clock local time in `zone` on each day (epoch days); daylight saving
    looked up once per distinct day."""
    tz = ZoneInfo(zone)
    unique, inverse = np.unique(day, return_inverse=True)
    offset = np.array([(datetime.fromtimestamp(d * DAY + 12 * _H, tz).utcoffset() or timedelta()).total_seconds()
                       for d in unique.tolist()], dtype=np.int64)
    return day * DAY + hour * _H - offset[inverse].reshape(-1)


def billing_table(rng: np.random.Generator, lines: Lines, ids: np.ndarray, inserted: np.ndarray) -> pa.Table:
    """Billings (store `iinsight_billings`) of `lines` (`owner` → `invoice_id`, 0 = unbilled), created at
    `inserted` (epoch s). Hourly work has `unit_cost` 0, unit work costs 60% of its charge; the work starts
    at `start_time` o'clock Australia/Sydney (`reference_time`)."""
    n = len(ids)
    by_unit = _BY_UNIT[lines.service]
    start = rng.integers(8, 18, n)
    return pa.table({
        "id": ids,
        "case_id": lines.case,
        "time_based": ~by_unit,
        "description": lines.description,
        "estimate_link": np.zeros(n, np.int64),
        "employee_id": lines.staff + STAFF_ID0,
        "reference_date": dates(lines.day),
        "start_time": start,
        "reference_time": ts(_local(lines.day, start)),
        "quantity": dec(lines.quantity),
        "unit_cost": dec(np.where(by_unit, lines.rate * 6 // 10, 0)),
        "unit_charge": dec(lines.rate),
        "tax_amount": dec(lines.tax),
        "tax_rate": dec(np.where(lines.tax > 0, 10, 0)),
        "total_charge": dec(lines.value + lines.tax),
        "charge_code": take(CHARGE_CODES, lines.service),
        "invoice_id": lines.owner,
        "notes": take(("", "Phone call", "Site visit"), rng.choice(3, n, p=[0.8, 0.1, 0.1])),
        "time_inserted": ts(inserted),
        "changed_utc": ts(inserted),
        "deleted": np.zeros(n, dtype=bool),
    })


def gen_iinsight_billings(rng: np.random.Generator, ctx: Context, invoices: pa.Table, items: pa.Table, n: int,
                          unbilled_share: float, id0: int) -> pa.Table:
    """Exactly `n` billings: `round(n × unbilled_share)` unbilled (work of the last ~5 months, recent
    work likelier), the rest billed: items of invoices taken whole in random order (at most one invoice
    partly), each recorded between its work date and its invoice date. With fewer items than billed
    billings, the rest are unbilled too. Ids follow `time_inserted`."""
    unbilled, billed = exact_counts(n, [unbilled_share])
    billed = min(billed, items.num_rows)
    unbilled = n - billed
    of_item = np.searchsorted(invoices.column("invoice_id").to_numpy(), items.column("invoice_id").to_numpy())
    rank = rng.permutation(invoices.num_rows)[of_item]
    chosen = np.sort(np.lexsort((np.arange(items.num_rows), rank))[:billed])
    done = _items_as_lines(invoices, items).take(chosen)
    inv_day = days(invoices.column("date_of_invoice"))[of_item[chosen]]
    lo = done.day * DAY + 9 * _H
    done_at = lo + (rng.random(billed) * np.maximum(inv_day * DAY + 7 * _H - lo, 0)).astype(np.int64)
    todo = random_lines(rng, ctx, ctx.today - (rng.random(unbilled) ** 2 * 150).astype(np.int64))
    todo_at = todo.day * DAY + 9 * _H + rng.integers(0, 4 * DAY, unbilled)
    lines = done.concat(todo)
    inserted = np.minimum(np.concatenate([done_at, todo_at]), ctx.now_s)
    order = np.lexsort((np.arange(n), inserted))
    return billing_table(rng, lines.take(order), np.arange(id0, id0 + n), inserted[order])
