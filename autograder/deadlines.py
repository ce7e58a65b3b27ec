"""Due dates, per-student extensions, and the late policy.

Due dates live in ``autograder/deadlines.csv`` of the course, one row per assignment
(``assignment,student,due`` with an empty student) and one per extension (the student's own
due date), written by ``python -m autograder deadline`` or by hand. Times carry their zone:
``2026-03-02 23:59 Europe/Berlin`` or ``2026-03-02T23:59+01:00``.

``apply`` copies them into the gradebook where nbgrader keeps them (the assignment's
``duedate``, which the formgrader shows and edits; each submission's ``extension``; a due date
set only in the formgrader is kept) and sets each notebook's ``late_submission_penalty`` by the
course's ``LatePolicy`` from the notebook's current score, manual grades included. Grading,
feedback and exports call it, so the penalty follows the grades. ``LatePolicy`` is also the
plugin of nbgrader's own ``AssignLatePenalties`` (``nbgrader_config.py``).
"""
from __future__ import annotations

import csv
import datetime as dt
import math
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.plugins import LateSubmissionPlugin
from traitlets import Float

from .course_dir import Course, nbgrader_config

FIELDS = ("assignment", "student", "due")
DAY = 86400.0


class DeadlineError(ValueError):
    """A due date that cannot be read; the message says how to write one."""


class LatePolicy(LateSubmissionPlugin):
    """Points lost for lateness: a share of the notebook's score per started day late, after
    a grace period, and all of it past a limit. Set in ``nbgrader_config.py`` as
    ``c.LatePolicy.percent_per_day`` and friends."""

    percent_per_day = Float(0.0, help="percent of the notebook's score lost per started day late"
                            ).tag(config=True)
    grace_minutes = Float(0.0, help="minutes after the due date that do not count").tag(config=True)
    zero_after_days = Float(0.0, help="days late after which the whole score is lost (0: never)"
                            ).tag(config=True)

    def late_submission_penalty(self, student_id: str, score: float,
                                total_seconds_late: float) -> float | None:
        """Points to subtract from ``score`` for ``total_seconds_late`` seconds (None: none)."""
        late = total_seconds_late - self.grace_minutes * 60
        if late <= 0 or not score:
            return None
        if self.zero_after_days and late > self.zero_after_days * DAY:
            return score
        return min(score, score * self.percent_per_day / 100 * math.ceil(late / DAY)) or None

    def describe(self) -> str:
        """The policy in one sentence, for students and instructors."""
        if not self.percent_per_day and not self.zero_after_days:
            return "late submissions lose no points"
        parts = [f"{self.percent_per_day:g}% of the score per started day late"] if self.percent_per_day else []
        if self.grace_minutes:
            parts.append(f"after {self.grace_minutes:g} minutes' grace")
        if self.zero_after_days:
            parts.append(f"all of it after {self.zero_after_days:g} days")
        return ", ".join(parts)


def policy(course: Course) -> LatePolicy:
    """The course's late policy, from its ``nbgrader_config.py``."""
    return LatePolicy(config=nbgrader_config(course.root))


def parse_time(text: str) -> dt.datetime:
    """An aware datetime from ``2026-03-02 23:59 Europe/Berlin`` or ISO 8601 with an offset."""
    text = text.strip()
    head, _, zone = text.rpartition(" ")
    try:
        if head and not zone[:1].isdigit() and not zone.startswith(("+", "-")):
            return dt.datetime.fromisoformat(head).replace(tzinfo=ZoneInfo(zone))
        time = dt.datetime.fromisoformat(text)
    except (ValueError, ZoneInfoNotFoundError) as exc:
        raise DeadlineError(f"cannot read the time {text!r} ({exc}): write e.g. "
                            "'2026-03-02 23:59 Europe/Berlin' or '2026-03-02T23:59+01:00'") from None
    if time.tzinfo is None:
        raise DeadlineError(f"the time {text!r} has no time zone: add one, e.g. "
                            f"'{text} Europe/Berlin' or '{text}+01:00'")
    return time


