"""iinsight invoice transfer writer (seed 004 §2 ``GET /api1/invoices/billed_to`` and §3 ``PUT
/api1/invoices/transfer``; CONTRACT.md "iinsight billed_to and transfer") over the shared
:class:`~sources._http.ApiClient` of :func:`sources.iinsight.client.iinsight_client`.

A transfer moves invoices to another employer (their ``company_id``). iinsight leaves ids it does not know out of
its answer without an error, so :func:`transfer_invoices` reports them as ``unknown``; :func:`confirm_transfer`
then reads ``billed_to`` to check that each moved invoice is billed to the employer. A transfer is idempotent
(moving an invoice to the employer it already has changes nothing but its ``last_update_utc``).
Ids are iinsight's strings of digits (``"1686"``).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from sources._http import ApiClient, SourceError
from sources.iinsight import settings

CRITERIA_IDS = 100
"""Invoice ids per ``billed_to`` question (they travel in the query string)."""


@dataclass(frozen=True)
class TransferResult:
    """What ``PUT /api1/invoices/transfer`` did: ``requested`` (request order, without repeats), ``transferred``
    (the ids iinsight echoed) and ``unknown`` (requested, not echoed), ``updated_count`` as iinsight gave it."""

    employer_id: str
    requested: tuple[str, ...]
    transferred: tuple[str, ...]
    unknown: tuple[str, ...]
    updated_count: int
    message: str


def _id(value: str | int, what: str) -> str:
    text = str(value)
    if not text.isdigit():
        raise ValueError(f"iinsight transfer: {what} must be digits without blanks; got {value!r}")
    return text


async def transfer_invoices(client: ApiClient, employer_id: str | int,
                            invoice_ids: Sequence[str | int]) -> TransferResult:
    """Move ``invoice_ids`` to ``employer_id`` (form ``employer_id``, ``invoice_ids=1,2,…``).

    Sends nothing for an empty list. Raises ``ValueError`` for an id that is not digits;
    :class:`~sources._http.SourceError` when iinsight refuses (400 ``invalid_request``, e.g. an unknown employer) or
    answers without ``invoice_ids``; :class:`~sources._http.ConfigError` for refused credentials.
    """
    employer = _id(employer_id, "employer_id")
    requested = tuple(dict.fromkeys(_id(i, "an invoice id") for i in invoice_ids))
    if not requested:
        return TransferResult(employer, (), (), (), 0, "")
    body = await client.request("PUT", settings.TRANSFER_PATH,
                                data={"employer_id": employer, "invoice_ids": ",".join(requested)})
    if not isinstance(body, dict) or not isinstance(body.get("invoice_ids"), str | int):
        raise SourceError(f"iinsight: transfer answered no invoice_ids (got {type(body).__name__})")
    echoed = [i.strip() for i in str(body["invoice_ids"]).split(",") if i.strip()]
    moved = tuple(i for i in requested if i in set(echoed))
    count = body.get("updated_count")
    return TransferResult(employer, requested, moved, tuple(i for i in requested if i not in set(echoed)),
                          int(count) if str(count).isdigit() else len(moved), str(body.get("message") or ""))


async def billed_to(client: ApiClient, employer_id: str | int, fields: Sequence[str] = ("invoice_id",),
                    page_size: int = settings.BILLED_TO_PAGE_SIZE,
                    invoice_ids: Sequence[str] | None = None) -> AsyncIterator[list[dict[str, Any]]]:
    """Pages of ``GET /api1/invoices/billed_to`` (``page`` from 1, ``limit`` 1..1000) until an empty or short
    page: the invoices billed to ``employer_id``, each with ``fields`` (strings; ``invoice_id`` always); with
    ``invoice_ids``, only those (seed 004's ``search_criteria`` ``{"invoice_id": "1,2,..."}``)."""
    page = 1
    criteria = None
    if invoice_ids is not None:
        if not invoice_ids:
            return
        criteria = json.dumps({"invoice_id": ",".join(_id(i, "an invoice id") for i in invoice_ids)})
    while True:
        params = {"employer_id": _id(employer_id, "employer_id"), "fields": ",".join(fields), "page": page,
                  "limit": page_size}
        if criteria is not None:
            params["search_criteria"] = criteria
        rows = await client.request("GET", settings.BILLED_TO_PATH, params=params)
        if rows is None:
            return
        if not isinstance(rows, list):
            raise SourceError(f"iinsight: billed_to page {page} is not a JSON array")
        if rows:
            yield rows
        if len(rows) < page_size:
            return
        page += 1


async def confirm_transfer(client: ApiClient, result: TransferResult) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(confirmed, missing): the transferred ids that ``billed_to`` lists under the employer, and those it does
    not (a move that did not hold, or was undone since). Asks only for the transferred ids, 100 at a time."""
    listed = await billed_to_among(client, result.employer_id, result.transferred)
    return (tuple(i for i in result.transferred if i in listed), tuple(i for i in result.transferred
                                                                          if i not in listed))


async def billed_to_among(client: ApiClient, employer_id: str | int, invoice_ids: Sequence[str]) -> set[str]:
    """The ids among ``invoice_ids`` that ``billed_to`` lists under ``employer_id`` (asked 100 ids at a time)."""
    listed: set[str] = set()
    for start in range(0, len(invoice_ids), CRITERIA_IDS):
        async for rows in billed_to(client, employer_id, invoice_ids=invoice_ids[start:start + CRITERIA_IDS]):
            listed.update(str(r.get("invoice_id")) for r in rows)
    return listed
