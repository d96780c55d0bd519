"""Base classes for API input and output models."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, field_validator


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(item) for item in value)
    return False


class Input(BaseModel):
    """Request bodies: unknown fields are errors, strings are trimmed, NUL characters refused
    (PostgreSQL cannot store them, so SQLite and PostgreSQL installs answer alike)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        if _has_nul(value):
            raise ValueError("contains a NUL character")
        return value


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
