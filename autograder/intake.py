"""Submissions in, nbgrader's submitted layout out, with a reason for everything refused.

Accepted: nbgrader's ``<dir>/<student>/<assignment>/*.ipynb``; an LMS export, a flat folder of
``<student>_*.ipynb``; or a zip of either. Everything is staged into the course's submitted
folder as ``<student>/<assignment>/<assignment>.ipynb`` (plus the exchange's ``timestamp.txt``
and ``submission_secret.txt`` if present). A student folder without a notebook is *missing*.

Refused, each with a reason and without effect on the others: student ids that are not plain
ASCII names (spaces, unicode, ``..``), notebooks over the size limit, links and special files;
in zips also entries that would land outside the archive's folder, links, encrypted entries,
entries that decompress beyond the size limit (zip bombs: sizes are counted while
decompressing, not read from the archive's headers), duplicates, and archives with too many
entries. Only notebooks and ``timestamp.txt`` are extracted.
"""
from __future__ import annotations

import json
import re
import shutil
import stat
import tempfile
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Iterator

STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MAX_ENTRIES = 20_000  # entries read from one archive
MAX_TOTAL_MB = 8192  # bytes extracted from one archive, all entries together
CHUNK = 1 << 20
# what nbgrader's exchange puts beside a notebook; release_feedback names feedback after them
EXCHANGE_FILES = ("timestamp.txt", "submission_secret.txt")
MAX_SMALL = 4096  # bytes: either file holds one line


class IntakeError(ValueError):
    """The submissions folder or archive has no layout we recognise."""


@dataclass
class Intake:
    staged: dict[str, Path] = field(default_factory=dict)  # student -> staged notebook
    rejected: dict[str, str] = field(default_factory=dict)  # student (or entry) -> reason
    missing: dict[str, str] = field(default_factory=dict)  # student -> why nothing is graded


def valid_id(student: str) -> bool:
    return bool(STUDENT_ID.match(student))


def label(raw: str) -> str:
    """A refused id or entry name made safe to print and to put in a CSV cell."""
    text = json.dumps(raw, ensure_ascii=True)[1:-1][:80]
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


@contextmanager
def opened(source: Path, max_mb: float) -> Iterator[tuple[Path, dict[str, str]]]:
    """A folder view of ``source`` and what extracting it refused (entry name -> reason)."""
    source = Path(source)
    if source.is_dir():
        yield source, {}
        return
    if not zipfile.is_zipfile(source):
        raise IntakeError(f"{source} is neither a folder nor a zip archive")
    with tempfile.TemporaryDirectory(prefix="autograder-zip-") as tmp, zipfile.ZipFile(source) as zf:
        refused = _extract(zf, Path(tmp), max_mb)
        yield _single_top(Path(tmp)), refused


def _extract(zf: zipfile.ZipFile, dest: Path, max_mb: float) -> dict[str, str]:
    refused: dict[str, str] = {}
    entries = zf.infolist()
    if len(entries) > MAX_ENTRIES:
        raise IntakeError(f"the archive has {len(entries)} entries, over the limit of {MAX_ENTRIES}")
    budget = MAX_TOTAL_MB * 2**20
    for info in entries:
        name = info.filename.replace("\\", "/")
        parts = PurePosixPath(name).parts
        kind = stat.S_IFMT(info.external_attr >> 16)
        if info.is_dir() or not name.endswith((".ipynb", "/timestamp.txt")):
            continue  # only notebooks and their timestamps are read
        if name.startswith("/") or ".." in parts or (parts and ":" in parts[0]):
            refused[name] = "the archive entry's path leaves the archive's folder"
        elif kind and kind != stat.S_IFREG:
            refused[name] = "the archive entry is a link or a special file"
        elif info.flag_bits & 0x1:
            refused[name] = "the archive entry is encrypted"
        elif (dest / name).exists():
            refused[name] = "the archive has this entry twice"
        else:
            written = _copy_capped(zf, info, dest / name, min(max_mb * 2**20, budget))
            if written is None:
                refused[name] = (f"the archive entry decompresses to over {max_mb:g} MB "
                                 "(a zip bomb, or a notebook with huge outputs)")
            elif isinstance(written, str):
                refused[name] = written
            else:
                budget -= written
    return refused


def _copy_capped(zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, cap: float) -> int | str | None:
    """Bytes written; ``None`` past ``cap`` (the partial file is removed); a reason on errors."""
    if info.file_size > cap:
        return None
    target.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    try:
        with zf.open(info) as src, open(target, "wb") as dst:
            while chunk := src.read(CHUNK):
                written += len(chunk)
                if written > cap:
                    break
                dst.write(chunk)
    except (zipfile.BadZipFile, RuntimeError, OSError, EOFError, NotImplementedError) as exc:
        target.unlink(missing_ok=True)
        return f"the archive entry cannot be read: {type(exc).__name__}: {str(exc)[:100]}"
    if written > cap:
        target.unlink()
        return None
    return written


