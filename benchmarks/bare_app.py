"""The framework limit: a bare FastAPI endpoint that writes one step's rows with plain SQL.

No authentication, no evidence model, no ORM: a JSON body in, the four rows of `rawsql`
written in one transaction (BEGIN IMMEDIATE on SQLite), a small JSON answer out. Served by
uvicorn with one worker, like Backhaul; on SQLite writers are serialised by one in-process lock
(as Backhaul's session_scope does, see shared/FIELD-NOTES.md); each threadpool thread has its
own connection.

    uvicorn benchmarks.bare_app:create_app --factory
"""

from __future__ import annotations

import contextlib
import os
import threading
from typing import Annotated, Any

from fastapi import Body, FastAPI

from benchmarks import rawsql


def create_app() -> FastAPI:
    url = os.environ["BACKHAUL_DATABASE_URL"]
    local = threading.local()
    # SQLite has one writer at a time; PostgreSQL's transactions run side by side.
    write_lock = threading.Lock() if url.startswith("sqlite") else contextlib.nullcontext()
    setup = rawsql.connect(url)
    hub = rawsql.site_id(setup, "HUB-A")
    setup.close()
    app = FastAPI(title="bare step endpoint")

    def connection() -> rawsql.Connection:
        db: rawsql.Connection | None = getattr(local, "db", None)
        if db is None:
            db = local.db = rawsql.connect(url)
        return db

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/units/{serial}/steps/{step}")
    def step(serial: str, step: str, evidence: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
        db = connection()
        with write_lock, rawsql.immediate(db):
            return rawsql.write_rows(db, serial, step, evidence, "bare", hub)

    return app
