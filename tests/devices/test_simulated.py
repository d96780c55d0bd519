"""The simulated adapter: repeatable faults, and devices that behave as their faults say."""

from __future__ import annotations

import hashlib
from pathlib import Path

from backhaul.devices.adapter import DeviceAdapter, load_adapter
from backhaul.devices.simulated import FAULTS, FaultRates, SimulatedAdapter
from backhaul.processing import testing

PLAN = [
    {"id": "speaker_db", "unit": "dB", "min": 80, "max": 100},
    {"id": "wifi_rssi", "unit": "dBm", "min": -70},
    {"id": "mic_ok", "equals": True},
]


def test_it_implements_the_protocol_and_loads_by_name() -> None:
    assert isinstance(SimulatedAdapter(), DeviceAdapter)
    assert isinstance(load_adapter("simulated", seed=3), SimulatedAdapter)
    assert isinstance(load_adapter("backhaul.devices.simulated:SimulatedAdapter"), DeviceAdapter)


def test_faults_are_seeded_and_follow_the_rates() -> None:
    serials = [f"SPK{n:06d}" for n in range(2000)]
    one = SimulatedAdapter(seed=11, rates=FaultRates.uniform(0.1))
    again = SimulatedAdapter(seed=11, rates=FaultRates.uniform(0.1))
    other = SimulatedAdapter(seed=12, rates=FaultRates.uniform(0.1))
    drawn = [one.faults_for(s) for s in serials]
    assert drawn == [again.faults_for(s) for s in serials]
    assert drawn != [other.faults_for(s) for s in serials]
    for fault in FAULTS:
        share = sum(fault in f for f in drawn) / len(serials)
        assert 0.07 < share < 0.13, (fault, share)
    assert not any(SimulatedAdapter(seed=11).faults_for(s) for s in serials)


def test_a_healthy_device_is_wiped_flashed_and_passes_its_tests(tmp_path: Path) -> None:
    adapter = SimulatedAdapter(seed=1)
    info = adapter.identify("SPK000001")
    assert info.account_bound and info.has_user_data
    assert adapter.deactivate_account("SPK000001").status == "deactivated"
    assert adapter.deactivate_account("SPK000001").status == "none_found"
    wipe = adapter.wipe("SPK000001", "purge")
    assert wipe.verification_result == "passed" and wipe.technique == "crypto_erase"
    image = tmp_path / "image.bin"
    image.write_bytes(b"firmware 2.0")
    sha256 = hashlib.sha256(b"firmware 2.0").hexdigest()
    adapter.flash("SPK000001", "2.0.0", sha256, image)
    readback = adapter.read_back("SPK000001")
    assert (readback.version, readback.sha256) == ("2.0.0", sha256)
    assert testing.evaluate(PLAN, adapter.run_test("SPK000001", PLAN)).passed


def test_each_fault_shows_where_it_should() -> None:
    adapter = SimulatedAdapter(seed=1, rates=FaultRates.uniform(1.0))
    assert adapter.deactivate_account("X1").status == "still_bound"
    assert adapter.wipe("X1", "clear").verification_result == "failed"
    adapter.flash("X1", "2.0.0", "c" * 64, None)
    assert adapter.read_back("X1").version != "2.0.0"
    result = testing.evaluate(PLAN, adapter.run_test("X1", PLAN))
    assert not result.passed and [f.test for f in result.failures] == ["speaker_db"]


def test_a_corrupted_image_reads_back_with_its_own_hash(tmp_path: Path) -> None:
    adapter = SimulatedAdapter()
    (tmp_path / "image.bin").write_bytes(b"not the registered image")
    adapter.flash("X2", "2.0.0", "c" * 64, tmp_path / "image.bin")
    assert adapter.read_back("X2").sha256 != "c" * 64
