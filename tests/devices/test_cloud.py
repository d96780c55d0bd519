"""`HttpDeviceCloud` against a real local HTTP server: retries with backoff on 5xx, timeouts and
connection errors, Retry-After honoured, 409 never retried, and every attempt recorded. The
waits are recorded, never slept."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from backhaul.devices.adapter import AccountResult
from backhaul.devices.cloud import (
    BODY_LIMIT,
    AdapterDeviceCloud,
    DeviceCloud,
    HttpDeviceCloud,
    RetryPolicy,
    retry_after_seconds,
)
from backhaul.devices.simulated import FaultRates, SimulatedAdapter
from tests.devices.fake_cloud import Answer, FakeCloud, confirmed, fake_cloud

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


class Waits(list[float]):
    """A sleep that only writes down how long it was asked to wait."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def cloud_at(url: str, waits: Waits, **options: object) -> HttpDeviceCloud:
    return HttpDeviceCloud(
        url,
        "cloud-secret",
        sleep=waits,
        draw=lambda: 0.5,
        now=lambda: NOW,
        **options,  # type: ignore[arg-type]
    )


def deactivate(
    *script: Answer, serial: str = "SPK000001", **options: object
) -> tuple[AccountResult, FakeCloud, Waits]:
    """Run one deactivation against a fake cloud answering `script`."""
    waits = Waits()
    with fake_cloud(*script) as server, cloud_at(server.url, waits, **options) as cloud:
        result = cloud.deactivate(serial, "SPK-100")
    return result, server, waits


def test_two_503s_then_a_confirmation_is_deactivated_after_three_recorded_attempts() -> None:
    result, server, waits = deactivate(
        Answer(503, "busy"), Answer(503, "busy"), confirmed("LUM-DEACT-7"), serial="SPK000001"
    )
    assert (result.status, result.reference, result.source) == (
        "deactivated",
        "LUM-DEACT-7",
        "device_cloud",
    )
    attempts = result.response["attempts"]
    assert [a["status_code"] for a in attempts] == [503, 503, 200]
    assert [a["attempt"] for a in attempts] == [1, 2, 3]
    assert all(a["elapsed_ms"] >= 0 and a["error"] is None for a in attempts)
    # Exponential backoff with equal jitter (draw 0.5): 0.5 s → 0.375, 1.0 s → 0.75.
    assert waits == [0.375, 0.75]
    assert [a["retry_in_s"] for a in attempts] == [0.375, 0.75, None]
    assert result.response["url"] == f"{server.url}/devices/SPK000001/deactivation"
    assert result.response["status_code"] == 200
    assert "LUM-DEACT-7" in result.response["body"]
    # The contract: one POST per attempt, the token, and the same idempotency key on every retry.
    assert [r["path"] for r in server.requests] == ["/v1/devices/SPK000001/deactivation"] * 3
    assert {r["headers"]["authorization"] for r in server.requests} == {"Bearer cloud-secret"}
    assert len({r["headers"]["idempotency-key"] for r in server.requests}) == 1
    assert server.requests[0]["json"]["serial"] == "SPK000001"
    assert server.requests[0]["json"]["sku"] == "SPK-100"


def test_a_cloud_that_never_confirms_leaves_the_account_bound_with_the_reason() -> None:
    result, server, waits = deactivate(
        Answer(500, "x" * (BODY_LIMIT * 2)), serial="SPK000002", policy=RetryPolicy(max_attempts=4)
    )
    assert result.status == "still_bound" and result.reference is None
    assert result.reason == "not confirmed after 4 attempts; the last: HTTP 500"
    assert len(result.response["attempts"]) == 4 == len(server.requests)
    assert len(waits) == 3  # no wait after the last attempt
    assert waits == sorted(waits)  # the backoff grows
    assert len(result.response["body"]) == BODY_LIMIT  # the body is kept, truncated


def test_retry_after_is_honoured_in_seconds_and_as_a_date() -> None:
    later = format_datetime(NOW + timedelta(seconds=12), usegmt=True)
    result, _server, waits = deactivate(
        Answer(429, {"detail": "slow down"}, {"Retry-After": "7"}),
        Answer(503, "maintenance", {"Retry-After": later}),
        confirmed(status="none_found"),
    )
    assert result.status == "none_found"
    assert waits == [7.0, 12.0]
    assert [a["retry_in_s"] for a in result.response["attempts"]] == [7.0, 12.0, None]


