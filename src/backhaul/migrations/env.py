"""Alembic environment: migrate the configured database, batch mode on SQLite."""

from __future__ import annotations

from typing import Any, Literal

from alembic import context

from backhaul.db import UTCDateTime, make_engine
from backhaul.settings import get_settings
from backhaul.tables import metadata

url = context.config.get_main_option("sqlalchemy.url") or get_settings().database_url


def render_item(kind: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    """Write our UTC timestamp type as a plain timezone-aware DateTime in migrations."""
    if kind == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run() -> None:
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
            render_item=render_item,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run()
