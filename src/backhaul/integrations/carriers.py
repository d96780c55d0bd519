"""Carrier adapters behind one small protocol: verify a webhook's signature, and turn its body
into tracking updates. EasyPost is built in; Shippo or AfterShip are another class each."""

from __future__ import annotations

import hashlib
import hmac
import json
import unicodedata
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from backhaul.returns.service import Scan, TrackingUpdate


class WebhookRejected(Exception):
    """The webhook is not authentic (bad or missing signature) or cannot be read."""


class CarrierAdapter(Protocol):
    """What Backhaul needs from a carrier integration."""

    name: str

    def verify(self, headers: Mapping[str, str], body: bytes) -> None:
        """Raise WebhookRejected unless the body is signed by the carrier."""

    def parse(self, body: bytes) -> tuple[str, list[TrackingUpdate]]:
        """(the event's id, the tracking updates it carries); WebhookRejected if unreadable."""


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _text(value: Any, limit: int) -> str:
    return value[:limit] if isinstance(value, str) else ""


class EasyPost:
    """EasyPost `tracker.updated` webhooks, signed with `X-Hmac-Signature`.

    The signature is `hmac-sha256-hex=` and the hex HMAC-SHA256 of the exact request body,
    keyed with the UTF-8 bytes of the NFKD-normalised webhook secret.
    """

    name = "easypost"
    header = "x-hmac-signature"
    prefix = "hmac-sha256-hex="

    def __init__(self, secret: str) -> None:
        self._key = unicodedata.normalize("NFKD", secret).encode("utf-8")

    def signature(self, body: bytes) -> str:
        """The header value EasyPost would send for this body."""
        return self.prefix + hmac.new(self._key, body, hashlib.sha256).hexdigest()

    def verify(self, headers: Mapping[str, str], body: bytes) -> None:
        """Accept exactly the body EasyPost signed with our secret."""
        received = next((v for k, v in headers.items() if k.lower() == self.header), None)
        if not received:
            raise WebhookRejected("missing X-Hmac-Signature header")
        if not hmac.compare_digest(received.encode(), self.signature(body).encode()):
            raise WebhookRejected("X-Hmac-Signature does not match the body")

    def parse(self, body: bytes) -> tuple[str, list[TrackingUpdate]]:
        """An Event whose result is a Tracker (other events carry no tracking)."""
        try:
            event = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise WebhookRejected(f"the body is not JSON: {error}") from None
        if not isinstance(event, dict) or not isinstance(event.get("id"), str):
            raise WebhookRejected("not an EasyPost event (no id)")
        result = event.get("result")
        if not isinstance(result, dict) or result.get("object") != "Tracker":
            return event["id"][:100], []
        code = result.get("tracking_code")
        if not isinstance(code, str) or not code.strip():
            raise WebhookRejected("the tracker has no tracking_code")
        scans = []
        for detail in result.get("tracking_details") or []:
            if not isinstance(detail, dict):
                continue
            at = _timestamp(detail.get("datetime"))
            if at is None:
                continue
            place = detail.get("tracking_location") or {}
            location = ", ".join(
                str(place[part])
                for part in ("city", "state", "country")
                if isinstance(place, dict) and isinstance(place.get(part), str) and place[part]
            )
            scans.append(
                Scan(
                    status=_text(detail.get("status"), 40) or "unknown",
                    message=_text(detail.get("message"), 300),
                    occurred_at=at,
                    status_detail=_text(detail.get("status_detail"), 60) or None,
                    location=location or None,
                )
            )
        update = TrackingUpdate(
            carrier=_text(result.get("carrier"), 40) or "EasyPost",
            tracking_code=code.strip()[:100],
            status=_text(result.get("status"), 40) or "unknown",
            scans=tuple(scans),
            updated_at=_timestamp(result.get("updated_at")),
        )
        return event["id"][:100], [update]
