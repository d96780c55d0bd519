"""Sign-in and sign-out pages."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from backhaul.accounts import service
from backhaul.kit.http import DbSession
from backhaul.web.common import CsrfChecked, csrf_token, render

router = APIRouter(include_in_schema=False)


def _safe_next(path: str) -> str:
    """A path on this site, or "/". Browsers drop tabs and newlines from URLs and read "\\" as
    "/", so "/\\evil.example" or "/<tab>/evil.example" would mean "//evil.example"."""
    local = path.startswith("/") and not path.startswith("//")
    return path if local and "\\" not in path and path.isprintable() else "/"


@router.get("/login")
def login_form(request: Request, next: str = "/") -> Response:
    """The sign-in form."""
    return render(request, "login.html", next=_safe_next(next))


@router.post("/login", dependencies=[CsrfChecked])
def login(
    request: Request,
    session: DbSession,
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=500)] = "/",
) -> Response:
    """Check the password; on success start a fresh session, on failure say why."""
    result = service.login(session, username, password)
    if result.user is None:
        return render(
            request,
            "login.html",
            status=401,
            error=result.error,
            username=username,
            next=_safe_next(next),
        )
    request.session.clear()  # a new session on sign-in: no fixation
    request.session["uid"] = result.user.id
    csrf_token(request)
    return RedirectResponse(_safe_next(next), status_code=303)


@router.post("/logout", dependencies=[CsrfChecked])
def logout(request: Request) -> Response:
    """End the session."""
    request.session.clear()
    return RedirectResponse("/login", status_code=303)
