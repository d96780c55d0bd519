"""The station agent: takes the units waiting at a site and drives each one through sanitize,
flash and test on the device (through a `DeviceAdapter`) and on the server (through the API).
Accounts are deactivated through the brand's device cloud when the brand has one configured
(devices/cloud.py), else through the adapter. The server judges the evidence; the agent only
reports what the device and the cloud did."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from backhaul.devices.adapter import DeviceAdapter, DeviceError
from backhaul.devices.cloud import AdapterDeviceCloud, DeviceCloud, HttpDeviceCloud

# The states the agent picks up from, and the step each one needs next.
NEXT_STEP = {
    "inspected": "sanitize",
    "inspection_failed": None,  # wiped on its way out, but not refurbished: not the agent's work
    "sanitized": "flash",
    "firmware_failed": "flash",
    "firmware_validated": "test",
}


@dataclass
class UnitReport:
    """What happened to one unit at the station."""

    serial: str
    sku: str = ""
    state: str = ""
    steps: list[tuple[str, str]] = field(default_factory=list)
    certificate_id: str | None = None
    failures: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None


class ApiError(Exception):
    """The server refused a request; `problem` is its problem-details body."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        super().__init__(f"HTTP {status}: {problem.get('detail') or problem.get('title')}")
        self.status = status
        self.problem = problem


