"""The errors of the shared HTTP client: what a source raises, and what the client retries.

Every message is one line fit for the user and never carries a secret: a configuration problem names the
key to fix (``SOURCES__AIWYN__JWT_API_KEY``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any


class SourceError(Exception):
    """A source failed in a way a retry does not fix. ``str()`` is one line fit for the user; no secrets.

    ``status`` is the HTTP status when the API answered with an error; ``body`` its JSON (the vendor's error
    object, e.g. ``{"error": {"code": "TYPE_EXISTS", ...}}``) when it had one.
    """

    def __init__(self, message: str, status: int | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


class ConfigError(SourceError):
    """The configuration is wrong (credentials, base URL, start date): the message names the key to fix."""


class BadPayload(SourceError):
    """An API answer that is still not JSON after every attempt (an HTML maintenance page, a body cut short).

    Sources quarantine it and read on. ``request`` names the call (method, path, query or JSON body: never
    credentials, and never raised for the auth endpoints); ``body`` is the answer as text, at most
    :attr:`MAX_BODY` characters. ``unread_from``, set by the reader that knows it, is the change timestamp
    (UTC) from which rows may have gone unread: the entity's watermark saves no further (see
    :meth:`sources._incremental.Watermark.cap`), so the next run reads them again; None (unknown) keeps the
    entity's saved state as it was.
    """

    MAX_BODY = 65_536

    def __init__(self, message: str, request: str, body: bytes) -> None:
        super().__init__(message)
        self.request = request
        self.body = body[: self.MAX_BODY].decode("utf-8", errors="replace")
        self.unread_from: datetime | None = None


class RetriableError(Exception):
    """A response worth retrying (5xx, 429, truncated body). ``retry_after`` in seconds when the server said."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class EndpointUnavailable(SourceError):
    """An endpoint the API user cannot use: ``403`` (no permission), ``404`` (not there), ``405`` or ``501``
    (not offered), for a list or probe call (a per-record detail's 404 means the record is gone instead).

    CONTRACT.md "Optional endpoints": for an optional entity this is not a failure of its source (the entity
    falls back, see :class:`sources._vendor.Entity`); for a core entity it is. ``status`` is the HTTP status,
    ``path`` the endpoint.
    """

    STATUSES = frozenset({403, 404, 405, 501})

    def __init__(self, message: str, status: int, path: str) -> None:
        super().__init__(message, status)
        self.path = path
