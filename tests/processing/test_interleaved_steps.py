"""Invariant 6 (no lost update) when another station writes the same unit while a step is being
judged. On PostgreSQL nothing stops the two from overlapping; the version check must. (On SQLite
a write transaction holds the process's write lock from its first statement, so the other
station waits for ours: there is no overlap to provoke there.)"""

from __future__ import annotations

from typing import Any

import pytest

from backhaul.db import session_scope
from backhaul.kit.auth import cli_actor
from backhaul.processing import service
from backhaul.processing.lifecycle import Step
from backhaul.processing.schemas import GradeIn
from tests.conftest import POSTGRES_URL
from tests.processing.conftest import World, to_tested


@pytest.mark.skipif(not POSTGRES_URL, reason="SQLite serialises write transactions")
def test_a_step_judged_while_another_station_moves_the_unit_loses_with_a_conflict(
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
    assert ours.status_code == 409, ours.text  # the unit changed under it: reload and retry
    unit = world.unit("SPK000001")
    grades = [h for h in unit["history"] if h["step"] == "grade"]
    assert [(g["actor"], g["evidence"]["cosmetic"]) for g in grades] == [("other", "C")]
    assert unit["state"] == "graded"
    assert unit["version"] == len(unit["history"])  # one version per recorded step, no more
