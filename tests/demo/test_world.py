"""The demo world: believable, deterministic, idempotent."""

from __future__ import annotations

from itertools import islice

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from backhaul.cli import app as cli
from backhaul.db import session_scope
from backhaul.demo.world import load_demo, sold_units
from backhaul.kit.auth import cli_actor
from backhaul.units.models import Unit


def test_the_same_seed_gives_the_same_sales_and_another_seed_does_not() -> None:
    first = list(islice(sold_units(7, 500), 500))
    assert first == list(islice(sold_units(7, 500), 500))
    assert first != list(islice(sold_units(8, 500), 500))
    assert {row["sku"] for row in first} == {"SPK-100", "RNG-200", "TAB-K8", "CAM-AI1"}
    assert {row["region"] for row in first} == {"US", "EU", "UK", "JP"}


def test_the_demo_loads_once_and_is_usable(client: TestClient, admin_token: str) -> None:
    with session_scope() as session:
        report = load_demo(session, cli_actor("pytest"), seed=7, units=3000)
    assert (report.products, report.sites, report.units) == (4, 5, 3000)
    with session_scope() as session:
        again = load_demo(session, cli_actor("pytest"), seed=7, units=3000)
        count = session.scalar(select(func.count()).select_from(Unit))
    assert again.already_loaded
    assert count == 3000
    headers = {"Authorization": f"Bearer {admin_token}"}
    products = {p["sku"]: p for p in client.get("/api/v1/products", headers=headers).json()}
    assert products["RNG-200"]["regulated"] == "biometric"
    assert products["TAB-K8"]["regulated"] == "children"
    assert products["RNG-200"]["brand"] == "lumen"  # the empty default brand was adopted
    hubs = client.get("/api/v1/sites", params={"kind": "hub"}, headers=headers).json()
    assert len({hub["region"] for hub in hubs}) == 3
    firmware = client.get("/api/v1/products/CAM-AI1/firmware", headers=headers).json()
    assert [f["status"] for f in firmware].count("current") == 1
    login = client.post(
        "/login",
        data={"username": "tech.eu", "password": "backhaul-demo", "csrf": _csrf(client)},
        follow_redirects=False,
    )
    assert login.status_code == 303


def _csrf(client: TestClient) -> str:
    page = client.get("/login").text
    return page.split('name="csrf" value="')[1].split('"')[0]


def test_cli_demo_prints_the_logins(database: str) -> None:
    result = CliRunner().invoke(cli, ["demo", "--units", "200", "--seed", "3"])
    assert result.exit_code == 0, result.output
    assert "200 sold units" in result.output
    for username in ("admin", "supervisor", "tech.us", "partner", "analyst"):
        assert username in result.output
