"""Aiwyn webhook signatures, body size and event parsing (sources/aiwyn/webhooks.py), against hand-made
deliveries signed as CONTRACT.md "Aiwyn event subscriptions" says."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import orjson
import pytest

from sources.aiwyn.webhooks import (
    MAX_BODY_BYTES,
    PayloadError,
    SignatureError,
    WebhookVerifier,
    decode_secret,
    parse_event,
    read_body,
)

KEY, OTHER = bytes(range(32)), bytes(range(32, 64))
SECRET, OTHER_SECRET = ("whsec_" + base64.b64encode(k).decode() for k in (KEY, OTHER))
NOW = 1_800_000_000
AT = "2026-06-30T12:00:01Z"
BODY = orjson.dumps({"eventId": "evt_1b4e28ba-2fa1-11d2-883f-0016d3cca427", "subscriptionId": 3, "entityType": "wip",
                     "operation": "UPDATE", "entityId": 100_001, "occurredAt": AT,
                     "data": {"id": 100_001, "updatedAt": AT}})


def signed(body: bytes = BODY, ts: int = NOW, keys: tuple[bytes, ...] = (KEY,)) -> dict[str, str]:
    """Delivery headers as Aiwyn sends them (one `sha256=` per key, comma-separated)."""
    sigs = ",".join("sha256=" + hmac.new(k, f"{ts}.".encode() + body, hashlib.sha256).hexdigest() for k in keys)
    return {"X-Aiwyn-Event-Id": "evt_x", "X-Aiwyn-Timestamp": str(ts), "X-Aiwyn-Signature": sigs}


def verifier(*secrets: str) -> WebhookVerifier:
    return WebhookVerifier(list(secrets) or [SECRET], clock=lambda: NOW)


def rejected(headers: dict[str, str], body: bytes = BODY, v: WebhookVerifier | None = None) -> SignatureError:
    with pytest.raises(SignatureError) as caught:
        (v or verifier()).verify(headers, body)
    assert caught.value.status == 401
    return caught.value


def test_a_good_signature_passes_and_gives_the_timestamp() -> None:
    assert verifier().verify(signed(), BODY) == NOW
    lower = {k.lower(): v for k, v in signed().items()}  # a plain dict with other spelling
    assert verifier().verify(lower, BODY) == NOW


def test_a_wrong_secret_or_a_changed_body_matches_nothing() -> None:
    assert rejected(signed(keys=(OTHER,))).reason == "no_match"
    assert rejected(signed(), BODY.replace(b"100001", b"100002")).reason == "no_match"
    reserialized = orjson.dumps(orjson.loads(BODY), option=orjson.OPT_INDENT_2)  # same JSON, other bytes
    assert rejected(signed(), reserialized).reason == "no_match"
    error = rejected(signed(keys=(OTHER,)))
    assert SECRET[6:] not in str(error) and "X-Aiwyn-Signature" in str(error)


def test_rotation_two_listed_signatures_or_two_configured_secrets() -> None:
    both = signed(keys=(OTHER, KEY))
    assert "," in both["X-Aiwyn-Signature"]
    assert verifier().verify(both, BODY) == NOW  # the old secret configured, the new one listed first
    assert verifier(OTHER_SECRET).verify(both, BODY) == NOW
    assert verifier(OTHER_SECRET, SECRET).verify(signed(), BODY) == NOW  # the receiver knows both
    spaced = {**signed(), "X-Aiwyn-Signature": "sha256=" + "0" * 64 + ", " + signed()["X-Aiwyn-Signature"]}
    assert verifier().verify(spaced, BODY) == NOW


@pytest.mark.parametrize(("offset", "reason"), [(-301, "too_old"), (301, "too_new")])
def test_timestamps_more_than_300_s_off_are_refused(offset: int, reason: str) -> None:
    error = rejected(signed(ts=NOW + offset))
    assert error.reason == reason and "301 s" in str(error)
    assert verifier().verify(signed(ts=NOW - 300), BODY) == NOW - 300
    assert verifier().verify(signed(ts=NOW + 300), BODY) == NOW + 300


def test_missing_and_malformed_headers_are_named() -> None:
    for name in ("X-Aiwyn-Timestamp", "X-Aiwyn-Signature"):
        headers = signed()
        del headers[name]
        error = rejected(headers)
        assert error.reason == "missing_header" and name in str(error)
    assert rejected({**signed(), "X-Aiwyn-Timestamp": "12e3"}).reason == "malformed_header"
    assert rejected({**signed(), "X-Aiwyn-Timestamp": "²"}).reason == "malformed_header"
    assert rejected({**signed(), "X-Aiwyn-Signature": "v1,abc"}).reason == "malformed_header"


def test_secrets_are_decoded_once_and_checked() -> None:
    assert decode_secret(SECRET) == KEY and decode_secret(SECRET[6:]) == KEY
    with pytest.raises(ValueError, match="not whsec_<base64>") as caught:
        decode_secret("whsec_c2VjcmV0!")
    assert "c2VjcmV0" not in str(caught.value)
    with pytest.raises(ValueError, match="empty"):
        decode_secret("whsec_")
    with pytest.raises(ValueError, match="at least one"):
        WebhookVerifier([])


def test_parse_event_gives_a_typed_event() -> None:
    event = parse_event(BODY)
    assert (event.event_id, event.subscription_id, event.entity_type, event.operation, event.entity_id) == (
        "evt_1b4e28ba-2fa1-11d2-883f-0016d3cca427", "3", "wip", "UPDATE", 100_001)
    assert event.occurred_at == event.updated_at == datetime(2026, 6, 30, 12, 0, 1, tzinfo=UTC)
    assert event.payload == BODY
    loose = orjson.loads(BODY) | {"entityType": "WIP", "operation": "delete", "entityId": "100001",
                                  "occurredAt": "2026-06-30T14:00:01+02:00"}
    event = parse_event(orjson.dumps(loose))
    assert (event.entity_type, event.operation, event.entity_id) == ("wip", "DELETE", 100_001)
    assert event.occurred_at == datetime(2026, 6, 30, 12, 0, 1, tzinfo=UTC)


@pytest.mark.parametrize(("change", "reason", "names"), [
    (None, "malformed_json", "JSON"),
    ([1, 2], "malformed_json", "object"),
    ({"eventId": None}, "missing_field", "eventId"),
    ({"data": {"id": 100_001}}, "missing_field", "data.updatedAt"),
    ({"entityType": "client"}, "bad_field", "entityType"),
    ({"operation": "UPSERT"}, "bad_field", "operation"),
    ({"entityId": "abc"}, "bad_field", "entityId"),
    ({"data": {"id": 5, "updatedAt": "2026-06-30T12:00:01Z"}}, "bad_field", "data.id"),
    ({"occurredAt": "yesterday"}, "bad_field", "occurredAt"),
])
def test_malformed_events_are_refused_naming_the_field(change: object, reason: str, names: str) -> None:
    if change is None:
        body = BODY[:-5]
    elif isinstance(change, list):
        body = orjson.dumps(change)
    else:
        body = orjson.dumps(orjson.loads(BODY) | change)
    with pytest.raises(PayloadError, match=names) as caught:
        parse_event(body)
    assert caught.value.reason == reason and caught.value.status == 400


def test_bodies_over_one_mib_are_refused() -> None:
    async def chunks(sizes: list[int]) -> AsyncIterator[bytes]:
        for n in sizes:
            yield b"x" * n

    async def read(sizes: list[int], length: str | None = None) -> bytes:
        return await read_body(chunks(sizes), length)

    assert len(asyncio.run(read([MAX_BODY_BYTES // 2] * 2))) == MAX_BODY_BYTES
    for sizes, length in (([MAX_BODY_BYTES // 2] * 2 + [1], None), ([10], str(MAX_BODY_BYTES + 1))):
        with pytest.raises(PayloadError, match="larger than 1048576 bytes") as caught:
            asyncio.run(read(sizes, length))
        assert caught.value.reason == "too_large" and caught.value.status == 413
