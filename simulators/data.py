"""The simulated firm: a seeded, deterministic generator of all three vendors' data, held in one
in-memory DuckDB, plus bursts of activity and the ground truth for reconciliation.

All three vendors share one client list (the same client names appear in Aiwyn, as Aimsio job
clients and as iinsight bill-to debtors). Money is exact (`DECIMAL(18,2)`, Aimsio rate/quantity/tax/
upcharge `DECIMAL(18,3)`), timestamps are `TIMESTAMPTZ` in UTC, at whole seconds.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import duckdb
import numpy as np
import pyarrow as pa

from simulators._gen import build_context, gen_invoices, gen_wip
from simulators._gen_aimsio import NRB_SCHEMA, gen_jobs, gen_nrbs
from simulators._gen_iinsight import gen_iinsight, gen_iinsight_billings, gen_iinsight_payments
from simulators._views import TRUTH_SQL, VIEWS

T = TypeVar("T")

WIP_ID0, INVOICE_ID0, LINE_ID0, PAYMENT_ID0, IINSIGHT_ID0, COST_ID0 = 100_001, 40_001, 1, 12_001, 900, 221_001
IINSIGHT_PAYMENT_ID0, BILLING_ID0 = 980, 1
"""First ids of generated rows (iinsight invoice and payment ids start below 1000 so that 999 → 1000 is
crossed: numeric order differs from string order)."""


# Job columns that may be null in every generated row; their type cannot be inferred from the values then.
_JOB_NULLABLE = {
    "job_end_date": pa.timestamp("us", tz="UTC"),
    "job_assignee_employee_number": pa.string(),
    "job_assignee_full_name": pa.string(),
    "job_assignee_user_name": pa.string(),
}


def _typed(table: pa.Table, types: dict[str, pa.DataType]) -> pa.Table:
    """`table` with the all-null columns named in `types` given their real type."""
    for name, kind in types.items():
        i = table.schema.get_field_index(name)
        if i >= 0 and pa.types.is_null(table.schema.field(i).type):
            table = table.set_column(i, name, pa.nulls(table.num_rows, kind))
    return table


@dataclass(frozen=True)
class FirmSize:
    """Exact row counts of a firm, plus the status mix knobs (shares of the entity, exact by rounding).

    `aiwyn_invoices` are split into paid / pending / draft / cancelled by the shares below, the rest
    open (POSTED or OVERDUE) spread over the five aging buckets. `iinsight_invoices` counts every
    status: `round(n × iinsight_voided_share)` VOIDED, `round(n × iinsight_reversed_share)` REVERSED,
    the rest ACTIVE; set both shares to 0 to get exactly `n` active invoices. `nrbs` counts top-level
    NRBs (AP-invoice receipts add children on top).

    `iinsight_payments`: `round(n × iinsight_payment_voided_share)` VOIDED, the rest ACTIVE, at least one
    per paid invoice (fewer than the paid invoices leave the others unpaid). `iinsight_billings`:
    `round(n × iinsight_unbilled_share)` unbilled, the rest items of invoices (at most as many as there are
    items; the others unbilled too). Presets scale both with `iinsight_invoices`: 2 billings and 0.64
    payments per invoice (about one per paid invoice), the smaller presets a little more (0.65-0.75) so
    that a seed's spread in paid invoices does not leave any unpaid.
    """

    clients: int = 50
    wip: int = 5_000
    aiwyn_invoices: int = 1_000
    nrbs: int = 500
    job_orders: int = 30
    iinsight_invoices: int = 1_000
    iinsight_payments: int = 700
    iinsight_billings: int = 2_000
    aiwyn_paid_share: float = 0.42
    aiwyn_pending_share: float = 0.03
    aiwyn_draft_share: float = 0.02
    aiwyn_cancelled_share: float = 0.03
    iinsight_voided_share: float = 0.05
    iinsight_reversed_share: float = 0.02
    iinsight_payment_voided_share: float = 0.05
    iinsight_unbilled_share: float = 0.2

    @classmethod
    def preset(cls, name: str) -> FirmSize:
        """`tiny` (quick tests), `demo` (default), `medium` (200k WIP) or `large` (1M WIP, 100k invoices each,
        64k iinsight payments, 200k billings)."""
        presets = {
            "tiny": cls(clients=5, wip=120, aiwyn_invoices=30, nrbs=12, job_orders=4, iinsight_invoices=40,
                        iinsight_payments=30, iinsight_billings=80),
            "demo": cls(),
            "medium": cls(clients=200, wip=200_000, aiwyn_invoices=10_000, nrbs=500, job_orders=60,
                          iinsight_invoices=20_000, iinsight_payments=13_000, iinsight_billings=40_000),
            "large": cls(clients=500, wip=1_000_000, aiwyn_invoices=100_000, nrbs=2_000, job_orders=150,
                         iinsight_invoices=100_000, iinsight_payments=64_000, iinsight_billings=200_000),
        }
        if name not in presets:
            raise ValueError(f"unknown firm size {name!r}; one of {sorted(presets)}")
        return presets[name]


@dataclass(frozen=True)
class Truth:
    """The firm's full current data as typed Arrow tables (ints, `decimal128(18,2)` money, UTC
    timestamps, `date32` dates), ordered by primary key. Columns are the snake_case API names:

    - `aiwyn_wip`: id, client_id, client_name, job_id, job_name, staff_id, staff_name, type, logged_date,
      hours, rate, value, billed_amount, write_off_amount, outstanding_amount, approved, notes,
      created_at, updated_at
    - `aiwyn_invoices`: id, invoice_number, client_id, client_name, job_id, status, invoice_date,
      due_date, subtotal, tax_amount, interest_amount, total_amount, paid_amount, outstanding_amount,
      currency, description, reference, project_name, notes, created_at, updated_at
    - `aiwyn_invoice_line_items`: id, invoice_id, description, quantity (int), unit_price, amount, tax_rate
    - `aiwyn_payments`: id, invoice_id, client_id, amount, currency, payment_method, status,
      payment_date, card_last_four, card_type, processor_reference, created_at, updated_at
    - `aimsio_nrbs` (top-level, not deleted) and `aimsio_nrb_children` (children of those): nrb_guid,
      nrb_external_id, nrb_origin_reference, nrb_job_order_number, nrb_wbs_guid,
      nrb_wbs_shared_identifier, nrb_po_number, nrb_purchase_order_guid,
      nrb_purchase_order_cost_item_origin_reference, nrb_invoice_number, nrb_invoice_date, nrb_name,
      nrb_type_uname, nrb_type_name, nrb_document_type, nrb_account_type, nrb_is_billable,
      nrb_vendor_guid, nrb_vendor_code, nrb_rate, nrb_quantity, nrb_vendor_tax, nrb_upcharge
      (decimal128(18,3)), nrb_markup_applies_on, nrb_total_after_markup, nrb_is_exported, is_internal,
      nrb_should_reconcile_with_po, nrb_billed_in_guid, nrb_billed_in_name, nrb_file_name, nrb_notes,
      nrb_created_at, nrb_created_by_user_name, nrb_created_by_full_name, nrb_updated_at,
      nrb_parent_guid, nrb_parent_external_id
    - `aimsio_job_orders`: job_id, job_guid, job_number, job_name, job_description, job_status,
      job_type_uname, job_client_code, job_client_guid, job_client_name, job_price_book_name,
      job_price_book_guid, job_start_date, job_end_date, job_created_at, job_updated_at,
      job_show_in_dispatching, job_assignee_employee_number, job_assignee_full_name,
      job_assignee_user_name, job_address, job_location_code, job_location_name, job_location_lat,
      job_location_long, job_direction, job_schedule_guid, job_schedule_budget_entry_option,
      job_schedule_contract_value_entry_option, job_schedule_change_setting_option
    - `iinsight_invoices` (every status): invoice_id, company_id, to, to_attention, to_address,
      to_email, abn, invoice_number, case_number, terms (int days), date_of_invoice, due_date, notes,
      total_amount_payable, client, claim_no, provider_number, assigned_to, start_date, end_date,
      contact_id, sub_total, total_tax, total, last_update_utc, status, client_first_name, client_last_name
    - `iinsight_invoice_items`: cost_id, invoice_id, charge_code, employee_id, employee_first_name,
      employee_last_name, employee_name, employee_title, general_ledger_code,
      general_ledger_description, general_ledger_id, professional, quantity, rate, revenue_centre,
      service_contract, service_date, service, description, tax_amount, total
    - `iinsight_payments` (every status): payment_id, payment_number, transaction_date, amount (the receipt,
      > 0: what it takes off its invoice; v2 shows −amount), v1_amount (the signed amount v1 shows),
      paid_by, reference_number, card_type, bank, branch, invoice_id, invoice_number, bill_to_id, type,
      notes, status (ACTIVE | VOIDED), last_update_utc
    - `iinsight_billings` (not deleted): id, case_id, time_based (bool), description, estimate_link,
      employee_id, employee_first_name, employee_last_name, employee_name, employee_title, team_id,
      team_description, reference_date (the work date), start_time (local hour), reference_time (UTC
      instant), quantity, unit_cost, unit_charge, tax_amount, tax_rate, total_charge, charge_code,
      invoice (the invoice id, 0 while unbilled), notes, time_inserted (UTC instant)
    """

    aiwyn_wip: pa.Table
    aiwyn_invoices: pa.Table
    aiwyn_invoice_line_items: pa.Table
    aiwyn_payments: pa.Table
    aimsio_nrbs: pa.Table
    aimsio_nrb_children: pa.Table
    aimsio_job_orders: pa.Table
    iinsight_invoices: pa.Table
    iinsight_invoice_items: pa.Table
    iinsight_payments: pa.Table
    iinsight_billings: pa.Table

    def __getitem__(self, name: str) -> pa.Table:
        return getattr(self, name)

    def as_dict(self) -> dict[str, pa.Table]:
        """Table name → table."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


