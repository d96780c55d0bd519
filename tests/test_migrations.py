"""The migrations build exactly the schema the models describe, on SQLite and on PostgreSQL:
a model change without its migration (or a migration that drifts from its model) fails here."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Engine

from backhaul.tables import metadata


def _differences(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))


def test_the_migrated_schema_matches_the_models(database: str) -> None:
    from backhaul.db import get_engine

    assert _differences(get_engine(database)) == []
