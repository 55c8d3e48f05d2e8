"""Credentials on API requests: bearer tokens fetched and refreshed (:class:`TokenAuth`, Aiwyn and
iinsight) and HTTP Basic on every call (:class:`BasicAuth`, Aimsio)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from sources._http.client import ApiClient


class Auth:
    """Adds credentials to requests. Subclasses implement :meth:`headers`; token auths cache and refresh."""

    async def headers(self, client: ApiClient) -> dict[str, str]:
        """Headers to send with one API request (may fetch or refresh a token through ``client``)."""
        raise NotImplementedError

    def current(self, sent: dict[str, str]) -> dict[str, str] | None:
        """The credentials to send now by a request that got ``sent`` before it waited for a slot (no request
        made here): the newest at hand, or None when the token was invalidated meanwhile and the request must
        get a new one from :meth:`headers`, without holding the slot (the token fetch may need it)."""
        return sent

    def invalidate(self, sent: dict[str, str]) -> None:
        """Forget a cached token after the API answered 401 to a request that carried ``sent`` (its auth
        headers), so the next :meth:`headers` gets a new one; a newer token than the one sent is kept."""


class TokenAuth(Auth):
    """Bearer-token auth with a token obtained by ``fetch`` and refreshed before it expires.

    ``fetch(client)`` returns ``(token, expires_in_seconds)``; it runs once at a time even when many
    requests need a token together. The token is refreshed ``margin_s`` before expiry and after a 401.
    """

    def __init__(self, fetch: Callable[[ApiClient], Awaitable[tuple[str, float]]], margin_s: float = 60.0) -> None:
        self._fetch = fetch
        self._margin = margin_s
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()

    async def headers(self, client: ApiClient) -> dict[str, str]:
        loop = asyncio.get_running_loop()
        async with self._lock:
            if self._token is None or loop.time() >= self._expires_at:
                token, ttl = await self._fetch(client)
                self._token = token
                self._expires_at = loop.time() + max(ttl - self._margin, ttl / 2)
            return {"Authorization": f"Bearer {self._token}"}

    def current(self, sent: dict[str, str]) -> dict[str, str] | None:
        """The cached token whatever ``sent`` held (it may have been renewed since), None once invalidated."""
        return {"Authorization": f"Bearer {self._token}"} if self._token else None

    def invalidate(self, sent: dict[str, str]) -> None:
        if sent.get("Authorization") == f"Bearer {self._token}":
            self._token = None


class BasicAuth(Auth):
    """HTTP Basic credentials on every request (Aimsio)."""

    def __init__(self, username: str, password: str) -> None:
        self._header = httpx.BasicAuth(username, password)._auth_header

    async def headers(self, client: ApiClient) -> dict[str, str]:
        return {"Authorization": self._header}
