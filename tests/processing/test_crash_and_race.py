"""The write path under a kill -9 and under 16 racing clients, against the real server."""

from __future__ import annotations

import random
import threading
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from backhaul.db import dispose_engines, session_scope
from backhaul.kit import audit
from backhaul.kit.audit import AuditRecord
from backhaul.kit.outbox import OutboxEvent
from backhaul.processing import lifecycle
from backhaul.processing.lifecycle import Step
from backhaul.processing.models import UnitStep
from backhaul.units.models import Unit
from tests.live_server import LiveServer, live_server
from tests.processing.conftest import FLASH_OK, GOOD, INSPECT_OK, RIG, SANITIZE_OK, World

# The next step for a unit in each position, with its evidence.
NEXT: dict[str, tuple[str, dict[str, Any]]] = {
    "in_field": ("receive", {"site": "HUB-A"}),
    "received": ("inspect", INSPECT_OK),
    "inspected": ("sanitize", SANITIZE_OK),
    "sanitized": ("flash", FLASH_OK),
    "firmware_validated": ("test", {"plan": 1, "rig": RIG, "measurements": GOOD}),
    "tested": ("grade", {"cosmetic": "B", "functional": "pass"}),
    "graded": ("disposition", {}),
    "dispositioned:restock": ("repackage", {}),
}


def _position(unit: dict[str, Any]) -> str:
    return lifecycle.position(
        lifecycle.State(unit["state"]), lifecycle.Route(unit["route"]) if unit["route"] else None
    )


def _check_consistent() -> None:
    """Every unit's step count, step rows, audit chain and outbox agree; the trail verifies."""
    dispose_engines()
    with session_scope(write=False) as session:
        for unit in session.scalars(select(Unit).where(Unit.step_count > 0)):
            steps = list(
                session.scalars(
                    select(UnitStep).where(UnitStep.unit_id == unit.id).order_by(UnitStep.seq)
                )
            )
            assert [s.seq for s in steps] == list(range(1, unit.step_count + 1))
            assert unit.version == unit.step_count + 1
            at = lifecycle.NEW if not steps else "in_field"
            for record in steps:  # a legal path through the table
                assert record.from_position == at
                facts_ok = lifecycle.check(Step(record.step), at, inspection_passed=True).allowed
                assert facts_ok, f"{unit.serial}: {record.step} from {at}"
                at = record.to_position
            assert at == lifecycle.position(unit.state, unit.route)
            audited = session.scalar(
                select(func.count())
                .select_from(AuditRecord)
                .where(AuditRecord.stream == f"unit:{unit.serial}")
            )
            events = session.scalar(
                select(func.count())
                .select_from(OutboxEvent)
                .where(OutboxEvent.subject == f"unit:{unit.serial}")
            )
            assert audited == events == unit.step_count, unit.serial
        report = audit.verify(session)
        assert report.intact, report.finding


def test_kill_9_mid_stream_loses_no_acknowledged_step_and_leaves_nothing_half_written(
    world: World, tmp_path: Path
) -> None:
    serials = [f"SPK{n:06d}" for n in range(1, 21)]
    acknowledged: list[tuple[str, int, str]] = []
    server = LiveServer(tmp_path / "server.log")
    server.start()
    stop = threading.Event()

    def stream() -> None:
        headers = {"Authorization": f"Bearer {world.tokens['tech_a']}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=5) as http:
            for _round in range(len(NEXT)):
                for serial in serials:
                    if stop.is_set():
                        return
                    try:
                        unit = http.get(f"/api/v1/units/{serial}").json() if _round else None
                        step, body = NEXT[_position(unit) if unit else "in_field"]
                        response = http.post(f"/api/v1/units/{serial}/steps/{step}", json=body)
                    except (httpx.TransportError, ValueError):
                        return  # the server died under us
                    if response.status_code == 200:
                        acknowledged.append((serial, response.json()["version"], step))

    client = threading.Thread(target=stream)
    client.start()
    while len(acknowledged) < 45 and client.is_alive():
        threading.Event().wait(0.005)
    server.kill()
    stop.set()
    client.join(timeout=10)
    assert len(acknowledged) >= 45
    server.start()  # restart on the same database: it must come up clean
    try:
        http = httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {world.tokens['admin']}"}
        )
        for serial, version, step in acknowledged:
            history = http.get(f"/api/v1/units/{serial}").json()["history"]
            assert history[version - 1]["step"] == step, (serial, version, step)
    finally:
        server.stop()
    _check_consistent()


def test_16_clients_racing_on_the_same_units(world: World, tmp_path: Path) -> None:
    serials = [f"SPK{n:06d}" for n in range(1, 7)]
    for serial in serials:  # at the hub, so the hub's technicians can see them
        assert world.step("tech_a", serial, "receive", {"site": "HUB-A"}).status_code == 200
    outcomes: dict[int, int] = defaultdict(int)
    acknowledged: list[tuple[str, int, str]] = []
    lock = threading.Lock()

    def racer(seed: int, url: str) -> None:
        rng = random.Random(seed)
        headers = {"Authorization": f"Bearer {world.tokens['tech_a']}"}
        with httpx.Client(base_url=url, headers=headers, timeout=30) as http:
            for _ in range(25):
                serial = rng.choice(serials)
                unit = http.get(f"/api/v1/units/{serial}").json()
                if _position(unit) not in NEXT:
                    continue
                step, body = NEXT[_position(unit)]
                extra = {"If-Match": f'"{unit["version"]}"'} if rng.random() < 0.5 else {}
                response = http.post(
                    f"/api/v1/units/{serial}/steps/{step}", json=body, headers=extra
                )
                with lock:
                    outcomes[response.status_code] += 1
                    if response.status_code == 200:
                        acknowledged.append((serial, response.json()["version"], step))

    with live_server(tmp_path / "server.log") as server:
        threads = [threading.Thread(target=racer, args=(seed, server.url)) for seed in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        http = httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {world.tokens['admin']}"}
        )
        histories = {s: http.get(f"/api/v1/units/{s}").json()["history"] for s in serials}
    assert set(outcomes) <= {200, 409, 412}, f"{dict(outcomes)}\n{server.log_tail()}"
    assert outcomes[200] > 0
    assert outcomes[409] + outcomes[412] > 0, "the race produced no losers: not a race"
    for serial, version, step in acknowledged:
        assert histories[serial][version - 1]["step"] == step
    _check_consistent()
