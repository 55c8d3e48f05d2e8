"""What the vendor writers (Aiwyn Records, Aimsio NRB import, iinsight transfer) share: request bodies with exact
decimals, and the per-request item limit.

Money is never a float: a ``decimal.Decimal`` goes out as a JSON number with exactly its digits (``Decimal("0.10")``
→ ``0.10``); ``date`` as ``YYYY-MM-DD``, an aware ``datetime`` as RFC 3339.
"""

from __future__ import annotations

from collections.abc import Sized
from typing import Any

import msgspec

_ENCODER = msgspec.json.Encoder(decimal_format="number")


def json_content(payload: Any) -> dict[str, Any]:
    """Keyword arguments for :meth:`sources._http.ApiClient.request` sending ``payload`` as JSON, decimals exact
    (httpx's own ``json=`` cannot encode a ``Decimal``). Raises ``TypeError`` for a value JSON cannot hold."""
    return {"content": _ENCODER.encode(payload), "headers": {"Content-Type": "application/json"}}


def check_batch(items: Sized, limit: int, what: str) -> None:
    """Raise ``ValueError`` when ``items`` holds more than ``limit`` (the API would refuse the whole request)."""
    if len(items) > limit:
        raise ValueError(f"{what}: at most {limit} a request; got {len(items)} (split them into batches)")
