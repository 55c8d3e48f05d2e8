"""Aimsio NRB import writer: ``POST /rest/api/standard/v1/NRB {"nrbList": [...]}`` (seed 003, CONTRACT.md
"Aimsio NRB import") over the shared :class:`~sources._http.ApiClient` of :func:`sources.aimsio.client.aimsio_client`
(Basic auth, 10 requests/s and 10 in flight, retries of 429 / 5xx / timeouts).

An item edits the NRB it matches (``nrbGuid``, else ``nrbExternalId``, else ``nrbOriginReference``) or creates one,
so resending a batch whose answer was lost edits instead of duplicating, as long as every item carries its
``nrbExternalId``. The answer (``IntegrationImportResult``) gives counts and notices ``{"index", "level",
"field", "message"}``: :func:`import_nrbs` maps each notice back to its item, an item with an ``ERROR`` notice
was not imported, the others were.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sources._http import ApiClient, SourceError
from sources._writes import check_batch, json_content
from sources.aimsio import settings

MAX_ITEMS = settings.NRBS_PER_REQUEST


@dataclass(frozen=True)
class NrbNotice:
    """A notice of the import: ``index`` of the item it is about (None when it names none), ``level``
    (``ERROR`` rejects the item), the ``field`` at fault (None when none is named) and the vendor's message."""

    index: int | None
    level: str
    field: str | None
    message: str


@dataclass(frozen=True)
class NrbItemResult:
    """One item's outcome: ``imported`` (created or edited) unless it has an ``ERROR`` notice."""

    index: int
    imported: bool
    notices: tuple[NrbNotice, ...]

    @property
    def error(self) -> NrbNotice | None:
        """The first ``ERROR`` notice: why the item was not imported."""
        return next((n for n in self.notices if n.level == "ERROR"), None)


@dataclass(frozen=True)
class NrbImportResult:
    """``IntegrationImportResult`` of one batch: the counts as Aimsio gives them, one result per item (request
    order) and the notices that name no item of the batch (``unmapped``)."""

    guid: str | None
    created: int
    edited: int
    edited_with_errors: int
    not_imported: int
    imported: int
    items: tuple[NrbItemResult, ...]
    unmapped: tuple[NrbNotice, ...]

    @property
    def failures(self) -> tuple[NrbItemResult, ...]:
        """The items that were not imported, with their notices."""
        return tuple(i for i in self.items if not i.imported)


async def import_nrbs(client: ApiClient, items: Sequence[Mapping[str, Any]]) -> NrbImportResult:
    """Create or edit up to :data:`MAX_ITEMS` NRBs in one ``POST /NRB``.

    ``items`` use the API's field names (``nrbExternalId``, ``nrbJobOrderNumber``, ``nrbRate``…); amounts as
    ``Decimal`` (sent as exact JSON numbers), ``nrbInvoiceDate`` in epoch milliseconds.

    Raises ``ValueError`` for more than :data:`MAX_ITEMS` items (nothing sent);
    :class:`~sources._http.SourceError` when Aimsio refuses the request or its answer is not an
    ``IntegrationImportResult`` whose counts agree with its notices (which items were imported is then unknown:
    resending the batch is safe, it edits by ``nrbExternalId``); :class:`~sources._http.ConfigError` for
    refused credentials.
    """
    check_batch(items, MAX_ITEMS, "aimsio NRB import")
    if not items:
        return NrbImportResult(None, 0, 0, 0, 0, 0, (), ())
    body = await client.request("POST", settings.NRB_IMPORT_PATH, **json_content({"nrbList": list(items)}))
    if not isinstance(body, dict) or not isinstance(body.get("notices", []), list):
        raise SourceError(f"aimsio: POST NRB answered no IntegrationImportResult (got {type(body).__name__})")
    counts = [_count(body, key) for key in ("numberOfEntitiesCreated", "numberOfEntitiesEdited",
                                            "numberOfEntitiesEditedWithErrors",
                                            "numberOfEntitiesNotImportedDueToErrors", "numberOfEntitiesImported")]
    notices = [_notice(raw) for raw in body.get("notices") or []]
    by_item: dict[int, list[NrbNotice]] = {}
    unmapped = []
    for notice in notices:
        if notice.index is not None and 0 <= notice.index < len(items):
            by_item.setdefault(notice.index, []).append(notice)
        else:
            unmapped.append(notice)
    results = tuple(NrbItemResult(i, not any(n.level == "ERROR" for n in by_item.get(i, ())),
                                  tuple(by_item.get(i, ()))) for i in range(len(items)))
    rejected = sum(not r.imported for r in results)
    if rejected != counts[3] or counts[0] + counts[1] + rejected != len(items):
        raise SourceError(f"aimsio: POST NRB counts (created {counts[0]}, edited {counts[1]}, not imported "
                          f"{counts[3]}) do not match the {rejected} items with errors among {len(items)} sent")
    return NrbImportResult(body.get("guid"), *counts, results, tuple(unmapped))


def _count(body: dict[str, Any], key: str) -> int:
    value = body.get(key) or 0
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        raise SourceError(f"aimsio: POST NRB answered {key}={value!r}, not a count")
    return int(value)


def _notice(raw: Any) -> NrbNotice:
    if not isinstance(raw, dict):
        return NrbNotice(None, "ERROR", None, str(raw))
    index = raw.get("index")
    return NrbNotice(index if isinstance(index, int) and not isinstance(index, bool) else None,
                     str(raw.get("level") or "ERROR").upper(), raw.get("field"), str(raw.get("message") or ""))
