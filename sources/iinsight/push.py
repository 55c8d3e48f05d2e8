"""``arwip push iinsight-transfer``: move invoices to another employer through ``PUT /api1/invoices/transfer``
and confirm each move through ``GET /api1/invoices/billed_to`` (seed 004 §2-3, CONTRACT.md "iinsight billed_to
and transfer"), over the writer :mod:`sources.iinsight.transfer`.

A transfer is not idempotent as the vendor counts it (a second move to the same employer is logged again), so
this target is not either: before planning and after an interrupted push it asks ``billed_to`` which invoices
already are the employer's (:meth:`IinsightTransfer.in_effect`), and those are not moved again. Ids iinsight
does not know are left out of its answer without an error: they fail as ``UNKNOWN_INVOICE``; a move that
``billed_to`` does not confirm fails as ``NOT_CONFIRMED``.
"""

from __future__ import annotations

from collections.abc import Sequence

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
from sources.iinsight import settings
from sources.iinsight.transfer import billed_to_among, confirm_transfer, transfer_invoices

KEY = "invoice_id"


class IinsightTransfer(PushTarget):
    """Invoices moved to one employer (see the module docstring)."""

    name = "iinsight-transfer"
    vendor = "iinsight"
    help = ("Move iinsight invoices to another employer (--invoices 1,2,... or --sql FILE with an invoice_id "
            "column), confirm each move through billed_to and report the ids iinsight does not know.")
    options = (
        PushOption("--employer", "The employer (company id) to move the invoices to."),
        PushOption("--invoices", "Invoice ids, separated by commas."),
        PushOption("--sql", f"File holding one query over the warehouse with an {KEY} column.", "file"),
    )
    batch_size = settings.TRANSFER_BATCH
    idempotent = False
    creates = False  # a move changes an invoice's employer

    def input(self, args: Args) -> PushInput:
        employer = str(args.get("employer") or "")
        if not employer.isdigit():
            raise PushUsageError(f"--employer needs a company id (digits), got {employer!r}")
        if (args.get("invoices") is None) == (args.get("sql") is None):
            raise PushUsageError("give exactly one of --invoices 1,2,... or --sql FILE")
        if args.get("sql") is not None:
            return PushInput(KEY, sql=args["sql"])
        ids = [i.strip() for i in str(args["invoices"]).split(",") if i.strip()]
        if not ids:
            raise PushUsageError("--invoices needs invoice ids separated by commas")
        return PushInput(KEY, rows=tuple({KEY: i} for i in ids))

    def object(self, args: Args) -> str:
        return str(args["employer"])

    async def prepare(self, client: ApiClient, args: Args, schema: pa.Schema) -> Prepared:
        if KEY not in schema.names:
            raise PushUsageError(f"the input has no {KEY} column (columns: {', '.join(schema.names)})")
        employer = self.object(args)

        def payload(row: dict) -> Payload:
            invoice = str(row[KEY]).strip()
            if not invoice.isdigit():
                raise Invalid(f"{KEY} must be digits, got {row[KEY]!r}", KEY)
            return {"employer_id": employer}

        return Prepared(payload)

    async def send(self, client: ApiClient, args: Args, rows: Sequence[Row]) -> list[Outcome]:
        result = await transfer_invoices(client, self.object(args), [key for key, _ in rows])
        confirmed, missing = await confirm_transfer(client, result)
        held, lost = set(confirmed), set(missing)
        outcomes = []
        for key, _ in rows:
            if key in held:
                outcomes.append(Outcome(key, True, "update"))
            elif key in lost:
                outcomes.append(Outcome(key, False, None, "NOT_CONFIRMED", KEY,
                                        f"moved, but billed_to does not list invoice {key} under the employer"))
            else:
                outcomes.append(Outcome(key, False, None, "UNKNOWN_INVOICE", KEY,
                                        f"iinsight does not know invoice {key} (left out of its answer)"))
        return outcomes

    async def in_effect(self, client: ApiClient, args: Args, keys: Sequence[str]) -> set[str]:
        return await billed_to_among(client, self.object(args), [k for k in keys if k.isdigit()])


TARGET = IinsightTransfer()
