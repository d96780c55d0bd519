"""The `DeviceAdapter` protocol: everything a station does to a real device (identify, deactivate
the account, wipe, flash, read back, run the tests), and the results it reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

AccountStatus = Literal["none_found", "deactivated", "still_bound"]
# Who confirmed the account's state: the brand's device cloud over HTTP (devices/cloud.py), the
# device adapter itself, or a person who read the cloud's reference off its portal.
ConfirmationSource = Literal["device_cloud", "device_adapter", "manual"]
WipeMethod = Literal["clear", "purge", "destroy"]


@dataclass(frozen=True)
class DeviceInfo:
    """What the device says about itself when connected."""

    serial: str
    model: str
    firmware_version: str
    account_bound: bool
    has_user_data: bool


@dataclass(frozen=True)
class AccountResult:
    """The device cloud's answer to a deactivation request, kept as evidence.

    `reference` is the cloud's own id for the deactivation: the server refuses a `deactivated` or
    `none_found` without one. `reason` says why an account is `still_bound` (refused, or not
    confirmed). `response` is the recorded exchange: `url`, `status_code`, `body` (truncated) and
    `attempts` (each with `attempt`, `status_code`, `elapsed_ms`, `error`, `retry_in_s`).
    """

    status: AccountStatus
    response: dict[str, Any] = field(default_factory=dict)
    reference: str | None = None
    reason: str | None = None
    source: ConfirmationSource = "device_adapter"

    def confirmation(self) -> dict[str, Any]:
        """The `account_confirmation` a sanitize step carries (see processing/schemas.py)."""
        return {
            "source": self.source,
            "reference": self.reference,
            "reason": self.reason,
            "response": self.response or None,
        }


@dataclass(frozen=True)
class WipeResult:
    """A wipe and its verification (NIST SP 800-88 method and technique)."""

    method: WipeMethod
    technique: str
    tool: str  # name and version, e.g. "WipeKit 4.2"
    verification: Literal["full", "sampling"]
    verification_result: Literal["passed", "failed"]
    media_type: str = "flash memory (embedded)"


@dataclass(frozen=True)
class ReadBack:
    """The firmware the device reports after a flash."""

    version: str
    sha256: str


@runtime_checkable
class DeviceAdapter(Protocol):
    """One kind of device on a station. Methods raise `DeviceError` when the device cannot be
    reached; a device that answers with a bad result reports it in the result instead, so the
    server can record the failure as evidence."""

    name: str

    def identify(self, serial: str) -> DeviceInfo:
        """Connect to the device with this serial and describe it."""
        ...

    def deactivate_account(self, serial: str) -> AccountResult:
        """Unbind the previous owner's account in the device cloud."""
        ...

    def wipe(self, serial: str, method: WipeMethod) -> WipeResult:
        """Erase user data with the method, then verify the erasure."""
        ...

    def flash(self, serial: str, version: str, sha256: str, image: Path | None) -> None:
        """Write the firmware image from this file, already checked against `sha256` (None:
        the server holds only the hash, and the device or its tool has the image)."""
        ...

    def read_back(self, serial: str) -> ReadBack:
        """Read the installed firmware's version and image hash back from the device."""
        ...

    def run_test(self, serial: str, tests: list[dict[str, Any]]) -> dict[str, Any]:
        """Run a test plan's tests; returns measurements by test id (the server judges them)."""
        ...


class DeviceError(Exception):
    """The device could not be reached or did not answer."""


def load_adapter(name: str, **options: Any) -> DeviceAdapter:
    """An adapter by name: `simulated`, or `module:Class` for a brand's own adapter."""
    if name == "simulated":
        from backhaul.devices.simulated import SimulatedAdapter

        return SimulatedAdapter(**options)
    module_name, sep, class_name = name.partition(":")
    if not sep:
        raise ValueError(f"unknown adapter '{name}': use 'simulated' or 'package.module:Class'")
    import importlib

    adapter = getattr(importlib.import_module(module_name), class_name)(**options)
    if not isinstance(adapter, DeviceAdapter):
        raise ValueError(f"{name} does not implement the DeviceAdapter protocol")
    return adapter
