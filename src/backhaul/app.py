"""The FastAPI application: routers, middleware, error rendering, health and static files."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import cast

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from backhaul import __version__
from backhaul.accounts import api as accounts_api
from backhaul.catalog import api as catalog_api
from backhaul.integrations import api as integrations_api
from backhaul.inventory import api as inventory_api
from backhaul.kit import audit_api, queues_api
from backhaul.kit.errors import DomainError
from backhaul.kit.http import (
    BodyLimitMiddleware,
    RequestIdMiddleware,
    document_problems,
    install_error_handlers,
)
from backhaul.kit.signing import session_secret
from backhaul.planning import api as planning_api
from backhaul.processing import api as processing_api
from backhaul.processing import overrides_api, photos_api, reverification_api, stations_api
from backhaul.processing import queues_api as processing_queues_api
from backhaul.returns import api as returns_api
from backhaul.settings import get_settings
from backhaul.sop import api as sop_api
from backhaul.units import api as units_api
from backhaul.web import (
    auth_pages,
    catalog_pages,
    console_pages,
    home,
    planning_pages,
    portal_pages,
    returns_pages,
    station_pages,
)
from backhaul.web.common import LoginRequired, render

STATIC = Path(__file__).parent / "web" / "static"


# Routes are tried in order, so the busiest come first: steps, then unit lookups (the step
# routes used to be the 45th try; first, they save ~40 µs of a ~1.3 ms step). No route may be
# shadowed by an earlier one, so the order changes only how long routing takes
# (tests/test_app.py checks).
ROUTERS = (
    processing_api.router,
    units_api.router,
    catalog_api.router,
    photos_api.router,
    stations_api.router,
    reverification_api.router,
    sop_api.router,
    overrides_api.router,
    processing_queues_api.router,
    inventory_api.router,
    accounts_api.router,
    audit_api.router,
    queues_api.router,
    planning_api.router,
    returns_api.router,
    integrations_api.router,
    auth_pages.router,
    home.router,
    catalog_pages.router,
    planning_pages.router,
    portal_pages.router,
    returns_pages.router,
    station_pages.router,
    console_pages.router,
)


def create_app() -> FastAPI:
    """Build the application from the current settings."""
    settings = get_settings()
    app = FastAPI(
        title="Backhaul",
        version=__version__,
        summary="Returns, repair and refurbishment of connected hardware, serial by serial.",
    )
    install_error_handlers(app)
    document_problems(app)

    @app.exception_handler(LoginRequired)
    async def _login_required(_request: Request, error: LoginRequired) -> Response:
        return RedirectResponse(f"/login?next={error.next_path}", status_code=303)

    # Page errors keep the page look; API errors stay problem+json (see install_error_handlers).
    api_domain_handler = cast(
        Callable[[Request, DomainError], Awaitable[Response]], app.exception_handlers[DomainError]
    )

    @app.exception_handler(DomainError)
    async def _domain(request: Request, error: DomainError) -> Response:
        if request.url.path.startswith("/api/") or "text/html" not in request.headers.get(
            "accept", ""
        ):
            return await api_domain_handler(request, error)
        page: HTMLResponse = render(request, "error.html", status=error.status, error=error)
        return page

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(
        BodyLimitMiddleware,
        limit=settings.max_body_bytes,
        # Firmware images are far larger than any other body; their route streams them to disk.
        # Photo uploads (the API, the station's inspect form, the portal's damage claim) carry
        # several photos of up to BACKHAUL_MAX_PHOTO_BYTES each.
        exceptions=[
            ("POST", catalog_api.IMAGE_UPLOAD_PATH, settings.firmware_max_bytes),
            ("POST", photos_api.UPLOAD_PATH, photos_api.upload_body_limit()),
            ("POST", station_pages.INSPECT_FORM_PATH, photos_api.upload_body_limit()),
            ("POST", portal_pages.PHOTOS_FORM_PATH, portal_pages.photos_body_limit()),
        ],
    )
    app.add_middleware(
        SessionMiddleware,
        secret_key=session_secret(),
        session_cookie="backhaul_session",
        same_site="lax",
        https_only=settings.secure_cookies,
        max_age=12 * 3600,
    )
    app.add_middleware(RequestIdMiddleware)
    return app
