"""Aiwyn event subscriptions API: catalog, list, create, deactivate, signing secret and its rotation.

Implements CONTRACT.md "Aiwyn event subscriptions" (seed 002 "Event Subscriptions"): under
``/api/v1/event-subscriptions``, Bearer JWT as for reads, answers in the ``{data, error, meta}`` envelope.
Every function takes an :class:`sources._http.ApiClient` from :func:`sources.aiwyn.client.aiwyn_client`
and is a coroutine: run it on the client's loop, e.g. ``Session(make_client).run(lambda c: catalog(c))``.
Errors are those of ``ApiClient.request`` (:class:`ConfigError` for a refused key, :class:`SourceError`
for 4xx, e.g. a URL the API refuses) plus :class:`SourceError` for an unknown subscription id or an
answer outside the envelope. A secret is returned to the caller and never put in a message.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sources._http import ApiClient, EndpointUnavailable, SourceError
from sources._webhooks import Subscription

__all__ = ["Subscription", "catalog", "create_subscription", "delete_subscription", "get_secret",
           "list_subscriptions", "rotate_secret"]

PATH = "/api/v1/event-subscriptions"
ALL_OPERATIONS = ("CREATE", "UPDATE", "DELETE")


def _subscription(data: Any) -> Subscription:
    """A :class:`Subscription` from the API's ``{id, name, url, entityTypes, operations, active, createdAt}``.

    Raises:
        SourceError: not an object, or without ``id`` or ``url``.
    """
    if not isinstance(data, dict) or data.get("id") is None or not data.get("url"):
        raise SourceError(f"aiwyn: a subscription without id or url: {str(data)[:200]}")
    return Subscription(str(data["id"]), str(data.get("name") or ""), str(data["url"]),
                        tuple(data.get("entityTypes") or ()), tuple(data.get("operations") or ()),
                        bool(data.get("active", True)), data.get("createdAt"))


def _data(body: Any, what: str) -> Any:
    """The ``data`` of an envelope answer; SourceError naming ``what`` when there is none."""
    if body is None:
        raise SourceError(f"aiwyn: {what}: not found", 404)
    if not isinstance(body, dict) or "data" not in body:
        raise SourceError(f"aiwyn: {what} answered outside the {{data, error, meta}} envelope")
    return body["data"]


async def catalog(client: ApiClient) -> dict[str, tuple[str, ...]]:
    """``GET /catalog`` → entity type → the operations one can subscribe to, e.g. ``{"wip": ("CREATE", ...)}``."""
    data = _data(await client.request("GET", f"{PATH}/catalog"), "the event catalog")
    types = data.get("entityTypes") if isinstance(data, dict) else None
    if not isinstance(types, list):
        raise SourceError("aiwyn: the event catalog has no entityTypes list")
    return {str(t["entityType"]): tuple(t.get("operations") or ()) for t in types if isinstance(t, dict)}


async def list_subscriptions(client: ApiClient) -> list[Subscription]:
    """``GET /`` → every subscription, active or not."""
    data = _data(await client.request("GET", PATH), "listing event subscriptions")
    if not isinstance(data, list):
        raise SourceError("aiwyn: the subscription list is not a list")
    return [_subscription(d) for d in data]


async def create_subscription(client: ApiClient, url: str, entity_types: Iterable[str] | None = None,
                              operations: Iterable[str] = ALL_OPERATIONS, name: str = "arwip") -> Subscription:
    """``POST /`` an active subscription delivering to ``url`` (the receiver, e.g.
    ``https://arwip.example.com/webhooks/aiwyn``); ``entity_types`` None: every type of the catalog.

    Raises:
        SourceError: the API refused it (HTTP 400 names the field) or an entity type is not in the catalog.
    """
    offered = await catalog(client)
    wanted = list(offered) if entity_types is None else list(dict.fromkeys(entity_types))
    unknown = [t for t in wanted if t not in offered]
    if unknown:
        raise SourceError(f"aiwyn: no such event entity type {', '.join(unknown)}; the catalog has "
                          f"{', '.join(offered)}")
    body = {"name": name, "url": url, "entityTypes": wanted, "operations": list(operations), "active": True}
    return _subscription(_data(await client.request("POST", PATH, json=body), "creating a subscription"))


async def delete_subscription(client: ApiClient, subscription_id: str | int) -> None:
    """``DELETE /{id}``: deactivate (no more deliveries). Raises SourceError for an unknown id."""
    try:
        await client.request("DELETE", f"{PATH}/{subscription_id}")
    except EndpointUnavailable as exc:
        if exc.status != 404:
            raise
        raise SourceError(f"aiwyn: no event subscription {subscription_id}", 404) from None


async def get_secret(client: ApiClient, subscription_id: str | int) -> str:
    """``GET /{id}/secret`` → the signing secret ``whsec_<base64>``. Raises SourceError for an unknown id."""
    return _secret(await client.request("GET", f"{PATH}/{subscription_id}/secret"), subscription_id)


async def rotate_secret(client: ApiClient, subscription_id: str | int) -> str:
    """``POST /{id}/secret/rotate`` → the new secret; the old one keeps signing deliveries for 24 h, so a
    receiver should accept both until it is configured with the new one."""
    return _secret(await client.request("POST", f"{PATH}/{subscription_id}/secret/rotate"), subscription_id)


def _secret(body: Any, subscription_id: str | int) -> str:
    data = _data(body, f"the secret of event subscription {subscription_id}")
    secret = data.get("secret") if isinstance(data, dict) else None
    if not isinstance(secret, str) or not secret:
        raise SourceError(f"aiwyn: no secret in the answer for event subscription {subscription_id}")
    return secret
