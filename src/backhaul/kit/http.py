"""HTTP plumbing: the per-request transaction, request ids and problem details."""

from __future__ import annotations

import asyncio
import logging
import re
import weakref
from collections.abc import AsyncIterator, Callable, Sequence
from http import HTTPStatus
from typing import Annotated, Any, TypeVar

import anyio
import anyio.to_thread
from fastapi import Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backhaul.db import finish, needs_write_lock, open_session, session_scope, take_write_lock
from backhaul.kit.errors import DomainError, ValidationFailed
from backhaul.kit.ids import new_id, request_id_var
from backhaul.kit.jsonable import json_bytes

T = TypeVar("T")
log = logging.getLogger("backhaul.http")
PROBLEM = "application/problem+json"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
REQUEST_ID_SCOPE_KEY = "backhaul.request_id"
_STATUSES = frozenset(status.value for status in HTTPStatus)
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


class ThreadPool:
    """A few threads of their own for one kind of work (an anyio limiter per event loop),
    beside the default pool that runs endpoints and dependencies."""

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self._limiters: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, anyio.CapacityLimiter
        ] = weakref.WeakKeyDictionary()

    async def run(self, work: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        limiter = self._limiters.get(loop)
        if limiter is None:
            limiter = self._limiters[loop] = anyio.CapacityLimiter(self.threads)
        return await anyio.to_thread.run_sync(work, *args, limiter=limiter)


# On SQLite a write request holds the process's write lock from before its work starts to its
# commit, and that work takes several thread trips (dependencies, the endpoint, the response's
# validation, the commit). Were the lock taken by whichever trip runs the first statement, a
# request holding it could wait for a thread while every thread of the pool (40) waited for the
# lock. So the lock is taken up front, waiting in one thread of its own (the others queue, in
# order, for that thread), and transactions end in threads of their own: neither waits for
# anything the default pool's threads hold.
_LOCK_WAIT = ThreadPool(1)
_ENDINGS = ThreadPool(4)
# Hot reads run here: eight lookups at once in eight threads cost 1.2 ms of CPU each instead of
# 0.7, the threads fighting for the GIL; two keep the core busy without that.
_READS = ThreadPool(2)
# Steps run here, each from its first statement to its commit in one thread (`run_write`).
# Two: one works while the next waits, ready to go. Under eight clients, on SQLite four threads
# cost 1.10 ms of CPU per step against 1.05 with two; on PostgreSQL (no write lock, so the
# threads run at once and fight for the GIL) 500-560 steps/s with two, 465-490 with eight,
# 320-440 with forty.
_WRITES = ThreadPool(2)


async def _db_session(request: Request) -> AsyncIterator[Session]:
    """The request's transaction. Opening a session touches nothing, so it is done on the event
    loop; the commit (or rollback) runs in the thread pool, shielded from cancellation so a
    client that hangs up never leaves a transaction, or SQLite's write lock, behind. Work that
    commits in its own thread (`db.commit`, as the unit lookup does) leaves nothing to do here.
    Steps do not use it: see `run_write`."""
    session = open_session(write=request.method not in SAFE_METHODS)
    try:
        if needs_write_lock(session) and not take_write_lock(session, blocking=False):
            with anyio.CancelScope(shield=True):  # once taken, `finish` must release it
                await _LOCK_WAIT.run(take_write_lock, session)
        yield session
    except BaseException:
        with anyio.CancelScope(shield=True):
            await _ENDINGS.run(finish, session, False)
        raise
    if session.in_transaction() or session.info.get("after_commit") or session.info.get("locked"):
        with anyio.CancelScope(shield=True):
            await _ENDINGS.run(finish, session, True)
    else:
        session.close()


# scope="function": the transaction commits before the response is sent, so a 2xx means durable.
DbSession = Annotated[Session, Depends(_db_session, scope="function")]


async def run_read(read: Callable[[], T]) -> T:
    """Run a read-only piece of work (it must not write: writers would queue behind it for
    the write lock) in the reads' own small thread pool."""
    return await _READS.run(read)


def _write_transaction(work: Callable[[Session], T]) -> T:
    with session_scope() as session:
        return work(session)


async def run_write(work: Callable[[Session], T]) -> T:
    """Run a write that is one piece of work, in one thread: its transaction begins (on SQLite
    waiting there for the write lock), runs `work`, and commits or rolls back in that thread.
    A step costs one thread trip this way, where `DbSession` adds a dependency to solve and,
    while the lock is busy, a trip to wait for it. No thread waits in a cycle: this pool's
    threads wait for nothing but the lock, and a request holding the lock (taken on the event
    loop by `DbSession`) waits only for threads of the default pool."""
    return await _WRITES.run(_write_transaction, work)


async def parse_if_match(
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


class FastJSONResponse(JSONResponse):
    """A JSON answer rendered by `json_bytes`: the same JSON as `JSONResponse`, faster."""

    def render(self, content: Any) -> bytes:
        return json_bytes(content)


def problem_docs(*described: tuple[int, str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for answers that are problem details: (status, when) pairs."""
    return {code: {"description": text, "content": {PROBLEM: {}}} for code, text in described}


def problem_response(status: int, body: dict[str, Any]) -> JSONResponse:
    """A problem-details response carrying the request id."""
    body.setdefault("status", status)
    request_id = request_id_var.get()
    if request_id:
        body.setdefault("request_id", request_id)
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


class ProblemError(BaseModel):
    """One thing wrong with the request: where (`body.weight_g`, `header.If-Match`) and why."""

    field: str
    message: str
    code: str | None = None


class Problem(BaseModel):
    """RFC 9457 problem details, as every API error is rendered."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    errors: list[ProblemError] | None = None
    request_id: str | None = None


_PROBLEM_TEXT = {
    400: "Malformed request (e.g. the body is not JSON)",
    401: "No valid API token",
    403: "Your role may not do this",
    404: "No such object, or not in your scope",
    409: "Conflicts with an existing object or a concurrent change",
    412: "If-Match names a version that is no longer current",
    413: "The request body is too large",
    422: "Invalid input; `errors` names each offending field",
    503: "The database is busy or unreachable; retry",
}


def document_problems(app: FastAPI) -> None:
    """Declare in the OpenAPI document the problem responses each API operation can give.

    FastAPI documents only the success response and a JSON 422 of its own shape; the API really
    answers errors as `application/problem+json` (see `install_error_handlers`), so say so.
    """
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        defs = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(defs.pop("$defs", {}))
        schemas["Problem"] = defs
        content = {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}
        for path, operations in schema.get("paths", {}).items():
            if not path.startswith("/api/"):
                continue
            for method, operation in operations.items():
                parameters = {p.get("name", "").lower() for p in operation.get("parameters", [])}
                # 404: any operation may name an object (in its path, query or body) that does
                # not exist or lies outside the caller's scope.
                statuses = {401, 403, 404, 422, 503}
                if "requestBody" in operation or method.upper() not in SAFE_METHODS:
                    statuses |= {400, 409, 413}
                if "if-match" in parameters:
                    statuses.add(412)
                responses = operation.setdefault("responses", {})
                for status in sorted(statuses):
                    # Keep an operation's own description (not FastAPI's stock one for 422);
                    # the body is always problem details.
                    entry = responses.setdefault(str(status), {})
                    if entry.get("description") in (None, "Validation Error"):
                        entry["description"] = _PROBLEM_TEXT[status]
                    entry["content"] = content
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def http_problem(error: StarletteHTTPException) -> JSONResponse:
    """Problem details for a plain HTTP error (unknown route, wrong method, body too large)."""
    status = error.status_code
    response = problem_response(
        status,
        {
            "type": "about:blank",
            "title": HTTPStatus(status).phrase if status in _STATUSES else "Error",
            "detail": str(error.detail),
        },
    )
    for name, value in (error.headers or {}).items():
        response.headers[name] = value
    return response


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route (not a mount) fully accepts at this path."""
    return [
        method
        for method in _METHODS
        if any(
            not isinstance(route, Mount)
            and route.matches({**request.scope, "method": method})[0] is Match.FULL
            for route in request.app.router.routes
        )
    ]


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
    async def _http(request: Request, error: StarletteHTTPException) -> Response:
        response = http_problem(error)
        if error.status_code == 405 and (allowed := _allowed_methods(request)):
            # Starlette names only the first matching route's methods; FastAPI has one route per
            # method, so collect them all (RFC 9110: Allow lists every supported method).
            response.headers["Allow"] = ", ".join(allowed)
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

    @app.exception_handler(DataError)
    async def _data(_request: Request, error: DataError) -> Response:
        # A value the database cannot hold, e.g. a NUL character in text on PostgreSQL.
        log.warning("value refused by the database: %s", error.orig)
        return problem_response(
            422,
            {
                "type": "https://backhaul.dev/problems/validation",
                "title": "Invalid input",
                "detail": "a value cannot be stored (control characters such as NUL are not "
                "allowed in text)",
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
    async def _unexpected(request: Request, error: Exception) -> Response:
        log.exception("unhandled error", exc_info=error)
        # This handler runs outside RequestIdMiddleware (Starlette's outermost error middleware):
        # take the id from the scope, where the middleware left it.
        request_id = request.scope.get(REQUEST_ID_SCOPE_KEY)
        body: dict[str, Any] = {
            "type": "https://backhaul.dev/problems/internal",
            "title": "Internal error",
            "detail": "an unexpected error occurred; it has been logged with this request id",
        }
        if request_id:
            body["request_id"] = request_id
        response = problem_response(500, body)
        if request_id:
            response.headers["X-Request-Id"] = request_id
        return response


class BodyTooLarge(StarletteHTTPException):
    """The request body is over the configured limit (`max_body_bytes`)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than the {limit:,} bytes allowed")


class BodyLimitMiddleware:
    """ASGI middleware: refuse bodies over `limit` bytes with 413 problem details.

    A declared `Content-Length` over the limit is refused before anything is read; a body sent
    without one (chunked) or with a lying one is counted as it arrives and refused when it
    passes the limit (FastAPI re-raises the HTTP exception from the body read; the handler above
    renders it). Starlette's own limiter answers the first case in plain text, hence this one.

    `exceptions` gives routes that take large bodies (firmware images) their own limit:
    (method, compiled path pattern, limit), first match wins.
    """

    def __init__(
        self,
        app: ASGIApp,
        limit: int,
        exceptions: Sequence[tuple[str, re.Pattern[str], int]] = (),
    ) -> None:
        self.app = app
        self.limit = limit
        self.exceptions = tuple(exceptions)

    def _limit_for(self, scope: Scope) -> int:
        for method, pattern, limit in self.exceptions:
            if scope.get("method") == method and pattern.fullmatch(scope.get("path", "")):
                return limit
        return self.limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit_for(scope)
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            response = http_problem(BodyTooLarge(limit))
            await response(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, counted, send)


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
        scope[REQUEST_ID_SCOPE_KEY] = request_id

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
