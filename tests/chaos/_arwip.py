"""``arwip`` for the chaos tests: the real CLI (``pipelines.cli:app``), with test-only HTTP client knobs.

``python tests/chaos/_arwip.py sync --db X`` behaves exactly like ``arwip sync --db X``, except that these
environment variables, when set, change the defaults of ``sources._http.HttpSettings`` (the sources do not
expose them as configuration):

- ``ARWIP_TEST_HTTP_TIMEOUT_S``: client timeout, so that the simulators' slow responses exceed it;
- ``ARWIP_TEST_HTTP_BACKOFF_MAX_S``: cap of the retry backoff, so that tests do not wait 30 s;
- ``ARWIP_TEST_HTTP_MAX_ATTEMPTS``: attempts per request.
"""

from __future__ import annotations

import os

from sources._http import HttpSettings

_KNOBS = {"ARWIP_TEST_HTTP_TIMEOUT_S": ("timeout_s", float), "ARWIP_TEST_HTTP_BACKOFF_MAX_S": ("backoff_max_s", float),
          "ARWIP_TEST_HTTP_MAX_ATTEMPTS": ("max_attempts", int)}


def patch_http_defaults(env: dict[str, str] | os._Environ[str] = os.environ) -> dict[str, float]:
    """Apply the ``ARWIP_TEST_HTTP_*`` variables of ``env`` to ``HttpSettings``' defaults; returns them."""
    names = list(HttpSettings.__dataclass_fields__)
    defaults = list(HttpSettings.__init__.__defaults__ or ())
    applied: dict[str, float] = {}
    for var, (name, kind) in _KNOBS.items():
        if env.get(var):
            defaults[names.index(name)] = applied[name] = kind(env[var])
    HttpSettings.__init__.__defaults__ = tuple(defaults)
    for name, value in applied.items():  # the sources take these from their config keys
        for source in ("AIWYN", "AIMSIO", "IINSIGHT"):
            os.environ.setdefault(f"SOURCES__{source}__{name.upper()}", str(value))
    return applied


if __name__ == "__main__":
    patch_http_defaults()
    from pipelines.cli import app

    app(prog_name="arwip")
