"""The serial registry over HTTP: import sold units and look a unit up with its history."""

from __future__ import annotations

import csv
import io
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from backhaul import db
from backhaul.accounts.deps import CurrentActor
from backhaul.kit.errors import ValidationFailed
from backhaul.kit.http import DbSession, run_read
from backhaul.kit.schemas import Output
from backhaul.processing import service as processing
from backhaul.processing.schemas import UnitOut
from backhaul.processing.states import State
from backhaul.units import service

router = APIRouter(prefix="/api/v1", tags=["units"])


class RejectedRow(Output):
    """A row that was not imported, and why."""

    row: int
    serial: str | None
    field: str
    reason: str


class ImportResult(Output):
    """What an import did."""

    batch_id: int | None
    added: int
    duplicates: int
    rejected: int
    rejections: list[RejectedRow]


_IMPORT_BODY = {
    "description": "A JSON list of rows, or CSV with a header row (Content-Type: text/csv). "
    "Columns: serial, sku, order_ref, customer_email, sold_at (ISO 8601), "
    "region, channel, price, currency.",
    "content": {
        "application/json": {
            "schema": {"type": "array", "maxItems": 100000, "items": {"type": "object"}}
        },
        "text/csv": {"schema": {"type": "string"}},
    },
}


async def _rows(request: Request) -> list[Any]:
    raw = await request.body()
    media = request.headers.get("content-type", "application/json").split(";")[0].strip()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationFailed("the body is not UTF-8 text", field="body") from None
    if media == "text/csv":
        try:
            return list(csv.DictReader(io.StringIO(text, newline="")))
        except csv.Error as error:
            raise ValidationFailed(f"not valid CSV: {error}", field="body") from None
    if media != "application/json":
        raise ValidationFailed("send application/json or text/csv", field="header.Content-Type")
    try:
        rows = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValidationFailed(f"not valid JSON: {error}", field="body") from None
    if not isinstance(rows, list):
        raise ValidationFailed("expected a JSON list of rows", field="body")
    return rows


@router.post(
    "/units/import", response_model=ImportResult, openapi_extra={"requestBody": _IMPORT_BODY}
)
def import_units(
    session: DbSession, actor: CurrentActor, rows: Annotated[list[Any], Depends(_rows)]
) -> ImportResult:
    """Register sold units; bad rows are refused with reasons and never stop the good ones."""
    summary = service.import_units(session, actor, rows, source="api")
    return ImportResult(
        batch_id=summary.batch_id,
        added=summary.added,
        duplicates=summary.duplicates,
        rejected=summary.rejected,
        rejections=[
            RejectedRow(row=r.row, serial=r.serial, field=r.field, reason=r.reason)
            for r in summary.rejections
        ],
    )


class UnitSummary(Output):
    """A unit in a list: where it is, without its history."""

    serial: str
    sku: str
    state: str
    route: str | None
    condition: str | None
    site: str | None
    version: int


Filter = Annotated[str | None, Query(max_length=64)]


@router.get("/units", response_model=list[UnitSummary])
def list_units(
    session: DbSession,
    actor: CurrentActor,
    sku: Filter = None,
    state: State | None = None,
    site: Filter = None,
    after: Annotated[str | None, Query(max_length=64, description="Serial to page after")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[UnitSummary]:
    """Units you may see, ordered by serial; filter by SKU, state or site."""
    units = service.list_units(
        session, actor, sku=sku, state=state, site=site, after=after, limit=limit
    )
    return [
        UnitSummary(
            serial=u.serial,
            sku=u.product.sku,
            state=u.state.value,
            route=u.route.value if u.route else None,
            condition=u.condition,
            site=u.site.code if u.site else None,
            version=u.version,
        )
        for u in units
    ]


@router.get("/units/{serial}", response_model=UnitOut)
async def get_unit(serial: str, session: DbSession, actor: CurrentActor) -> Response:
    """A unit, its state, condition, version (also as ETag) and its whole history."""

    def read() -> dict[str, Any]:
        unit, steps = processing.get_unit(session, actor, serial)
        db.commit(session)  # end the read here, in this thread, rather than in another trip
        return processing.unit_view(unit, steps)

    view = await run_read(read)
    return JSONResponse(view, headers={"ETag": f'"{view["version"]}"'})
