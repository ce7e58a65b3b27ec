"""Submissions in, nbgrader's submitted layout out.

Accepted: nbgrader's ``<dir>/<student>/<assignment>/*.ipynb``; an LMS export, a flat folder of
``<student>_*.ipynb``; or a zip of either. Everything is staged into the course's submitted
folder as ``<student>/<assignment>/<assignment>.ipynb`` (plus ``timestamp.txt`` if present).
"""
from __future__ import annotations

import re
import shutil
import tempfile
import zipfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class IntakeError(ValueError):
    """The submissions folder or archive has no layout we recognise."""


@contextmanager
def opened(source: Path) -> Iterator[Path]:
    """A folder view of ``source``: the folder itself, or a zip safely extracted to a temp dir."""
    source = Path(source)
    if source.is_dir():
        yield source
        return
    if not zipfile.is_zipfile(source):
        raise IntakeError(f"{source} is neither a folder nor a zip archive")
    with tempfile.TemporaryDirectory(prefix="autograder-zip-") as tmp, zipfile.ZipFile(source) as zf:
        for info in zf.infolist():
            target = (Path(tmp) / info.filename).resolve()
            if not target.is_relative_to(Path(tmp).resolve()) or info.is_dir():
                continue  # skip folders and any member that would land outside (zip slip)
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
        yield _single_top(Path(tmp))


def _single_top(folder: Path) -> Path:
    """Archives often wrap everything in one folder: descend into it."""
    entries = [p for p in folder.iterdir() if not p.name.startswith(("__MACOSX", "."))]
    return entries[0] if len(entries) == 1 and entries[0].is_dir() else folder


def find(folder: Path, assignment: str) -> dict[str, Path]:
    """``{student: notebook}`` for every submission of ``assignment`` under ``folder``."""
    # sorted so that <assignment>.ipynb, when present, wins over other notebooks of a student
    nested = {p.parent.parent.name: p for p in sorted(folder.glob(f"*/{assignment}/*.ipynb"),
                                                      key=lambda p: p.stem == assignment)
              if ".ipynb_checkpoints" not in p.parts and not p.is_symlink()}
    if nested:
        return _valid(nested)
    flat = {p.name.split("_", 1)[0]: p for p in sorted(folder.glob("*_*.ipynb")) if not p.is_symlink()}
    if flat:
        return _valid(flat)
    raise IntakeError(f"no submissions of {assignment} in {folder}: expected "
                      f"<student>/{assignment}/*.ipynb or <student>_*.ipynb")


def _valid(found: dict[str, Path]) -> dict[str, Path]:
    bad = sorted(s for s in found if not STUDENT_ID.match(s))
    if bad:
        raise IntakeError(f"unusable student ids (letters, digits, . _ - only): {bad}")
    return found


def stage(found: dict[str, Path], assignment: str, submitted: Path) -> dict[str, Path]:
    """Copy each notebook to ``submitted/<student>/<assignment>/<assignment>.ipynb``."""
    staged = {}
    for student, notebook in found.items():
        dest = submitted / student / assignment
        dest.mkdir(parents=True, exist_ok=True)
        target = dest / f"{assignment}.ipynb"
        if notebook.resolve() != target.resolve():
            shutil.copyfile(notebook, target)
        stamp = notebook.parent / "timestamp.txt"
        if stamp.exists() and stamp.resolve() != (dest / "timestamp.txt").resolve():
            shutil.copyfile(stamp, dest / "timestamp.txt")
        staged[student] = target
    return staged


def intake(source: Path, assignment: str, submitted: Path) -> dict[str, Path]:
    """Find the submissions in ``source`` (folder or zip) and stage them for grading."""
    with opened(source) as folder:
        return stage(find(folder, assignment), assignment, submitted)
