"""The one HTTP client every source uses: timeouts, retries, ``Retry-After``, re-authentication, stats.

Built on ``httpx.AsyncClient``. Concurrency is bounded per API (``max_in_flight``, the politeness budget;
waiting list pages get a free slot before waiting per-record detail calls, see
:class:`sources._http.limits.Slots`); an optional ``rate_per_s`` keeps any 1-second window from holding more
request starts than that (Aimsio: 10/s). Retries (tenacity) cover transport errors, timeouts, 5xx (but 501),
429 and bodies that are not complete JSON, with exponential backoff and jitter, or the server's
``Retry-After`` when it gives one. A 401 re-authenticates once per request. A body that is still not JSON
after every attempt raises :class:`BadPayload` (the sources quarantine it and carry on); an endpoint the
API user cannot use raises :class:`EndpointUnavailable`. Errors never carry secrets: messages name the
config key.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import httpx
import msgspec
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from sources._http.auth import Auth, TokenAuth
from sources._http.errors import BadPayload, ConfigError, EndpointUnavailable, RetriableError, SourceError
from sources._http.limits import HttpSettings, Throttle

_DECODER = msgspec.json.Decoder(float_hook=str)


def decode_json(body: bytes) -> Any:
    """Parse JSON keeping every non-integer number as its exact text (``1500.00`` -> ``"1500.00"``).

    Money is never a float: amounts reach :class:`sources._arrow.Decimal` as text.
    Raises ``msgspec.DecodeError`` for a body that is not complete JSON.
    """
    return _DECODER.decode(body)


@dataclass
class RequestStats:
    """What a client or one resource did: requests sent (retries included), retries, 401 re-auths, the
    answers by HTTP status, and the rows it emitted, re-read in the lag window (dropped as already loaded),
    quarantined and found deleted; ``unavailable``: why an optional entity loaded nothing this run (its
    endpoint answered e.g. ``HTTP 404 at /path``; see :func:`sources._vendor.guarded`)."""

    requests: int = 0
    retries: int = 0
    reauths: int = 0
    rows: int = 0
    reread: int = 0
    quarantined: int = 0
    deleted: int = 0
    by_status: dict[int, int] = field(default_factory=dict)
    unavailable: str | None = None


def _retry_after(exc: BaseException) -> float | None:
    return exc.retry_after if isinstance(exc, RetriableError) else None


def _is_retriable(exc: BaseException) -> bool:
    return isinstance(exc, RetriableError | httpx.TransportError)


class _NotJson(RetriableError):
    """A 2xx body that does not decode: retried, then raised as :class:`BadPayload`."""

    def __init__(self, body: bytes) -> None:
        super().__init__(f"body is not complete JSON ({len(body)} bytes)")
        self.body = body


class _Wait:
    """Honour ``Retry-After`` when the server gave one, else exponential backoff with full jitter."""

    def __init__(self, backoff_max_s: float) -> None:
        self._exp = wait_random_exponential(multiplier=0.25, max=backoff_max_s)
        self._max = backoff_max_s

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        after = _retry_after(exc) if exc else None
        return min(after, self._max) if after is not None else self._exp(state)


class ApiClient:
    """An API's HTTP client: ``await client.request("POST", path, json=...)`` returns decoded JSON.

    Raises (see :meth:`request`) :class:`ConfigError` for refused credentials and an unreachable base URL,
    :class:`EndpointUnavailable` for an endpoint the user cannot use, :class:`BadPayload` for a body still
    not JSON after every attempt, :class:`SourceError` for other 4xx and for retries exhausted.
    """

    def __init__(
        self,
        name: str,
        base_url: str,
        auth: Auth | None,
        settings: HttpSettings,
        *,
        base_url_key: str,
        credentials_hint: str,
    ) -> None:
        self.name = name
        self.auth = auth
        self.settings = settings
        self.stats = RequestStats()
        self._base_url_key = base_url_key
        self._credentials_hint = credentials_hint
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            timeout=settings.timeout_s,
            verify=settings.verify_tls,
            limits=httpx.Limits(
                max_connections=settings.max_in_flight, max_keepalive_connections=settings.max_in_flight
            ),
            headers={"Accept": "application/json", "User-Agent": "arwip"},
        )
        self.throttle = Throttle.of(settings)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        tally: RequestStats | None = None,
        authenticated: bool = True,
        detail: bool = False,
        gone_ok: bool = False,
        **kwargs: Any,
    ) -> Any:
        """Send one API call with retries; returns the decoded JSON body (amounts as text, see decode_json),
        None for an empty body.

        ``tally``, if given, also counts this call's requests and retries (per-resource progress).
        ``detail`` marks a per-record call, which waits behind list pages for a slot (see :class:`Slots`).
        ``gone_ok``: a 404 returns ``None`` (a record that is gone) instead of raising
        :class:`EndpointUnavailable`. ``authenticated=False`` marks an auth call (no credentials added; its
        refusals and a 404 are configuration errors). ``kwargs`` go to ``httpx.AsyncClient.request``.

        Raises:
            ConfigError: credentials refused (401 after a re-authentication; 401/403 of an auth call), an auth
                endpoint that is not there, or an unreachable base URL.
            EndpointUnavailable: 403, 404 (unless ``gone_ok``), 405 or 501.
            BadPayload: a body still not JSON after every attempt.
            SourceError: another 4xx (``status``, ``body``: its JSON when it has one), or retries exhausted.
        """
        counters = [self.stats] if tally is None else [self.stats, tally]
        retrying = AsyncRetrying(
            retry=retry_if_exception(_is_retriable),
            wait=_Wait(self.settings.backoff_max_s),
            stop=stop_after_attempt(self.settings.max_attempts),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    if attempt.retry_state.attempt_number > 1:
                        for c in counters:
                            c.retries += 1
                    status, body, sent = await self._send(method, path, authenticated, detail, counters, kwargs)
                    if status == 401 and authenticated and self.auth:
                        for c in counters:
                            c.reauths += 1
                        self.auth.invalidate(sent)  # a new token (the key was accepted, or this raised ConfigError)
                        status, body, _ = await self._send(method, path, authenticated, detail, counters, kwargs)
                        last = attempt.retry_state.attempt_number >= self.settings.max_attempts
                        if status == 401 and (isinstance(self.auth, TokenAuth) or not last):
                            # the token endpoint took the key, so the new token was revoked again meanwhile:
                            # retry (and in the end fail like any exhausted retry), never blame the key
                            raise RetriableError("HTTP 401 right after re-authentication")
                    return self._interpret(method, path, status, body, authenticated, gone_ok)
        except httpx.ConnectError as exc:
            raise ConfigError(
                f"{self.name}: cannot connect to {self._http.base_url} ({type(exc).__name__}); "
                f"check {self._base_url_key}"
            ) from None
        except _NotJson as exc:
            message = f"{self.name}: {method} {path} answered {len(exc.body)} bytes that are not JSON"
            if not authenticated:  # an auth call: its request holds credentials, its answer maybe a token
                raise SourceError(f"{message}, {self.settings.max_attempts} times") from None
            raise BadPayload(
                f"{message}, {self.settings.max_attempts} times", _describe(method, path, kwargs), exc.body
            ) from None
        except (httpx.TransportError, RetriableError) as exc:
            raise SourceError(
                f"{self.name}: {method} {path} failed after {self.settings.max_attempts} attempts: "
                f"{type(exc).__name__}: {exc}"
            ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    async def details(self, paths: list[str], tally: RequestStats | None = None) -> list[Any]:
        """``GET`` each of ``paths`` (per-record detail calls, behind list pages for slots) concurrently within
        the budget; in order, each answer's JSON, ``None`` where the record is gone (404), or the
        :class:`BadPayload` of an answer that was not JSON (the others are kept). Other errors raise."""

        async def one(path: str) -> Any:
            try:
                return await self.request("GET", path, tally=tally, detail=True, gone_ok=True)
            except BadPayload as exc:
                return exc

        return list(await asyncio.gather(*(one(path) for path in paths)))

    async def _send(
        self,
        method: str,
        path: str,
        authenticated: bool,
        detail: bool,
        counters: list[RequestStats],
        kwargs: dict[str, Any],
    ) -> tuple[int, bytes, dict[str, str]]:
        """One attempt: ``(status, body, the auth headers sent)``; raises RetriableError for 429 and 5xx (not
        501 Not Implemented, which no retry changes)."""
        send_kwargs = {k: v for k, v in kwargs.items() if k != "headers"}
        while True:
            # credentials first (a token fetch is a request of its own: it must not wait for a slot we hold)
            sent = await self.auth.headers(self) if authenticated and self.auth else {}
            async with self.throttle.slots.hold(detail):
                if self.throttle.rate:
                    await self.throttle.rate.acquire()
                if sent and self.auth:  # the token may have been renewed or revoked while we waited
                    now = self.auth.current(sent)
                    if now is None:
                        continue  # revoked: a known-bad token would only earn a 401; leave the slot, get the new one
                    sent = now
                headers = {**(kwargs.get("headers") or {}), **sent}
                for c in counters:
                    c.requests += 1
                response = await self._http.request(method, path, headers=headers, **send_kwargs)
                body = await response.aread()
            break
        for c in counters:
            c.by_status[response.status_code] = c.by_status.get(response.status_code, 0) + 1
        if response.status_code == 429 or (response.status_code >= 500 and response.status_code != 501):
            raise RetriableError(
                f"HTTP {response.status_code}", _parse_retry_after(response.headers.get("Retry-After"))
            )
        return response.status_code, body, sent

    def _interpret(self, method: str, path: str, status: int, body: bytes, authenticated: bool, gone_ok: bool) -> Any:
        call = f"{self.name}: {method} {path}"
        if status == 401 or (status == 403 and not authenticated):
            raise ConfigError(f"{call} was refused (HTTP {status}); check {self._credentials_hint}", status)
        if status == 404 and gone_ok:
            return None
        if status == 404 and not authenticated:
            raise ConfigError(f"{call} answered HTTP 404: no such endpoint; check {self._base_url_key}", status)
        if status in EndpointUnavailable.STATUSES:
            why = (
                "the API user lacks the permission for this endpoint"
                if status == 403
                else f"no such endpoint at {self._http.base_url}; check {self._base_url_key}"
            )
            raise EndpointUnavailable(f"{call} answered HTTP {status} ({why})", status, path)
        if status >= 400:
            raise SourceError(f"{call} answered HTTP {status}: {body[:300]!r}", status, _json_or_none(body))
        try:
            return decode_json(body) if body else None
        except msgspec.DecodeError:
            raise _NotJson(body) from None


def _json_or_none(body: bytes) -> Any:
    """An error answer's JSON (the vendor's error object), or None when it is not JSON."""
    try:
        return decode_json(body) if body else None
    except msgspec.DecodeError:
        return None


def _describe(method: str, path: str, kwargs: dict[str, Any]) -> str:
    """``METHOD path?query [json body]``: which page a :class:`BadPayload` answered (no headers, no auth)."""
    text = f"{method} {path}"
    if kwargs.get("params"):
        text += "?" + str(httpx.QueryParams(kwargs["params"]))
    if kwargs.get("json") is not None:
        text += " " + msgspec.json.encode(kwargs["json"]).decode()
    return text


def _parse_retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None
