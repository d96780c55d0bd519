"""Money and currency as validated input types (Decimal, never float)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import Field, StringConstraints

from backhaul.kit.schemas import ToUpper

Currency = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Z]{3}$", strip_whitespace=True, to_upper=True),
    ToUpper,
    Field(description="ISO 4217 currency code, e.g. USD, EUR, JPY", examples=["USD"]),
]

Money = Annotated[
    Decimal,
    Field(
        ge=0,
        le=Decimal("9999999999.99"),
        decimal_places=2,
        max_digits=12,
        description="An amount with at most two decimals",
        examples=["199.00"],
    ),
]
