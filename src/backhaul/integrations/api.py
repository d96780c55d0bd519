"""Carrier webhooks over HTTP: `POST /api/v1/carriers/easypost/webhook`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel
from sqlalchemy import select

from backhaul.integrations.carriers import CarrierAdapter, EasyPost, WebhookRejected
from backhaul.kit.errors import NotAuthenticated, ValidationFailed
from backhaul.kit.http import PROBLEM, DbSession
from backhaul.returns import service
from backhaul.returns.models import CarrierWebhook
from backhaul.settings import get_settings

router = APIRouter(prefix="/api/v1/carriers", tags=["carriers"])


class WebhookOut(BaseModel):
    """What was done with the event."""

    event_id: str
    duplicate: bool
    outcome: str


def easypost() -> CarrierAdapter:
    """The EasyPost adapter with this installation's secret."""
    secret = get_settings().easypost_webhook_secret
    if not secret:
        # No secret, nothing can be verified: refuse as unauthenticated (not a server fault).
        raise NotAuthenticated(
            "no EasyPost webhook secret is configured (BACKHAUL_EASYPOST_WEBHOOK_SECRET), so no "
            "webhook can be verified"
        )
    return EasyPost(secret)


ADAPTERS = {"easypost": easypost}


def handle(session: Any, adapter: CarrierAdapter, headers: Any, body: bytes) -> WebhookOut:
    """Verify, de-duplicate by event id, and apply every tracking update in the event."""
    try:
        adapter.verify(headers, body)
    except WebhookRejected as error:
        raise NotAuthenticated(str(error)) from None
    try:
        event_id, updates = adapter.parse(body)
    except WebhookRejected as error:
        raise ValidationFailed(str(error), field="body") from None
    seen = session.scalar(
        select(CarrierWebhook.outcome).where(
            CarrierWebhook.carrier == adapter.name, CarrierWebhook.event_id == event_id
        )
    )
    if seen is not None:
        return WebhookOut(event_id=event_id, duplicate=True, outcome=seen)
    outcomes = [service.apply_tracking(session, adapter.name, update) for update in updates]
    outcome = "; ".join(outcomes) or "no tracking in this event"
    session.add(
        CarrierWebhook(
            carrier=adapter.name,
            event_id=event_id,
            tracking_code=updates[0].tracking_code if updates else None,
            outcome=outcome[:200],
        )
    )
    session.flush()
    return WebhookOut(event_id=event_id, duplicate=False, outcome=outcome)


@router.post(
    "/easypost/webhook",
    response_model=WebhookOut,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
    responses={
        401: {
            "description": "Missing or wrong X-Hmac-Signature, or no secret configured",
            "content": {PROBLEM: {}},
        },
    },
)
async def easypost_webhook(request: Request, session: DbSession) -> WebhookOut:
    """An EasyPost `tracker.updated` event, verified by its `X-Hmac-Signature` (HMAC-SHA256 of
    the body with BACKHAUL_EASYPOST_WEBHOOK_SECRET). Idempotent by event id; an unknown
    tracking number goes to the exception queue."""
    body = await request.body()
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(handle, session, easypost(), request.headers, body)
