"""Whose notebook is this? What the path of a file in an assignment export says about its author.

Layouts read (a file may sit at any depth; nested zips arrive as folders named after them):

* Canvas "Download Submissions": ``<sortable name>[_LATE]_<user id>_<submission id>_<file>``,
  e.g. ``müllerjürgen_LATE_4711_90210_00_orientation.ipynb`` (Canvas's user id is an LMS id);
* Moodle "Download all submissions": a folder (or a file name prefix)
  ``<Full Name>_<participant id>_assignsubmission_file_``, e.g.
  ``Kate O'Neil_1234567_assignsubmission_file_/00_orientation.ipynb`` (the participant id is
  Moodle's per-assignment number, not a user id: the name identifies the student);
* nbgrader's own ``<student>/<assignment>/<file>.ipynb``;
* a folder per student, ``<student>/.../<file>.ipynb``;
* a flat ``<student>_<anything>.ipynb``.

The Canvas and Moodle patterns are nbgrader's ``FileNameCollectorPlugin`` (the collector its
``zip_collect`` uses) with their regular expressions.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import PurePosixPath

from nbgrader.plugins import FileNameCollectorPlugin
from traitlets import Unicode

from .roster import Hints

_quiet = logging.getLogger("autograder.lms")
_quiet.addHandler(logging.NullHandler())
_quiet.propagate = False  # a name that matches no pattern is normal, not a warning


class CanvasNames(FileNameCollectorPlugin):
    """Canvas's names: ``<sortable name>[_LATE]_<user id>_<submission id>_<original name>``."""

    named_regexp = Unicode(r"^(?P<student_id>[^_/]+?)_(?:(?P<late>LATE)_)?(?P<lms_id>\d+)_"
                           r"(?P<submission_id>\d+)_(?P<file_id>.+)$")


class MoodleNames(FileNameCollectorPlugin):
    """Moodle's names: ``<Full Name>_<participant id>_assignsubmission_<plugin>_[<name>]``."""

    named_regexp = Unicode(r"^(?P<student_id>.+?)_(?P<participant>\d+)_assignsubmission_"
                           r"(?:file|onlinetext)_(?P<file_id>.*)$")


COLLECTORS = {"canvas": CanvasNames(log=_quiet), "moodle": MoodleNames(log=_quiet)}


@dataclass(frozen=True)
class Origin:
    """Who a file seems to belong to, by which layout; ``late``: the LMS marked it late."""

    hints: Hints
    layout: str
    late: bool = False


def origin(path: PurePosixPath, assignment: str, wrapper: int = 0) -> Origin | None:
    """The author's hints for ``path`` (relative to the export's top; its first ``wrapper``
    folders are wrappers every file shares), or ``None`` when the path says nothing."""
    parts = path.parts
    for depth, part in enumerate(reversed(parts)):  # the file's own name first, then its folders
        for layout, collector in COLLECTORS.items():
            # a file's name goes through the collector (it checks the extension); a folder's
            # name is matched alone (Moodle's and an unpacked zip's have none)
            found = collector.collect(part) if depth == 0 else collector._match(part)
            if found:
                # Canvas's sortable name is id-like (``smithjane``): usable without a roster
                course_id = found["student_id"] if layout == "canvas" else ""
                return Origin(Hints(course_id, found.get("lms_id") or "", found["student_id"]),
                              layout, bool(found.get("late")))
    if len(parts) >= 3 and parts[-2] == assignment:
        return Origin(Hints(course_id=parts[-3], name=parts[-3]), "nbgrader")
    if len(parts) - wrapper >= 2:
        top = parts[wrapper]
        return Origin(Hints(course_id=top, name=top), "folder")
    if "_" in parts[-1]:
        prefix = parts[-1].split("_", 1)[0]
        return Origin(Hints(course_id=prefix, name=prefix), "flat")
    if len(parts) >= 2:  # a lone notebook in a folder: the folder is its student
        return Origin(Hints(course_id=parts[-2], name=parts[-2]), "folder")
    return None
