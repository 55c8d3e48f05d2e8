"""``arwip check``: test the configuration and the connection to each source before the first sync.

For every selected vendor: resolve its configuration (a missing key is a configuration error, as for a
sync), then authenticate and make the smallest read of each entity (:meth:`sources._vendor.Vendor.probe`),
timing it. Nothing is written to the warehouse; nothing secret is printed. Requests fail fast: at most
:data:`ATTEMPTS` tries, backoff capped at :data:`BACKOFF_MAX_S` (the sync itself keeps the configured ones).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sources import registry
from sources._config import MissingConfig
from sources._http import ApiClient, BadPayload, ConfigError, EndpointUnavailable, SourceError
from sources._vendor import Config, Entity, Vendor

ATTEMPTS = 2
BACKOFF_MAX_S = 1.0

OK, FORBIDDEN, MISSING, UNREACHABLE, BAD_CREDENTIALS, NOT_JSON, FAILED = (
    "ok",
    "forbidden",
    "missing",
    "unreachable",
    "bad credentials",
    "not JSON",
    "failed",
)


@dataclass(frozen=True)
class Probe:
    """The result of probing one entity: ``result`` is ``ok``, ``forbidden`` (403), ``missing`` (404, 405,
    501), ``unreachable``, ``bad credentials``, ``not JSON`` or ``failed``; ``ms`` the probe's wall time in
    milliseconds; ``hint`` what to do when it is not ok (never a secret)."""

    source: str
    entity: str
    endpoint: str
    core: bool
    result: str
    ms: float
    hint: str = ""

    @property
    def ok(self) -> bool:
        return self.result == OK


def configs(sources: list[str] | None = None) -> list[tuple[Vendor, Config]]:
    """Each selected vendor with its resolved configuration.

    Raises:
        ConfigError: every missing or malformed key of every selected vendor, in one message.
        ValueError: an unknown source.
    """
    resolved, missing, problems = [], [], []
    for vendor in registry.vendors(sources):
        try:
            resolved.append((vendor, vendor.config()))
        except MissingConfig as exc:
            missing += exc.keys
        except ConfigError as exc:
            problems.append(str(exc))
    if problems:
        raise ConfigError("; ".join(problems + ([str(MissingConfig(missing))] if missing else [])))
    if missing:
        raise MissingConfig(missing)
    return resolved


def check(sources: list[str] | None = None) -> list[Probe]:
    """Probe every entity of the selected vendors (default all); one :class:`Probe` each, in order.

    Raises:
        ConfigError: missing or malformed configuration (nothing was requested then).
        ValueError: an unknown source.
    """
    probes: list[Probe] = []
    for vendor, config in configs(sources):
        fast = {**config, "max_attempts": min(ATTEMPTS, config["max_attempts"]), "backoff_max_s": BACKOFF_MAX_S}

        async def run(client: ApiClient, vendor: Vendor = vendor, config: Config = fast) -> list[Probe]:
            return [await _probe(vendor, client, entity, config) for entity in vendor.entities]

        probes += vendor.session(fast).run(run)
    return probes


async def _probe(vendor: Vendor, client: ApiClient, entity: Entity, config: Config) -> Probe:
    endpoint = vendor.endpoint(entity, config)
    started = time.perf_counter()
    result, hint = OK, ""
    try:
        await vendor.probe(client, entity, config)
    except EndpointUnavailable as exc:
        result = FORBIDDEN if exc.status == 403 else MISSING
        hint = (
            "grant the API user the permission for this endpoint"
            if exc.status == 403
            else f"HTTP {exc.status}: the endpoint is not offered there; check SOURCES__{vendor.name.upper()}__BASE_URL"
        )
        if not entity.core:
            hint += f" (optional: {entity.fallback})"
    except ConfigError as exc:  # an auth endpoint not there (404), refused credentials (other statuses), no connection
        result = MISSING if exc.status == 404 else BAD_CREDENTIALS if exc.status else UNREACHABLE
        hint = str(exc)
    except BadPayload as exc:
        result, hint = NOT_JSON, f"{exc}; is the base URL the API's?"
    except SourceError as exc:
        result, hint = (FAILED if exc.status else UNREACHABLE), str(exc)
    ms = (time.perf_counter() - started) * 1000
    return Probe(vendor.name, entity.name, endpoint, entity.core, result, ms, hint)
