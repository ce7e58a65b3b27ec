"""Grades out: what an instructor uploads to an LMS, and the full table behind it.

For the chosen assignments, one row per student on the roster (and any other graded student):

* ``grades.csv``: keyed by course id, with the LMS id, name and e-mail; per assignment its
  status, submission time and lateness, one column per question (autograded, or written and
  graded by hand: ``pending`` until someone did), then autograded, manual, late penalty, total.
* ``canvas.csv``: a Canvas gradebook import (``Student, ID, SIS User ID, SIS Login ID, Section``,
  then one column per assignment holding its total, and Canvas's ``Points Possible`` row),
  keyed by Canvas's user id (the roster's ``lms_id``). Only totals: Canvas makes every other
  column a new assignment of its own.
* ``moodle.csv``: a Moodle grade import (Grades > Import > CSV file), keyed by ``ID number`` (the
  roster's ``lms_id``) with the e-mail address as a second key; per assignment the per-question
  columns and the parts, then the total, for the import's column mapping.

Every column name says what its number is and of how many points. Totals a student does not
have yet (a written answer pending, no submission) are left empty in the LMS files, never
uploaded as a partial or zero grade; ``write`` says how many.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from nbgrader.api import Gradebook

from . import deadlines, gradebook, roster
from .course_dir import Course
from .intake import label


@dataclass(frozen=True)
class Columns:
    """One assignment's columns, named for what they hold."""

    assignment: str
    questions: list[tuple[str, str, float]]  # (grade cell, auto or manual, points)
    auto_max: float
    manual_max: float
    total_max: float

    def names(self) -> list[str]:
        a = self.assignment
        kinds = {"auto": "autograded", "manual": "written, graded by hand"}
        return [f"{a}: status", f"{a}: submitted (UTC)", f"{a}: late by",
                *(f"{a}: {q} ({kinds[kind]}, of {p:g})" for q, kind, p in self.questions),
                f"{a}: autograded (of {self.auto_max:g})",
                f"{a}: written, graded by hand (of {self.manual_max:g})",
                f"{a}: late penalty (points)", f"{a}: total (of {self.total_max:g})"]

    def values(self, row: dict | None) -> list:
        if row is None:
            return ["missing"] + [""] * (len(self.names()) - 1)
        status = "written answers pending" if row["pending"] else "graded"
        when = f"{row['timestamp']:%Y-%m-%d %H:%M}" if row["timestamp"] else ""
        late = deadlines.lateness(row["seconds_late"]) if row["seconds_late"] else ""
        cells = [("pending" if row["grades"][q][3] else _num(row["grades"][q][0]))
                 if q in row["grades"] else "" for q, _, _ in self.questions]
        return [status, when, late, *cells, _num(row["score"]), _num(row["manual"]),
                _num(row["late_penalty"]), _num(row["total"])]


def _num(value: float) -> str:
    return f"{value:g}"


def columns(course: Course, assignment: str) -> Columns:
    """The columns of ``assignment``, from its cells in the gradebook."""
    with Gradebook(course.db_url, course.course_id) as gb:
        record = gb.find_assignment(assignment)
        cells = [(c.name, "auto" if c.cell_type == "code" else "manual", c.max_score)
                 for nb in record.notebooks for c in nb.grade_cells]
        return Columns(assignment, cells, record.max_code_score, record.max_written_score,
                       record.max_score)


def _people(course: Course, tables: dict[str, dict]) -> list[roster.Student]:
    """Everyone on the roster, and any graded student who is not (the gradebook adds them)."""
    known = roster.load(course).students
    graded = {s for table in tables.values() for s in table}
    return [known.get(s, roster.Student(s)) for s in sorted(set(known) | graded)]


@dataclass(frozen=True)
class Written:
    paths: dict[str, Path]
    warnings: list[str]


def write(course: Course, assignments: list[str], out: Path,
          canvas_ids: dict[str, str] | None = None) -> Written:
    """The three CSV files for ``assignments`` in ``out``; ``canvas_ids``: Canvas's id of each
    assignment, when it exists there already (its column then updates it)."""
    for assignment in assignments:
        deadlines.apply(course, assignment)  # penalties follow the current scores
    tables = {a: gradebook.scores(course, a) for a in assignments}
    cols = [columns(course, a) for a in assignments]
    people = _people(course, tables)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"grades": out / "grades.csv", "canvas": out / "canvas.csv", "moodle": out / "moodle.csv"}
    detail = ["course id", "LMS id", "name", "email"] + [n for c in cols for n in c.names()]
    _write(paths["grades"], detail, [[p.course_id, p.lms_id, p.name, p.email]
                                     + [v for c in cols for v in c.values(tables[c.assignment].get(p.course_id))]
                                     for p in people])
    _write(paths["moodle"], ["ID number", "Email address", "First name", "Last name"]
           + [n for c in cols for n in c.names()[3:]],
           [[p.lms_id, p.email, p.first_name, p.last_name]
            + [v for c in cols for v in _lms(c.values(tables[c.assignment].get(p.course_id)))[3:]]
            for p in people])
    canvas_ids = canvas_ids or {}
    titles = [f"{a} ({canvas_ids[a]})" if a in canvas_ids else a for a in assignments]
    _write(paths["canvas"], ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", *titles],
           [["    Points Possible", "", "", "", "", *(_num(c.total_max) for c in cols)]]
           + [[_sortable(p), p.lms_id, "", "", ""]
              + [_lms(c.values(tables[c.assignment].get(p.course_id)))[-1] for c in cols]
              for p in people])
    return Written(paths, _warnings(people, tables, assignments))


def _lms(values: list) -> list:
    """An LMS row's values: no total while a part is pending or nothing was submitted."""
    if values[0] != "graded":
        values = values[:-1] + [""]
    return values


def _sortable(person: roster.Student) -> str:
    return f"{person.last_name}, {person.first_name}" if person.last_name else person.course_id


def _warnings(people: list[roster.Student], tables: dict[str, dict], assignments: list[str]) -> list[str]:
    out = []
    for a in assignments:
        pending = sum(bool(row["pending"]) for row in tables[a].values())
        missing = sum(p.course_id not in tables[a] for p in people)
        if pending:
            out.append(f"{a}: {pending} totals left empty in the LMS files: written answers not graded "
                       "yet (grade them in the formgrader, then export again)")
        if missing:
            out.append(f"{a}: {missing} students without a submission have an empty total")
    no_id = [p.course_id for p in people if not p.lms_id]
    if no_id:
        out.append(f"{len(no_id)} students have no LMS id (the LMS cannot match them): "
                   f"{', '.join(no_id[:10])}; add lms_id to the roster")
    return out


def _write(path: Path, header: list[str], rows: list[list]) -> None:
    """A CSV the grader alone reads; cells that a spreadsheet would run as formulas are quoted."""
    path.touch(mode=0o600)
    path.chmod(0o600)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for row in rows:
            writer.writerow([label(v) if isinstance(v, str) and v[:1] in "=+-@" and not _is_number(v)
                             else v for v in row])


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False
