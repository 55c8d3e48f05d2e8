"""Every vendor's configuration, read in one place.

A vendor declares its keys once, as :class:`Setting` values (``sources/<vendor>/settings.py``); sync,
reconcile, verify, check, serve and push all get them from :func:`resolve`. A key ``k`` of vendor ``v`` is
``[sources.v] k`` in ``.dlt/config.toml`` (secrets in ``.dlt/secrets.toml``) or the environment variable
``SOURCES__V__K``, as dlt reads them. The HTTP knobs (:data:`HTTP_SETTINGS`: requests in flight, timeout,
attempts, longest backoff; Aimsio's rate) and the schedule (:data:`SCHEDULE_SETTINGS`: how often ``arwip serve``
polls a source, how often a sync reconciles its ids) are keys like any other, so one ``SOURCES__AIWYN__TIMEOUT_S``
reaches every command.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import dlt
import orjson

from sources._http import ConfigError, HttpSettings


class MissingConfig(ConfigError):
    """Required configuration keys are not set; ``keys`` names them as environment variables."""

    def __init__(self, keys: Sequence[str]) -> None:
        self.keys = list(keys)
        super().__init__(
            f"missing configuration: {', '.join(self.keys)}; set it in the environment or in .dlt/config.toml / "
            ".dlt/secrets.toml (see README, Configuration)"
        )


REQUIRED: Any = object()
"""The default of a key that has none: :func:`resolve` names it when it is missing."""


@dataclass(frozen=True)
class Setting:
    """One configuration key of a vendor.

    ``key``: the name under ``[sources.<vendor>]`` (lowercase); ``default``: its value when unset
    (:data:`REQUIRED`: none, the key must be set), whose type the value is converted to: ``int``, ``float``,
    ``str``, ``timedelta`` (a duration: seconds, or text such as ``90s``, ``15m``, ``24h``, ``1d``) or ``tuple``
    (of strings: a TOML list, a JSON list such as ``["a", "b"]`` in the environment, or ``a,b``); ``secret``:
    read from dlt's secrets (``.dlt/secrets.toml`` or the environment) and never printed; ``doc``: one line for
    ``arwip check`` and the README.
    """

    key: str
    default: Any = REQUIRED
    secret: bool = False
    doc: str = ""

    def env(self, vendor: str) -> str:
        """The environment variable of this key for ``vendor``: ``SOURCES__AIWYN__JWT_API_KEY``."""
        return f"SOURCES__{vendor.upper()}__{self.key.upper()}"

    def convert(self, value: Any, vendor: str) -> Any:
        """``value`` as the type of the default (text from the environment included).

        Raises:
            ConfigError: a value that is not of that type, naming the key.
        """
        kind = type(self.default) if self.default is not REQUIRED and self.default is not None else str
        if kind is tuple:
            return _strings(value, self.env(vendor))
        if isinstance(value, kind) and not isinstance(value, bool):
            return value
        if kind is timedelta:
            return _duration(value, self.env(vendor))
        try:
            if kind is int:
                if isinstance(value, float) and not value.is_integer():
                    raise ValueError
                return int(str(value).strip())
            if kind is float:
                return float(str(value).strip())
        except ValueError:
            noun = "a whole number" if kind is int else "a number"
            raise ConfigError(f"{self.env(vendor)}={value!r} is not {noun}") from None
        return str(value)


HTTP_SETTINGS: tuple[Setting, ...] = (
    Setting("max_in_flight", 8, doc="concurrent requests (politeness budget)"),
    Setting("timeout_s", 30.0, doc="seconds before a request times out (and is retried)"),
    Setting("max_attempts", 8, doc="tries per request (5xx, 429, timeouts, dropped or truncated answers)"),
    Setting("backoff_max_s", 30.0, doc="longest wait between two tries, in seconds"),
)
"""The HTTP knobs every vendor has (a vendor may override a default, e.g. Aimsio's 10 in flight)."""

SCHEDULE_SETTINGS: tuple[Setting, ...] = (
    Setting("poll_interval", timedelta(minutes=15), doc="arwip serve syncs the source this often (webhooks or not)"),
    Setting("reconcile_every", timedelta(hours=24), doc="a sync reconciles every id when the last reconcile is older"),
)
"""The schedule every vendor has: durations (seconds, or ``90s``, ``15m``, ``24h``, ``1d``)."""

_HTTP_FIELDS = frozenset(f.name for f in dataclasses.fields(HttpSettings))
_NOT_SOURCE_ARGS = _HTTP_FIELDS | {s.key for s in SCHEDULE_SETTINGS}
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|h|d)?$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400}


