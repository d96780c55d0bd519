"""Stock over HTTP."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from backhaul.accounts.deps import CurrentActor
from backhaul.inventory import service
from backhaul.kit.http import DbSession
from backhaul.kit.schemas import Output

router = APIRouter(prefix="/api/v1", tags=["inventory"])


class StockLineOut(Output):
    """Units on the shelf of one SKU, in one condition, at one site."""

    sku: str
    condition: str
    condition_sku: str
    site: str
    quantity: int
    needs_reflash: int


Filter = Annotated[str | None, Query(max_length=40)]


@router.get("/inventory", response_model=list[StockLineOut])
def inventory(
    session: DbSession,
    actor: CurrentActor,
    sku: Filter = None,
    site: Filter = None,
    condition: Filter = None,
) -> list[StockLineOut]:
    """Available stock by SKU, condition and site; new and refurbished are never one line."""
    lines = service.stock(session, actor, sku=sku, site=site, condition=condition)
    return [StockLineOut.model_validate(line) for line in lines]
