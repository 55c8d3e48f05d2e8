"""Webhooks, for any vendor that sends them: what ``arwip serve`` receives and what ``arwip subscriptions``
manages, without knowing the vendor.

A vendor with webhooks sets :attr:`sources._vendor.Vendor.webhooks` to a :class:`Webhooks`: it turns a
delivery into a :class:`WebhookEvent` (verifying its signature), turns a batch of events into
:class:`Hints` (which entities to sync, which records the vendor deleted), and manages subscriptions
through the vendor's API. The receiver reads a body with :func:`read_body` (at most
:data:`MAX_BODY_BYTES`); every refusal is a :class:`WebhookRejected` with a short ``reason`` for logs and
metrics and the HTTP ``status`` to answer. Events are hints, never data: a sync reads the records from the
API as usual.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar

from sources._http import ApiClient

MAX_BODY_BYTES = 1 << 20
"""Largest delivery body accepted (1 MiB); a hint is a few hundred bytes."""


class WebhookRejected(ValueError):
    """A delivery refused before anything was stored.

    ``reason``: a short code (``missing_header``, ``malformed_header``, ``too_old``, ``too_new``, ``no_match``,
    ``too_large``, ``malformed_json``, ``missing_field``, ``bad_field``); ``status``: the HTTP status to answer.
    """

    status = 400

    def __init__(self, reason: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        if status is not None:
            self.status = status


class PayloadError(WebhookRejected):
    """The body is too large (HTTP 413), not a JSON object, or lacks or mistypes a field (HTTP 400)."""


def digits(text: str) -> bool:
    """True for a non-empty run of ASCII digits (``str.isdigit`` also takes e.g. superscripts)."""
    return text.isascii() and text.isdigit()


async def read_body(chunks: AsyncIterable[bytes], content_length: str | None = None,
                    limit: int = MAX_BODY_BYTES) -> bytes:
    """The request body, read chunk by chunk (e.g. Starlette's ``request.stream()``), refused as soon as it
    passes ``limit`` bytes, or at once when ``Content-Length`` says it will.

    Raises:
        PayloadError: ``too_large`` (HTTP 413).
    """
    too_large = PayloadError("too_large", f"the body is larger than {limit} bytes", 413)
    if content_length and digits(content_length.strip()) and int(content_length) > limit:
        raise too_large
    parts, size = [], 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise too_large
        parts.append(chunk)
    return b"".join(parts)


@dataclass(frozen=True)
class WebhookEvent:
    """One delivery's event: a hint that a record changed, never the record.

    ``entity_type`` is the vendor's (Aiwyn: ``wip``, ``invoice`` or ``payment``); ``operation`` ``CREATE``,
    ``UPDATE`` or ``DELETE`` (a DELETE means the record is gone from the vendor's lists); ``occurred_at`` and
    ``updated_at`` (the record's change timestamp) are UTC; ``subscription_id`` is kept as text; ``payload``
    is the raw body; ``source`` the vendor that sent it (its registry name).
    """

    event_id: str
    subscription_id: str
    entity_type: str
    operation: str
    entity_id: int
    occurred_at: datetime
    updated_at: datetime
    payload: bytes = field(default=b"", repr=False, compare=False)
    source: str = ""


@dataclass(frozen=True)
class Hints:
    """What a batch of one vendor's events asks for: ``entities``, the entity (resource) names to sync
    incrementally, and ``deleted``, per entity name the ids (as text) of records the vendor deleted."""

    entities: frozenset[str] = frozenset()
    deleted: Mapping[str, frozenset[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Subscription:
    """A webhook subscription as the vendor lists it; ``id`` kept as text, ``created_at`` as the API wrote it."""

    id: str
    name: str
    url: str
    entity_types: tuple[str, ...]
    operations: tuple[str, ...]
    active: bool
    created_at: str | None


Receiver = Callable[[Mapping[str, str], bytes], WebhookEvent]
"""Verifies a delivery (headers, raw body) and parses it; raises :class:`WebhookRejected`."""


class Webhooks(ABC):
    """A vendor's webhooks as arwip sees them (see the module docstring). The API coroutines take the vendor's
    :class:`sources._http.ApiClient` and raise what it raises (ConfigError, SourceError)."""

    secret_key: ClassVar[str] = "webhook_secret"
    """The vendor's configuration key (a list of ``whsec_`` secrets) that signs deliveries."""
    entity_types: ClassVar[tuple[str, ...]]
    """The entity types one can subscribe to, in the vendor's words (``--entity`` of ``arwip subscriptions``)."""

    @abstractmethod
    def receiver(self, secrets: Iterable[str]) -> Receiver:
        """A :data:`Receiver` accepting deliveries signed with any of ``secrets``.

        Raises:
            ValueError: no secret, or one that is malformed (the message never contains it).
        """

    @abstractmethod
    def hints(self, events: Iterable[WebhookEvent]) -> Hints:
        """What ``events`` (of this vendor, any order, duplicates included) ask of the next sync."""

    @abstractmethod
    async def subscriptions(self, client: ApiClient) -> list[Subscription]:
        """Every subscription, active or not."""

    @abstractmethod
    async def subscribe(self, client: ApiClient, url: str, entity_types: Iterable[str] | None) -> Subscription:
        """A new active subscription delivering ``entity_types`` (None: every type) to ``url``."""

    @abstractmethod
    async def unsubscribe(self, client: ApiClient, subscription_id: str) -> None:
        """Deactivate a subscription (no more deliveries)."""

    @abstractmethod
    async def secret(self, client: ApiClient, subscription_id: str) -> str:
        """The subscription's signing secret."""

    @abstractmethod
    async def rotate(self, client: ApiClient, subscription_id: str) -> str:
        """A new signing secret; returns it (the old one may keep signing for a while)."""
