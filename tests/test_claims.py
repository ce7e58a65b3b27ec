"""Under grading, a lesson never displays numbers that contradict its prose.

Each ready lesson's solution, as ``nbgrader autograde`` executed it (the lesson's one autograde
in conftest, ``NBGRADER_EXECUTION=autograde``), is checked against its key claims
(``tests/claims.py``): either the experiment ran and agrees with the text, or it was skipped
with a sentence saying so.
"""
from __future__ import annotations

import pytest

from claims import CLAIMS, failed_claims
from conftest import READY


def test_every_ready_lesson_states_its_claims():
    missing = [lesson_id for lesson_id in READY if lesson_id not in CLAIMS]
    assert not missing, f"lessons without claims in tests/claims.py: {missing}"


@pytest.mark.parametrize("lesson_id", READY)
def test_graded_run_agrees_with_the_text(lesson_id, notebooks):
    assert lesson_id in CLAIMS, f"{lesson_id} has no claims in tests/claims.py"
    failed = failed_claims(lesson_id, notebooks.graded(lesson_id).notebooks["solution"])
    assert not failed, f"{lesson_id} under grading contradicts its text:\n" + "\n".join(failed)