SORTED_TABLES = {
    "aiwyn_wip": ("updated_at", "id"),
    "aiwyn_invoices": ("updated_at", "id"),
    "aiwyn_payments": ("updated_at", "id"),
    "iinsight_invoices": ("last_update_utc", "invoice_id"),
    "iinsight_payments": ("last_update_utc", "payment_id"),
}
"""Big tables kept physically ordered by (update timestamp, id): generated that way, and every row a
write touches is re-appended at the end. Keyset pages then read a narrow rowid range (fast Top-N)."""
UPDATE_COLUMNS = {
    "aiwyn.wip": ("aiwyn_wip", "updated_at"),
    "aiwyn.invoices": ("aiwyn_invoices", "updated_at"),
    "aiwyn.payments": ("aiwyn_payments", "updated_at"),
    "aimsio.nrbs": ("aimsio_nrbs", "nrb_updated_at"),
    "aimsio.job_orders": ("aimsio_jobs", "job_updated_at"),
    "iinsight.invoices": ("iinsight_invoices", "last_update_utc"),
    "iinsight.payments": ("iinsight_payments", "last_update_utc"),
    "iinsight.billings": ("iinsight_billings", "changed_utc"),
}
"""Entity → (store table, update-timestamp column). Billings have no change timestamp in the API: their
`changed_utc` is the simulator's own (creation, invoicing, deletion), never served."""
_DELETIONS = ("CREATE TABLE aiwyn_deletions "
              "(entity VARCHAR NOT NULL, id BIGINT NOT NULL, deleted_at TIMESTAMPTZ NOT NULL)")
