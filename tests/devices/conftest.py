"""The step tests' world (hubs, products with firmware and plans, tokens) for the device tests."""

from tests.processing.conftest import world  # noqa: F401
