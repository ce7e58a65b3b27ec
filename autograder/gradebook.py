"""The class gradebook: assignment set-up, merging a worker's grades, integrity check.

Only the trusted parent process writes here. Workers grade against a throwaway SQLite copy of
a template gradebook and hand back plain numbers, which ``merge`` copies into the real one
(SQLite or PostgreSQL). Manual scores and comments entered in the formgrader are never
touched; a manually graded answer stays graded unless its text changed since.
"""
from __future__ import annotations

import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path

from nbgrader.api import (Comment, Grade, Gradebook, MissingEntry, SubmittedAssignment,
                          SubmittedNotebook)
from nbgrader.apps import NbGraderAPI
from sqlalchemy.exc import SAWarning
from traitlets.config import Config

from .course_dir import Course


@dataclass(frozen=True)
class Template:
    """A course with the assignment generated into a SQLite gradebook, copied per submission."""

    root: Path
    assignment: str
    course_id: str

    @property
    def db(self) -> Path:
        return self.root / "gradebook.db"

    @property
    def source(self) -> Path:
        return self.root / "source" / self.assignment

    def release_notebook(self, name: str) -> Path:
        return self.root / "release" / self.assignment / f"{name}.ipynb"


def _generate(root: Path, assignment: str, course_id: str, db_url: str) -> None:
    c = Config()
    c.CourseDirectory.root = str(root)
    c.CourseDirectory.course_id = course_id
    c.CourseDirectory.db_url = db_url
    c.CourseDirectory.source_directory = "source"
    c.CourseDirectory.release_directory = "release"
    result = NbGraderAPI(config=c).generate_assignment(assignment, force=True)
    if not result["success"]:
        raise RuntimeError(f"nbgrader generate_assignment {assignment} failed:\n"
                           f"{result.get('error') or result.get('log')}")


def prepare(course: Course, assignment: str, workdir: Path) -> Template:
    """Generate the assignment into a template gradebook and make sure the real one knows it."""
    root = workdir / "template"
    shutil.copytree(course.source / assignment, root / "source" / assignment)
    template = Template(root, assignment, course.course_id)
    _generate(root, assignment, course.course_id, f"sqlite:///{template.db}")
    if not _known(course, assignment):
        real = workdir / "real-release"
        shutil.copytree(course.source / assignment, real / "source" / assignment)
        _generate(real, assignment, course.course_id, course.db_url)
    return template


def _known(course: Course, assignment: str) -> bool:
    with Gradebook(course.db_url, course.course_id) as gb:
        try:
            return bool(gb.find_assignment(assignment).notebooks)
        except MissingEntry:
            return False


def read_grades(db_url: str, assignment: str, student: str) -> list[dict]:
    """Per notebook: its grades and auto comments, as plain data (what a worker hands back)."""
    with Gradebook(db_url) as gb:
        sub = gb.find_submission(assignment, student)
        return [{"notebook": nb.name, "late_penalty": nb.late_submission_penalty,
                 "grades": {g.name: [g.auto_score, g.needs_manual_grade] for g in nb.grades},
                 "comments": {c.name: c.auto_comment for c in nb.comments}}
                for nb in sub.notebooks]


def merge(course: Course, assignment: str, student: str, notebooks: list[dict] | None,
          timestamp: str | None = None, changed: frozenset[str] = frozenset()) -> None:
    """Write a worker's grades into the real gradebook; ``None`` records zero for every cell.
    A cell a grader scored keeps its manual score and comment; it needs grading again only if
    it is among ``changed`` (written answers whose text changed since)."""
    # nbgrader's own update_or_create_submission trips SQLAlchemy autoflush warnings: harmless
    warnings.filterwarnings("ignore", category=SAWarning)
    with Gradebook(course.db_url, course.course_id) as gb:
        gb.update_or_create_student(student)
        kwargs = {"timestamp": timestamp} if timestamp else {}
        sub = gb.update_or_create_submission(assignment, student, **kwargs)
        by_name = {n["notebook"]: n for n in notebooks or []}
        for nb in sub.notebooks:
            got = by_name.get(nb.name)
            nb.late_submission_penalty = got["late_penalty"] if got else None
            for grade in nb.grades:
                auto, manual = got["grades"].get(grade.name, [0, False]) if got else [0, False]
                graded = grade.manual_score is not None and grade.name not in changed
                grade.auto_score, grade.needs_manual_grade = auto, manual and not graded
            for comment in nb.comments:
                comment.auto_comment = got["comments"].get(comment.name) if got else None
        gb.db.commit()


def note_lms_ids(course: Course, ids: dict[str, str]) -> None:
    """Keep the LMS ids an export carried for students whose gradebook entry has none."""
    with Gradebook(course.db_url, course.course_id) as gb:
        for student, lms_id in ids.items():
            found = gb.update_or_create_student(student)
            if not found.lms_user_id:
                found.lms_user_id = lms_id
        gb.db.commit()


