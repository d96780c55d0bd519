"""The `simulated` adapter: virtual devices with firmware, an account binding and user data, and
faults injected at configurable rates, seeded so that a run can be repeated exactly."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backhaul.devices.adapter import AccountResult, DeviceInfo, ReadBack, WipeMethod, WipeResult

FACTORY_VERSION = "0.9.0"
FACTORY_SHA256 = hashlib.sha256(b"factory image 0.9.0").hexdigest()
TOOL = "Backhaul SimWipe 1.0"
TECHNIQUE: dict[str, str] = {"clear": "overwrite", "purge": "crypto_erase", "destroy": "shred"}


@dataclass(frozen=True)
class FaultRates:
    """The chance (0..1) that a virtual device has each fault; drawn once per device."""

    account_stuck: float = 0.0  # the device cloud keeps the account bound
    wipe_verification_fails: float = 0.0  # data found after the wipe
    flash_fails: float = 0.0  # the new image never takes: read-back shows the old one
    sensor_out_of_limits: float = 0.0  # one measurement outside the plan's limits

    @classmethod
    def uniform(cls, rate: float) -> FaultRates:
        """The same rate for every fault."""
        return cls(rate, rate, rate, rate)


FAULTS = ("account_stuck", "wipe_verification_fails", "flash_fails", "sensor_out_of_limits")


@dataclass
class VirtualDevice:
    """One simulated device: what is on it, and what is wrong with it."""

    serial: str
    faults: frozenset[str]
    firmware_version: str = FACTORY_VERSION
    firmware_sha256: str = FACTORY_SHA256
    account_bound: bool = True
    user_data: bool = True
    log: list[str] = field(default_factory=list)


class SimulatedAdapter:
    """A `DeviceAdapter` over virtual devices; `seed` and `rates` make the faults repeatable."""

    name = "simulated"

    def __init__(self, seed: int = 0, rates: FaultRates | None = None) -> None:
        self.seed = seed
        self.rates = rates or FaultRates()
        self.devices: dict[str, VirtualDevice] = {}

    def faults_for(self, serial: str) -> frozenset[str]:
        """The faults this serial's device has under this seed (the same on every run)."""
        draw = random.Random(f"{self.seed}:{serial}")
        return frozenset(name for name in FAULTS if draw.random() < getattr(self.rates, name))

    def device(self, serial: str) -> VirtualDevice:
        """The virtual device with this serial, created on first contact."""
        if serial not in self.devices:
            self.devices[serial] = VirtualDevice(serial, self.faults_for(serial))
        return self.devices[serial]

    def identify(self, serial: str) -> DeviceInfo:
        device = self.device(serial)
        return DeviceInfo(
            serial=serial,
            model="simulated",
            firmware_version=device.firmware_version,
            account_bound=device.account_bound,
            has_user_data=device.user_data,
        )

    def deactivate_account(self, serial: str) -> AccountResult:
        device = self.device(serial)
        # The simulated cloud's reference for this exchange, the same on every run of a seed.
        reference = "sim-" + hashlib.sha256(f"{self.seed}:{serial}".encode()).hexdigest()[:16]
        if not device.account_bound:
            return AccountResult(
                "none_found", {"status_code": 200, "body": "no binding"}, reference=reference
            )
        if "account_stuck" in device.faults:
            device.log.append("deactivation refused by the device cloud")
            return AccountResult(
                "still_bound",
                {"status_code": 409, "body": "binding locked"},
                reason="the simulated device cloud keeps the account bound (binding locked)",
            )
        device.account_bound = False
        return AccountResult(
            "deactivated", {"status_code": 200, "body": "unbound"}, reference=reference
        )

    def wipe(self, serial: str, method: WipeMethod) -> WipeResult:
        device = self.device(serial)
        verified = "wipe_verification_fails" not in device.faults
        device.user_data = not verified
        return WipeResult(
            method=method,
            technique=TECHNIQUE[method],
            tool=TOOL,
            verification="full",
            verification_result="passed" if verified else "failed",
        )

    def flash(self, serial: str, version: str, sha256: str, image: Path | None) -> None:
        device = self.device(serial)
        if "flash_fails" in device.faults:
            device.log.append(f"flash of {version} did not take")
            return
        device.firmware_version = version
        # With the image in hand the device reports the hash of what it actually holds.
        if image is None:
            device.firmware_sha256 = sha256
        else:
            with image.open("rb") as handle:
                device.firmware_sha256 = hashlib.file_digest(handle, "sha256").hexdigest()

    def read_back(self, serial: str) -> ReadBack:
        device = self.device(serial)
        return ReadBack(device.firmware_version, device.firmware_sha256)

    def run_test(self, serial: str, tests: list[dict[str, Any]]) -> dict[str, Any]:
        device = self.device(serial)
        draw = random.Random(f"{self.seed}:{serial}:test")
        measurements: dict[str, Any] = {}
        spoil = "sensor_out_of_limits" in device.faults
        for test in tests:
            low: float | None = test.get("min")
            high: float | None = test.get("max")
            if test.get("equals") is not None:
                measurements[test["id"]] = test["equals"]
                continue
            if spoil and (low is not None or high is not None):
                spoil = False  # one sensor out of limits is enough
                if high is not None:
                    measurements[test["id"]] = high + abs(high) * 0.1 + 1
                else:
                    assert low is not None
                    measurements[test["id"]] = low - abs(low) * 0.1 - 1
                continue
            lo = low if low is not None else (high - 20 if high is not None else 0)
            hi = high if high is not None else lo + 20
            measurements[test["id"]] = round(
                draw.uniform(lo + (hi - lo) * 0.1, hi - (hi - lo) * 0.1), 2
            )
        return measurements
