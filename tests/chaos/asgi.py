"""A test-side wrapper around one simulator app: answer a request itself, rewrite an answer, or act after one.

The simulators serve only well-formed data; the chaos tests use :class:`Intercept` to inject what they
cannot (a record with a bad date or amount, a page that is not JSON, an answer lost after the server acted
on it) and to observe what the clients received (e.g. the tokens the simulators issued). Wrap an app before
the cluster starts: ``cluster.apps["aiwyn"] = Intercept(cluster.apps["aiwyn"], after=...)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from simulators._faults import capture_response, send_response

Before = Callable[[Scope], "tuple[int, bytes] | tuple[int, bytes, dict[str, str]] | None"]
After = Callable[[Scope, int, bytes], "bytes | None"]


class Intercept:
    """ASGI wrapper: ``before(scope)`` may return ``(status, body[, headers])`` to answer without the simulator;
    ``after(scope, status, body)`` sees every answer and may return a new body. Admin routes pass through."""

    def __init__(self, app: ASGIApp, *, before: Before | None = None, after: After | None = None) -> None:
        self.app = app
        self.state: Any = getattr(app, "state", None)  # SimulatorCluster.stats reads app.state.vendor
        self.before = before
        self.after = after

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_sim/"):
            await self.app(scope, receive, send)
            return
        if self.before is not None:
            canned = self.before(scope)
            if canned is not None:
                extra = canned[2] if len(canned) > 2 else {}
                headers = [(b"content-type", b"application/json")]
                headers += [(k.lower().encode(), v.encode()) for k, v in extra.items()]
                await send_response(send, canned[0], canned[1], headers)
                return
        if self.after is None:
            await self.app(scope, receive, send)
            return
        head, body = await capture_response(self.app, scope, receive)
        if not head:  # the simulator dropped the connection (fault): nothing to pass on
            raise ConnectionAbortedError("simulated dropped connection")
        new = self.after(scope, head["status"], body)
        await send_response(send, head["status"], body if new is None else new, head.get("headers", []))


def query(scope: Scope) -> str:
    """The query string of a request."""
    return scope.get("query_string", b"").decode()


def params(scope: Scope) -> dict[str, str]:
    """The query parameters of a request, as sent (still percent-encoded)."""
    return dict(p.split("=", 1) for p in query(scope).split("&") if "=" in p)
