"""Domain errors: one hierarchy, each error carrying its HTTP status and problem type."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every error a user can cause; rendered as RFC 9457 problem details."""

    status: int = 400
    type_slug: str = "bad-request"
    title: str = "Bad request"
    headers: dict[str, str] = {}

    def __init__(self, detail: str, *, field: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.extra = extra

    def problem(self) -> dict[str, Any]:
        """The problem-details body for this error."""
        body: dict[str, Any] = {
            "type": f"https://backhaul.dev/problems/{self.type_slug}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if self.field is not None:
            body["errors"] = [{"field": self.field, "message": self.detail}]
        body.update(self.extra)
        return body


class ValidationFailed(DomainError):
    """Input that is well-formed but wrong: a field names what and why."""

    status = 422
    type_slug = "validation"
    title = "Invalid input"


class NotAuthenticated(DomainError):
    """No credentials, or credentials that do not identify anyone."""

    status = 401
    type_slug = "not-authenticated"
    title = "Authentication required"
    headers = {"WWW-Authenticate": 'Bearer realm="backhaul"'}


class Forbidden(DomainError):
    """The actor is known but their role may not do this."""

    status = 403
    type_slug = "forbidden"
    title = "Forbidden"


class NotFound(DomainError):
    """The object does not exist, or exists outside the actor's scope (indistinguishable)."""

    status = 404
    type_slug = "not-found"
    title = "Not found"


class Conflict(DomainError):
    """The request clashes with the current state (duplicate key, illegal step, race lost)."""

    status = 409
    type_slug = "conflict"
    title = "Conflict"


class TooLarge(DomainError):
    """A file or body over the size its route allows."""

    status = 413
    type_slug = "too-large"
    title = "Too large"


class UnsupportedMediaType(DomainError):
    """Content of a type the route does not take (whatever its name or header says)."""

    status = 415
    type_slug = "unsupported-media-type"
    title = "Unsupported media type"


class InsufficientStorage(DomainError):
    """A file could not be written to its store (a full or failing disk); nothing was kept."""

    status = 507
    type_slug = "insufficient-storage"
    title = "Insufficient storage"


class IllegalTransition(Conflict):
    """The step is not allowed from the unit's position; `missing` names what is needed first."""

    type_slug = "illegal-transition"
    title = "Step not allowed now"


class StaleVersion(DomainError):
    """`If-Match` named a version that is no longer current."""

    status = 412
    type_slug = "stale-version"
    title = "Precondition failed"


class TooManyAttempts(DomainError):
    """Locked out after repeated failures."""

    status = 429
    type_slug = "too-many-attempts"
    title = "Too many attempts"


class NotEligible(DomainError):
    """A return request the policy refuses; `rule` and `policy_version` say which rule decided."""

    status = 422
    type_slug = "not-eligible"
    title = "Not eligible for return"
