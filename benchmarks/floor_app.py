"""The plumbing floor: Backhaul's own application doing the bare endpoint's plain-SQL writes.

`create_app()` is the real application (its middleware, error handling and routes), plus one
route per processing step at `/bench/units/{serial}/steps/{step}` that goes through what a real
step request goes through before and after the domain: the bearer-token actor, `If-Match`, the
step's evidence model, the transaction in one thread (`run_write`, with SQLite's write lock) and
its commit, and a JSON answer with an ETag. In between it writes the four rows of `rawsql` on the
transaction's own connection instead of running the lifecycle rules. What this costs per step
against the bare endpoint is the price of the plumbing; what the real step costs on top of it is
the domain (rules, reads of the unit, its history and the catalog, the records it writes).

    uvicorn benchmarks.floor_app:create_app --factory

No `from __future__ import annotations`: FastAPI must see each route's real evidence model.
"""

from typing import Annotated, cast

from fastapi import APIRouter, Body, FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from backhaul import app as backhaul_app
from backhaul.accounts.deps import CurrentActor
from backhaul.kit.http import FastJSONResponse, IfMatch, run_write
from benchmarks import rawsql, world

STEPS = [step for step, _ in world.STEPS]


def _route(router: APIRouter, step: str) -> None:
    from backhaul.processing import service
    from backhaul.processing.lifecycle import Step

    model = service.STEP_INPUT[Step(step)]

    async def endpoint(
        serial: str,
        actor: CurrentActor,
        if_match: IfMatch,
        data: Annotated[model, Body()],  # type: ignore[valid-type]
    ) -> JSONResponse:
        def write(session: Session) -> JSONResponse:
            driver = session.connection().connection.driver_connection
            connection = cast(rawsql.Connection, driver)
            site = min(actor.site_ids) if actor.site_ids else None
            unit = rawsql.write_rows(
                connection, serial, step, data.model_dump(mode="json"), actor.username, site
            )
            response = FastJSONResponse(unit)
            response.headers["ETag"] = f'"{unit["version"]}"'
            return response

        return await run_write(write)

    router.add_api_route(f"/bench/units/{{serial}}/steps/{step}", endpoint, methods=["POST"])


def create_app() -> FastAPI:
    app = backhaul_app.create_app()
    router = APIRouter(include_in_schema=False)
    for step in STEPS:
        _route(router, step)
    before = len(app.router.routes)
    app.include_router(router)
    # First in line, as the step routes nearly are: the routes matched before a request's own
    # are part of its cost, and the floor should not pay for all of Backhaul's.
    added = app.router.routes[before:]
    del app.router.routes[before:]
    app.router.routes[0:0] = added
    return app