def test_a_retry_after_longer_than_the_station_waits_ends_the_tries() -> None:
    result, server, waits = deactivate(
        Answer(503, "down for the night", {"Retry-After": "3600"}),
        policy=RetryPolicy(max_delay=30),
    )
    assert result.status == "still_bound"
    assert "retry after 3600 s" in (result.reason or "")
    assert waits == [] and len(server.requests) == 1


@pytest.mark.parametrize("code", [409, 423])
def test_a_locked_binding_is_still_bound_at_once_without_retrying(code: int) -> None:
    result, server, waits = deactivate(
        Answer(code, {"detail": "binding locked by the owner's family plan"})
    )
    assert result.status == "still_bound"
    assert result.reason == (
        f"the device cloud keeps the account bound (HTTP {code}): "
        "binding locked by the owner's family plan"
    )
    assert len(server.requests) == 1 and waits == []
    assert [a["status_code"] for a in result.response["attempts"]] == [code]


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        (Answer(401, {"detail": "bad token"}), "refused the request (HTTP 401): bad token"),
        (Answer(404, "no such route"), "refused the request (HTTP 404): no such route"),
        (Answer(200, {"status": "deactivated"}), "200 without a status and reference"),
        (Answer(200, {"status": "maybe", "reference": "R"}), "200 without a status and reference"),
        (Answer(200, "OK"), "200 without a status and reference"),
    ],
)
def test_answers_outside_the_contract_are_not_a_confirmation(answer: Answer, why: str) -> None:
    result, server, waits = deactivate(answer)
    assert result.status == "still_bound" and why in (result.reason or "")
    assert len(server.requests) == 1 and waits == []


def test_a_timeout_is_recorded_and_retried() -> None:
    result, _server, waits = deactivate(
        Answer(200, {"status": "deactivated", "reference": "R"}, delay=1.0),
        confirmed("AFTER-TIMEOUT"),
        serial="SPK000007",
        timeout=0.2,
    )
    assert (result.status, result.reference) == ("deactivated", "AFTER-TIMEOUT")
    first, second = result.response["attempts"]
    assert first["status_code"] is None and first["error"].startswith("timeout")
    assert second["status_code"] == 200
    assert len(waits) == 1


def test_a_cloud_nobody_answers_is_not_confirmed_after_the_attempts() -> None:
    with socket.socket() as probe:  # a port with nothing listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    waits = Waits()
    with cloud_at(f"http://127.0.0.1:{port}/v1", waits, policy=RetryPolicy(3)) as cloud:
        result = cloud.deactivate("SPK000008", "SPK-100")
    assert result.status == "still_bound"
    assert result.reason is not None and result.reason.startswith("not confirmed after 3 attempts")
    assert all(a["status_code"] is None and a["error"] for a in result.response["attempts"])
    assert len(waits) == 2


def test_serials_are_escaped_in_the_url() -> None:
    cloud = HttpDeviceCloud("https://cloud.example/v1/")
    assert cloud.url_for("A/B 1") == "https://cloud.example/v1/devices/A%2FB%201/deactivation"
    cloud.close()


@pytest.mark.parametrize("attempt", [1, 2, 3, 5, 10, 30])
@pytest.mark.parametrize("draw", [0.0, 0.3, 0.999])
def test_the_backoff_doubles_keeps_half_for_sure_and_stays_under_the_cap(
    attempt: int, draw: float
) -> None:
    policy = RetryPolicy(max_attempts=40, base_delay=0.5, max_delay=20)
    step = min(20, 0.5 * 2 ** (attempt - 1))
    assert step / 2 <= policy.backoff(attempt, draw) <= step <= 20


def test_retry_after_values() -> None:
    assert retry_after_seconds("120", NOW) == 120
    assert retry_after_seconds(format_datetime(NOW + timedelta(minutes=2), usegmt=True), NOW) == 120
    assert retry_after_seconds(format_datetime(NOW - timedelta(minutes=2), usegmt=True), NOW) == 0
    assert retry_after_seconds("soon", NOW) is None
    assert retry_after_seconds(None, NOW) is None


def test_without_a_cloud_the_adapter_deactivates_and_says_so() -> None:
    adapter = SimulatedAdapter(seed=1, rates=FaultRates())
    cloud = AdapterDeviceCloud(adapter)
    assert isinstance(cloud, DeviceCloud)
    result = cloud.deactivate("SPK000009", "SPK-100")
    assert (result.status, result.source) == ("deactivated", "device_adapter")
    assert result.reference and result.reference.startswith("sim-")
    assert cloud.deactivate("SPK000009", "SPK-100").status == "none_found"
