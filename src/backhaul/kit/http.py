"""HTTP plumbing: the per-request transaction, request ids and problem details."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backhaul.db import session_scope
from backhaul.kit.errors import DomainError, ValidationFailed
from backhaul.kit.ids import new_id, request_id_var

log = logging.getLogger("backhaul.http")
PROBLEM = "application/problem+json"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _db_session(request: Request) -> Iterator[Session]:
    with session_scope(write=request.method not in SAFE_METHODS) as session:
        yield session


# scope="function": the transaction commits before the response is sent, so a 2xx means durable.
DbSession = Annotated[Session, Depends(_db_session, scope="function")]


def parse_if_match(
    if_match: Annotated[str | None, Header(description='Version you read, e.g. "3"')] = None,
) -> int | None:
    """The version an `If-Match` header names (`"3"`, `W/"3"` or `3`), or None."""
    if if_match is None or if_match.strip() == "*":
        return None
    value = if_match.strip().removeprefix("W/").strip('"')
    if not value.isdigit() or len(value) > 12:
        raise ValidationFailed(
            'If-Match must be a version number such as "3"', field="header.If-Match"
        )
    return int(value)


IfMatch = Annotated[int | None, Depends(parse_if_match)]


def etag(response: Response, version: int) -> None:
    """Tell the client which version it now holds."""
    response.headers["ETag"] = f'"{version}"'


def problem_response(status: int, body: dict[str, Any]) -> JSONResponse:
    """A problem-details response carrying the request id."""
    body.setdefault("status", status)
    request_id = request_id_var.get()
    if request_id:
        body.setdefault("request_id", request_id)
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


def _field_path(location: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in location)


def install_error_handlers(app: FastAPI) -> None:
    """Render every error as RFC 9457 problem details; nothing escapes as a bare 500."""

    @app.exception_handler(DomainError)
    async def _domain(_request: Request, error: DomainError) -> Response:
        response = problem_response(error.status, error.problem())
        response.headers.update(error.headers)
        return response

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, error: RequestValidationError) -> Response:
        errors = [
            {
                "field": _field_path(item.get("loc", ())),
                "message": str(item.get("msg", "")),
                "code": item.get("type"),
            }
            for item in error.errors()
        ]
        if any(item["code"] == "json_invalid" for item in errors):
            return problem_response(
                400,
                {
                    "type": "https://backhaul.dev/problems/malformed-json",
                    "title": "Malformed JSON",
                    "detail": "the request body is not valid JSON",
                    "errors": errors,
                },
            )
        detail = "; ".join(f"{item['field']}: {item['message']}" for item in errors[:5])
        return problem_response(
            422,
            {
                "type": "https://backhaul.dev/problems/validation",
                "title": "Invalid input",
                "detail": detail,
                "errors": errors,
            },
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, error: StarletteHTTPException) -> Response:
        response = problem_response(
            error.status_code,
            {"type": "about:blank", "title": str(error.detail), "detail": str(error.detail)},
        )
        for name, value in (error.headers or {}).items():
            response.headers[name] = value
        return response

    @app.exception_handler(StaleDataError)
    async def _stale(_request: Request, _error: StaleDataError) -> Response:
        return problem_response(
            409,
            {
                "type": "https://backhaul.dev/problems/conflict",
                "title": "Conflict",
                "detail": "someone else changed this object at the same time; reload and retry",
            },
        )

    @app.exception_handler(IntegrityError)
    async def _integrity(_request: Request, error: IntegrityError) -> Response:
        log.warning("integrity error: %s", error.orig)
        return problem_response(
            409,
            {
                "type": "https://backhaul.dev/problems/conflict",
                "title": "Conflict",
                "detail": "the change clashes with a concurrent change or an existing record; "
                "reload and retry",
            },
        )

    @app.exception_handler(OperationalError)
    async def _operational(_request: Request, error: OperationalError) -> Response:
        log.error("database unavailable: %s", error.orig)
        return problem_response(
            503,
            {
                "type": "https://backhaul.dev/problems/unavailable",
                "title": "Service unavailable",
                "detail": "the database is busy or unreachable; retry shortly",
            },
        )

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, error: Exception) -> Response:
        log.exception("unhandled error", exc_info=error)
        return problem_response(
            500,
            {
                "type": "https://backhaul.dev/problems/internal",
                "title": "Internal error",
                "detail": "an unexpected error occurred; it has been logged with this request id",
            },
        )


class RequestIdMiddleware:
    """ASGI middleware: a request id on every request (kept in a contextvar) and response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if 0 < len(incoming) <= 64 and incoming.isprintable() else new_id()
        token = request_id_var.set(request_id)

        async def tagged(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, tagged)
        finally:
            request_id_var.reset(token)
