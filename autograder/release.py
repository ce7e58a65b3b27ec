"""``python -m autograder feedback``: after manual grading, every student's page written again
from the gradebook as it now stands (manual scores and comments, pending answers, late
penalties; no hidden test, rubric or script: ``feedback``), and released through nbgrader's
exchange with its own ``release_feedback``.

Only submissions that came through the exchange can be released there (nbgrader names a
released page after the submission's ``submission_secret.txt``); the others (from an LMS) are
listed, to be handed back through the LMS. After releasing, each page is looked for in the
exchange: a release that wrote nothing (e.g. the exchange belongs to someone else) is an error,
not a success.
"""
from __future__ import annotations

import filecmp
from dataclasses import dataclass, field
from pathlib import Path

from jupyter_core.paths import jupyter_config_path
from nbgrader.api import Gradebook
from nbgrader.apps import NbGraderAPI
from nbgrader.utils import notebook_hash
from traitlets.config import Config

from . import deadlines, feedback
from .course_dir import Course, nbgrader_config


class ReleaseError(RuntimeError):
    """nbgrader's release_feedback failed or released nothing; the message says why."""


@dataclass
class Report:
    written: list[str] = field(default_factory=list)  # students with a page
    pending: list[str] = field(default_factory=list)  # of them, with written answers not graded
    released: list[str] = field(default_factory=list)
    not_exchange: list[str] = field(default_factory=list)  # pages to hand back through the LMS
    warnings: list[str] = field(default_factory=list)


def course_config(course: Course, exchange: Path | None = None) -> Config:
    """The configuration nbgrader itself would read for this course: ``nbgrader_config.py`` of
    every Jupyter config folder (e.g. the hub's exchange settings), then the course's own."""
    config = Config()
    for folder in [*reversed(jupyter_config_path()), str(course.root)]:
        config.merge(nbgrader_config(Path(folder)))
    config.CourseDirectory.root = str(course.root)
    config.CourseDirectory.db_url = course.db_url
    if exchange is not None:
        config.Exchange.root = str(exchange)
    return config


def graded_students(course: Course, assignment: str) -> list[tuple[str, bool]]:
    """``(student, has pending written answers)`` for every submission of ``assignment``."""
    with Gradebook(course.db_url, course.course_id) as gb:
        return sorted((sub.student.id, any(g.needs_manual_grade and g.manual_score is None
                                           for nb in sub.notebooks for g in nb.grades))
                      for sub in gb.assignment_submissions(assignment))


def write_pages(course: Course, assignment: str, config: Config) -> Report:
    """Late penalties from the current scores, then every graded student's page."""
    report = Report(warnings=deadlines.apply(course, assignment))
    pages = feedback.Pages(course, assignment, config=config)
    for student, pending in graded_students(course, assignment):
        if pages.write(student):
            report.written.append(student)
            if pending:
                report.pending.append(student)
    return report


def release(course: Course, assignment: str, config: Config, report: Report) -> None:
    """Release the pages of exchange submissions with nbgrader's ``release_feedback``; check
    that each one arrived."""
    folder = course.feedback
    secrets = {s: folder / s / assignment / "submission_secret.txt" for s in report.written}
    exchange = [s for s, secret in secrets.items() if secret.is_file()]
    report.not_exchange = [s for s in report.written if s not in exchange]
    if not exchange:
        return
    api = NbGraderAPI(config=config)
    api.coursedir.student_id_exclude = ",".join(report.not_exchange)  # nbgrader needs both files
    result = api.release_feedback(assignment)
    if not result["success"]:
        raise ReleaseError("nbgrader release_feedback failed: "
                           + (result.get("error") or result.get("log") or "").strip()[-800:])
    outbound = Path(api.exchange.ReleaseFeedback(coursedir=api.coursedir, parent=api).root,
                    course.course_id, "feedback")
    for student in exchange:
        page = folder / student / assignment / f"{assignment}.html"
        released = outbound / f"{notebook_hash(secret=secrets[student].read_text(), notebook_id=assignment)}.html"
        if released.is_file() and filecmp.cmp(page, released, shallow=False):
            report.released.append(student)
    lost = sorted(set(exchange) - set(report.released))
    if lost:
        raise ReleaseError(f"release_feedback reported success but {len(lost)} pages are not in "
                           f"{outbound} ({', '.join(lost[:10])}): run it as the course's owner "
                           "(see --owner), with the exchange the students use")
