"""schemathesis over every API operation: no server error, and every response — success or
problem — is what the OpenAPI document says (status, content type, headers, body schema).

How the database is handled, and why:

- The schema must be known when pytest collects this module (`@schema.parametrize()` makes one
  test per operation), so the app is built at import time. `create_app()` binds no database —
  the engine is looked up from the settings on each request — so building it early is harmless;
  only the cookie secret is read then, and we give it one so nothing is written to disk.
- Hypothesis runs many examples inside one test call, and pytest fixtures are not re-run between
  examples. With the function-scoped `database` fixture that would be one database per operation,
  shared by its examples (valid, but schemathesis's lazy `from_fixture` loader does not work on
  this pytest, and rebuilding per operation buys nothing). So the database is module-scoped: made
  once from the migrated template, kept for every example of every operation (it only
  accumulates what the examples created, as a real server would), and the environment restored
  afterwards. No function-scoped fixture is used, so the health check hypothesis raises for
  those cannot trigger; it is suppressed anyway because the `admin_token` fixture must stay the
  same across examples by design.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from backhaul.accounts.schemas import ApiKeyIn
from backhaul.accounts.service import create_api_key
from backhaul.app import create_app
from backhaul.db import dispose_engines, session_scope
from backhaul.kit.auth import Role, cli_actor
from backhaul.settings import get_settings
from tests.conftest import bearer, fresh_database


def _app() -> Any:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BACKHAUL_SECRET_KEY", "test-secret")
        get_settings.cache_clear()
        try:
            return create_app()
        finally:
            get_settings.cache_clear()


schema = schemathesis.openapi.from_asgi("/openapi.json", _app())

# Request-side checks are left out: they judge whether the API accepts exactly what the schema
# allows, not whether its answers conform. Positive data is refused on purpose where the schema
# cannot say why (an unknown time zone, a site that does not exist, a malformed If-Match), and
# pydantic's lax mode accepts some schema-invalid input (false for an integer).
REQUEST_SIDE_CHECKS = [
    schemathesis.checks.positive_data_acceptance,
    schemathesis.checks.negative_data_rejection,
]

# Paths that another path template also matches: `GET /api/v1/units/import` really is served (as
# the unit with serial "import"), so `Allow: GET, POST` is the truth there, not a mismatch.
OVERLAPPING_PATHS = {"/api/v1/units/import"}


@pytest.fixture(scope="module")
def admin_token(migrated_template: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh database for this module, with the default brand and an admin key."""
    tmp = tmp_path_factory.mktemp("schemathesis")
    with pytest.MonkeyPatch.context() as mp:
        # Configured as in production; unconfigured, the webhook refuses every call on purpose.
        mp.setenv("BACKHAUL_EASYPOST_WEBHOOK_SECRET", "schemathesis-webhook-secret")
        fresh_database(migrated_template, tmp, mp)
        with session_scope() as session:
            _key, token = create_api_key(
                session, cli_actor("pytest"), ApiKeyIn(name="schemathesis", role=Role.admin)
            )
        yield token
        dispose_engines()
        get_settings.cache_clear()


def test_every_api_operation_is_covered() -> None:
    operations = {
        f"{result.ok().method.upper()} {result.ok().path}" for result in schema.get_all_operations()
    }
    assert {
        "POST /api/v1/products",
        "PATCH /api/v1/sites/{code}",
        "GET /api/v1/audit",
    } <= operations


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_api(case: Any, admin_token: str) -> None:
    excluded = list(REQUEST_SIDE_CHECKS)
    if case.path in OVERLAPPING_PATHS:
        excluded.append(schemathesis.checks.allow_header_conformance)
    case.call_and_validate(headers=bearer(admin_token), excluded_checks=excluded)
