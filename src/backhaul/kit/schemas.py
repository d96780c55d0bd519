"""Base classes for API input and output models."""

from __future__ import annotations

from pydantic import BaseModel, BeforeValidator, ConfigDict


class Input(BaseModel):
    """Request bodies: unknown fields are errors, strings are trimmed."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Output(BaseModel):
    """Response bodies, built from ORM objects or dicts."""

    model_config = ConfigDict(from_attributes=True)


def _upper(value: object) -> object:
    return value.strip().upper() if isinstance(value, str) else value


def _lower(value: object) -> object:
    return value.strip().lower() if isinstance(value, str) else value


# Put after StringConstraints so codes are normalised *before* their pattern is checked.
ToUpper = BeforeValidator(_upper)
ToLower = BeforeValidator(_lower)
