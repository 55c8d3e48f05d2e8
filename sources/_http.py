"""The one HTTP client every source uses: auth, timeouts, retries, ``Retry-After``, rate limits, stats.

Built on ``httpx.AsyncClient``. Concurrency is bounded per API (``max_in_flight``, the politeness budget;
waiting list pages get a free slot before waiting per-record detail calls, see :class:`Slots`);
an optional ``rate_per_s`` keeps any 1-second window from holding more request starts than that
(Aimsio: 10/s, a sliding window, see :class:`RateLimit`). Retries (tenacity) cover transport errors,
timeouts, 5xx, 429 and bodies that are not complete JSON, with exponential backoff and jitter, or the
server's ``Retry-After`` when it gives one.
A 401 re-authenticates once per request. A body that is still not JSON after every attempt raises
:class:`BadPayload` (the sources quarantine it and carry on). Errors never carry secrets: messages name
the config key.

Sources run their async generators through :class:`Session`, which owns the client on a background event
loop and hands the items to dlt's (synchronous) resource generators.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import httpx
import msgspec
from pyrate_limiter import InMemoryBucket, Limiter, Rate, SingleBucketFactory
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

T = TypeVar("T")

_DECODER = msgspec.json.Decoder(float_hook=str)


def decode_json(body: bytes) -> Any:
    """Parse JSON keeping every non-integer number as its exact text (``1500.00`` -> ``"1500.00"``).

    Money is never a float: amounts reach :class:`sources._arrow.Decimal` as text.
    Raises ``msgspec.DecodeError`` for a body that is not complete JSON.
    """
    return _DECODER.decode(body)


class SourceError(Exception):
    """A source failed in a way a retry does not fix. ``str()`` is one line fit for the user; no secrets.

    ``status`` is the HTTP status when the API answered with an error.
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


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


