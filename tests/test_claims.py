"""Under grading, a lesson never displays numbers that contradict its prose.

Each ready lesson's solution runs as nbgrader runs it (``NBGRADER_EXECUTION=autograde``), and
its key claims (``tests/claims.py``) are checked on what it printed: either the experiment ran
and agrees with the text, or it was skipped with a sentence saying so.
"""
from __future__ import annotations

import nbformat
import pytest
from nbclient import NotebookClient

from claims import CLAIMS, failed_claims
from conftest import READY
from course import lessons


def execute_as_graded(lesson_id: str, monkeypatch):
    """The solution notebook executed under ``NBGRADER_EXECUTION=autograde``, with outputs."""
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    path = lessons.solution_path(lesson_id)
    nb = nbformat.read(str(path), as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    return nb


def test_every_ready_lesson_states_its_claims():
    missing = [lesson_id for lesson_id in READY if lesson_id not in CLAIMS]
    assert not missing, f"lessons without claims in tests/claims.py: {missing}"


@pytest.mark.parametrize("lesson_id", READY)
def test_graded_run_agrees_with_the_text(lesson_id, monkeypatch):
    assert lesson_id in CLAIMS, f"{lesson_id} has no claims in tests/claims.py"
    failed = failed_claims(lesson_id, execute_as_graded(lesson_id, monkeypatch))
    assert not failed, f"{lesson_id} under grading contradicts its text:\n" + "\n".join(failed)
