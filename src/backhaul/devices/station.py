"""The station agent: takes the units waiting at a site and drives each one through sanitize,
flash and test on the device (through a `DeviceAdapter`) and on the server (through the API).
Accounts are deactivated through the brand's device cloud when the brand has one configured
(devices/cloud.py), else through the adapter. The server judges the evidence; the agent only
reports what the device and the cloud did. Firmware images are downloaded once, checked
against the release's sha256 and kept by that hash."""

from __future__ import annotations

import hashlib
import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
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


def _refusal(response: httpx.Response) -> ApiError:
    try:
        problem = response.json()
    except ValueError:
        problem = {"detail": response.text[:200]}
    return ApiError(response.status_code, problem)


class ImageRejected(Exception):
    """A downloaded firmware image is not the release's: it is never flashed."""


class NoRig(Exception):
    """The agent cannot tell which test rig it uses: the operator must say (`--rig`)."""


class StationAgent:
    """Drives units through sanitize, flash and test by the API, against one adapter.

    `rig` is the test rig's code at the site (default: the site's only calibrated rig);
    `image_cache` a folder where verified firmware images are kept by sha256 across runs
    (None: a temporary folder for this run, removed by `close`). Images live on disk, never
    whole in memory: the adapter is handed the file's path.
    `device_cloud` makes the client of a brand's device cloud from the brand's code and the
    cloud's URL (by default an `HttpDeviceCloud` sending `cloud_token`); brands without a URL
    use the adapter instead.
    """

    def __init__(
        self,
        client: httpx.Client,
        adapter: DeviceAdapter,
        site: str,
        *,
        verifier: str | None = None,
        max_flash_attempts: int = 2,
        rig: str | None = None,
        image_cache: Path | None = None,
        cloud_token: str | None = None,
        device_cloud: Callable[[str, str], DeviceCloud] | None = None,
    ) -> None:
        self.client = client
        self.adapter = adapter
        self.site = site.upper()
        self.verifier = verifier
        self.max_flash_attempts = max_flash_attempts
        self.rig = rig.strip().upper() if rig else None
        self._scratch: tempfile.TemporaryDirectory[str] | None = None
        if image_cache is None:
            self._scratch = tempfile.TemporaryDirectory(prefix="backhaul-images-")
            image_cache = Path(self._scratch.name)
        self.image_cache = image_cache
        self._rig_checked: str | None = None
        self._make_cloud = device_cloud or (lambda _brand, url: HttpDeviceCloud(url, cloud_token))
        self._products: dict[str, dict[str, Any]] = {}
        self._images: dict[str, Path | None] = {}
        self._clouds: dict[str, DeviceCloud] = {}  # by brand code

    def close(self) -> None:
        """Close the device-cloud clients this agent made, and remove its temporary images."""
        for cloud in self._clouds.values():
            close = getattr(cloud, "close", None)
            if callable(close):
                close()
        self._clouds.clear()
        if self._scratch is not None:
            self._scratch.cleanup()
            self._images.clear()

    # --- the server ---------------------------------------------------------------------

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self.client.request(method, path, **kwargs)
        if response.status_code >= 400:
            raise _refusal(response)
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

    def test_rig(self) -> str:
        """The rig tests are recorded on: the one named, or the site's only calibrated rig;
        NoRig when there is no such rig or it may not be used (the server's reason)."""
        if self.rig is None:
            rigs = self._call("GET", f"/api/v1/sites/{self.site}/rigs").json()
            calibrated = [r["code"] for r in rigs if r["status"] == "calibrated"]
            if len(calibrated) != 1:
                found = ", ".join(calibrated) if calibrated else "none"
                raise NoRig(
                    f"{self.site} has {len(calibrated)} calibrated test rigs ({found}): "
                    "say which one this station uses with --rig"
                )
            self.rig = self._rig_checked = calibrated[0]
        elif self._rig_checked != self.rig:
            try:
                found = self._call("GET", f"/api/v1/sites/{self.site}/rigs/{self.rig}").json()
            except ApiError as error:
                raise NoRig(str(error.problem.get("detail") or error)) from None
            if found.get("refusal"):
                raise NoRig(found["refusal"])
            self._rig_checked = self.rig
        return self.rig

    def cloud_for(self, brand: str) -> DeviceCloud:
        """Where this brand's accounts are deactivated: its device cloud when it has one
        configured on the server, else this station's device adapter (cached per run)."""
        if brand not in self._clouds:
            url = self._call("GET", f"/api/v1/brands/{brand}").json().get("device_cloud_url")
            self._clouds[brand] = (
                self._make_cloud(brand, url) if url else AdapterDeviceCloud(self.adapter)
            )
        return self._clouds[brand]

    def _image(self, sku: str, release: dict[str, Any]) -> Path | None:
        """Where the release's verified image is (None when the server holds only its hash)."""
        sha256 = release["sha256"]
        if sha256 not in self._images:
            image = self._cached_image(sha256)
            if image is None and release.get("image_stored", True):
                image = self._download(sku, release)
            self._images[sha256] = image
        return self._images[sha256]

    def _cache_path(self, sha256: str) -> Path:
        return self.image_cache / sha256[:2] / sha256

    def _cached_image(self, sha256: str) -> Path | None:
        """An image kept by an earlier run, if it still hashes right (else it is dropped)."""
        path = self._cache_path(sha256)
        if not path.is_file():
            return None
        with path.open("rb") as handle:
            if hashlib.file_digest(handle, "sha256").hexdigest() != sha256:
                path.unlink(missing_ok=True)
                return None
        return path

    def _download(self, sku: str, release: dict[str, Any]) -> Path | None:
        """Stream the image from the server to disk, hashing it; refuse it unless it is the
        release's (the partial file is removed, nothing is kept)."""
        sha256, version = release["sha256"], release["version"]
        url = f"/api/v1/products/{sku}/firmware/{version}/image"
        path = self._cache_path(sha256)
        self.image_cache.mkdir(parents=True, exist_ok=True)
        partial = self.image_cache / f".{sha256}.{uuid.uuid4().hex}.part"
        digest = hashlib.sha256()
        try:
            with self.client.stream("GET", url) as response:
                if response.status_code == 404:  # only the hash is registered
                    return None
                if response.status_code >= 400:
                    response.read()
                    raise _refusal(response)
                with partial.open("wb") as handle:
                    for chunk in response.iter_bytes():
                        digest.update(chunk)
                        handle.write(chunk)
            if digest.hexdigest() != sha256:
                raise ImageRejected(
                    f"the image downloaded for {sku} {version} has sha256 "
                    f"{digest.hexdigest()}, not the release's {sha256}: not flashed"
                )
            path.parent.mkdir(exist_ok=True)
            os.replace(partial, path)
        finally:
            partial.unlink(missing_ok=True)
        return path

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
        except (ImageRejected, NoRig) as error:
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
        rig = self.test_rig()
        measurements = self.adapter.run_test(report.serial, plan["tests"])
        return {
            "plan": plan["version"],
            "rig": rig,
            "measurements": measurements,
            "station": self.site,
        }

    def run(
        self, serials: list[str], progress: Callable[[UnitReport], None] | None = None
    ) -> Iterator[UnitReport]:
        """Process the units one after the other, reporting each."""
        for serial in serials:
            report = self.process(serial)
            if progress is not None:
                progress(report)
            yield report
