"""Identifiers and the per-request id that ties log lines, audit records and responses together."""

from __future__ import annotations

import contextvars
import uuid

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None
)


def new_id() -> str:
    """A random, sortable-enough unique id (UUID4 hex) for events and requests."""
    return uuid.uuid4().hex


def current_request_id() -> str | None:
    """The id of the request (or CLI command) being served, if any."""
    return request_id_var.get()