def scores(course: Course, assignment: str) -> dict[str, dict]:
    """Per student with a submission of ``assignment``: ``score``/``max_score`` (autograded
    points), ``manual`` (written answers, as graded by hand), ``pending`` (points of answers
    nobody graded yet), ``late_penalty``, ``total`` (all of it, less the penalty) of
    ``total_max``, ``needs_manual_grade``, ``timestamp`` (UTC), ``seconds_late``, ``lms_id``,
    and ``grades``: ``{grade cell: (score, max, kind, pending)}``, kind ``auto`` or ``manual``."""
    with Gradebook(course.db_url, course.course_id) as gb:
        table = {}
        for sub in gb.assignment_submissions(assignment):
            grades = {g.name: (g.score, g.max_score, "auto" if g.cell.cell_type == "code" else "manual",
                               bool(g.needs_manual_grade and g.manual_score is None))
                      for nb in sub.notebooks for g in nb.grades}
            penalty = sub.late_submission_penalty or 0.0
            table[sub.student.id] = {
                "score": round(sub.code_score, 6), "max_score": sub.max_code_score,
                "needs_manual_grade": sub.needs_manual_grade, "manual": round(sub.written_score, 6),
                "pending": sum(g[1] for g in grades.values() if g[3]), "late_penalty": penalty,
                "total": round(max(0.0, sub.score - penalty), 6), "total_max": sub.max_score,
                "timestamp": sub.timestamp, "seconds_late": sub.total_seconds_late,
                "lms_id": sub.student.lms_user_id or "", "grades": grades}
        return table


def max_score(course: Course, assignment: str) -> float:
    """The assignment's autograded points."""
    with Gradebook(course.db_url, course.course_id) as gb:
        return gb.find_assignment(assignment).max_code_score


def max_total(course: Course, assignment: str) -> float:
    """The assignment's points, written answers included."""
    with Gradebook(course.db_url, course.course_id) as gb:
        return gb.find_assignment(assignment).max_score


def without_submission(course: Course, assignment: str) -> set[str]:
    """Students on the roster (the gradebook's students) with no submission of ``assignment``."""
    with Gradebook(course.db_url, course.course_id) as gb:
        graded = {sub.student.id for sub in gb.assignment_submissions(assignment)}
        return {student.id for student in gb.students} - graded


def integrity(course: Course, assignment: str) -> list[str]:
    """Problems found: a submitted folder without grades, grades without a folder, orphan rows.
    A folder without a notebook is no submission (grading names its student missing)."""
    on_disk = {p.parent.name for p in course.submitted.glob(f"*/{assignment}")}
    empty = {s for s in on_disk if not any(course.submitted.glob(f"{s}/{assignment}/*.ipynb"))}
    problems = []
    with Gradebook(course.db_url, course.course_id) as gb:
        expected = {c.name for nb in gb.find_assignment(assignment).notebooks for c in nb.grade_cells}
        graded = set()
        for sub in gb.assignment_submissions(assignment):
            graded.add(sub.student.id)
            cells = {g.name for nb in sub.notebooks for g in nb.grades}
            unscored = [g.name for nb in sub.notebooks for g in nb.grades
                        if g.cell.cell_type == "code" and g.auto_score is None]
            if cells != expected:
                problems.append(f"{sub.student.id}: grade rows {sorted(cells)} != cells {sorted(expected)}")
            if unscored:
                problems.append(f"{sub.student.id}: autograded cells without a score: {unscored}")
        problems += [f"{s}: submitted but not in the gradebook" for s in sorted(on_disk - graded - empty)]
        problems += [f"{s}: in the gradebook but no submission on disk" for s in sorted(graded - on_disk)]
        problems += _orphans(gb)
    return problems


def _orphans(gb: Gradebook) -> list[str]:
    """Rows whose parent row is gone (foreign keys are not enforced by SQLite)."""
    q = gb.db.query
    checks = {
        "grades without a notebook": q(Grade).filter(~Grade.notebook_id.in_(q(SubmittedNotebook.id))),
        "comments without a notebook": q(Comment).filter(~Comment.notebook_id.in_(q(SubmittedNotebook.id))),
        "notebooks without a submission": q(SubmittedNotebook).filter(
            ~SubmittedNotebook.assignment_id.in_(q(SubmittedAssignment.id))),
    }
    return [f"{n} orphaned {what}" for what, query in checks.items() if (n := query.count())]


def assignments(course: Course) -> list[str]:
    """The gradebook's assignments, by name."""
    with Gradebook(course.db_url, course.course_id) as gb:
        return sorted(a.name for a in gb.assignments)
