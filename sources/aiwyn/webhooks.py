"""Aiwyn webhook deliveries: signature verification, body size and event parsing.

Implements CONTRACT.md "Aiwyn event subscriptions" (seed 002 names the feature; the contract pins the
rest): a delivery is ``POST <url>`` with the JSON body ``{"eventId": "evt_<uuid>", "subscriptionId",
"entityType", "operation", "entityId", "occurredAt", "data": {"id", "updatedAt"}}`` and the headers
``X-Aiwyn-Event-Id``, ``X-Aiwyn-Timestamp`` (epoch seconds) and ``X-Aiwyn-Signature: sha256=<hex>``, where
hex = HMAC-SHA256(key = the ``whsec_`` secret's decoded bytes, message = ``"<timestamp>.<raw body>"``); during
a secret rotation the header lists two ``sha256=`` values separated by a comma.

A receiver reads the body with :func:`read_body` (at most :data:`MAX_BODY_BYTES`), checks it with
:meth:`WebhookVerifier.verify`, parses it with :func:`parse_event`, stores the event, then answers 2xx.
Every refusal is a :class:`WebhookRejected` carrying a short ``reason`` (for logs and metrics) and the
HTTP ``status`` to answer; nothing in a message is secret. The vendor-neutral pieces (the body reader, the
event, the errors) live in :mod:`sources._webhooks` and are re-exported here.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from sources._webhooks import MAX_BODY_BYTES, PayloadError, WebhookEvent, WebhookRejected, digits, read_body

__all__ = ["MAX_BODY_BYTES", "PayloadError", "SignatureError", "WebhookEvent", "WebhookRejected", "WebhookVerifier",
           "decode_secret", "parse_event", "read_body"]

SOURCE = "aiwyn"
EVENT_ID_HEADER = "X-Aiwyn-Event-Id"
TIMESTAMP_HEADER = "X-Aiwyn-Timestamp"
SIGNATURE_HEADER = "X-Aiwyn-Signature"
TOLERANCE_S = 300
"""How far ``X-Aiwyn-Timestamp`` may be from the receiver's clock, either way (seconds)."""
ENTITY_TYPES = frozenset({"wip", "invoice", "payment"})
OPERATIONS = frozenset({"CREATE", "UPDATE", "DELETE"})
SECRET_PREFIX = "whsec_"


class SignatureError(WebhookRejected):
    """The signature headers are missing, malformed, out of the time window or match no secret (HTTP 401)."""

    status = 401


def decode_secret(secret: str) -> bytes:
    """The key bytes of a ``whsec_<base64>`` signing secret (the prefix is optional).

    Raises:
        ValueError: not base64 or empty (the message never contains the secret).
    """
    text = secret.strip().removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the Aiwyn webhook secret is not whsec_<base64>") from None
    if not key:
        raise ValueError("the Aiwyn webhook secret is empty")
    return key


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """A header by name, case-insensitively (Starlette's and httpx's headers already are; a dict may not be)."""
    value = headers.get(name)
    if value is None:
        lower = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lower), None)
    return value


