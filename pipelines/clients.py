"""API clients built from the sources' configuration, for commands that talk to the APIs outside a dlt
sync (``arwip verify``, ``arwip sync --reconcile``). Same keys as the sources: ``SOURCES__<SOURCE>__<KEY>``
in the environment or ``[sources.<source>]`` in ``.dlt/*.toml``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import dlt

from sources._http import ConfigError, HttpSettings, Session
from sources._incremental import parse_start_date
from sources.aimsio import settings as aimsio_settings
from sources.aimsio.client import aimsio_client
from sources.aiwyn.client import aiwyn_client
from sources.iinsight.client import iinsight_client


def setting(source: str, key: str, secret: bool = False, default: Any = None) -> Any:
    """A source's config value; raises ConfigError naming the environment variable when it is missing."""
    value = (dlt.secrets if secret else dlt.config).get(f"sources.{source}.{key}")
    if value is None and default is None:
        raise ConfigError(f"missing configuration: SOURCES__{source.upper()}__{key.upper()}")
    return default if value is None else value


def start_date(source: str) -> datetime:
    """The source's ``START_DATE`` (UTC); ConfigError naming the key when malformed."""
    key = f"SOURCES__{source.upper()}__START_DATE"
    return parse_start_date(setting(source, "start_date", default="2000-01-01"), key)


def session(source: str) -> Session:
    """A :class:`Session` over the configured client of ``source`` (aiwyn, aimsio or iinsight)."""
    if source == "aiwyn":
        http = HttpSettings(max_in_flight=int(setting("aiwyn", "max_in_flight", default=8)))
        return Session(lambda: aiwyn_client(setting("aiwyn", "base_url"), setting("aiwyn", "jwt_api_key", True), http))
    if source == "aimsio":
        http = HttpSettings(max_in_flight=aimsio_settings.MAX_IN_FLIGHT, rate_per_s=aimsio_settings.RATE_PER_S)
        return Session(
            lambda: aimsio_client(
                setting("aimsio", "base_url"),
                setting("aimsio", "username", True),
                setting("aimsio", "password", True),
                http,
            )
        )
    if source == "iinsight":
        http = HttpSettings(max_in_flight=int(setting("iinsight", "max_in_flight", default=8)))
        return Session(
            lambda: iinsight_client(
                setting("iinsight", "base_url"),
                setting("iinsight", "client_id", True),
                setting("iinsight", "client_secret", True),
                setting("iinsight", "username", True),
                setting("iinsight", "password", True),
                http,
            )
        )
    raise ValueError(f"unknown source {source!r}")
