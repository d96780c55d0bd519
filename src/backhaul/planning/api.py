"""Planning over HTTP: run the cost model, forecast returns, import history."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from backhaul.accounts.deps import CurrentActor
from backhaul.db import utcnow
from backhaul.kit.errors import ValidationFailed
from backhaul.kit.http import DbSession
from backhaul.planning import series, service
from backhaul.planning.models import HistoryKind
from backhaul.planning.scenario import Scenario
from backhaul.planning.schemas import (
    CostModelIn,
    CostModelOut,
    ForecastOut,
    HistoryIn,
    HistoryOut,
)

router = APIRouter(prefix="/api/v1/planning", tags=["planning"])
BY_PATTERN = r"^\s*(sku|region|hub)(\s*,\s*(sku|region|hub)){0,2}\s*$"


@router.post("/costmodel", response_model=CostModelOut)
def cost_model(data: CostModelIn, session: DbSession, actor: CurrentActor) -> CostModelOut:
    """Run a return-cost scenario: percentiles, breakdown, tornado, break-even, what-ifs."""
    result, rows = service.run_cost_model(
        session,
        actor,
        data.scenario,
        trials=data.trials,
        seed=data.seed,
        today=utcnow().date(),
        calibrate_from_records=data.calibrate,
        region=data.region,
    )
    body = result.as_json() | {"calibration": [r.as_dict() for r in rows]}
    return CostModelOut.model_validate(body)


@router.get("/costmodel/default", response_model=dict[str, Any])
def default_scenario(
    session: DbSession,
    actor: CurrentActor,
    sku: Annotated[str, Query(min_length=1, max_length=40)],
) -> dict[str, Any]:
    """A starting scenario for a catalog product (its price, its hub, typical values)."""
    scenario: Scenario = service.default_scenario(session, actor, sku)
    return scenario.model_dump(mode="json", by_alias=True)


@router.get("/forecast", response_model=ForecastOut)
def forecast(
    session: DbSession,
    actor: CurrentActor,
    horizon: Annotated[int, Query(ge=1, le=52)] = 12,
    by: Annotated[str, Query(pattern=BY_PATTERN, max_length=40)] = "sku,region",
) -> ForecastOut:
    """Forecast weekly returns from the database's history, with the backtest, hub hours and
    spare parts."""
    try:
        grouping = series.parse_by(by)
    except ValueError as error:
        raise ValidationFailed(str(error), field="query.by") from None
    run = service.run_forecast(session, actor, today=utcnow().date(), horizon=horizon, by=grouping)
    return ForecastOut.model_validate(service.forecast_payload(run))


@router.post("/history", response_model=HistoryOut)
def import_history(data: HistoryIn, session: DbSession, actor: CurrentActor) -> HistoryOut:
    """Import weekly history from a previous system (re-importing a source replaces it)."""
    summary = service.import_history(
        session,
        actor,
        [row.model_dump() for row in data.rows],
        kind=HistoryKind(data.kind),
        source=data.source,
        today=utcnow().date(),
    )
    return HistoryOut.model_validate(
        {
            **vars(summary),
            "problems": [
                {"row": p.row, "field": p.field, "reason": p.reason} for p in summary.problems
            ],
        }
    )
