"""Vectorised generators: the firm's reference data, Aiwyn WIP / invoices / payments (iinsight: `_gen_iinsight.py`).

Each generator returns Arrow tables whose column names are the store's (see `data.py`). With
`fresh_at` (epoch s) they generate brand-new records created and updated at that instant (activity).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from simulators._arrays import (
    DAY,
    HORIZON_DAYS,
    cyclic_buckets,
    days_past_due,
    dec,
    fmt,
    group_sum,
    shuffled_classes,
    split_amounts,
    spread_updates,
    take,
    ts,
)

_ADJ = ("Acme Blue Harbor Summit Granite Maple Cedar Silver Northern Pacific Atlas Beacon Crescent Delta "
        "Evergreen Falcon Golden Horizon Iron Juniper Keystone Lakeside Meridian Oakridge Pioneer Quarry "
        "Redwood Sterling Tidewater Union Valley Westfield Willow Yellowstone Zenith Coastal Prairie Riverbend "
        "Highland Bayview").split()
_NOUN = ("Logistics Manufacturing Dental Farms Builders Media Foods Energy Motors Realty Health Studios "
         "Textiles Robotics Brewing Outfitters Pharmacy Aviation Marine Capital").split()
_SUFFIX = ("Corporation", "LLC", "Inc.", "Holdings", "Group", "Partners", "Pty Ltd", "Co.")
FIRST_NAMES = ("Luna Diego Sofia Graham Paul Olivia Liam Emma Noah Ava Mia Lucas Zoe Ethan Chloe Mason Ella Jack "
          "Grace Henry Ruby Oscar Isla Leo Amelia Hugo Nora Felix Ivy Max").split()
LAST_NAMES = ("Ramirez Fernandez Torres Smith McGurgor Nguyen Patel Chen Walker Brown Wilson Taylor Martin Lee "
         "Harris Clark Lewis Young King Wright Scott Green Baker Adams Nelson Hill Campbell Mitchell Roberts "
         "Carter").split()
_TITLES = ("Mr", "Ms", "Dr", "Mrs")
_JOBS = ("Tax Return", "Financial Audit", "Bookkeeping", "Payroll Services", "Advisory", "Review Engagement",
         "Compilation", "Estate Planning")
WIP_TYPES = ("TIME", "EXPENSE", "FIXED_FEE", "DISBURSEMENT")
_WIP_NOTES = (
    ("Client consultation call", "Tax return preparation", "Audit fieldwork", "Review of financial statements",
     "Bookkeeping adjustments", "Payroll reconciliation"),
    ("Travel expenses", "Courier charges", "Meals during fieldwork"),
    ("Fixed fee engagement milestone", "Annual compliance package"),
    ("Filing fees", "Search fees", "Registry lodgement"),
)
INVOICE_STATUSES = ("PAID", "OPEN", "PENDING", "DRAFT", "CANCELLED")
PAYMENT_METHODS = ("CREDIT_CARD", "DEBIT_CARD", "ACH", "BANK_TRANSFER", "CHECK", "WIRE", "PAYPAL",
                   "APPLE_PAY", "GOOGLE_PAY")
_METHOD_P = (0.22, 0.06, 0.25, 0.18, 0.12, 0.08, 0.05, 0.02, 0.02)
_PROCESSOR = ("stripe_pi_", "stripe_pi_", "ach_", "bt_", "chk_", "wire_", "paypal_", "stripe_pi_", "stripe_pi_")
_LINE_DESC = ("Financial Statement Audit", "Tax Return Preparation", "Advisory Services", "Bookkeeping",
              "Payroll Processing", "Consultation")
_INV_DESC = ("Professional services rendered", "Tax preparation services", "Audit services",
             "Advisory services", "Bookkeeping services")


@dataclass
class Context:
    """The firm's shared reference data (clients, staff, Aiwyn jobs) and its clock, as numpy/lists."""

    now_s: int
    today: int
    tie_at: int
    client_names: list[str]
    client_weights: np.ndarray
    staff_first: list[str]
    staff_last: list[str]
    staff_title: list[str]
    job_names: list[str]
    job_client: np.ndarray
    client_job_start: np.ndarray
    client_job_count: np.ndarray

    @property
    def n_clients(self) -> int:
        """Number of clients."""
        return len(self.client_names)

    @property
    def staff_names(self) -> list[str]:
        """"First Last" per staff member."""
        return [f"{f} {s}" for f, s in zip(self.staff_first, self.staff_last, strict=True)]

    def pick_clients(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Client indexes with a skew (a few big clients, a long tail)."""
        return rng.choice(self.n_clients, n, p=self.client_weights)

    def pick_jobs(self, rng: np.random.Generator, clients: np.ndarray) -> np.ndarray:
        """One of each client's Aiwyn jobs (index into `job_names`)."""
        offs = (rng.random(len(clients)) * self.client_job_count[clients]).astype(np.int64)
        return self.client_job_start[clients] + offs


CLIENT_ID0, JOB_ID0, STAFF_ID0, COMPANY_ID0, CONTACT_ID0 = 7001, 2501, 101, 101, 301
"""First ids: Aiwyn clientId, Aiwyn jobId, staffId, iinsight company_id, iinsight contact_id."""


def build_context(rng: np.random.Generator, n_clients: int, now_s: int) -> tuple[Context, dict[str, pa.Table]]:
    """Clients (unique names), staff and Aiwyn jobs; returns the context and their tables."""
    combos = rng.choice(len(_ADJ) * len(_NOUN) * len(_SUFFIX), n_clients, replace=False)
    names = [f"{_ADJ[c // (len(_NOUN) * len(_SUFFIX))]} {_NOUN[c // len(_SUFFIX) % len(_NOUN)]} "
             f"{_SUFFIX[c % len(_SUFFIX)]}" for c in combos.tolist()]
    weights = 1.0 / np.arange(1, n_clients + 1) ** 0.8
    n_staff = max(4, n_clients // 4 + 3)
    pairs = rng.choice(len(FIRST_NAMES) * len(LAST_NAMES), n_staff, replace=False)
    first = [FIRST_NAMES[p // len(LAST_NAMES)] for p in pairs.tolist()]
    last = [LAST_NAMES[p % len(LAST_NAMES)] for p in pairs.tolist()]
    title = [_TITLES[i] for i in rng.integers(0, len(_TITLES), n_staff).tolist()]
    counts = rng.integers(1, 5, n_clients)
    job_client = np.repeat(np.arange(n_clients), counts)
    year = (np.datetime64(now_s, "s").astype("datetime64[Y]").astype(int) + 1970)
    job_names = [f"{year - int(y)} {_JOBS[j]}" for j, y in
                 zip(rng.integers(0, len(_JOBS), len(job_client)).tolist(),
                     rng.integers(0, 2, len(job_client)).tolist(), strict=True)]
    today = now_s // DAY
    ctx = Context(now_s, today, (today - 30) * DAY + 2 * 3600, names, weights / weights.sum(), first, last,
                  title, job_names, job_client, np.cumsum(counts) - counts, counts)
    slug = [n.split()[0].lower() + n.split()[1].lower() for n in names]
    contact = rng.integers(0, len(pairs), n_clients)
    tables = {
        "clients": pa.table({
            "client_id": np.arange(CLIENT_ID0, CLIENT_ID0 + n_clients),
            "name": names,
            "email": [f"billing@{s}.com" for s in slug],
            "company_id": np.arange(COMPANY_ID0, COMPANY_ID0 + n_clients),
            "contact_id": np.arange(CONTACT_ID0, CONTACT_ID0 + n_clients),
            "attention": [f"{title[c]} {first[c]} {last[c]}" for c in contact.tolist()],
            "address": [f"{10 + i} {_ADJ[i % len(_ADJ)]} Street" for i in range(n_clients)],
            "accounts_email": [f"accounts@{s}.com" for s in slug],
            "abn": [f"{51_824_753_556 + 7919 * i}" if i % 3 == 0 else "" for i in range(n_clients)],
            "client_code": [f"CL-{i + 1:04d}" for i in range(n_clients)],
        }),
        "staff": pa.table({"staff_id": np.arange(STAFF_ID0, STAFF_ID0 + n_staff), "first_name": first,
                           "last_name": last, "title": title}),
        "aiwyn_jobs": pa.table({"job_id": np.arange(JOB_ID0, JOB_ID0 + len(job_client)),
                                "client_id": job_client + CLIENT_ID0, "job_name": job_names}),
    }
    return ctx, tables


def gen_wip(rng: np.random.Generator, ctx: Context, n: int, id0: int, fresh_at: int | None = None) -> pa.Table:
    """`n` Aiwyn WIP entries with ids from `id0` (value = hours × rate for TIME; exact cents)."""
    c = ctx.pick_clients(rng, n)
    job = ctx.pick_jobs(rng, c)
    staff = rng.integers(0, len(ctx.staff_first), n)
    typ = rng.choice(4, n, p=[0.70, 0.12, 0.08, 0.10])
    if fresh_at is None:
        age = (rng.random(n) ** 1.7 * HORIZON_DAYS).astype(np.int64)
        logged = (ctx.today - age) * DAY
    else:
        age = rng.integers(0, 4, n)
        logged = (fresh_at // DAY - age) * DAY
    quarters = rng.integers(1, 33, n)
    rate_d = rng.integers(20, 91, n) * 5
    hours_c = np.where((typ == 0) | (typ == 2), quarters * 25, 0)
    rate_c = np.where(typ == 0, rate_d * 100, 0)
    value = np.choose(typ, [quarters * rate_d * 25, rng.integers(2000, 200_001, n),
                            rng.integers(50, 1001, n) * 1000, rng.integers(1000, 50_001, n)])
    if fresh_at is None:
        r = rng.random(n)
        recent = age < 45
        full = np.where(recent, r < 0.15, r < 0.68)
        partial = ~full & np.where(recent, r < 0.30, r < 0.84)
        wo = np.where((rng.random(n) < 0.12) & (full | partial | (rng.random(n) < 0.2)),
                      np.floor(value * rng.uniform(0.05, 0.3, n)), 0).astype(np.int64)
        billed = np.where(full, value - wo,
                          np.where(partial, np.floor((value - wo) * rng.uniform(0.2, 0.8, n)), 0)).astype(np.int64)
        approved = (billed > 0) | (rng.random(n) < np.where(recent, 0.6, 0.95))
        created = np.minimum(logged + rng.integers(3600, 3 * DAY, n), ctx.now_s)
        updated = spread_updates(rng, created, ctx.now_s, (billed > 0) | (wo > 0), ctx.tie_at)
    else:
        wo = billed = np.zeros(n, dtype=np.int64)
        approved = rng.random(n) < 0.5
        created = updated = np.full(n, fresh_at)
    note_idx = (rng.random(n) * np.array([len(x) for x in _WIP_NOTES])[typ]).astype(np.int64)
    flat_notes = [note for group in _WIP_NOTES for note in group]
    note_off = np.cumsum([0, *[len(x) for x in _WIP_NOTES[:-1]]])
    return pa.table({
        "id": np.arange(id0, id0 + n),
        "client_id": c + CLIENT_ID0,
        "client_name": take(ctx.client_names, c),
        "job_id": job + JOB_ID0,
        "job_name": take(ctx.job_names, job),
        "staff_id": staff + STAFF_ID0,
        "staff_name": take(ctx.staff_names, staff),
        "type": take(WIP_TYPES, typ),
        "logged_date": ts(logged),
        "hours": dec(hours_c),
        "rate": dec(rate_c),
        "value": dec(value),
        "billed_amount": dec(billed),
        "write_off_amount": dec(wo),
        "outstanding_amount": dec(value - billed - wo),
        "approved": approved,
        "notes": take(flat_notes, note_off[typ] + note_idx),
        "created_at": ts(created),
        "updated_at": ts(updated),
    })


def gen_payments(rng: np.random.Generator, ctx: Context, owner: np.ndarray, amount: np.ndarray, status: list[str],
              lo: np.ndarray, hi: np.ndarray, id0: int, client_ids: np.ndarray) -> pa.Table:
    """Payment rows for invoices `owner` (invoice ids) paid between `lo` and `hi` (epoch s)."""
    m = len(owner)
    paid_at = lo + (rng.random(m) * (hi - lo)).astype(np.int64)
    created = np.minimum(paid_at + rng.integers(60, 3600, m), ctx.now_s)
    method = rng.choice(len(PAYMENT_METHODS), m, p=_METHOD_P)
    card = method < 2
    digits = rng.integers(1_000_000_000, 9_999_999_999, m)
    return pa.table({
        "id": np.arange(id0, id0 + m),
        "invoice_id": owner,
        "client_id": client_ids,
        "amount": dec(amount),
        "currency": pa.array(["USD"] * m),
        "payment_method": take(PAYMENT_METHODS, method),
        "status": pa.array(status, pa.string()),
        "payment_date": ts(paid_at),
        "card_last_four": pa.array([f"{d % 10000:04d}" if k else None for d, k in
                                    zip(digits.tolist(), card.tolist(), strict=True)], pa.string()),
        "card_type": take(("VISA", "MASTERCARD", "AMEX", None), np.where(card, digits % 3, 3)),
        "processor_reference": fmt("%s%d", np.array(_PROCESSOR, dtype=object)[method], digits),
        "created_at": ts(created),
        "updated_at": ts(np.minimum(created + rng.integers(0, 600, m), ctx.now_s)),
    })


def gen_invoices(rng: np.random.Generator, ctx: Context, n: int, ids: tuple[int, int, int],
                 shares: tuple[float, float, float, float], fresh_at: int | None = None,
                 ) -> tuple[pa.Table, pa.Table, pa.Table]:
    """`n` Aiwyn invoices with line items and payments; `ids` = first (invoice, line, payment) ids.

    `shares` = (paid, pending, draft, cancelled); the rest are open (POSTED/OVERDUE), spread
    round-robin over the five aging buckets. Returns (invoices, line_items, payments).
    """
    inv_id0, line_id0, pay_id0 = ids
    c = ctx.pick_clients(rng, n)
    job = ctx.pick_jobs(rng, c)
    terms = rng.choice([15, 30, 30, 30, 45, 60], n)
    if fresh_at is None:
        cls = shuffled_classes(rng, n, [shares[0], shares[1], shares[2], shares[3]])
        cls = np.array([0, 2, 3, 4, 1])[cls]  # classes in INVOICE_STATUSES order, open last
        dpd = days_past_due(rng, cyclic_buckets(cls == 1))
        inv_day = np.select(
            [cls == 1, cls == 0, cls == 4],
            [ctx.today - dpd - terms, ctx.today - rng.integers(20, HORIZON_DAYS, n),
             ctx.today - rng.integers(0, HORIZON_DAYS, n)],
            ctx.today - rng.integers(0, 21, n))
    else:
        cls = np.where(rng.random(n) < 0.2, 3, 1)
        inv_day = np.full(n, fresh_at // DAY)
    due_day = inv_day + terms
    dpd = ctx.today - due_day
    due_s = due_day * DAY + np.where(rng.random(n) < 0.7, DAY - 1, 0)
    n_lines = rng.integers(1, 5, n)
    line_owner = np.repeat(np.arange(n), n_lines)
    qty = rng.integers(1, 41, len(line_owner))
    price = rng.integers(10, 101, len(line_owner)) * 500
    tax_pct = rng.choice([0, 5, 8, 10], n)
    amount = qty * price
    subtotal = group_sum(amount, n_lines)
    tax = group_sum((amount * tax_pct[line_owner] + 50) // 100, n_lines)
    interest = np.where((cls == 1) & (dpd > 60) & (rng.random(n) < 0.3), (subtotal * 15 + 500) // 1000, 0)
    total = subtotal + tax + interest
    partial = (cls == 1) & (rng.random(n) < 0.35) & (fresh_at is None)
    paid = np.where(cls == 0, total, np.where(partial, np.maximum(1, np.floor(total * rng.uniform(0.1, 0.9, n))), 0))
    paid = paid.astype(np.int64)
    n_pay = np.where(paid > 0, np.where(paid < 300, 1, rng.integers(1, 4, n)), 0)
    failed = (paid > 0) & (rng.random(n) < 0.06)
    pay_owner = np.concatenate([np.repeat(np.arange(n), n_pay), np.flatnonzero(failed)])
    pay_amount = np.concatenate([split_amounts(rng, paid, n_pay),
                                 np.floor(total[failed] * rng.uniform(0.1, 1.0, int(failed.sum()))).astype(np.int64)])
    created = np.minimum(inv_day * DAY + rng.integers(8 * 3600, 16 * 3600, n), ctx.now_s)
    lo = np.minimum(created + 600, ctx.now_s)
    hi = np.maximum(lo, np.minimum(ctx.now_s, due_s + 60 * DAY))
    statuses = ["CONFIRMED"] * int(n_pay.sum()) + ["FAILED"] * int(failed.sum())
    inv_ids = np.arange(inv_id0, inv_id0 + n)
    pays = gen_payments(rng, ctx, inv_ids[pay_owner], pay_amount, statuses, lo[pay_owner], hi[pay_owner], pay_id0,
                     c[pay_owner] + CLIENT_ID0)
    if fresh_at is None:
        last_pay = np.zeros(n, dtype=np.int64)
        np.maximum.at(last_pay, pay_owner, pays.column("updated_at").to_numpy().astype("int64") // 1_000_000)
        overdue = (cls == 1) & (dpd > 0) & (rng.random(n) < 0.85)
        updated = spread_updates(rng, created, ctx.now_s, cls != 1, ctx.tie_at)
        updated = np.maximum(updated, last_pay)
        updated = np.where(overdue, np.maximum(updated, np.minimum((due_day + 1) * DAY, ctx.now_s)), updated)
        status = np.select([cls == 0, overdue, cls == 1, cls == 2, cls == 3], ["PAID", "OVERDUE", "POSTED",
                                                                              "PENDING", "DRAFT"], "CANCELLED")
    else:
        created = updated = np.full(n, fresh_at)
        status = np.where(cls == 3, "DRAFT", "POSTED")
    year = (inv_day * DAY).astype("datetime64[s]").astype("datetime64[Y]").astype(int) + 1970
    invoices = pa.table({
        "id": inv_ids,
        "invoice_number": fmt("INV-%d-%06d", year, inv_ids),
        "client_id": c + CLIENT_ID0,
        "client_name": take(ctx.client_names, c),
        "job_id": job + JOB_ID0,
        "status": pa.array(status.tolist(), pa.string()),
        "invoice_date": ts(inv_day * DAY),
        "due_date": ts(due_s),
        "subtotal": dec(subtotal),
        "tax_amount": dec(tax),
        "interest_amount": dec(interest),
        "total_amount": dec(total),
        "paid_amount": dec(paid),
        "outstanding_amount": dec(total - paid),
        "currency": pa.array(["USD"] * n),
        "description": take(_INV_DESC, rng.integers(0, len(_INV_DESC), n)),
        "reference": fmt("REF-%d-%d", year, job + JOB_ID0),
        "project_name": take(ctx.job_names, job),
        "notes": fmt("Payment due within %d days of invoice date", terms),
        "created_at": ts(created),
        "updated_at": ts(updated),
    })
    lines = pa.table({
        "id": np.arange(line_id0, line_id0 + len(line_owner)),
        "invoice_id": inv_ids[line_owner],
        "description": take(_LINE_DESC, rng.integers(0, len(_LINE_DESC), len(line_owner))),
        "quantity": qty,
        "unit_price": dec(price),
        "amount": dec(amount),
        "tax_rate": dec(tax_pct[line_owner]),
    })
    return invoices, lines, pays
