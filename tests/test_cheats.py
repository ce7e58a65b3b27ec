"""Wrong submissions lose points under real ``nbgrader autograde``; honest ones score full.

The submissions are in ``tests/cheats.py``; they are graded with each lesson's solution and
release, in the lesson's one ``nbgrader autograde`` call (``notebooks.graded`` in conftest).
"""
from __future__ import annotations

import nbformat
import pytest

from cheats import WRONG, checking_cell, exercise_cells, grade_id
from conftest import READY
from course import lessons


def test_every_exercise_has_wrong_answers():
    for lesson_id in READY:
        assert lesson_id in WRONG, f"no wrong submissions for {lesson_id}: add them to tests/cheats.py"
        source = nbformat.read(str(lessons.solution_path(lesson_id)), as_version=4)
        solutions = {grade_id(c) for c in source.cells
                     if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")}
        for student, replaced in WRONG[lesson_id].items():
            assert set(replaced) <= solutions, f"{lesson_id}/{student} replaces unknown cells"
        covered = {cid for replaced in WRONG[lesson_id].values() for cid in replaced}
        assert covered == solutions, f"{lesson_id}: exercises without wrong answers: {solutions - covered}"


@pytest.mark.parametrize("lesson_id", READY)
def test_wrong_answers_lose_points_and_honest_ones_do_not(lesson_id, notebooks):
    scores = notebooks.graded(lesson_id).cell_scores
    cells = exercise_cells(nbformat.read(str(lessons.solution_path(lesson_id)), as_version=4))
    problems = []
    for student, replaced in {"honest": {}, **WRONG.get(lesson_id, {})}.items():
        losing = {checking_cell(cells, cid) for cid in replaced}
        for test_id, (score, top) in scores[f"cheat-{student}"].items():
            if test_id in losing and score >= top:
                problems.append(f"{student}: {test_id} scored full marks ({score}/{top}) for a wrong answer")
            if test_id not in losing and score < top:
                problems.append(f"{student}: {test_id} scored {score}/{top} for a right answer")
    assert not problems, "\n".join(problems)
