"""A webhook endpoint on loopback for the tests: records every delivery (raw body, headers) and answers with
the status the test's ``answer`` function gives, served by uvicorn in a thread of its own."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


@dataclass(frozen=True)
class Received:
    """One delivery as it arrived: headers (lower-case names), the raw body, and the status answered."""

    headers: dict[str, str]
    body: bytes
    status: int


Answer = Callable[[dict[str, str], bytes], int]


class Receiver:
    """``with Receiver(answer) as r: ... r.url ... r.wait_for(3)``; ``answer(headers, body)`` → HTTP status
    (default 200). ``received`` lists the deliveries in arrival order."""

    def __init__(self, answer: Answer | None = None) -> None:
        self.answer = answer or (lambda headers, body: 200)
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(128)
        self._sock.setblocking(False)
        app = Starlette(routes=[Route("/hook", self._hook, methods=["POST"])])
        self._server = uvicorn.Server(uvicorn.Config(app, log_level="critical", lifespan="off"))
        self._thread = threading.Thread(target=lambda: asyncio.run(self._server.serve(sockets=[self._sock])),
                                        daemon=True)

    async def _hook(self, request: Request) -> Response:
        headers, body = {k.lower(): v for k, v in request.headers.items()}, await request.body()
        status = self.answer(headers, body)
        with self._lock:
            self.received.append(Received(headers, body, status))
        return Response(status_code=status)

    @property
    def url(self) -> str:
        """The endpoint to subscribe."""
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}/hook"

    def wait_for(self, n: int, timeout_s: float = 20.0, status: int | None = None) -> list[Received]:
        """The deliveries once at least ``n`` arrived (only those answered ``status``, when given), polling
        until ``timeout_s``; raises AssertionError with what did arrive otherwise."""
        deadline = time.monotonic() + timeout_s
        while True:
            with self._lock:
                got = [r for r in self.received if status is None or r.status == status]
            if len(got) >= n or time.monotonic() > deadline:
                assert len(got) >= n, f"{len(got)} of {n} deliveries arrived in {timeout_s} s"
                return got
            time.sleep(0.02)

    def __enter__(self) -> Receiver:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            assert time.monotonic() < deadline, "the test receiver did not start"
            time.sleep(0.01)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()