def _single_top(folder: Path) -> Path:
    """Archives often wrap everything in one folder: descend into it."""
    entries = [p for p in folder.iterdir() if not p.name.startswith(("__MACOSX", "."))]
    return entries[0] if len(entries) == 1 and entries[0].is_dir() else folder


def _regular(path: Path) -> str | None:
    """Why ``path`` is not a regular file we may copy, or ``None``."""
    mode = path.lstat().st_mode
    if stat.S_ISLNK(mode):
        return f"{path.name} is a symbolic link"
    return None if stat.S_ISREG(mode) else f"{path.name} is not a regular file"


def find(folder: Path, assignment: str) -> tuple[dict[str, Path], dict[str, str], dict[str, str]]:
    """``({student: notebook}, {student: reason refused}, {student: why missing})`` for
    ``assignment`` under ``folder``; a student's folder without a notebook is missing."""
    found, refused, missing = {}, {}, {}
    for student_dir in sorted(folder.iterdir()):
        work = student_dir / assignment
        if student_dir.is_symlink() or work.is_symlink():
            refused[student_dir.name] = "the submission folder is a symbolic link"
            continue
        if not work.is_dir():
            continue
        # <assignment>.ipynb, when present, wins over a student's other notebooks
        notebooks = sorted((p for p in work.iterdir() if p.suffix == ".ipynb"),
                           key=lambda p: p.stem == assignment)
        if notebooks:
            why = _regular(notebooks[-1])
            if why:
                refused[student_dir.name] = why
            else:
                found[student_dir.name] = notebooks[-1]
        else:
            missing[student_dir.name] = f"the submission folder holds no notebook ({student_dir.name}/{assignment}/)"
    if not found and not refused:
        for path in sorted(folder.glob("*_*.ipynb")):
            student = path.name.split("_", 1)[0]
            why = _regular(path)
            if why:
                refused[student] = why
            else:
                found[student] = path
    if not found and not refused:
        empty = f" ({len(missing)} student folders hold no notebook)" if missing else ""
        raise IntakeError(f"no submissions of {assignment} in {folder}{empty}: expected "
                          f"<student>/{assignment}/*.ipynb or <student>_*.ipynb")
    return found, refused, missing


def _owner(entry: str, assignment: str) -> str | None:
    """The student an archive entry belongs to, by the same layouts ``find`` reads."""
    parts = PurePosixPath(entry).parts
    if len(parts) >= 3 and parts[-2] == assignment:
        return parts[-3]
    name = parts[-1] if parts else ""
    return name.split("_", 1)[0] if "_" in name else None


def stage(found: dict[str, Path], assignment: str, submitted: Path, max_mb: float) -> Intake:
    """Copy each notebook to ``submitted/<student>/<assignment>/<assignment>.ipynb``."""
    result = Intake()
    for student, notebook in found.items():
        size = notebook.stat().st_size
        if size > max_mb * 2**20:
            result.rejected[student] = (f"the notebook is {size / 2**20:.1f} MB, over the "
                                        f"{max_mb:g} MB limit (clear large outputs and resubmit)")
            continue
        dest = submitted / student / assignment
        dest.mkdir(parents=True, exist_ok=True)
        target = dest / f"{assignment}.ipynb"
        if notebook.resolve() != target.resolve():
            shutil.copyfile(notebook, target)
        for name in EXCHANGE_FILES:
            source = notebook.parent / name
            if source.exists() and not _regular(source) and source.stat().st_size <= MAX_SMALL \
                    and source.resolve() != (dest / name).resolve():
                shutil.copyfile(source, dest / name)
        result.staged[student] = target
    return result


def intake(source: Path, assignment: str, submitted: Path, max_mb: float = 20.0) -> Intake:
    """Find the submissions in ``source`` (folder or zip), stage the usable ones, and say why
    each other one was refused."""
    with opened(source, max_mb) as (folder, refused_entries):
        found, refused, missing = find(folder, assignment)
        result = stage({s: p for s, p in found.items() if valid_id(s)}, assignment, submitted, max_mb)
    for student, reason in refused.items():
        result.rejected.setdefault(student, reason)
    for entry, reason in refused_entries.items():
        owner = _owner(entry, assignment)
        key = owner if owner and valid_id(owner) else f"archive entry {label(entry)}"
        result.rejected.setdefault(key, reason)
        result.staged.pop(key, None)
    result.missing = {s: why for s, why in missing.items() if valid_id(s)}
    for student in [s for s in found if not valid_id(s)]:
        result.rejected[student] = ("the student id is not usable: ASCII letters, digits and . _ - "
                                    "only, starting with a letter or digit, at most 64 characters")
    return result