class StationAgent:
    """Drives units through sanitize, flash and test by the API, against one adapter.

    `device_cloud` makes the client of a brand's device cloud from its URL (by default an
    `HttpDeviceCloud` sending `cloud_token`); brands without a URL use the adapter instead.
    """

    def __init__(
        self,
        client: httpx.Client,
        adapter: DeviceAdapter,
        site: str,
        *,
        verifier: str | None = None,
        max_flash_attempts: int = 2,
        cloud_token: str | None = None,
        device_cloud: Callable[[str], DeviceCloud] | None = None,
    ) -> None:
        self.client = client
        self.adapter = adapter
        self.site = site.upper()
        self.verifier = verifier
        self.max_flash_attempts = max_flash_attempts
        self._make_cloud = device_cloud or (lambda url: HttpDeviceCloud(url, cloud_token))
        self._products: dict[str, dict[str, Any]] = {}
        self._images: dict[str, bytes | None] = {}
        self._clouds: dict[str, DeviceCloud] = {}  # by brand code

    def close(self) -> None:
        """Close the device-cloud clients this agent made."""
        for cloud in self._clouds.values():
            close = getattr(cloud, "close", None)
            if callable(close):
                close()
        self._clouds.clear()

    # --- the server ---------------------------------------------------------------------

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self.client.request(method, path, **kwargs)
        if response.status_code >= 400:
            try:
                problem = response.json()
            except ValueError:
                problem = {"detail": response.text[:200]}
            raise ApiError(response.status_code, problem)
        return response

    def waiting(self, batch: int | None = None) -> list[str]:
        """Serials of the inspected units at the site, oldest serial first."""
        serials: list[str] = []
        after: str | None = None
        while batch is None or len(serials) < batch:
            params: dict[str, Any] = {"state": "inspected", "site": self.site, "limit": 500}
            if after:
                params["after"] = after
            page = self._call("GET", "/api/v1/units", params=params).json()
            serials += [row["serial"] for row in page]
            if len(page) < 500:
                break
            after = page[-1]["serial"]
        return serials[:batch] if batch is not None else serials

    def _product(self, sku: str) -> dict[str, Any]:
        """The product, its current release and current test plan (cached per run)."""
        if sku not in self._products:
            product = self._call("GET", f"/api/v1/products/{sku}").json()
            releases = self._call("GET", f"/api/v1/products/{sku}/firmware").json()
            plans = self._call("GET", f"/api/v1/products/{sku}/test-plans").json()
            product["release"] = next((r for r in releases if r["status"] == "current"), None)
            product["plan"] = next((p for p in plans if p["current"]), None)
            self._products[sku] = product
        return self._products[sku]

    def cloud_for(self, brand: str) -> DeviceCloud:
        """Where this brand's accounts are deactivated: its device cloud when it has one
        configured on the server, else this station's device adapter (cached per run)."""
        if brand not in self._clouds:
            url = self._call("GET", f"/api/v1/brands/{brand}").json().get("device_cloud_url")
            self._clouds[brand] = self._make_cloud(url) if url else AdapterDeviceCloud(self.adapter)
        return self._clouds[brand]

    def _image(self, sku: str, release: dict[str, Any]) -> bytes | None:
        """The release's image from the server (None when only its hash is registered)."""
        if release["sha256"] not in self._images:
            response = self.client.get(
                f"/api/v1/products/{sku}/firmware/{release['version']}/image"
            )
            self._images[release["sha256"]] = (
                response.content if response.status_code == 200 else None
            )
        return self._images[release["sha256"]]

    def _step(
        self, report: UnitReport, version: int, step: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        response = self._call(
            "POST",
            f"/api/v1/units/{report.serial}/steps/{step}",
            json=body,
            headers={
                "If-Match": f'"{version}"',
                "Idempotency-Key": f"station:{report.serial}:{step}:{version}",
            },
        )
        result: dict[str, Any] = response.json()
        report.steps.append((step, result["outcome"]))
        report.state = result["state"]
        report.failures = result.get("failures") or []
        if result.get("certificate_id"):
            report.certificate_id = result["certificate_id"]
        return result

    # --- one unit ----------------------------------------------------------------------

    def process(self, serial: str) -> UnitReport:
        """Take one unit as far as it goes: sanitize, flash (with retries), test."""
        report = UnitReport(serial)
        try:
            unit = self._call("GET", f"/api/v1/units/{serial}").json()
            report.serial, report.sku, report.state = unit["serial"], unit["sku"], unit["state"]
            version = unit["version"]
            product = self._product(report.sku)
            flashes = 0
            while (step := NEXT_STEP.get(report.state)) is not None:
                if step == "sanitize":
                    result = self._step(report, version, step, self._sanitize(report, product))
                elif step == "flash":
                    if flashes >= self.max_flash_attempts:
                        break
                    flashes += 1
                    result = self._step(report, version, step, self._flash(report, product))
                else:
                    result = self._step(report, version, step, self._test(report, product))
                    version = result["version"]
                    break  # one test per visit; a retest is a supervisor's call
                version = result["version"]
        except ApiError as error:
            report.error = str(error)
        except (DeviceError, httpx.HTTPError) as error:
            report.error = f"{type(error).__name__}: {error}"
        return report

    def _sanitize(self, report: UnitReport, product: dict[str, Any]) -> dict[str, Any]:
        regulated = product.get("regulated", "none") != "none"
        self.adapter.identify(report.serial)
        account = self.cloud_for(product["brand"]).deactivate(report.serial, report.sku)
        wipe = self.adapter.wipe(report.serial, "purge" if regulated else "clear")
        body: dict[str, Any] = {
            "method": wipe.method,
            "technique": wipe.technique,
            "tool": wipe.tool,
            "verification": wipe.verification,
            "verification_result": wipe.verification_result,
            "account": account.status,
            "account_confirmation": account.confirmation(),
            "media_type": wipe.media_type,
        }
        if self.verifier:
            body["verified_by"] = self.verifier
        return body

    def _flash(self, report: UnitReport, product: dict[str, Any]) -> dict[str, Any]:
        release = product["release"]
        if release is None:
            raise ApiError(409, {"detail": f"{report.sku} has no current firmware release"})
        image = self._image(report.sku, release)
        self.adapter.flash(report.serial, release["version"], release["sha256"], image)
        readback = self.adapter.read_back(report.serial)
        return {
            "release": release["version"],
            "image_sha256": release["sha256"],
            "readback_version": readback.version,
            "readback_sha256": readback.sha256,
        }

    def _test(self, report: UnitReport, product: dict[str, Any]) -> dict[str, Any]:
        plan = product["plan"]
        if plan is None:
            raise ApiError(409, {"detail": f"{report.sku} has no test plan"})
        measurements = self.adapter.run_test(report.serial, plan["tests"])
        return {"plan": plan["version"], "measurements": measurements, "station": self.site}

    def run(
        self, serials: list[str], progress: Callable[[UnitReport], None] | None = None
    ) -> Iterator[UnitReport]:
        """Process the units one after the other, reporting each."""
        for serial in serials:
            report = self.process(serial)
            if progress is not None:
                progress(report)
            yield report