@dataclass
class RequestStats:
    """What a client or one resource did: requests sent (retries included), retries, 401 re-auths, and the
    rows it emitted, re-read in the lag window (dropped as already loaded), quarantined and found deleted."""

    requests: int = 0
    retries: int = 0
    reauths: int = 0
    rows: int = 0
    reread: int = 0
    quarantined: int = 0
    deleted: int = 0
    by_status: dict[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class HttpSettings:
    """Per-API HTTP behaviour, from the source's config (``sources.<api>.max_in_flight``, ``timeout_s``,
    ``max_attempts``, ``backoff_max_s``; Aimsio's ``rate_per_s``); ``rate_per_s`` None means unlimited."""

    max_in_flight: int = 8
    rate_per_s: float | None = None
    timeout_s: float = 30.0
    max_attempts: int = 8
    backoff_max_s: float = 30.0
    verify_tls: bool = True


class Slots:
    """At most ``n`` requests at once; waiting list-page requests get a free slot before waiting detail calls.

    A keyset or page-number scan is a chain (each page needs the one before), while detail calls come by the
    thousand and can go in any order: served first come first served, a page would queue behind every detail
    already waiting and the scan would end long after them, alone. Use as ``async with slots.hold(detail)``.
    """

    def __init__(self, n: int) -> None:
        self._free = n
        self._waiting: tuple[deque[asyncio.Future[None]], deque[asyncio.Future[None]]] = (deque(), deque())

    @contextlib.asynccontextmanager
    async def hold(self, detail: bool = False) -> AsyncIterator[None]:
        """Hold one slot for the block; ``detail`` calls wait behind list pages."""
        await self._acquire(self._waiting[detail])
        try:
            yield
        finally:
            self._release()

    async def _acquire(self, line: deque[asyncio.Future[None]]) -> None:
        if self._free and not any(self._waiting):
            self._free -= 1
            return
        ticket = asyncio.get_running_loop().create_future()
        line.append(ticket)
        try:
            await ticket
        except asyncio.CancelledError:
            if ticket.done() and not ticket.cancelled():
                self._release()  # the slot came just as we were cancelled: pass it on
            else:
                with contextlib.suppress(ValueError):  # a release may have skipped (and dropped) it already
                    line.remove(ticket)
            raise

    def _release(self) -> None:
        for line in self._waiting:
            while line:
                ticket = line.popleft()
                if not ticket.done():
                    ticket.set_result(None)  # the slot goes straight to the next waiter
                    return
        self._free += 1


class RateLimit:
    """No more than ``per_s`` request starts in any sliding window of 1.02 s (2% margin for the jitter between
    our clock and the server's arrivals): ``await rate.acquire()`` before each request.

    A sliding-window log (pyrate-limiter), not evenly spaced starts: a start the event loop made late (a busy
    core) is caught up within the window instead of being lost, so the API's rate is used in full without one
    second ever holding more than it allows (Aimsio: 10/s, ``../shared/api/CONTRACT.md``). The log is trimmed
    on each start (no background leak thread).
    """

    def __init__(self, per_s: float) -> None:
        limit = max(1, int(per_s))
        self._bucket = InMemoryBucket([Rate(limit, round(limit * 1020 / per_s))])
        self._limiter = Limiter(SingleBucketFactory(self._bucket, schedule_leak=False), buffer_ms=0)

    async def acquire(self) -> None:
        """Wait until one more start fits in the window, and count it."""
        await self._limiter.try_acquire_async("requests")
        self._bucket.leak(self._bucket.now())


@dataclass
class Throttle:
    """The politeness budget of one API: at most ``max_in_flight`` requests at once and, with a rate, at most
    ``rate_per_s`` request starts in any second (:class:`RateLimit`). Shared by every client a
    :class:`Session` creates, so the budget holds across clients."""

    slots: Slots
    rate: RateLimit | None

    @classmethod
    def of(cls, settings: HttpSettings) -> Throttle:
        rate = settings.rate_per_s
        return cls(Slots(settings.max_in_flight), RateLimit(rate) if rate else None)


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

    Raises :class:`ConfigError` for 401/403 that survive a re-authentication (wrong credentials) and for
    an unreachable base URL; :class:`BadPayload` for a body still not JSON after every attempt;
    :class:`SourceError` for other 4xx and for retries exhausted.
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
        **kwargs: Any,
    ) -> Any:
        """Send one API call with retries; returns the decoded JSON body (amounts as text, see decode_json).

        ``tally``, if given, also counts this call's requests and retries (per-resource progress).
        ``detail`` marks a per-record call, which waits behind list pages for a slot (see :class:`Slots`).
        A 404 returns ``None`` (the record is gone). ``kwargs`` go to ``httpx.AsyncClient.request``.
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
                    return self._interpret(method, path, status, body)
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
                return await self.request("GET", path, tally=tally, detail=True)
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
        """One attempt: ``(status, body, the auth headers sent)``; raises RetriableError for 429 and 5xx."""
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
        if response.status_code == 429 or response.status_code >= 500:
            raise RetriableError(
                f"HTTP {response.status_code}", _parse_retry_after(response.headers.get("Retry-After"))
            )
        return response.status_code, body, sent

    def _interpret(self, method: str, path: str, status: int, body: bytes) -> Any:
        if status in (401, 403):
            raise ConfigError(
                f"{self.name}: {method} {path} was refused (HTTP {status}); check {self._credentials_hint}", status
            )
        if status == 404:
            return None
        if status >= 400:
            raise SourceError(f"{self.name}: {method} {path} answered HTTP {status}: {body[:300]!r}", status)
        try:
            return decode_json(body) if body else None
        except msgspec.DecodeError:
            raise _NotJson(body) from None


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


class _Loop:
    """The process-wide background event loop that all API clients run on (started lazily, daemon)."""

    _lock = threading.Lock()
    _loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def get(cls) -> asyncio.AbstractEventLoop:
        with cls._lock:
            if cls._loop is None:
                cls._loop = asyncio.new_event_loop()
                # each running iterator parks one worker while its consumer is behind; never run short
                cls._loop.set_default_executor(ThreadPoolExecutor(max_workers=64, thread_name_prefix="arwip-put"))
                threading.Thread(target=cls._loop.run_forever, name="arwip-http", daemon=True).start()
            return cls._loop


_END = object()


async def merge(iterators: list[AsyncIterator[T]], buffer: int = 8) -> AsyncIterator[T]:
    """Run several async iterators concurrently and yield their items as they come (order not kept).

    The first exception cancels the others and is raised. At most ``buffer`` items wait unconsumed.
    """
    if len(iterators) == 1:
        async for item in iterators[0]:
            yield item
        return
    out: asyncio.Queue[Any] = asyncio.Queue(maxsize=buffer)

    async def drain(it: AsyncIterator[T]) -> None:
        async for item in it:
            await out.put(item)

    tasks = [asyncio.ensure_future(drain(it)) for it in iterators]
    done_all = asyncio.ensure_future(asyncio.gather(*tasks))
    done_all.add_done_callback(lambda f: f.cancelled() or f.exception())  # retrieved: no "never retrieved" log
    try:
        while True:
            getter = asyncio.ensure_future(out.get())
            await asyncio.wait({getter, done_all}, return_when=asyncio.FIRST_COMPLETED)
            if getter.done():
                yield getter.result()
                continue
            getter.cancel()
            done_all.result()  # raises the first failure
            while not out.empty():
                yield out.get_nowait()
            return
    finally:
        for task in tasks:
            task.cancel()
        done_all.cancel()


@dataclass(frozen=True)
class _Failed:
    """The error that ended a :meth:`Session.iterate` producer, on its way to the consumer thread."""

    error: Exception


class Session:
    """One API client shared by a source's resources, living on the background loop.

    ``session.iterate(factory)`` runs ``factory(client)`` (an async iterator) on the loop and yields its
    items synchronously, at most ``prefetch`` items ahead (memory stays bounded). All resources of one
    source share the client, hence one concurrency budget and one token. The client is closed when the
    last running iterator ends and created again on the next use.
    """

    def __init__(self, make_client: Callable[[], ApiClient]) -> None:
        self._make_client = make_client
        self._client: ApiClient | None = None
        self._throttle: Throttle | None = None
        self._users = 0
        self._lock = threading.Lock()
        self.stats = RequestStats()

    def iterate(self, factory: Callable[[ApiClient], AsyncIterator[T]], prefetch: int = 4) -> Iterator[T]:
        """Yield the items of ``factory(client)``; exceptions raised there are re-raised here.

        When the consumer stops early (an error, or dlt closing the generator) the producer is cancelled
        and nothing is left blocked. The consumer must be closed from the thread that drives it: dlt's
        ``parallelized`` resources are not used, because dlt gives up on a worker thread blocked in
        ``next()`` when a sibling resource fails and never closes it (the process then cannot exit).
        """
        loop = _Loop.get()
        items: queue.Queue[Any] = queue.Queue(maxsize=prefetch)
        closing = threading.Event()
        client = self._acquire()

        def put(item: Any) -> None:  # runs in a worker thread; gives up once the consumer is gone
            while not closing.is_set():
                try:
                    items.put(item, timeout=0.1)
                    return
                except queue.Full:
                    continue

        async def pump() -> None:
            try:
                async for item in factory(client):
                    await asyncio.to_thread(put, item)
                await asyncio.to_thread(put, _END)
            except Exception as exc:  # handed to the consumer thread (wrapped: items may be exceptions too)
                await asyncio.to_thread(put, _Failed(exc))

        future = asyncio.run_coroutine_threadsafe(pump(), loop)
        try:
            while True:
                item = items.get()
                if item is _END:
                    return
                if isinstance(item, _Failed):
                    raise item.error
                yield item
        finally:
            closing.set()
            future.cancel()
            self._release(client)

    def run(self, factory: Callable[[ApiClient], Awaitable[T]]) -> T:
        """Run one coroutine with the client and return its result (e.g. a single detail call)."""
        client = self._acquire()
        try:
            return asyncio.run_coroutine_threadsafe(factory(client), _Loop.get()).result()
        finally:
            self._release(client)

    def _acquire(self) -> ApiClient:
        with self._lock:
            if self._client is None:
                self._client = self._make_client()
                if self._throttle is None:
                    self._throttle = self._client.throttle
                else:  # the API's budget outlives each client
                    self._client.throttle = self._throttle
            self._users += 1
            return self._client

    def _release(self, client: ApiClient) -> None:
        with self._lock:
            self._users -= 1
            if self._users or self._client is not client:
                return
            self._client = None
        for key, value in vars(client.stats).items():
            if isinstance(value, int):
                setattr(self.stats, key, getattr(self.stats, key) + value)
        loop = _Loop.get()
        if loop.is_running():  # not at interpreter shutdown, when the loop thread is already gone
            closed = asyncio.run_coroutine_threadsafe(client.aclose(), loop)
            with contextlib.suppress(Exception):
                closed.result(timeout=10)
