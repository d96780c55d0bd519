"""What every page shares: templates, the signed-in actor, CSRF tokens and form errors."""

from __future__ import annotations

import hmac
import secrets
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Form, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from backhaul import __version__
from backhaul.accounts.service import actor_for, get_user
from backhaul.db import session_scope
from backhaul.kit.auth import Actor
from backhaul.kit.errors import DomainError

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
templates.env.globals["version"] = __version__
CSRF_KEY = "csrf"


class LoginRequired(Exception):
    """Raised by page dependencies when nobody is signed in; rendered as a redirect."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class CsrfRejected(DomainError):
    """A form arrived without the token this session issued."""

    status = 403
    type_slug = "csrf"
    title = "Form expired"


def csrf_token(request: Request) -> str:
    """This session's CSRF token, created on first use."""
    token = request.session.get(CSRF_KEY)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session[CSRF_KEY] = token
    return token


def check_csrf(request: Request, csrf: Annotated[str, Form(max_length=200)] = "") -> None:
    """Dependency for every form POST: the hidden field must equal the session's token."""
    expected = request.session.get(CSRF_KEY)
    if not isinstance(expected, str) or not hmac.compare_digest(expected, csrf):
        raise CsrfRejected(
            "this form has expired or did not come from this site; "
            "reload the page and submit it again"
        )


CsrfChecked = Depends(check_csrf)


def _page_actor(request: Request) -> Actor:
    """The signed-in user, read in a transaction of its own, not the request's (which on
    SQLite would take the write lock in this thread trip and hold it into the page's; see
    `accounts.deps._api_actor`)."""
    user_id = request.session.get("uid")
    if not isinstance(user_id, int):
        raise LoginRequired(request.url.path)
    with session_scope(write=False) as session:
        user = get_user(session, user_id)
        if user is None:
            raise LoginRequired(request.url.path)
        return actor_for(user)


PageActor = Annotated[Actor, Depends(_page_actor)]


def render(
    request: Request, template: str, actor: Actor | None = None, status: int = 200, **context: Any
) -> HTMLResponse:
    """Render a page with the signed-in actor, the CSRF token and any flash message."""
    flash = request.session.pop("flash", None)
    return templates.TemplateResponse(
        request,
        template,
        {"actor": actor, "csrf": csrf_token(request), "flash": flash, **context},
        status_code=status,
    )


def flash(request: Request, message: str) -> None:
    """A one-time message shown on the next page."""
    request.session["flash"] = message
