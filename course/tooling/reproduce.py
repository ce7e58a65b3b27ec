"""Run a lesson's headline experiment with the library's reference code.

Each lesson names its experiment in the syllabus (``course.lessons``): a ``module:function``
that takes ``seed`` and returns a JSON-ready dict. Modules are imported only when their
experiment runs, so ``python -m course list`` stays fast.
"""
from __future__ import annotations

from typing import Any

from .. import lessons

__all__ = ["run"]


def run(lesson_id: str, seed: int = 0) -> dict[str, Any]:
    """Run a lesson's headline experiment; ``ValueError`` for an unknown or unready lesson."""
    lesson = lessons.get(lesson_id)  # raises with the list of known ids
    if lesson.experiment is None or lesson.status != "ready":
        ready = ", ".join(l.id for l in lessons.SYLLABUS if l.experiment and l.status == "ready")
        raise ValueError(f"lesson {lesson_id!r} has no reproducible experiment yet; "
                         f"available: {ready}")
    return {**lessons.load(lesson.experiment)(seed=seed), "seed": seed}