"""Tombstones of hard-deleted Aiwyn records (`entity` `wip` | `payment`), stamped like any change: caches drop
their documents, webhooks send DELETE (CONTRACT.md: Aiwyn hard-deletes WIP and payments)."""
_log = logging.getLogger(__name__)


class Firm:
    """A deterministic firm: same `seed` + `size` + `now` → identical data.

    `now` (tz-aware, truncated to the second; default the current UTC second) anchors every generated
    date; every creation/update timestamp is ≤ `now`. Reads go through per-thread DuckDB cursors
    (`query`, `scalar`, `arrow`); every change goes through `write`, serialised by one lock and run in
    a transaction, after which `now` advances to the change's timestamp.
    """

    def __init__(self, seed: int = 1, size: FirmSize | str = "demo", now: datetime | None = None) -> None:
        self.seed = seed
        self.size = FirmSize.preset(size) if isinstance(size, str) else size
        if now is None:
            now = datetime.now(UTC)
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        self._now = now.astimezone(UTC).replace(microsecond=0)
        self._lock = threading.RLock()
        self._local = threading.local()
        self._cursors: list[duckdb.DuckDBPyConnection] = []
        self._activity_runs = 0
        self._version = 0
        self._memo: dict[str, Any] = {}
        self._listeners: list[Callable[[datetime], None]] = []
        self._con = duckdb.connect(":memory:")
        self._con.execute("SET GLOBAL TimeZone = 'UTC'")
        self._generate()
        self._stamp = self._latest()

    # -- generation -------------------------------------------------------------------------
    def _generate(self) -> None:
        size, now_s = self.size, int(self._now.timestamp())
        ctx, ref = build_context(np.random.default_rng([self.seed, 0]), size.clients, now_s)
        self.context = ctx
        for name, table in ref.items():
            self._create(name, table)
        self._create("aiwyn_wip", gen_wip(np.random.default_rng([self.seed, 1]), ctx, size.wip, WIP_ID0))
        shares = (size.aiwyn_paid_share, size.aiwyn_pending_share, size.aiwyn_draft_share, size.aiwyn_cancelled_share)
        inv, lines, pays = gen_invoices(np.random.default_rng([self.seed, 2]), ctx, size.aiwyn_invoices,
                                        (INVOICE_ID0, LINE_ID0, PAYMENT_ID0), shares)
        self._create("aiwyn_invoices", inv)
        self._create("aiwyn_line_items", lines)
        self._create("aiwyn_payments", pays)
        rng = np.random.default_rng([self.seed, 3])
        jobs = gen_jobs(rng, ctx, size.job_orders)
        self._create("aimsio_jobs", _typed(pa.Table.from_pylist(jobs), _JOB_NULLABLE))
        self._create("aimsio_nrbs", pa.Table.from_pylist(gen_nrbs(rng, ctx, jobs, size.nrbs, 1), NRB_SCHEMA))
        ii, items = gen_iinsight(np.random.default_rng([self.seed, 4]), ctx, size.iinsight_invoices,
                                 (IINSIGHT_ID0, COST_ID0), (size.iinsight_voided_share, size.iinsight_reversed_share))
        pays, ii = gen_iinsight_payments(np.random.default_rng([self.seed, 5]), ctx, ii, size.iinsight_payments,
                                         IINSIGHT_PAYMENT_ID0, size.iinsight_payment_voided_share)
        self._create("iinsight_invoices", ii)
        self._create("iinsight_items", items)
        self._create("iinsight_payments", pays)
        self._create("iinsight_billings", gen_iinsight_billings(
            np.random.default_rng([self.seed, 6]), ctx, ii, items, size.iinsight_billings,
            size.iinsight_unbilled_share, BILLING_ID0))
        self._con.execute(VIEWS)
        self._con.execute(_DELETIONS)

    def _create(self, name: str, table: pa.Table) -> None:
        order = " ORDER BY " + ", ".join(SORTED_TABLES[name]) if name in SORTED_TABLES else ""
        self._con.register("_src", table)
        self._con.execute(f"CREATE TABLE {name} AS SELECT * FROM _src{order}")
        self._con.unregister("_src")

    @staticmethod
    def _reappend(con: duckdb.DuckDBPyConnection, t: datetime) -> None:
        """Move every row stamped `t` to the end of its sorted table (keeps the physical order).

        The rows are copied out (Arrow), deleted, and appended from the copy. Appending a table's rows from
        itself (`INSERT INTO t SELECT * FROM t ...`) and then deleting the originals in the same
        transaction corrupts DuckDB 2.0's in-memory string segments after some dozens of writes ("Corrupted
        uncompressed string segment" on COMMIT, a NULL amount, or a crash).
        """
        for table, (ts_col, key) in SORTED_TABLES.items():
            query = f"SELECT * FROM {table} WHERE {ts_col} = $t ORDER BY {key}"
            moved = con.sql(query, params={"t": t}).to_arrow_table()
            if moved.num_rows:
                con.execute(f"DELETE FROM {table} WHERE {ts_col} = ?", [t])
                con.register("_moved", moved)
                try:
                    con.execute(f"INSERT INTO {table} SELECT * FROM _moved")
                finally:
                    con.unregister("_moved")

    def _latest(self) -> datetime:
        """Latest update timestamp of any entity (under the write lock or before serving)."""
        latest = self._con.execute(
            " UNION ALL ".join(f"SELECT max({c}) FROM {t}" for t, c in [*UPDATE_COLUMNS.values(),
                                                                        ("aiwyn_deletions", "deleted_at")])
        ).fetchall()
        return max((r[0] for r in latest if r[0] is not None), default=datetime(1970, 1, 1, tzinfo=UTC))

    # -- access -----------------------------------------------------------------------------
    @property
    def now(self) -> datetime:
        """The firm's clock (UTC): the generation anchor, advanced by every write."""
        return self._now

    @property
    def version(self) -> int:
        """Write counter, a seqlock: odd while a write is under way, +2 per write (committed or not).

        Caches derived from the data (`_cache.py`, `_keyset.py`) are valid for one even version; a
        reader that derived something at version v and read the database afterwards knows its read
        saw the same data iff `version` is still v (the counter turns odd before a write begins).
        """
        return self._version

    @property
    def stamp(self) -> datetime:
        """Change boundary: every row changed after this version's data has an update timestamp
        `> stamp` (the `t` of the last committed write, or the latest generated timestamp)."""
        return self._stamp

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Hold off writes (the write lock) while a cache reads one consistent version."""
        with self._lock:
            yield

    def memo(self, key: str, build: Callable[[], T]) -> T:
        """A per-firm object (a render cache, a sorted index) made once by `build` and shared by every app serving
        this firm; one already made is returned without the write lock (a route need not wait for a write)."""
        with suppress(KeyError):
            return self._memo[key]
        with self._lock:
            if key not in self._memo:
                self._memo[key] = build()
            return self._memo[key]

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        cur = getattr(self._local, "cursor", None)
        if cur is None:
            with self._lock:
                cur = self._con.cursor()
                self._cursors.append(cur)
            self._local.cursor = cur
        return cur

    def query(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        """Rows of a read-only SQL query (parameters bound, never interpolated)."""
        return self._cursor().execute(sql, params or []).fetchall()

    def scalar(self, sql: str, params: list[Any] | None = None) -> Any:
        """First column of the first row (None when there is no row)."""
        rows = self._cursor().execute(sql, params or []).fetchall()
        return rows[0][0] if rows else None

    def arrow(self, sql: str, params: list[Any] | None = None) -> pa.Table:
        """A read-only SQL query as an Arrow table."""
        return self._cursor().sql(sql, params=params or None).to_arrow_table()

    def write(self, change: Callable[[duckdb.DuckDBPyConnection, datetime], T], reorder: bool = True) -> T:
        """Run `change(connection, t)` in one transaction under the write lock.

        `t` = max(latest update timestamp of any entity + 1 s, current UTC second): every row the change
        touches must get `t` as its update timestamp, so it sorts after everything that existed before.
        The firm's `now` advances to `t`, `stamp` becomes `t` and `version` moves on by 2 (odd meanwhile).
        `reorder=False` skips re-appending rows stamped `t` (`SORTED_TABLES`): for a change that touches none
        of those tables (the Records API's), it saves their scans.
        Then, still under the lock, every `on_commit` listener is called with `t`.
        """
        with self._lock:
            t = max(self._latest() + timedelta(seconds=1), datetime.now(UTC).replace(microsecond=0))
            self._version += 1
            try:
                self._con.execute("BEGIN TRANSACTION")
                try:
                    result = change(self._con, t)
                    if reorder:
                        self._reappend(self._con, t)
                except BaseException:
                    self._con.execute("ROLLBACK")
                    raise
                self._con.execute("COMMIT")
                self._stamp = t
                self._now = max(self._now, t)
            finally:
                self._version += 1
            for listener in list(self._listeners):
                try:
                    listener(t)
                except Exception:  # the write is committed: a listener must not undo that
                    _log.exception("on_commit listener %r failed", listener)
            return result

    def on_commit(self, listener: Callable[[datetime], None]) -> Callable[[], None]:
        """Call `listener(t)` after every committed write, under the write lock, so it reads exactly the rows
        that write stamped `t` (and the `aiwyn_deletions` rows at `t`). It must be quick and must not write;
        its errors are logged, never raised. Returns a function that removes it (idempotent)."""
        self._listeners.append(listener)

        def remove() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)
        return remove

    # -- activity, truth --------------------------------------------------------------------
    def activity(self, fraction: float = 0.02, seed: int | None = None) -> dict[str, dict[str, int]]:
        """Apply one deterministic burst of activity to about `fraction` of every entity.

        New WIP / invoices (+ lines) / payments / NRBs / iinsight invoices, payments and billings, edits
        (WIP billed or written off, invoice status changes, payments, NRBs billed or re-quantified, job
        status, iinsight invoice voids / reversals, payments voided, unbilled billings put on new invoices
        made of them) and deletes (Aimsio NRBs, unbilled iinsight billings). Every touched row gets the
        same update timestamp `t` (see `write`). Without `seed` the n-th call uses (firm seed, n).
        Returns counts, e.g. `{"aiwyn.wip": {"new": 10, "edited": 40, "deleted": 0}, ...}`.
        """
        from simulators._activity import apply_activity

        if not 0 < fraction <= 1:
            raise ValueError("fraction must be in (0, 1]")
        with self._lock:
            self._activity_runs += 1
            rng = np.random.default_rng([self.seed, 99, self._activity_runs] if seed is None else [seed, 98])
            return self.write(lambda con, t: apply_activity(self, con, rng, t, fraction))

    def truth(self) -> Truth:
        """Everything the APIs currently serve, typed (see `Truth` for the columns)."""
        cur = self._cursor()
        return Truth(**{name: cur.sql(sql).to_arrow_table() for name, sql in TRUTH_SQL.items()})

    def updated_at_max(self, entity: str) -> datetime | None:
        """Latest update timestamp of an entity (a key of `UPDATE_COLUMNS`: `aiwyn.wip`, …, `iinsight.billings`)."""
        table, column = UPDATE_COLUMNS[entity]
        return self.scalar(f"SELECT max({column}) FROM {table}")

    def counts(self) -> dict[str, int]:
        """Row count of every truth table."""
        return {name: table.num_rows for name, table in self.truth().as_dict().items()}

    def describe(self) -> dict[str, Any]:
        """Seed, size and clock, for logs."""
        return {"seed": self.seed, "size": asdict(self.size), "now": self._now.isoformat()}

    def close(self) -> None:
        """Close every cursor and the database."""
        with self._lock:
            for cur in self._cursors:
                cur.close()
            self._cursors.clear()
            self._memo.clear()
            self._con.close()