def with_http(*settings: Setting) -> tuple[Setting, ...]:
    """``settings`` followed by the keys every vendor has that they do not already declare: the
    :data:`HTTP_SETTINGS` (a vendor's own ``max_in_flight`` default wins) and the :data:`SCHEDULE_SETTINGS`."""
    own = {s.key for s in settings}
    return (*settings, *(s for s in (*HTTP_SETTINGS, *SCHEDULE_SETTINGS) if s.key not in own))


def _duration(value: Any, env: str) -> timedelta:
    """A duration from seconds (a number) or text: ``90``, ``90s``, ``15m``, ``24h``, ``1d``.

    Raises:
        ConfigError: anything else, naming the key.
    """
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return timedelta(seconds=value)
    found = _DURATION.match(str(value).strip().lower())
    if not found:
        raise ConfigError(f"{env}={value!r} is not a duration: use seconds or e.g. 90s, 15m, 24h, 1d")
    return timedelta(seconds=float(found[1]) * _UNIT_S[found[2] or "s"])


def _strings(value: Any, env: str) -> tuple[str, ...]:
    """A list of strings from a TOML list, a JSON list (text) or comma-separated text; empty items dropped.

    Raises:
        ConfigError: a JSON list that does not parse or holds something other than strings, naming the key.
    """
    if isinstance(value, str):
        text = value.strip()
        if not text.startswith("["):
            return tuple(item.strip() for item in text.split(",") if item.strip())
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError:
            raise ConfigError(f"{env} is not a JSON list of strings") from None
    if not isinstance(value, list | tuple) or not all(isinstance(item, str) for item in value):
        raise ConfigError(f"{env} must be a list of strings")
    return tuple(item.strip() for item in value if item.strip())


def resolve(vendor: str, settings: Sequence[Setting], overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Every key of ``settings`` for ``vendor``: from ``overrides`` (tests, one-off runs), else dlt's config
    or secrets (``[sources.<vendor>] <key>``, ``SOURCES__<VENDOR>__<KEY>``), else the default.

    Returns ``{key: value}`` with values converted to their default's type.

    Raises:
        MissingConfig: one or more required keys are missing (all named, as environment variables).
        ConfigError: a value of the wrong type, or an override that is not a key of the vendor.
    """
    overrides = dict(overrides or {})
    known = {s.key for s in settings}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ConfigError(f"{vendor}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    values: dict[str, Any] = {}
    missing: list[str] = []
    for setting in settings:
        if setting.key in overrides:
            value = overrides[setting.key]
        else:
            value = (dlt.secrets if setting.secret else dlt.config).get(f"sources.{vendor}.{setting.key}")
        if value is None or value == "":
            if setting.default is REQUIRED:
                missing.append(setting.env(vendor))
                continue
            value = setting.default
        values[setting.key] = None if value is None else setting.convert(value, vendor)
    if missing:
        raise MissingConfig(missing)
    return values


def http_settings(values: Mapping[str, Any]) -> HttpSettings:
    """The :class:`HttpSettings` of resolved ``values`` (the keys that are HTTP knobs; others ignored)."""
    return HttpSettings(**{k: v for k, v in values.items() if k in _HTTP_FIELDS})


def source_args(values: Mapping[str, Any]) -> dict[str, Any]:
    """Resolved ``values`` as arguments of a vendor's dlt source: its own keys as they are, the HTTP knobs as
    one ``http`` :class:`HttpSettings` (the schedule is not the source's business)."""
    return {**{k: v for k, v in values.items() if k not in _NOT_SOURCE_ARGS}, "http": http_settings(values)}
