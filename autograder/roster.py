"""The class roster: who the students are, and how the names an LMS export carries map onto
their course ids.

A roster is a CSV file with a header row: ``course_id`` (the id nbgrader and this tool use:
ASCII letters, digits and ``. _ -``), and optionally ``lms_id`` (Canvas's user id, Moodle's ID
number), ``name`` (``First Last`` or ``Last, First``) or ``first_name`` and ``last_name``, and
``email``. ``import_roster`` stores it in the gradebook's students (nbgrader's own table, which
the formgrader shows), so nothing else holds a copy.

``Roster.match`` finds the student an export's file belongs to from its hints: an exact course
id, an LMS id, an e-mail address, or a name. Names are compared folded (case, accents,
apostrophes, spaces and word order do not matter: ``müllerjürgen``, ``Jürgen Müller``,
``muellerjuergen`` and ``O'Neil, Kate`` vs ``oneilkate`` all match), and a name that two
students share matches neither.
"""
from __future__ import annotations

import csv
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from nbgrader.api import Gradebook

from .course_dir import Course

STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
GERMAN = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "Ä": "ae", "Ö": "oe", "Ü": "ue"})
COLUMNS = "course_id, lms_id, name (or first_name and last_name), email"


class RosterError(ValueError):
    """A roster file that cannot be used; the message names the row and what to fix."""


@dataclass(frozen=True)
class Student:
    course_id: str
    lms_id: str = ""
    first_name: str = ""
    last_name: str = ""
    email: str = ""

    @property
    def name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p)


@dataclass(frozen=True)
class Hints:
    """What a submission's path says about its author (any of them may be empty)."""

    course_id: str = ""
    lms_id: str = ""
    name: str = ""
    email: str = ""

    def describe(self) -> str:
        parts = [f"{k} {v!r}" for k, v in (("id", self.course_id), ("LMS id", self.lms_id),
                                           ("name", self.name), ("e-mail", self.email)) if v]
        return ", ".join(parts) or "nothing"


def valid_id(student: str) -> bool:
    return bool(STUDENT_ID.match(student))


def fold(text: str) -> set[str]:
    """Spellings of ``text`` to compare: lower case, letters and digits only, accents stripped,
    dropped, or written out (ü -> u, -, ue), as exports spell names differently."""
    words = text.lower()
    stripped = "".join(c for c in unicodedata.normalize("NFKD", words) if not unicodedata.combining(c))
    forms = {stripped, words.translate(GERMAN), words.encode("ascii", "ignore").decode()}
    return {f for f in ("".join(ch for ch in form if ch.isalnum()) for form in forms) if f}


def name_keys(first: str, last: str) -> set[str]:
    """Folded keys of a person's name in every word order an export may use (``First Last``,
    ``Last First``, and every rotation of the words, for multi-word names)."""
    words = (first + " " + last).replace(",", " ").split()
    keys = set()
    for start in range(len(words)):
        keys |= fold("".join(words[start:] + words[:start]))
    return keys


def split_name(name: str) -> tuple[str, str]:
    """``(first, last)`` of ``First Last`` or ``Last, First``."""
    if "," in name:
        last, first = (p.strip() for p in name.split(",", 1))
        return first, last
    words = name.split()
    return " ".join(words[:-1]), (words[-1] if words else "")


@dataclass
class Roster:
    students: dict[str, Student] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.students)

    def match(self, hints: Hints) -> tuple[str | None, str]:
        """``(course id, "")`` of the one student the hints point to, or ``(None, why not)``."""
        if hints.course_id in self.students:
            return hints.course_id, ""
        for key, value in (("lms_id", hints.lms_id), ("email", hints.email)):
            found = [s.course_id for s in self.students.values()
                     if value and getattr(s, key) and getattr(s, key).lower() == value.lower()]
            if len(found) == 1:
                return found[0], ""
        if hints.name:
            wanted = fold(hints.name)
            found = sorted(s.course_id for s in self.students.values()
                           if wanted & name_keys(s.first_name, s.last_name))
            if len(found) == 1:
                return found[0], ""
            if found:
                return None, (f"the name {hints.name!r} fits {len(found)} students on the roster "
                              f"({', '.join(found)}): add their LMS ids to the roster")
        return None, (f"no student on the roster matches ({hints.describe()}): add them to the "
                      "roster (python -m autograder roster FILE) or rename the file to "
                      "<course id>_<anything>.ipynb")


def load(course: Course) -> Roster:
    """The roster as the gradebook holds it (empty when no student was ever added; a SQLite
    gradebook that does not exist yet is not made by asking)."""
    if course.db_url.startswith("sqlite:///"):
        db = Path(course.db_url.removeprefix("sqlite:///"))
        if not db.is_file() or not db.stat().st_size:
            return Roster()
    with Gradebook(course.db_url, course.course_id) as gb:
        return Roster({s.id: Student(s.id, s.lms_user_id or "", s.first_name or "",
                                     s.last_name or "", s.email or "") for s in gb.students})


def read(path: Path) -> list[Student]:
    """The students of a roster CSV; ``RosterError`` names the first row that cannot be used."""
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        header = {h.strip().lower() for h in reader.fieldnames or []}
        if not {"course_id", "id"} & header:
            raise RosterError(f"{path}: no course_id column; expected the columns {COLUMNS}")
        students, seen = [], {}
        for line, row in enumerate(reader, start=2):
            row = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k}
            student = _student(row, f"{path}, line {line}")
            for key in ("course_id", "lms_id"):
                value = getattr(student, key)
                if value and (key, value) in seen:
                    raise RosterError(f"{path}, line {line}: {key} {value!r} also on line "
                                      f"{seen[key, value]}")
                seen[key, value] = line
            students.append(student)
    return students


def _student(row: dict[str, str], where: str) -> Student:
    course_id = row.get("course_id") or row.get("id", "")
    if not valid_id(course_id):
        raise RosterError(f"{where}: course_id {course_id!r} is not usable: ASCII letters, digits "
                          "and . _ - only, starting with a letter or digit (the name goes in 'name')")
    first, last = row.get("first_name", ""), row.get("last_name", "")
    if not (first or last) and row.get("name"):
        first, last = split_name(row["name"])
    return Student(course_id, row.get("lms_id") or row.get("lms_user_id", ""), first, last,
                   row.get("email", ""))


def import_roster(course: Course, path: Path) -> list[Student]:
    """Add or update every student of the roster file in the gradebook; the students read."""
    students = read(path)
    with Gradebook(course.db_url, course.course_id) as gb:
        for s in students:
            gb.update_or_create_student(s.course_id, first_name=s.first_name or None,
                                        last_name=s.last_name or None, email=s.email or None,
                                        lms_user_id=s.lms_id or None)
    return students
