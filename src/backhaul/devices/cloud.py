"""Account deactivation through a brand's device cloud: `HttpDeviceCloud` calls the brand's HTTP
endpoint with retries and backoff and records every attempt; `AdapterDeviceCloud` lets the
station's device adapter do it when the brand has no cloud configured.

The contract (docs/adapters.md has the full text):

    POST {device_cloud_url}/devices/{serial}/deactivation
    Authorization: Bearer {the brand's token}               (when one is set)
    Idempotency-Key: {one key per deactivation, the same on every retry}
    {"serial": "...", "sku": "...", "reason": "..."}

    200 {"status": "deactivated" | "none_found", "reference": "..."}  confirmed
    409, 423                                     still bound (not retried)
    408, 429, 5xx, timeout, connection error     retried (Retry-After honoured)
    anything else, or attempts exhausted         not confirmed: still bound
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Protocol, runtime_checkable
from urllib.parse import quote
from uuid import uuid4

import httpx

from backhaul.devices.adapter import AccountResult, DeviceAdapter

DEACTIVATION_REASON = "returned unit: the previous owner's account is removed before sanitization"
BODY_LIMIT = 2000  # characters of the final response body kept as evidence
ERROR_LIMIT = 300
STILL_BOUND_STATUSES = frozenset({409, 423})
RETRY_STATUSES = frozenset({408, 429})  # and every 5xx
CONFIRMED = frozenset({"deactivated", "none_found"})


@runtime_checkable
class DeviceCloud(Protocol):
    """Where a station deactivates the previous owner's account."""

    def deactivate(self, serial: str, sku: str) -> AccountResult:
        """Unbind the account of the device with this serial; never raises for a bad answer:
        anything short of a confirmation comes back as `still_bound` with the reason."""
        ...


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: a bounded number of attempts, exponential backoff with equal jitter
    between them, and a cap on any single wait (a longer Retry-After ends the tries)."""

    max_attempts: int = 4
    base_delay: float = 0.5  # seconds: the backoff before the second attempt, before jitter
    max_delay: float = 30.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0:
            raise ValueError("delays must not be negative")

    def backoff(self, attempt: int, draw: float) -> float:
        """The wait after failed attempt number `attempt` (1-based): half of the exponential
        step for sure, the other half drawn (`draw` in [0, 1)) so stations spread out."""
        step = min(self.max_delay, self.base_delay * 2.0 ** (attempt - 1))
        return step / 2 + step / 2 * draw


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """The wait a Retry-After header asks for: delay-seconds or an HTTP-date (RFC 9110 10.2.3);
    None when absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def _detail(response: httpx.Response) -> str:
    """The reason a cloud gives in its body (`detail`, `reason` or `message`), else its text."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        for key in ("detail", "reason", "message", "title"):
            if isinstance(body.get(key), str) and body[key].strip():
                return str(body[key]).strip()[:ERROR_LIMIT]
    return response.text.strip()[:ERROR_LIMIT] or f"HTTP {response.status_code}"


def _confirmed(response: httpx.Response) -> tuple[str, str] | None:
    """(status, reference) from a 200 that follows the contract, else None."""
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    status, reference = body.get("status"), body.get("reference")
    if status not in CONFIRMED or not isinstance(reference, str) or not reference.strip():
        return None
    return status, reference.strip()[:200]


class HttpDeviceCloud:
    """A brand's device cloud over HTTP (the contract above). `sleep`, `clock`, `draw` and `now`
    are injectable so tests never wait for real."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        policy: RetryPolicy | None = None,
        timeout: float = 10.0,
        client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        draw: Callable[[], float] = random.random,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.policy = policy or RetryPolicy()
        self._owns_client = client is None
        self.client = client or httpx.Client(timeout=timeout)
        self.sleep, self.clock, self.draw, self.now = sleep, clock, draw, now

    def close(self) -> None:
        """Close the HTTP client if this object made it."""
        if self._owns_client:
            self.client.close()

    def __enter__(self) -> HttpDeviceCloud:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def url_for(self, serial: str) -> str:
        """The deactivation endpoint of one device."""
        return f"{self.base_url}/devices/{quote(serial, safe='')}/deactivation"

    def deactivate(self, serial: str, sku: str) -> AccountResult:
        """Ask the cloud to unbind the device's account, retrying what may pass on a retry."""
        url = self.url_for(serial)
        headers = {"Idempotency-Key": f"backhaul-deactivation-{uuid4().hex}"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        payload = {"serial": serial, "sku": sku, "reason": DEACTIVATION_REASON}
        attempts: list[dict[str, Any]] = []
        for number in range(1, self.policy.max_attempts + 1):
            started = self.clock()
            error: str | None = None
            response: httpx.Response | None = None
            try:
                response = self.client.post(url, json=payload, headers=headers)
            except httpx.TimeoutException as exc:
                error = f"timeout: {exc or type(exc).__name__}"[:ERROR_LIMIT]
            except httpx.RequestError as exc:
                error = f"{type(exc).__name__}: {exc}"[:ERROR_LIMIT]
            attempts.append(
                {
                    "attempt": number,
                    "status_code": response.status_code if response is not None else None,
                    "elapsed_ms": round(max(0.0, self.clock() - started) * 1000, 1),
                    "error": error,
                    "retry_in_s": None,
                }
            )
            recorded = _recorded(url, response, attempts)
            if response is not None:
                code = response.status_code
                if code == 200:
                    confirmed = _confirmed(response)
                    if confirmed is None:
                        return _not_confirmed(
                            recorded, "the device cloud answered 200 without a status and reference"
                        )
                    status, reference = confirmed
                    return AccountResult(
                        status,  # type: ignore[arg-type]  # checked by _confirmed
                        recorded,
                        reference=reference,
                        source="device_cloud",
                    )
                if code in STILL_BOUND_STATUSES:
                    return AccountResult(
                        "still_bound",
                        recorded,
                        reason=f"the device cloud keeps the account bound (HTTP {code}): "
                        f"{_detail(response)}",
                        source="device_cloud",
                    )
                if code not in RETRY_STATUSES and code < 500:
                    return _not_confirmed(
                        recorded,
                        f"the device cloud refused the request (HTTP {code}): {_detail(response)}",
                    )
            if number == self.policy.max_attempts:
                break
            wait = self.policy.backoff(number, self.draw())
            if response is not None and response.status_code in (429, 503):
                asked = retry_after_seconds(response.headers.get("Retry-After"), self.now())
                if asked is not None and asked > self.policy.max_delay:
                    return _not_confirmed(
                        recorded,
                        f"the device cloud asked to retry after {asked:.0f} s "
                        f"(HTTP {response.status_code}), longer than the station waits "
                        f"({self.policy.max_delay:.0f} s)",
                    )
                if asked is not None:
                    wait = asked
            attempts[-1]["retry_in_s"] = round(wait, 3)
            self.sleep(wait)
        final = attempts[-1]
        why = final["error"] or f"HTTP {final['status_code']}"
        return _not_confirmed(
            recorded, f"not confirmed after {len(attempts)} attempts; the last: {why}"
        )


def _recorded(
    url: str, response: httpx.Response | None, attempts: list[dict[str, Any]]
) -> dict[str, Any]:
    """The exchange as evidence: the URL, the latest answer (body truncated), every attempt."""
    return {
        "url": url,
        "status_code": response.status_code if response is not None else None,
        "body": response.text[:BODY_LIMIT] if response is not None else "",
        "attempts": attempts,
    }


def _not_confirmed(recorded: dict[str, Any], reason: str) -> AccountResult:
    """No confirmation: the account counts as still bound, with the reason."""
    return AccountResult("still_bound", recorded, reason=reason, source="device_cloud")


class AdapterDeviceCloud:
    """For brands without a device cloud: the station's device adapter deactivates the account
    (the simulated adapter answers for its virtual devices)."""

    def __init__(self, adapter: DeviceAdapter) -> None:
        self.adapter = adapter

    def deactivate(self, serial: str, sku: str) -> AccountResult:
        """The adapter's own deactivation, marked as confirmed by the device adapter."""
        return replace(self.adapter.deactivate_account(serial), source="device_adapter")
