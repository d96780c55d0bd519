"""Planning against the database (SQLite and PostgreSQL): history from sold units, recorded
returns and imported history; imports that replace their source and are audited; calibration
from recorded step times and dispositions; permissions and brand scope."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from backhaul.catalog.models import Site
from backhaul.db import session_scope
from backhaul.demo.returns_history import TRUTH
from backhaul.demo.world import load_demo
from backhaul.kit.audit import AuditRecord
from backhaul.kit.auth import Actor, Role, cli_actor
from backhaul.kit.errors import Forbidden
from backhaul.planning import service
from backhaul.planning.models import HistoryKind, HistoryWeek
from backhaul.planning.scenario import load_scenario_text
from backhaul.processing.models import UnitStep
from backhaul.units.models import Unit
from tests.planning.factories import EXAMPLES

TODAY = date(2026, 11, 22)
ANALYST = Actor(user_id=None, username="ana", display_name="Ana", role=Role.analyst)
TECHNICIAN = Actor(user_id=None, username="tom", display_name="Tom", role=Role.technician)


@pytest.fixture
def demo(database: str) -> None:
    """A small demo world: 2,000 units sold over two years, with their return history."""
    with session_scope() as session:
        report = load_demo(session, cli_actor("pytest"), seed=7, units=2000)
    assert report.returns_history > 100


def test_the_demo_history_is_imported_weekly_rows_seen_only_in_its_brand(demo: None) -> None:
    with session_scope(write=False) as session:
        found = service.history(session, ANALYST)
    assert found.sources["sold units"] == 2000
    assert found.sources["imported returns"] > 100
    assert {r.sku for r in found.returns} == set(TRUTH)
    assert all(r.day.weekday() == 0 for r in found.returns)  # weekly rows, Mondays
    assert any(r.fault_code for r in found.returns)
    # Another brand's analyst sees none of it.
    outsider = Actor(None, "eve", "Eve", Role.analyst, brand_ids=frozenset({999}))
    with session_scope(write=False) as session:
        hidden = service.history(session, outsider)
        run = service.run_forecast(session, outsider, today=TODAY)
    assert hidden.sales == [] and hidden.returns == []
    assert run.result is None and "no returns history" in run.notes[0]


def test_a_forecast_from_the_database_gives_hub_hours_for_every_hub(demo: None) -> None:
    with session_scope(write=False) as session:
        run = service.run_forecast(session, ANALYST, today=TODAY, horizon=6, windows=3)
    assert run.result is not None
    assert run.hub_of == {"US": "HUB-US", "EU": "HUB-EU", "UK": "HUB-EU", "JP": "HUB-JP"}
    assert {h.hub for h in run.hours} == {"HUB-US", "HUB-EU", "HUB-JP"}
    assert len(run.hours) == 3 * 6
    assert run.parts and all(p.quantity >= 0 for p in run.parts)
    payload = service.forecast_payload(run)
    assert payload["last_week"] == date(2026, 10, 26)
    assert {s["series"] for s in payload["backtest"]} >= {"overall", "SPK-100/US"}


def test_recorded_returns_count_with_their_fault_codes(database: str, admin: Any) -> None:
    _catalog(admin)
    with session_scope() as session:
        units = session.scalars(select(Unit)).all()
        for unit in units[:3]:
            _steps(
                session,
                unit,
                [("authorize", 0, None), ("inspect", 60 * 24 * 3, "HUB-A")],
                fault_codes=["BAT.CELL"],
            )
    with session_scope(write=False) as session:
        found = service.history(session, ANALYST)
    recorded = [r for r in found.returns]
    assert sum(r.quantity for r in recorded) == 3
    assert {r.fault_code for r in recorded} == {"BAT.CELL"}
    assert found.sources["returns recorded in Backhaul"] == 3


def test_importing_history_replaces_the_same_source_and_is_audited(
    database: str, admin: Any
) -> None:
    _catalog(admin)
    rows = [
        {"date": "2026-03-02", "sku": "RNG-200", "region": "US", "quantity": "4"},
        {"date": "2026-03-04", "sku": "RNG-200", "region": "US", "quantity": "1"},
        {"date": "2026-03-04", "sku": "NOPE-1", "region": "US", "quantity": "1"},
        {"date": "2026-03-05", "sku": "RNG-200", "region": "US", "quantity": "-1"},
    ]
    with session_scope() as session:
        first = service.import_history(
            session, ANALYST, rows, kind=HistoryKind.returns, source="erp", today=TODAY
        )
    assert (first.weeks_written, first.quantity, first.skipped) == (1, 5, 2)
    assert {p.reason for p in first.problems} == {"negative (-1)", "no product 'NOPE-1'"}
    with session_scope() as session:
        again = service.import_history(
            session, ANALYST, rows[:1], kind=HistoryKind.returns, source="erp", today=TODAY
        )
        total = session.scalar(select(func.sum(HistoryWeek.quantity)))
        audit = session.scalars(
            select(AuditRecord).where(AuditRecord.action == "planning.history_imported")
        ).all()
    assert again.replaced == 1 and total == 4
    assert len(audit) == 2 and audit[-1].before == {"weeks": 1, "quantity": 5}


def test_planning_needs_its_permissions(database: str) -> None:
    with session_scope() as session:
        with pytest.raises(Forbidden):
            service.history(session, TECHNICIAN)
        with pytest.raises(Forbidden):
            service.import_history(
                session,
                Actor(None, "sam", "Sam", Role.supervisor),
                [],
                kind=HistoryKind.sales,
                source="x",
                today=TODAY,
            )


def test_calibration_replaces_what_the_records_support_and_says_which(
    database: str, admin: Any
) -> None:
    _catalog(admin)
    with session_scope() as session:
        units = session.scalars(select(Unit)).all()
        assert len(units) >= 30
        for number, unit in enumerate(units[:30]):
            route = "restock" if number % 3 else "recycle"
            _steps(
                session,
                unit,
                [
                    ("authorize", 0, None),
                    ("receive", 60 * 24 * 5, "HUB-A"),
                    ("inspect", 60 * 24 * 5 + 7, "HUB-A"),  # 7 minutes after receiving
                    ("sanitize", 60 * 24 * 5 + 7 + 11, "HUB-A"),  # 11 minutes
                    ("disposition", 60 * 24 * 9, "HUB-A"),  # four days later: queueing
                ],
                route=route,
            )
    scenario = load_scenario_text((EXAMPLES / "rng-200.toml").read_text())
    with session_scope(write=False) as session:
        calibrated, rows = service.calibrate(session, ANALYST, scenario, today=TODAY)
    used = {r.input: r for r in rows}
    assert used["minutes.inspect"].used and used["minutes.inspect"].records == 30
    assert calibrated.minutes["inspect"].minutes.mean == pytest.approx(7.0)
    assert calibrated.minutes["sanitize"].minutes.mean == pytest.approx(11.0)
    assert not used["minutes.disposition"].used  # gaps of days are not work
    assert used["hub.labour_rate"].used
    assert calibrated.hub.labour_rate.mean == pytest.approx(32.50)
    assert used["refurbishment.yield"].used and used["refurbishment.yield"].records == 30
    assert calibrated.refurbishment.yield_.mean == pytest.approx(21 / 32)  # 20 of 30, +1/+2
    assert not used["returns.rate"].used  # 30 returns recorded, but no sales weeks to speak of
    assert not used["recovery (resale shares)"].used


# --- helpers -----------------------------------------------------------------------------


def _catalog(admin: Any) -> None:
    from tests.conftest import product_payload, site_payload

    assert admin.post("/api/v1/sites", json=site_payload()).status_code == 201
    ring = product_payload(
        sku="RNG-200", family="wearables", serial_pattern=r"RNG[0-9]{6}", msrp="299.00"
    )
    assert admin.post("/api/v1/products", json=ring).status_code == 201
    sold = [
        {
            "serial": f"RNG{n:06d}",
            "sku": "RNG-200",
            "order_ref": f"O-{n}",
            "customer_email": f"c{n}@example.com",
            "sold_at": (datetime(2026, 6, 1, tzinfo=UTC) + timedelta(days=n % 60)).isoformat(),
            "region": "US",
            "channel": "webstore",
            "price": "299.00",
            "currency": "USD",
        }
        for n in range(40)
    ]
    response = admin.post("/api/v1/units/import", json=sold)
    assert response.status_code in (200, 201), response.text


def _steps(
    session: Any,
    unit: Unit,
    steps: list[tuple[str, int, str | None]],
    *,
    fault_codes: list[str] | None = None,
    route: str | None = None,
) -> None:
    """Step records as a station would have left them (test data, written directly)."""
    sites: dict[str, int] = {s.code: s.id for s in session.scalars(select(Site))}
    start = unit.sold_at + timedelta(days=10)
    for seq, (step, minutes, site) in enumerate(steps, start=unit.step_count + 1):
        evidence: dict[str, Any] = {}
        if step == "inspect" and fault_codes:
            evidence["fault_codes"] = fault_codes
        if step == "disposition" and route:
            evidence["route"] = route
        session.add(
            UnitStep(
                unit_id=unit.id,
                seq=seq,
                step=step,
                outcome="pass",
                from_position="x",
                to_position="y",
                actor_name="pytest",
                site_id=sites[site] if site else None,
                at=start + timedelta(minutes=minutes),
                evidence=evidence,
            )
        )
    unit.step_count += len(steps)
    session.flush()


MakeActor = Callable[..., Actor]
