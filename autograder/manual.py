"""Written answers: their rubric beside the student's answer for the grader, and manual grades
that survive re-grading.

A written answer's rubric is what the source notebook (``solutions/``) holds in its answer cell.
``add_rubrics`` puts it after the student's answer in the graded notebook (the copy the
formgrader shows), as a cell marked ``RUBRIC``; feedback drops every such cell, and cells a
student marked so are removed before (a forged rubric never reaches the grader).
``changed_answers`` names answers whose text differs from the previously graded copy: a
re-grade keeps the manual scores and comments of all answers, and asks for a second look only
at the changed ones.
"""
from __future__ import annotations

from pathlib import Path

import nbformat

RUBRIC = "autograder_rubric"  # cell metadata key of an inserted rubric
HEADING = "**Rubric for the grader** (the class tool adds this cell; students never see it)\n\n"


def _meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def _written(cell) -> bool:
    """An answer a human grades: a graded cell that students fill in, other than code."""
    meta = _meta(cell)
    return bool(meta.get("grade") and meta.get("solution") and cell.cell_type == "markdown")


def rubrics(source: Path) -> dict[str, str]:
    """``{grade_id: rubric}`` of the written answers in a source notebook."""
    nb = nbformat.read(str(source), as_version=4)
    return {_meta(c)["grade_id"]: c.source for c in nb.cells if _written(c)}


def read(notebook: Path) -> nbformat.NotebookNode | None:
    """A graded notebook, or ``None`` if there is none (or it cannot be read)."""
    if not notebook.is_file():
        return None
    try:
        return nbformat.read(str(notebook), as_version=4)
    except Exception:  # noqa: BLE001 (an unreadable old copy: every answer counts as changed)
        return None


def answers(nb: nbformat.NotebookNode | None) -> dict[str, str]:
    """``{grade_id: the student's text}`` of the written answers in a graded notebook."""
    return {_meta(c)["grade_id"]: c.source for c in nb.cells if _written(c)} if nb else {}


def changed_answers(before: dict[str, str], after: dict[str, str]) -> set[str]:
    """Answers graded before whose text is now different (or gone)."""
    return {grade_id for grade_id, text in before.items() if after.get(grade_id) != text}


def add_rubrics(nb: nbformat.NotebookNode, rubric: dict[str, str]) -> None:
    """Put each answer's rubric in a cell after it; drop rubric cells already there."""
    cells = []
    for cell in nb.cells:
        if cell.get("metadata", {}).get(RUBRIC):
            continue
        cells.append(cell)
        grade_id = _meta(cell).get("grade_id")
        if _written(cell) and grade_id in rubric:
            cells.append(nbformat.v4.new_markdown_cell(HEADING + rubric[grade_id],
                                                       metadata={RUBRIC: grade_id}))
    nb.cells = cells
