"""The returns world, for carrier and notification tests."""

from tests.returns.conftest import returns_world

__all__ = ["returns_world"]
