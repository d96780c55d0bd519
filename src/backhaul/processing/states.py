"""The states a unit can be in, spelled as in DESIGN.md's lifecycle table."""

from __future__ import annotations

import enum


class State(enum.StrEnum):
    """Where a unit is in its life."""

    in_field = "in_field"
    return_authorized = "return_authorized"
    in_transit = "in_transit"
    received = "received"
    inspected = "inspected"
    inspection_failed = "inspection_failed"
    quarantined = "quarantined"
    sanitized = "sanitized"
    firmware_failed = "firmware_failed"
    firmware_validated = "firmware_validated"
    tested = "tested"
    test_failed = "test_failed"
    graded = "graded"
    dispositioned = "dispositioned"
    available = "available"
    in_repair = "in_repair"
    harvested = "harvested"
    recycled = "recycled"
    written_off = "written_off"
    returned_to_customer = "returned_to_customer"
