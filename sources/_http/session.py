"""Running a source's async HTTP work from dlt's synchronous resources.

:class:`Session` owns one API client on a process-wide background event loop and hands the items of an
async iterator to a synchronous consumer (a dlt resource), at most a few items ahead; :func:`merge` runs
several async iterators concurrently.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from sources._http.client import ApiClient
from sources._http.limits import Throttle

T = TypeVar("T")


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
        loop = _Loop.get()
        if loop.is_running():  # not at interpreter shutdown, when the loop thread is already gone
            closed = asyncio.run_coroutine_threadsafe(client.aclose(), loop)
            with contextlib.suppress(Exception):
                closed.result(timeout=10)
