"""``arwip subscriptions``: a vendor's webhook subscriptions, managed through its API, and their signing secrets,
kept where dlt keeps secrets.

Every command that changes subscriptions (:func:`create`, :func:`delete`, :func:`rotate`) leaves the vendor's
secret key (``[sources.<source>] webhook_secret``) holding the current secret of every active subscription —
and, after a rotation, the secret it replaced, which the vendor keeps signing with for a while — so that
``arwip serve`` verifies every delivery. The secrets go to ``.dlt/secrets.toml`` (created, readable by its
owner only, when missing; other keys and comments kept) or, with ``print_env``, to the caller as the
``SOURCES__<SOURCE>__WEBHOOK_SECRET=…`` line to set; they are never logged or put in a message.
"""

from __future__ import annotations

import asyncio
import os
import shlex
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import dlt
import orjson
import tomlkit

from sources import registry
from sources._config import Setting
from sources._http import ApiClient, ConfigError
from sources._vendor import Vendor
from sources._webhooks import Subscription, Webhooks

T = TypeVar("T")


@dataclass(frozen=True)
class Secrets:
    """Where the signing secrets went: ``stored`` in ``path`` (how many: ``count``), or ``env_line`` to set."""

    count: int
    path: Path | None = None
    env_line: str | None = None


def webhook_vendor(source: str | None = None) -> tuple[Vendor, Webhooks]:
    """The vendor ``source`` (default: the one vendor with webhooks) and its webhooks.

    Raises:
        ValueError: an unknown source, one without webhooks, or several with webhooks and none named.
    """
    if source is None:
        found = [v for v in registry.vendors() if v.webhooks is not None]
        if len(found) != 1:
            raise ValueError(f"name the source (--source): {', '.join(v.name for v in found) or 'none'} send webhooks")
        vendor = found[0]
    else:
        vendor = registry.get(source)
    if vendor.webhooks is None:
        raise ValueError(f"{vendor.name} sends no webhooks")
    return vendor, vendor.webhooks


def _call(vendor: Vendor, fn: Callable[[ApiClient], Awaitable[T]]) -> T:
    """``fn(client)`` with a client of ``vendor`` (its configuration), on a loop of its own."""
    config = vendor.config()

    async def run() -> T:
        client = vendor.client(config)
        try:
            return await fn(client)
        finally:
            await client.aclose()

    return asyncio.run(run())


def secrets_file() -> Path:
    """dlt's secrets file: ``.dlt/secrets.toml`` of the project folder (the working directory)."""
    return Path(dlt.current.run_context().settings_dir) / "secrets.toml"


def _active_secrets(client: ApiClient, hooks: Webhooks) -> Awaitable[list[str]]:
    async def read() -> list[str]:
        active = [s for s in await hooks.subscriptions(client) if s.active]
        return [await hooks.secret(client, s.id) for s in active]

    return read()


def _keep(vendor: Vendor, hooks: Webhooks, secrets: Iterable[str], print_env: bool) -> Secrets:
    """Store ``secrets`` (in order, without repeats) as the vendor's secret key, or give the line to set."""
    values = list(dict.fromkeys(secrets))
    env = Setting(hooks.secret_key).env(vendor.name)
    if print_env:
        value = values[0] if len(values) == 1 else orjson.dumps(values).decode()
        return Secrets(len(values), env_line=f"{env}={shlex.quote(value)}")
    path = secrets_file()
    try:
        doc = tomlkit.parse(path.read_text()) if path.exists() else tomlkit.document()
    except tomlkit.exceptions.ParseError as exc:
        raise ConfigError(f"{path} is not valid TOML (line {exc.line}): fix it, or use --print-env") from None
    section = doc.setdefault("sources", tomlkit.table()).setdefault(vendor.name, tomlkit.table())
    section[hooks.secret_key] = values
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o600
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as handle:
        handle.write(tomlkit.dumps(doc))
    os.replace(tmp, path)
    return Secrets(len(values), path=path)


def list_subscriptions(source: str | None = None) -> list[Subscription]:
    """Every subscription of the vendor, active or not."""
    vendor, hooks = webhook_vendor(source)
    return _call(vendor, hooks.subscriptions)


def create(url: str, entity_types: list[str] | None = None, source: str | None = None,
           print_env: bool = False) -> tuple[Subscription, Secrets]:
    """Subscribe ``url`` (the public URL of ``arwip serve``'s ``/webhooks/<source>``) to ``entity_types``
    (None: all) and keep the secrets (see the module docstring).

    Raises:
        ValueError: an entity type the vendor does not offer (its list is named).
        ConfigError, SourceError: as the vendor's API client (the API refused the URL: its message).
    """
    vendor, hooks = webhook_vendor(source)
    unknown = [t for t in entity_types or () if t not in hooks.entity_types]
    if unknown:
        raise ValueError(f"--entity {', '.join(unknown)}: {vendor.name} offers {', '.join(hooks.entity_types)}")

    async def run(client: ApiClient) -> tuple[Subscription, list[str]]:
        created = await hooks.subscribe(client, url, entity_types)
        return created, await _active_secrets(client, hooks)

    created, secrets = _call(vendor, run)
    return created, _keep(vendor, hooks, secrets, print_env)


def delete(subscription_id: str, source: str | None = None, print_env: bool = False) -> Secrets:
    """Deactivate a subscription; the secrets kept are those of the subscriptions still active."""
    vendor, hooks = webhook_vendor(source)

    async def run(client: ApiClient) -> list[str]:
        await hooks.unsubscribe(client, subscription_id)
        return await _active_secrets(client, hooks)

    return _keep(vendor, hooks, _call(vendor, run), print_env)


def rotate(subscription_id: str, source: str | None = None, print_env: bool = False) -> Secrets:
    """A new signing secret for a subscription; kept first, the replaced one after it (the vendor signs with both
    for a while, Aiwyn 24 h), then those of the other active subscriptions."""
    vendor, hooks = webhook_vendor(source)

    async def run(client: ApiClient) -> list[str]:
        old = await hooks.secret(client, subscription_id)
        new = await hooks.rotate(client, subscription_id)
        return [new, old, *await _active_secrets(client, hooks)]

    return _keep(vendor, hooks, _call(vendor, run), print_env)