def utc(time: dt.datetime) -> dt.datetime:
    """nbgrader's form: naive, in UTC."""
    return time.astimezone(dt.timezone.utc).replace(tzinfo=None)


@dataclass(frozen=True)
class Deadlines:
    """``{(assignment, student or ""): due}``, times aware."""

    due: dict[tuple[str, str], dt.datetime]

    def of(self, assignment: str, student: str = "") -> dt.datetime | None:
        return self.due.get((assignment, student))


def path_of(course: Course) -> Path:
    return course.submitted.parent / "deadlines.csv"


def load(course: Course) -> Deadlines:
    """The course's deadlines file (none yet: no deadlines)."""
    path = path_of(course)
    due = {}
    if path.exists():
        with open(path, newline="", encoding="utf-8") as fh:
            for line, row in enumerate(csv.DictReader(fh), start=2):
                try:
                    due[row["assignment"].strip(), (row.get("student") or "").strip()] = \
                        parse_time(row["due"])
                except (KeyError, AttributeError):
                    raise DeadlineError(f"{path}, line {line}: expected the columns "
                                        f"{', '.join(FIELDS)}") from None
                except DeadlineError as exc:
                    raise DeadlineError(f"{path}, line {line}: {exc}") from None
    return Deadlines(due)


def save(course: Course, deadlines: Deadlines) -> Path:
    """Write the deadlines file (readable by the grader only: extensions are personal)."""
    path = path_of(course)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(FIELDS)
        for (assignment, student), due in sorted(deadlines.due.items()):
            writer.writerow([assignment, student, due.isoformat(timespec="minutes")])
    return path


def set_due(course: Course, assignment: str, due: dt.datetime, student: str = "") -> Path:
    """Record ``assignment``'s due date, or ``student``'s extended one; the file written."""
    deadlines = load(course)
    return save(course, Deadlines({**deadlines.due, (assignment, student): due}))


def apply(course: Course, assignment: str, students: set[str] | None = None) -> list[str]:
    """Due date, extensions and late penalties (of ``students``, default all) into the
    gradebook; warnings to show."""
    deadlines, late = load(course), policy(course)
    warnings = []
    with Gradebook(course.db_url, course.course_id) as gb:
        try:
            record = gb.find_assignment(assignment)
        except MissingEntry:
            return warnings
        due = deadlines.of(assignment)
        if due is not None:
            if record.duedate is not None and record.duedate != utc(due):
                warnings.append(f"{assignment}: the gradebook's due date {record.duedate} UTC (set in "
                                f"the formgrader?) is replaced by {path_of(course).name}'s {utc(due)} UTC")
            record.duedate = utc(due)
        for sub in record.submissions:
            if students is not None and sub.student.id not in students:
                continue
            extended = deadlines.of(assignment, sub.student.id)
            if extended is not None and record.duedate is None:
                warnings.append(f"{sub.student.id}: an extension of {assignment} without a due "
                                "date for the assignment has no effect")
            sub.extension = (utc(extended) - record.duedate
                             if extended is not None and record.duedate is not None else None)
            seconds = sub.total_seconds_late
            for nb in sub.notebooks:
                nb.late_submission_penalty = (late.late_submission_penalty(sub.student.id, nb.score, seconds)
                                              if seconds > 0 else None)
        gb.db.commit()
    return warnings


def lateness(seconds: float) -> str:
    """``2 days 3 h`` for a number of seconds late."""
    days, rest = divmod(int(seconds), int(DAY))
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    parts = [f"{days} day{'s' if days != 1 else ''}"] if days else []
    parts += [f"{hours} h"] if hours else []
    parts += [f"{minutes} min"] if minutes and not days else []
    return " ".join(parts) or "under a minute"