class WebhookVerifier:
    """Checks ``X-Aiwyn-Signature`` and ``X-Aiwyn-Timestamp`` of a delivery against one or more secrets.

    Args:
        secrets: the subscription's ``whsec_`` secret, or several (the new and the old one while rotating);
            decoded once here.
        tolerance_s: largest accepted difference between the timestamp and ``clock()``, either way (seconds).
        clock: epoch seconds now (tests pass their own).

    Raises:
        ValueError: no secret, or one that is not ``whsec_<base64>``.
    """

    def __init__(self, secrets: str | Iterable[str], tolerance_s: float = TOLERANCE_S,
                 clock: Callable[[], float] = time.time) -> None:
        self._keys = [decode_secret(s) for s in ([secrets] if isinstance(secrets, str) else secrets)]
        if not self._keys:
            raise ValueError("give at least one Aiwyn webhook secret")
        self.tolerance_s = tolerance_s
        self._clock = clock

    def verify(self, headers: Mapping[str, str], body: bytes) -> int:
        """Check a delivery: the timestamp is within the tolerance and one listed ``sha256=`` signature is the
        HMAC of ``"<timestamp>.<body>"`` under one of the secrets (constant-time compare). ``body`` must be the
        raw bytes received, never re-serialized JSON. Returns the timestamp (epoch s).

        Raises:
            SignatureError: ``missing_header``, ``malformed_header``, ``too_old``, ``too_new`` or ``no_match``.
        """
        stamp, listed = _header(headers, TIMESTAMP_HEADER), _header(headers, SIGNATURE_HEADER)
        for name, value in ((TIMESTAMP_HEADER, stamp), (SIGNATURE_HEADER, listed)):
            if not value:
                raise SignatureError("missing_header", f"missing header {name}")
        assert stamp is not None and listed is not None
        if not digits(stamp.strip()):
            raise SignatureError("malformed_header", f"{TIMESTAMP_HEADER} is not epoch seconds")
        timestamp = int(stamp)
        skew = self._clock() - timestamp
        if skew > self.tolerance_s:
            raise SignatureError("too_old", f"{TIMESTAMP_HEADER} is {skew:.0f} s old (limit {self.tolerance_s:g} s)")
        if -skew > self.tolerance_s:
            raise SignatureError("too_new", f"{TIMESTAMP_HEADER} is {-skew:.0f} s ahead (limit {self.tolerance_s:g} s)")
        given = [v.strip()[7:] for v in listed.split(",") if v.strip().lower().startswith("sha256=")]
        if not given:
            raise SignatureError("malformed_header", f"{SIGNATURE_HEADER} lists no sha256=<hex> signature")
        signed = f"{timestamp}.".encode() + body
        for key in self._keys:
            expected = hmac.new(key, signed, hashlib.sha256).hexdigest().encode()
            if any(hmac.compare_digest(expected, g.lower().encode()) for g in given):
                return timestamp
        raise SignatureError("no_match", f"no signature in {SIGNATURE_HEADER} matches a configured secret")


def _required(obj: dict[str, Any], key: str, where: str = "") -> Any:
    value = obj.get(key)
    if value is None or value == "":
        raise PayloadError("missing_field", f"the event has no {where}{key}")
    return value


def _instant(value: Any, name: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise PayloadError("bad_field", f"{name} is not an ISO timestamp: {str(value)[:40]!r}")
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _record_id(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str) or not digits(str(value).strip()):
        raise PayloadError("bad_field", f"{name} is not an integer id: {str(value)[:40]!r}")
    return int(value)


def parse_event(body: bytes) -> WebhookEvent:
    """A delivery body → :class:`WebhookEvent` (verify the signature first).

    ``entityType`` is matched case-insensitively, ``operation`` too; timestamps without a zone are UTC.

    Raises:
        PayloadError: ``malformed_json`` (not a JSON object), ``missing_field`` or ``bad_field`` (an unknown
            entity type or operation, an id that is not an integer, ``data.id`` unlike ``entityId``, a bad
            timestamp); the message names the field.
    """
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise PayloadError("malformed_json", "the body is not valid JSON") from None
    if not isinstance(obj, dict):
        raise PayloadError("malformed_json", "the body is not a JSON object")
    data = _required(obj, "data")
    if not isinstance(data, dict):
        raise PayloadError("bad_field", "data is not an object")
    entity_type = str(_required(obj, "entityType")).lower()
    operation = str(_required(obj, "operation")).upper()
    if entity_type not in ENTITY_TYPES:
        raise PayloadError("bad_field", f"unsupported entityType {entity_type[:40]!r}")
    if operation not in OPERATIONS:
        raise PayloadError("bad_field", f"unsupported operation {operation[:40]!r}")
    entity_id = _record_id(_required(obj, "entityId"), "entityId")
    if _record_id(_required(data, "id", "data."), "data.id") != entity_id:
        raise PayloadError("bad_field", "data.id differs from entityId")
    return WebhookEvent(
        event_id=str(_required(obj, "eventId")),
        subscription_id=str(_required(obj, "subscriptionId")),
        entity_type=entity_type,
        operation=operation,
        entity_id=entity_id,
        occurred_at=_instant(_required(obj, "occurredAt"), "occurredAt"),
        updated_at=_instant(_required(data, "updatedAt", "data."), "data.updatedAt"),
        payload=body,
        source=SOURCE,
    )
