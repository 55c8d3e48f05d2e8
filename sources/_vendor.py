"""What a vendor is to arwip: one descriptor per ``sources/<vendor>/`` package, collected in
:mod:`sources.registry`, through which ``pipelines/`` (sync, reconcile, verify, check) reach every vendor
without knowing any of them.

A :class:`Vendor` says which configuration keys it reads, builds its API client and its dlt source from
them, lists its entities (core or optional, with the endpoint and warehouse columns of each), the raw tables
its models read, how to probe an entity (``arwip check``), what totals its API gives (``arwip verify``),
how to list every id of an entity that the vendor hard-deletes (reconciling, see :mod:`pipelines.reconcile`),
where ``arwip push`` writes (its push targets) and, for a vendor that sends webhooks, its
:class:`sources._webhooks.Webhooks` (``arwip serve``, ``arwip subscriptions``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, ClassVar

import dlt
from dlt.sources import DltSource

from sources._arrow import Bool, Field, TableSpec, Text, Timestamp
from sources._config import Setting, http_settings, resolve
from sources._http import ApiClient, BadPayload, EndpointUnavailable, HttpSettings, RequestStats, Session
from sources._push import PushTarget
from sources._webhooks import Webhooks

Config = Mapping[str, Any]
"""A vendor's resolved configuration: ``{key: value}`` for every :class:`~sources._config.Setting`."""


@dataclass(frozen=True)
class Entity:
    """One entity a vendor serves, loaded by the dlt resource of the same name into table ``<vendor>.<name>``.

    ``path``: its list endpoint (messages, ``arwip check``; may name config keys, e.g.
    ``/api{api_version}/invoices``, see :meth:`Vendor.endpoint`). ``core``: the source fails without it; an
    optional entity (``core=False``) only enriches, and when its endpoint is unavailable (403, 404, 405, 501,
    or never JSON) the source loads without it and ``fallback`` says what the models do instead
    (CONTRACT.md "Optional endpoints"). ``key``, ``changed_at``: its warehouse key and change-timestamp
    columns; ``money``: the warehouse money column ``arwip verify`` sums (None: no money check);
    ``reconcile``: the vendor hard-deletes it, so ``arwip sync --reconcile`` compares its ids.
    """

    name: str
    path: str
    key: str
    changed_at: str
    core: bool = True
    fallback: str = ""
    money: str | None = None
    reconcile: bool = False


@dataclass(frozen=True)
class ApiTotals:
    """What an API says it holds of one entity: ``rows``, the sum of its money (``DECIMAL(18,2)``; None when
    not compared) and the newest change timestamp (UTC; None when there are no rows)."""

    rows: int
    money: Decimal | None
    newest: datetime | None


