"""Invariant 6 (no lost update) when another station writes the same unit while a step is being
judged: on SQLite a step is judged in a read snapshot without the write lock, so this is the
window where it could go wrong; on PostgreSQL the version check closes it."""

from __future__ import annotations

from typing import Any

import pytest

from backhaul.db import session_scope
from backhaul.kit.auth import cli_actor
from backhaul.processing import service
from backhaul.processing.lifecycle import Step
from backhaul.processing.schemas import FlashIn, GradeIn
from tests.processing.conftest import (
    FLASH_OK,
    INSPECT_OK,
    SANITIZE_OK,
    World,
    received,
    to_tested,
)

BAD_FLASH = FLASH_OK | {"readback_sha256": "c" * 64}


def test_a_step_judged_while_another_station_moves_the_unit_is_judged_again(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    to_tested(world, "SPK000001")
    judge = service.HANDLERS[Step.grade]
    interleaved: list[str] = []

    def grade_while_another_station_grades(ctx: Any, data: Any) -> Any:
        evaluation = judge(ctx, data)
        if not interleaved:  # the other station records its grade in the middle of ours
            interleaved.append("other")
            with session_scope() as other:
                other_grade = GradeIn(cosmetic="C", functional="pass")
                service.perform_step(
                    other, cli_actor("other"), "SPK000001", Step.grade, other_grade
                )
        return evaluation

    monkeypatch.setitem(service.HANDLERS, Step.grade, grade_while_another_station_grades)
    ours = world.step("tech_a", "SPK000001", "grade", {"cosmetic": "A", "functional": "pass"})

    assert interleaved == ["other"]
    assert ours.status_code == 409, ours.text  # the unit is graded already: nothing to do
    unit = world.unit("SPK000001")
    grades = [h for h in unit["history"] if h["step"] == "grade"]
    assert [(g["actor"], g["evidence"]["cosmetic"]) for g in grades] == [("other", "C")]
    assert unit["state"] == "graded"
    assert unit["version"] == len(unit["history"])  # one version per recorded step, no more


def test_a_step_still_legal_after_the_other_stations_write_is_recorded_on_top_of_it(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    received(world, "SPK000002")
    for step, body in (("inspect", INSPECT_OK), ("sanitize", SANITIZE_OK), ("flash", BAD_FLASH)):
        assert world.step("tech_a", "SPK000002", step, body).status_code == 200
    judge = service.HANDLERS[Step.flash]
    interleaved: list[str] = []

    def flash_while_another_station_flashes(ctx: Any, data: Any) -> Any:
        evaluation = judge(ctx, data)
        if not interleaved:  # the other station's second attempt lands in the middle of ours
            interleaved.append("other")
            with session_scope() as other:
                body = FlashIn.model_validate(BAD_FLASH)
                service.perform_step(other, cli_actor("other"), "SPK000002", Step.flash, body)
        return evaluation

    monkeypatch.setitem(service.HANDLERS, Step.flash, flash_while_another_station_flashes)
    ours = world.step("tech_a", "SPK000002", "flash", FLASH_OK)

    # Still legal after the other attempt (a failed flash may be retried), so it is judged again
    # on the unit as the other station left it and recorded on top: the third attempt, passed.
    assert interleaved == ["other"]
    assert ours.status_code == 200, ours.text
    flashes = [h for h in ours.json()["history"] if h["step"] == "flash"]
    assert [(f["actor"], f["outcome"], f["evidence"]["attempt"]) for f in flashes][1:] == [
        ("other", "fail", 2),
        (flashes[2]["actor"], "pass", 3),
    ]
    assert ours.json()["state"] == "firmware_validated"
