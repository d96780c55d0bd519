"""Test fixtures: a clean database per test (SQLite, or PostgreSQL when the test command starts
one), the app, and factories for tokens and catalog objects."""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from backhaul.accounts.schemas import ApiKeyIn, UserIn
from backhaul.accounts.service import create_api_key, create_user
from backhaul.catalog.service import ensure_default_brand
from backhaul.db import dispose_engines, session_scope
from backhaul.kit.auth import cli_actor
from backhaul.migrate import upgrade
from backhaul.settings import get_settings
from backhaul.tables import metadata

POSTGRES_URL = os.environ.get("BACKHAUL_TEST_DATABASE_URL")


def pytest_report_header() -> str:
    return f"database: {'PostgreSQL ' + POSTGRES_URL if POSTGRES_URL else 'SQLite'}"


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database migrated once per session with Alembic (what production runs)."""
    if POSTGRES_URL:
        engine = create_engine(POSTGRES_URL)
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        engine.dispose()
        upgrade(POSTGRES_URL)
        return POSTGRES_URL
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return str(path)


def _truncate_postgres(url: str) -> None:
    engine = create_engine(url)
    names = ", ".join(f'"{table.name}"' for table in metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()


def fresh_database(migrated_template: str, folder: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point the settings at a clean, migrated database with the default brand (keys and
    files under `folder`); returns its URL. Used per test and by module-scoped fixtures."""
    if POSTGRES_URL:
        _truncate_postgres(POSTGRES_URL)
        url = POSTGRES_URL
    else:
        shutil.copy(migrated_template, folder / "test.db")
        url = f"sqlite:///{folder / 'test.db'}"
    monkeypatch.setenv("BACKHAUL_DATABASE_URL", url)
    monkeypatch.setenv("BACKHAUL_KEYS_DIR", str(folder / "keys"))
    monkeypatch.setenv("BACKHAUL_FIRMWARE_DIR", str(folder / "firmware"))
    monkeypatch.setenv("BACKHAUL_UPLOADS_DIR", str(folder / "uploads"))
    monkeypatch.setenv("BACKHAUL_SECRET_KEY", "test-secret")
    # No random re-verification holds unless a test asks for them (tests/processing/
    # test_reverification.py sets the share it needs).
    monkeypatch.setenv("BACKHAUL_REVERIFY_SHARE", "0")
    get_settings.cache_clear()
    dispose_engines()
    with session_scope() as session:
        ensure_default_brand(session, cli_actor("pytest"))
    return url


@pytest.fixture
def database(
    migrated_template: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """A clean, migrated database for this test, with the default brand; yields its URL."""
    url = fresh_database(migrated_template, tmp_path, monkeypatch)
    yield url
    dispose_engines()
    get_settings.cache_clear()


@pytest.fixture
def app(database: str) -> Any:
    from backhaul.app import create_app

    return create_app()


@pytest.fixture
def client(app: Any) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


TokenFactory = Callable[..., str]


@pytest.fixture
def make_token(database: str) -> TokenFactory:
    """Mint an API token: make_token("technician", sites=["HUB-A"])."""

    def make(role: str, sites: list[str] | None = None, brands: list[str] | None = None) -> str:
        with session_scope() as session:
            _key, token = create_api_key(
                session,
                cli_actor("pytest"),
                ApiKeyIn(name=f"test {role}", role=role, sites=sites or [], brands=brands or []),
            )  # type: ignore[arg-type]
        return token

    return make


@pytest.fixture
def admin_token(make_token: TokenFactory) -> str:
    return make_token("admin")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def admin(client: TestClient, admin_token: str) -> TestClient:
    """The test client acting as an admin through an API key."""
    client.headers.update(bearer(admin_token))
    return client


def site_payload(**overrides: Any) -> dict[str, Any]:
    payload = {
        "code": "HUB-A",
        "name": "Hub A",
        "region": "US",
        "timezone": "America/Chicago",
        "kind": "hub",
        "capabilities": ["inspect", "wipe:purge"],
        "labour_rate": "32.50",
        "currency": "USD",
    }
    return payload | overrides


def product_payload(**overrides: Any) -> dict[str, Any]:
    payload = {
        "sku": "SPK-100",
        "name": "Smart speaker",
        "family": "audio",
        "category": "smart speaker",
        "serial_pattern": r"SPK[0-9]{6}",
        "regulated": "none",
        "battery": "none",
        "weight_g": 800,
        "msrp": "129.00",
        "currency": "USD",
        "hs_code": "8518.22",
        "warranty_months": 12,
    }
    return payload | overrides


@pytest.fixture
def make_user(database: str) -> Callable[..., None]:
    """Create a person who signs in: make_user("tech", "technician", sites=["HUB-A"])."""

    def make(
        username: str, role: str, password: str = "correct-horse", sites: list[str] | None = None
    ) -> None:
        with session_scope() as session:
            create_user(
                session,
                cli_actor("pytest"),
                UserIn(
                    username=username,
                    display_name=username.title(),
                    role=role,  # type: ignore[arg-type]
                    password=password,
                    sites=sites or [],
                ),
            )

    return make


def photo_bytes(image_format: str = "JPEG", colour: str = "red", size: int = 8) -> bytes:
    """A real, decodable photo (a plain square); another colour gives another file."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(buffer, image_format)
    return buffer.getvalue()