class Vendor(ABC):
    """The descriptor of one vendor (see the module docstring). Subclasses set the class attributes and
    implement :meth:`client`, :meth:`source` and :meth:`probe`; :meth:`totals` and :meth:`ids` have defaults
    for a vendor without them, :attr:`webhooks` is None for a vendor without webhooks."""

    name: ClassVar[str]
    """The source name: dlt dataset (warehouse schema), ``[sources.<name>]`` config section."""
    config_keys: ClassVar[tuple[Setting, ...]]
    """Its configuration keys (with the HTTP knobs, see :func:`sources._config.with_http`)."""
    entities: ClassVar[tuple[Entity, ...]]
    """Its entities, in load order."""
    tables: ClassVar[tuple[TableSpec, ...]]
    """The raw tables its models read (their ``*_history`` tables follow from the specs)."""
    webhooks: ClassVar[Webhooks | None] = None
    """Its webhooks (receiving, hints, subscriptions), None when it sends none."""
    push_targets: ClassVar[tuple[PushTarget, ...]] = ()
    """Where ``arwip push`` can write to this vendor (see :mod:`sources._push`)."""

    def config(self, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The resolved configuration (see :func:`sources._config.resolve`).

        Raises:
            ConfigError: a missing key (named), a malformed value, an unknown override.
        """
        return resolve(self.name, self.config_keys, overrides)

    @abstractmethod
    def client(self, config: Config) -> ApiClient:
        """A new API client (its auth, base URL and HTTP settings from ``config``)."""

    def session(self, config: Config) -> Session:
        """A :class:`Session` creating this vendor's client when used (one token, one budget)."""
        return Session(lambda: self.client(config))

    def http(self, config: Config) -> HttpSettings:
        """The HTTP settings (timeouts, tries, backoff, limits) of ``config``."""
        return http_settings(config)

    @abstractmethod
    def source(self, config: Config, tally: dict[str, RequestStats]) -> DltSource:
        """The dlt source over ``config``; per-resource counters go to ``tally`` (by entity name).

        Raises:
            ConfigError: a malformed value (e.g. a start date that is not a date).
        """

    @abstractmethod
    async def probe(self, client: ApiClient, entity: Entity, config: Config) -> None:
        """The smallest read that proves ``entity`` works: one page of one row (and one detail where the
        entity needs details). Raises what the client raises (see :class:`sources._http.ApiClient`)."""

    async def totals(self, client: ApiClient, config: Config) -> dict[str, ApiTotals]:
        """Per entity name, what the API holds since the configured start date (``arwip verify``); ``{}``
        when the vendor offers nothing to compare."""
        return {}

    async def ids(self, client: ApiClient, entity: Entity, config: Config) -> set[str]:
        """Every id of ``entity`` (one with ``reconcile``) at the API since the configured start date, as text.

        Raises:
            BadPayload: an id page that was not JSON (an incomplete set would flag records that exist).
        """
        raise NotImplementedError(f"{self.name}.{entity.name} has no id listing")

    def endpoint(self, entity: Entity, config: Config) -> str:
        """``entity.path`` with the config filled in (``/api{api_version}/invoices`` -> ``/api1/invoices``)."""
        return entity.path.format_map(config)

    def entity(self, name: str) -> Entity:
        """The entity ``name``.

        Raises:
            KeyError: no such entity.
        """
        for entity in self.entities:
            if entity.name == name:
                return entity
        raise KeyError(f"{self.name} has no entity {name!r}")


ENTITY_STATUS = TableSpec(
    "entity_status",
    ("entity",),
    (
        Field("entity", Text(), required=True),
        Field("available", Bool(), required=True),
        Field("reason", Text()),
        Field("checked_at", Timestamp(), required=True),
    ),
)
"""``<source>.entity_status``, one row per optional entity, merged on ``entity`` by every sync: ``available``
(its endpoint could be read in the latest sync), ``reason`` (why not, e.g. ``HTTP 403 at /api1/payments``;
null when available), ``checked_at`` (UTC). The models read it to fall back (e.g. iinsight's
``open_amount_basis``); a raw table of every vendor, like ``deletions``."""


def guarded(entity: Entity, rows: Iterator[Any], stats: RequestStats) -> Iterator[Any]:
    """``rows`` of a resource; for an optional ``entity`` an unavailable endpoint ends them quietly instead of
    failing the source: :attr:`RequestStats.unavailable` says why (``HTTP 404 at /path``, ``not JSON at
    /path``), nothing more is loaded and no state changes, so the next sync tries again. Then one row of
    :data:`ENTITY_STATUS` records whether it was available. A core entity's errors pass through.
    """
    if entity.core:
        yield from rows
        return
    try:
        yield from rows
    except (EndpointUnavailable, BadPayload) as exc:
        stats.unavailable = why_unavailable(exc, entity)
    status = {
        "entity": entity.name,
        "available": stats.unavailable is None,
        "reason": stats.unavailable,
        "checked_at": datetime.now(UTC).isoformat(),
    }
    hints = dlt.mark.make_hints(table_name=ENTITY_STATUS.name, write_disposition="merge", primary_key=("entity",))
    yield dlt.mark.with_hints(ENTITY_STATUS.to_arrow([status]).table, hints, create_table_variant=True)


def why_unavailable(exc: EndpointUnavailable | BadPayload, entity: Entity) -> str:
    """``HTTP 404 at /path`` or ``not JSON at /path``: why an optional entity's endpoint could not be read."""
    if isinstance(exc, EndpointUnavailable):
        return f"HTTP {exc.status} at {exc.path}"
    return f"not JSON at {entity.path}"
